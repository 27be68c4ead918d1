"""Self-check of the generated fixtures against a second, independent computation (the `check`
stage; writes nothing): a naive float64 numpy BLOOM forward (written from docs/model-families.md "BLOOM forward", not from
transformers) re-derives the forward fixtures' logits, head statistics and NLL from the saved
safetensors; float64 central differences of it confirm the surgery gradients; a float64 replay
of the 5 steps with a hand-written AdamW / clip / schedule confirms the trained slices; and every
model directory is re-loaded with transformers' from_pretrained to confirm HF reads exactly the
values the expected JSON describes (bare names, fp16/bf16, shards). The MPT fixtures get the same
checks from a naive float64 numpy MPT forward written from the MPT facts in README.md (no biases,
erf GELU, fused Wqkv as q/k/v blocks, MPT's ALiBi slopes and offset), not from transformers."""

import math
import os

import numpy as np
import torch
from safetensors import safe_open
from transformers import BloomForCausalLM, MptForCausalLM

from fixture_util import fnv1a64_f32, read_json


def _load_float64(model_dir):
    """Every tensor of a model directory as float64 numpy arrays, keyed by bare name."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(read_json(index)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for fname in files:
        with safe_open(os.path.join(model_dir, fname), framework="pt") as f:
            for k in f.keys():
                bare = k[len("transformer."):] if k.startswith("transformer.") else k
                out[bare] = f.get_tensor(k).to(torch.float64).numpy()
    return out


def _layernorm(x, w, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(0.79788456 * x * (1.0 + 0.044715 * x * x)))


def _alibi_slopes(n_head):
    closest = 2 ** math.floor(math.log2(n_head))
    base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))
    slopes = [base ** k for k in range(1, closest + 1)]
    if closest != n_head:
        extra = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))
        n_rem = min(closest, n_head - closest)
        slopes += [extra ** k for k in range(1, 2 * n_rem, 2)]
    return np.array(slopes)


def naive_forward(w, cfg, ids):
    """Returns (logits [T, V], attention probabilities per layer [H, T, T]) in float64."""
    C, H, L = cfg["hidden_size"], cfg["n_head"], cfg["n_layer"]
    d = C // H
    T = len(ids)
    x = _layernorm(w["word_embeddings.weight"][ids], w["word_embeddings_layernorm.weight"],
                   w["word_embeddings_layernorm.bias"])
    slopes = _alibi_slopes(H)
    causal = np.tril(np.ones((T, T), dtype=bool))
    probs_all = []
    for layer in range(L):
        p = f"h.{layer}."
        a = _layernorm(x, w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"])
        qkv = a @ w[p + "self_attention.query_key_value.weight"].T + w[p + "self_attention.query_key_value.bias"]
        qkv = qkv.reshape(T, H, 3, d)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]            # [T, H, d]
        ctx = np.zeros((T, H, d))
        probs = np.zeros((H, T, T))
        for h in range(H):
            s = q[:, h] @ k[:, h].T / math.sqrt(d) + slopes[h] * np.arange(T)[None, :]
            s = np.where(causal, s, -np.inf)
            s -= s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            probs[h] = e / e.sum(axis=-1, keepdims=True)
            ctx[:, h] = probs[h] @ v[:, h]
        probs_all.append(probs)
        x = x + ctx.reshape(T, C) @ w[p + "self_attention.dense.weight"].T + w[p + "self_attention.dense.bias"]
        m = _layernorm(x, w[p + "post_attention_layernorm.weight"], w[p + "post_attention_layernorm.bias"])
        hmid = _gelu_tanh(m @ w[p + "mlp.dense_h_to_4h.weight"].T + w[p + "mlp.dense_h_to_4h.bias"])
        x = x + hmid @ w[p + "mlp.dense_4h_to_h.weight"].T + w[p + "mlp.dense_4h_to_h.bias"]
    x = _layernorm(x, w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["word_embeddings.weight"].T, probs_all


def _stats(probs):
    T = probs.shape[-1]
    bos = probs[:, :, 0].mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0)
    ent = (-plogp.sum(axis=-1)).mean(axis=-1)
    band = np.array([[1.0 if t - 2 <= j <= t else 0.0 for j in range(T)] for t in range(T)])
    loc = (probs * band).sum(axis=-1).mean(axis=-1)
    return bos, ent, loc


def _gelu_erf(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _mpt_alibi_slopes(n_head, bias_max):
    """MPT: slope_k = 1 / 2^(k * bias_max / H2), k = 1..H2, H2 the next power of two >= H; for H
    not a power of two the odd-position slopes first: concat(s[1::2], s[::2])[:H]."""
    h2 = 1
    while h2 < n_head:
        h2 *= 2
    slopes = [1.0 / 2.0 ** (k * bias_max / h2) for k in range(1, h2 + 1)]
    if h2 != n_head:
        slopes = (slopes[1::2] + slopes[::2])[:n_head]
    return np.array(slopes)


def naive_forward_mpt(w, cfg, ids):
    """MPT (MptForCausalLM) forward in float64: (logits [T, V], attention probabilities per layer)."""
    C, H, L = cfg["d_model"], cfg["n_heads"], cfg["n_layers"]
    eps = cfg["layer_norm_epsilon"]
    att = cfg["attn_config"]
    d = C // H
    T = len(ids)
    scale = att.get("softmax_scale") or 1.0 / math.sqrt(d)
    slopes = _mpt_alibi_slopes(H, att.get("alibi_bias_max", 8))
    offset = np.arange(T)[None, :] - (T - 1)                      # j - (T-1), the same for every row
    causal = np.tril(np.ones((T, T), dtype=bool))
    x = w["wte.weight"][ids]
    probs_all = []
    for layer in range(L):
        p = f"blocks.{layer}."
        a = _layernorm(x, w[p + "norm_1.weight"], 0.0, eps)
        qkv = a @ w[p + "attn.Wqkv.weight"].T                        # [T, 3C]: q | k | v
        q, k, v = (qkv[:, i * C:(i + 1) * C].reshape(T, H, d) for i in range(3))
        ctx = np.zeros((T, H, d))
        probs = np.zeros((H, T, T))
        for h in range(H):
            s = q[:, h] @ k[:, h].T * scale + slopes[h] * offset
            s = np.where(causal, s, -np.inf)
            s -= s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            probs[h] = e / e.sum(axis=-1, keepdims=True)
            ctx[:, h] = probs[h] @ v[:, h]
        probs_all.append(probs)
        x = x + ctx.reshape(T, C) @ w[p + "attn.out_proj.weight"].T
        m = _layernorm(x, w[p + "norm_2.weight"], 0.0, eps)
        x = x + _gelu_erf(m @ w[p + "ffn.up_proj.weight"].T) @ w[p + "ffn.down_proj.weight"].T
    x = _layernorm(x, w["norm_f.weight"], 0.0, eps)
    return x @ w["wte.weight"].T, probs_all


def _forward_for(cfg):
    """The naive forward for a config.json's model_type."""
    return {"bloom": naive_forward, "mpt": naive_forward_mpt}[cfg["model_type"]]


def check_forward(ref_dir, model_name):
    fx = read_json(os.path.join(ref_dir, "forward", model_name + ".json"))
    model_dir = os.path.join(ref_dir, "models", model_name)
    w = _load_float64(model_dir)
    cfg = read_json(os.path.join(model_dir, "config.json"))
    forward = _forward_for(cfg)
    worst_logit = worst_stat = worst_nll = 0.0
    with safe_open(os.path.join(ref_dir, "forward", model_name + ".safetensors"), framework="pt") as f:
        for run in fx["runs"]:
            for t in run["texts"]:
                logits, probs = forward(w, cfg, t["ids"])
                ref = f.get_tensor(t["logits"]).double().numpy()
                mine = logits[t["logit_positions"]]
                worst_logit = max(worst_logit, float(np.abs(mine - ref).max() / np.abs(mine).max()))
                for layer, pr in enumerate(probs):
                    for key, val in zip(("bos", "entropy", "local"), _stats(pr)):
                        worst_stat = max(worst_stat, float(np.abs(val - np.array(t[key][layer])).max()))
                lse = np.log(np.exp(logits - logits.max(axis=-1, keepdims=True)).sum(axis=-1)) + logits.max(axis=-1)
                nll = float(sum(lse[i] - logits[i, t["ids"][i + 1]] for i in range(t["T"] - 1)))
                worst_nll = max(worst_nll, abs(nll - t["nll_sum"]) / abs(nll))
    print(f"selfcheck forward {model_name}: naive float64 numpy vs fixture: logits max rel err "
          f"{worst_logit:.2e}, stats max abs err {worst_stat:.2e}, NLL max rel err {worst_nll:.2e}")
    if worst_logit > 1e-5 or worst_stat > 1e-6 or worst_nll > 1e-6:
        raise RuntimeError(f"{model_name}: fixture disagrees with the naive float64 forward")


def check_hf_loads(ref_dir, model_name):
    """transformers' from_pretrained reads the values the expected JSON describes."""
    model_dir = os.path.join(ref_dir, "models", model_name)
    expected = read_json(os.path.join(ref_dir, "models", model_name + ".expected.json"))["tensors"]
    family = read_json(os.path.join(model_dir, "config.json"))["model_type"]
    cls, wte = {"bloom": (BloomForCausalLM, "transformer.word_embeddings.weight"),
                "mpt": (MptForCausalLM, "transformer.wte.weight")}[family]
    model = cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    state = model.state_dict()
    if len(state) != len(expected) + 1:  # + the tied lm_head.weight, which is not stored
        raise RuntimeError(f"{model_name}: transformers has {len(state)} tensors, the files {len(expected)}")
    for name, rec in expected.items():
        key = name if name.startswith("transformer.") else "transformer." + name
        if fnv1a64_f32(state[key]) != rec["fnv1a64"]:
            raise RuntimeError(f"{model_name}: transformers loads {name} with other values")
    if not torch.equal(state["lm_head.weight"], state[wte]):
        raise RuntimeError(f"{model_name}: LM head is not tied to the embeddings")
    print(f"selfcheck models {model_name}: from_pretrained gives all {len(expected)} tensors bit-exactly")


def run_selfcheck(ref_dir):
    for name in ("tiny-h4-f32", "tiny-h4-f16", "tiny-h4-bf16", "tiny-h6-f32", "tiny-h6-sharded",
                 "tiny-mpt-h4-f32", "tiny-mpt-h4-bf16", "tiny-mpt-h6-f32"):
        check_hf_loads(ref_dir, name)
    for name in sorted(os.listdir(os.path.join(ref_dir, "forward"))):
        if name.endswith(".json"):
            check_forward(ref_dir, name[:-len(".json")])
    check_gradients_fd(ref_dir)
    check_steps_float64(ref_dir)
    check_gradients_fd(ref_dir, prefix="mpt-")
    check_steps_float64(ref_dir, prefix="mpt-")


def _naive_loss(w, cfg, ids):
    logits, _ = _forward_for(cfg)(w, cfg, ids)
    mx = logits.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(logits - mx).sum(axis=-1)) + mx[:, 0]
    return float(np.mean([lse[i] - logits[i, ids[i + 1]] for i in range(len(ids) - 1)]))


def _slice_element(cfg, layer, head, part, pos):
    """(stored tensor name without `transformer.`, index) of element pos of a surgery slice."""
    if cfg["model_type"] == "mpt":
        C = cfg["d_model"]
        d = C // cfg["n_heads"]
        p = f"blocks.{layer}.attn."
        if part == "qkv_weight":  # slice rows: q rows, then k rows, then v rows of the head
            return p + "Wqkv.weight", ((pos[0] // d) * C + head * d + pos[0] % d, pos[1])
        return p + "out_proj.weight", (pos[0], head * d + pos[1])
    d = cfg["hidden_size"] // cfg["n_head"]
    p = f"h.{layer}.self_attention."
    if part == "qkv_weight":
        return p + "query_key_value.weight", (head * 3 * d + pos[0], pos[1])
    if part == "qkv_bias":
        return p + "query_key_value.bias", (head * 3 * d + pos[0],)
    return p + "dense.weight", (pos[0], head * d + pos[1])


def check_gradients_fd(ref_dir, n_per_slice=3, eps=1e-5, prefix=""):
    """Central finite differences of the naive float64 loss at the largest entries of every
    gradient slice (the key-bias rows excepted: analytically zero). prefix "" = the BLOOM
    fixture surgery/gradients.*, "mpt-" = surgery/mpt-gradients.*."""
    fx = read_json(os.path.join(ref_dir, "surgery", prefix + "gradients.json"))
    model_dir = os.path.join(ref_dir, "models", fx["model"])
    w = _load_float64(model_dir)
    cfg = read_json(os.path.join(model_dir, "config.json"))
    d = cfg["hidden_size"] // cfg["n_head"] if cfg["model_type"] == "bloom" else cfg["d_model"] // cfg["n_heads"]
    ids = fx["ids"]
    worst = 0.0
    with safe_open(os.path.join(ref_dir, "surgery", prefix + "gradients.safetensors"), framework="pt") as f:
        for name in fx["tensors"]:
            g = f.get_tensor(name).double().numpy()
            layer, head = int(name.split(".")[0][5:]), int(name.split(".")[1][4:])
            part = name.split(".")[2]
            flat = np.abs(g).reshape(-1).copy()
            if part == "qkv_bias":
                flat[d:2 * d] = -1.0
            for idx in np.argsort(flat)[::-1][:n_per_slice]:
                pos = np.unravel_index(idx, g.shape)
                key, at = _slice_element(cfg, layer, head, part, pos)
                orig = w[key][at]
                w[key][at] = orig + eps
                up = _naive_loss(w, cfg, ids)
                w[key][at] = orig - eps
                down = _naive_loss(w, cfg, ids)
                w[key][at] = orig
                fd = (up - down) / (2 * eps)
                worst = max(worst, abs(fd - g[pos]) / abs(fd))
    print(f"selfcheck {prefix}gradients: float64 central differences vs fixture at {n_per_slice} entries of each "
          f"of {len(fx['tensors'])} slices: max rel err {worst:.2e}")
    if worst > 1e-4:
        raise RuntimeError("gradient fixture disagrees with finite differences")


def check_steps_float64(ref_dir, prefix=""):
    """Replays the 5 masked AdamW steps in float64 with a hand-written AdamW, clip and schedule
    (autograd only for the gradients) and compares with steps.safetensors outside the noise
    elements: shows how close an fp32 implementation can get. prefix "" = surgery/steps.* (BLOOM),
    "mpt-" = surgery/mpt-steps.* (the trainable tensors and slices of fixture_mpt)."""
    import fixture_surgery as fs
    fx = read_json(os.path.join(ref_dir, "surgery", prefix + "steps.json"))
    hy = fx["hyper"]
    if prefix == "mpt-":
        import fixture_mpt as fm
        model = fm.load_mpt(ref_dir, fx["model"]).double()
        params = fm.mpt_trainable_setup(model)
        target_slices = fm.mpt_target_slices
    else:
        model = fs.load_model(ref_dir).double()
        params = fs.trainable_setup(model)
        target_slices = fs.target_slices
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2 = hy["betas"]
    warm, total = hy["warmup_steps"], hy["total_steps"]
    worst_loss = worst_norm = 0.0
    for s, rec in enumerate(fx["steps"]):
        for p in params:
            p.grad = None
        loss_sum = 0.0
        for ci in rec["chunks"]:
            loss = fs.chunk_loss(model, fx["chunks"][ci]) / hy["grad_accum"]
            loss.backward()
            loss_sum += loss.item()
        norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
        coef = min(1.0, hy["clip"] / (norm + 1e-6))
        lr = hy["lr"] * (s / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm))))
        worst_loss = max(worst_loss, abs(loss_sum - rec["loss"]) / rec["loss"])
        worst_norm = max(worst_norm, abs(norm - rec["grad_norm"]) / rec["grad_norm"])
        with torch.no_grad():
            for p, mi, vi in zip(params, m, v):
                g = p.grad * coef
                mi.mul_(b1).add_(g, alpha=1 - b1)
                vi.mul_(b2).addcmul_(g, g, value=1 - b2)
                bc1, bc2 = 1 - b1 ** (s + 1), 1 - b2 ** (s + 1)
                p.mul_(1 - lr * hy["weight_decay"])
                p.sub_((lr / bc1) * mi / (vi.sqrt() / math.sqrt(bc2) + hy["eps"]))
    final = target_slices(model, use_grad=False)
    worst = worst_noise = 0.0
    with safe_open(os.path.join(ref_dir, "surgery", prefix + "steps.safetensors"), framework="pt") as f:
        for name in fx["final_slices"]:
            diff = (final[name] - f.get_tensor(name).double()).abs()
            if name in fx["noise_elements"]:
                b, e = fx["noise_elements"][name]
                worst_noise = max(worst_noise, float(diff[b:e].max()))
                diff[b:e] = 0.0
            worst = max(worst, float(diff.max()))
    print(f"selfcheck {prefix}steps: float64 replay (own AdamW/clip/schedule) vs fixture: loss rel err "
          f"{worst_loss:.2e}, grad-norm rel err {worst_norm:.2e}, slices max abs err {worst:.2e}" +
          (f" (key-bias noise elements: {worst_noise:.2e})" if fx["noise_elements"] else ""))
    if worst > 1e-5:
        raise RuntimeError("steps fixture disagrees with the float64 replay")
