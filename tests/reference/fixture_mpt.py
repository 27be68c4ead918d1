"""MPT fixtures (the "mpt" stage): tiny random MptForCausalLM checkpoints built with transformers
(fixed seed, weights scaled like the BLOOM fixtures, one planted BOS-sink head), their forward-pass
references in the BLOOM forward format, and the surgery gradient / 5-step references on
tiny-mpt-h6-f32 with MPT's fused Wqkv layout. See README.md beside this file, section "MPT".

MPT facts these files pin (transformers' MptForCausalLM): no biases anywhere (Linear bias=False,
LayerNorm bias None), erf GELU, MLP hidden 4*d_model, Wqkv [3C, C] = all q rows, then all k rows,
then all v rows; out_proj [C, C]; lm_head tied to wte; norm_f; scores = q.k * softmax_scale
(1/sqrt(head_dim)) + slope_h * (j - (T-1)); slopes from ALiBi with MPT's interleave for H not a
power of two."""

import math
import os
import shutil

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import MptConfig, MptForCausalLM

import fixture_forward as ff
import fixture_surgery as fsur
from fixture_models import _safetensors_header, _save_tokenizer, _weight_files
from fixture_util import first_values, fnv1a64_f32, generator_record, read_json, write_json

VOCAB = 4096
BOS_ID = 1

# base -> (d_model, n_heads, n_layers, seed, planted (layer, head), planted query scale gamma,
#          planted key scale beta); h4: the planted head is DEAD with <s> first (BOS mass 1.000),
# h6: a BOS-sink head (BOS mass ~0.78, between the sink and dead thresholds 0.5 and 0.95)
MPT_BASES = {
    "tiny-mpt-h4": (32, 4, 2, 3003, (0, 2), 8.0, 1.5),
    "tiny-mpt-h6": (48, 6, 3, 4004, (1, 3), 14.0, 3.0),
}
# the shared wte component along f, in units of sqrt(C) (a plain row has norm ~0.2*sqrt(C))
F_SHARE = 0.2
# (name, base, stored dtype)
MPT_VARIANTS = (
    ("tiny-mpt-h4-f32", "tiny-mpt-h4", torch.float32),
    ("tiny-mpt-h6-f32", "tiny-mpt-h6", torch.float32),
    ("tiny-mpt-h4-bf16", "tiny-mpt-h4", torch.bfloat16),
)
# (model, weights note, with the prepend_bos run), as fixture_forward.FORWARD_MODELS
MPT_FORWARD = (
    ("tiny-mpt-h4-f32", "fp32", True),
    ("tiny-mpt-h6-f32", "fp32", True),
    ("tiny-mpt-h4-bf16", "bf16 upcast to fp32", False),
)
SURGERY_MODEL = "tiny-mpt-h6-f32"
SURGERY_PREFIX = "mpt-"          # surgery/mpt-gradients.*, surgery/mpt-steps.*


def mpt_config(d_model, n_heads, n_layers) -> MptConfig:
    return MptConfig(
        vocab_size=VOCAB, d_model=d_model, n_heads=n_heads, n_layers=n_layers, max_seq_len=128,
        expansion_ratio=4, layer_norm_epsilon=1e-5, no_bias=True, resid_pdrop=0.0, emb_pdrop=0.0,
        attn_config={"alibi": True, "alibi_bias_max": 8, "attn_impl": "torch", "attn_pdrop": 0,
                     "clip_qkv": None, "softmax_scale": None, "qk_ln": False, "prefix_lm": False},
        bos_token_id=1, eos_token_id=2, pad_token_id=3, tie_word_embeddings=True,
        attn_implementation="eager")


@torch.no_grad()
def _randomise(model: MptForCausalLM, seed: int) -> None:
    """Weights at the BLOOM fixtures' scales (there are no biases): wte ~ N(0, 0.2^2), Wqkv and
    out_proj ~ N(0, 0.2^2), up/down_proj ~ N(0, 0.1^2), LayerNorm weights ~ 1 + N(0, 0.1^2)."""
    gen = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std

    for name, p in sorted(model.named_parameters()):
        if name.endswith("wte.weight"):
            p.copy_(normal(p.shape, 0.2))
        elif ".norm_" in name or name.endswith("norm_f.weight"):
            p.copy_(1.0 + normal(p.shape, 0.1))
        elif ".attn." in name:
            p.copy_(normal(p.shape, 0.2))
        elif ".ffn." in name:
            p.copy_(normal(p.shape, 0.1))
        else:
            raise RuntimeError(f"unexpected parameter {name}")


@torch.no_grad()
def _plant_bos_sink(model: MptForCausalLM, layer: int, head: int, seed: int, gamma: float,
                    shared: float, beta: float) -> None:
    """Without biases a constant query must come from the input: every wte row gets a shared
    component along a zero-mean unit direction f (it shifts every logit equally: softmax-invariant
    through the tied head), <s> (id 1) additionally a large component along e (orthogonal to f).
    The head's query rows read f (q = gamma/sqrt(C) * (f.a) * u) and its key rows read e
    (k = beta * (e.a) * u), so its queries align with the <s> key only."""
    gen = torch.Generator().manual_seed(seed + 7)
    C, H = model.config.d_model, model.config.n_heads
    d = C // H
    e = torch.randn(C, generator=gen)
    e -= e.mean()
    e /= e.norm()
    f = torch.randn(C, generator=gen)
    f -= f.mean()
    f -= (f @ e) * e
    f /= f.norm()
    u = torch.randn(d, generator=gen)
    u /= u.norm()
    wte = model.transformer.wte.weight
    wte[BOS_ID] = 0.1 * wte[BOS_ID] + 3.0 * math.sqrt(C) * 0.2 * e
    wte += shared * math.sqrt(C) * f
    w = model.transformer.blocks[layer].attn.Wqkv.weight
    w[head * d:(head + 1) * d] = gamma / math.sqrt(C) * torch.outer(u, f)
    w[C + head * d:C + (head + 1) * d] = beta * torch.outer(u, e)


def build_mpt(base: str) -> MptForCausalLM:
    C, H, L, seed, (pl, ph), gamma, beta = MPT_BASES[base]
    torch.manual_seed(seed)
    model = MptForCausalLM(mpt_config(C, H, L))
    _randomise(model, seed)
    _plant_bos_sink(model, pl, ph, seed, gamma, F_SHARE, beta)
    model.eval()
    return model


def mpt_expected_record(model_dir: str, name: str, planted) -> dict:
    """models/<name>.expected.json in the BLOOM schema (config keys mapped from MPT's d_model,
    n_heads, n_layers), every tensor as read back from the saved file."""
    files = _weight_files(model_dir)
    tensors = {}
    stored = set()
    for fname in files:
        path = os.path.join(model_dir, fname)
        header = _safetensors_header(path)
        with safe_open(path, framework="pt") as f:
            for tname in sorted(f.keys()):
                t = f.get_tensor(tname)
                stored.add(header[tname]["dtype"])
                tensors[tname] = {"shape": list(t.shape), "dtype": header[tname]["dtype"], "file": fname,
                                  "fnv1a64": fnv1a64_f32(t), "first": first_values(t)}
    if len(stored) != 1:
        raise RuntimeError(f"{name}: mixed stored dtypes {stored}")
    cfg = read_json(os.path.join(model_dir, "config.json"))
    return {"model": name, "generator": generator_record(), "stored_dtype": stored.pop(),
            "config": {"hidden_size": cfg["d_model"], "n_head": cfg["n_heads"], "n_layer": cfg["n_layers"],
                       "vocab_size": cfg["vocab_size"]},
            "planted_bos_head": {"layer": planted[0], "head": planted[1]},
            "files": files, "tensors": tensors}


def make_mpt_models(ref_dir: str) -> None:
    models_dir = os.path.join(ref_dir, "models")
    tok_path = os.path.join(ref_dir, "tokenizer", "tokenizer.json")
    for name, base, dtype in MPT_VARIANTS:
        model = build_mpt(base).to(dtype)
        out = os.path.join(models_dir, name)
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.makedirs(out)
        model.save_pretrained(out)
        os.remove(os.path.join(out, "generation_config.json"))  # not part of a model; saves space
        _save_tokenizer(out, tok_path)
        files = _weight_files(out)
        if files != ["model.safetensors"]:
            raise RuntimeError(f"{name}: expected one model.safetensors, got {files}")
        planted = MPT_BASES[base][4]
        write_json(os.path.join(models_dir, name + ".expected.json"),
                   mpt_expected_record(out, name, planted), compact_lists=True)
        print(f"model {name}: {len(files)} file(s)")


def load_mpt(ref_dir, name):
    model = MptForCausalLM.from_pretrained(os.path.join(ref_dir, "models", name), dtype=torch.float32,
                                           attn_implementation="eager")
    model.eval()  # dropout is 0 in the config; eval makes that explicit
    return model


def make_mpt_forward(ref_dir: str, tok) -> None:
    out_dir = os.path.join(ref_dir, "forward")
    os.makedirs(out_dir, exist_ok=True)
    plain, with_bos = ff.forward_text_set(tok)
    for model_name, weights, with_bos_run in MPT_FORWARD:
        model = load_mpt(ref_dir, model_name)
        logits = {}
        plain_entries = ff.run_model_texts(model, tok, plain, False, 0, logits)
        runs = [ff.make_run("plain", False, plain_entries)]
        if with_bos_run:
            bos_entries = ff.run_model_texts(model, tok, with_bos, True, len(plain_entries), logits)
            runs.append(ff.make_run("prepend_bos", True, bos_entries))
        doc = {"model": model_name, "model_dir": f"tests/reference/models/{model_name}",
               "generator": generator_record(), "max_length": ff.MAX_LENGTH, "weights": weights,
               "runs": runs}
        write_json(os.path.join(out_dir, model_name + ".json"), doc, compact_lists=True)
        save_file(logits, os.path.join(out_dir, model_name + ".safetensors"), metadata={"format": "pt"})
        lens = [e["T"] for r in runs for e in r["texts"]]
        print(f"forward {model_name}: T {lens}, ppl plain {runs[0]['ppl']:.4f}")
        ff._print_planted(ref_dir, model_name, runs)


# ---- surgery (tiny-mpt-h6-f32) ----

def head_rows(C, d, h):
    """Rows of Wqkv that belong to head h, in the order q, k, v (the qkv_weight slice order)."""
    return torch.cat([torch.arange(part * C + h * d, part * C + (h + 1) * d) for part in range(3)])


def _dims(model):
    C = model.config.d_model
    return C, C // model.config.n_heads


def mpt_trainable_setup(model):
    """Freeze everything, then enable the target layers' Wqkv.weight and out_proj.weight with hooks
    that keep only the target heads' rows (Wqkv: q, k and v blocks) and columns (out_proj)."""
    C, d = _dims(model)
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for layer_s, heads in fsur.TARGETS.items():
        attn = model.transformer.blocks[int(layer_s)].attn
        row_mask = torch.zeros(3 * C, dtype=attn.Wqkv.weight.dtype)
        col_mask = torch.zeros(C, dtype=attn.out_proj.weight.dtype)
        for h in heads:
            row_mask[head_rows(C, d, h)] = 1.0
            col_mask[h * d:(h + 1) * d] = 1.0
        qkv_w, out_w = attn.Wqkv.weight, attn.out_proj.weight
        for p in (qkv_w, out_w):
            p.requires_grad_(True)
        qkv_w.register_hook(lambda g, m=row_mask: g * m.view(-1, 1))
        out_w.register_hook(lambda g, m=col_mask: g * m.view(1, -1))
        params += [qkv_w, out_w]
    return params


def mpt_target_slices(model, use_grad):
    """{"layer<L>.head<H>.qkv_weight": [3d, C] (q, k, v rows), ".dense_cols": [C, d]}."""
    C, d = _dims(model)
    out = {}
    for layer_s, heads in fsur.TARGETS.items():
        attn = model.transformer.blocks[int(layer_s)].attn
        qkv_w, out_w = attn.Wqkv.weight, attn.out_proj.weight
        if use_grad:
            qkv_w, out_w = qkv_w.grad, out_w.grad
        for h in heads:
            name = f"layer{layer_s}.head{h}"
            out[name + ".qkv_weight"] = qkv_w[head_rows(C, d, h)].detach().clone().contiguous()
            out[name + ".dense_cols"] = out_w[:, h * d:(h + 1) * d].detach().clone().contiguous()
    return out


def mpt_masked_copy(C, d, name, tensor):
    """The tensor with the target heads' rows (Wqkv) or columns (out_proj) set to +0.0; None when
    the tensor has no trainable part."""
    for layer_s, heads in fsur.TARGETS.items():
        prefix = f"transformer.blocks.{layer_s}.attn."
        if name == prefix + "Wqkv.weight":
            t = tensor.detach().clone()
            for h in heads:
                t[head_rows(C, d, h)] = 0.0
            return t
        if name == prefix + "out_proj.weight":
            t = tensor.detach().clone()
            for h in heads:
                t[:, h * d:(h + 1) * d] = 0.0
            return t
    return None


def make_mpt_gradients(ref_dir, chunks):
    model = load_mpt(ref_dir, SURGERY_MODEL)
    mpt_trainable_setup(model)
    loss = fsur.chunk_loss(model, chunks[0])
    loss.backward()
    grads = mpt_target_slices(model, use_grad=True)
    out_dir = os.path.join(ref_dir, "surgery")
    save_file(grads, os.path.join(out_dir, SURGERY_PREFIX + "gradients.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(out_dir, SURGERY_PREFIX + "gradients.json"), {
        "model": SURGERY_MODEL, "model_dir": f"tests/reference/models/{SURGERY_MODEL}",
        "generator": generator_record(), "targets": fsur.TARGETS, "chunk_len": fsur.CHUNK, "ids": chunks[0],
        "loss": loss.item(), "tensors": sorted(grads)}, compact_lists=True)
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads.values()))
    smallest = min(float(g.abs().min()) for g in grads.values())
    print(f"mpt surgery gradients: loss {loss.item():.6f}, |grad| over slices {norm:.6f}, "
          f"smallest |element| {smallest:.3e}")


def make_mpt_steps(ref_dir, chunks):
    hyper_in = fsur.HYPER
    model = load_mpt(ref_dir, SURGERY_MODEL)
    C, d = _dims(model)
    expected = read_json(os.path.join(ref_dir, "models", SURGERY_MODEL + ".expected.json"))["tensors"]
    state0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = mpt_trainable_setup(model)
    total = hyper_in["max_steps"]
    warmup = min(100, total // 4)
    opt = torch.optim.AdamW(params, lr=hyper_in["lr"], betas=tuple(hyper_in["betas"]), eps=hyper_in["eps"],
                            weight_decay=hyper_in["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, fsur.lr_lambda_factory(warmup, total))
    accum = hyper_in["grad_accum"]
    if len(chunks) < total * accum:
        raise RuntimeError(f"corpus has {len(chunks)} chunks, need {total * accum} for one pass")
    steps = []
    next_chunk = 0
    for s in range(total):
        opt.zero_grad(set_to_none=True)
        logged = 0.0
        used = []
        for _ in range(accum):
            loss = fsur.chunk_loss(model, chunks[next_chunk]) / accum
            loss.backward()
            logged += loss.item()
            used.append(next_chunk)
            next_chunk += 1
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, hyper_in["clip"]))
        lr_used = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        steps.append({"step": s, "chunks": used, "lr": lr_used, "loss": logged, "grad_norm": grad_norm,
                      "clip_coef": min(1.0, hyper_in["clip"] / (grad_norm + 1e-6))})

    final = mpt_target_slices(model, use_grad=False)
    frozen, masked = {}, {}
    state = model.state_dict()
    for name, rec in expected.items():
        key = name if name in state else "transformer." + name
        after = state[key]
        m_after = mpt_masked_copy(C, d, key, after)
        if m_after is None:
            fnv = fnv1a64_f32(after)
            if fnv != rec["fnv1a64"]:
                raise RuntimeError(f"frozen tensor {name} changed during the reference training")
            frozen[name] = fnv
        else:
            fnv = fnv1a64_f32(m_after)
            if fnv != fnv1a64_f32(mpt_masked_copy(C, d, key, state0[key])):
                raise RuntimeError(f"non-target part of {name} changed during the reference training")
            if torch.equal(after, state0[key]):
                raise RuntimeError(f"trainable tensor {name} did not change")
            masked[name] = fnv
    out_dir = os.path.join(ref_dir, "surgery")
    save_file(final, os.path.join(out_dir, SURGERY_PREFIX + "steps.safetensors"), metadata={"format": "pt"})
    hyper = dict(hyper_in, warmup_steps=warmup, total_steps=total)
    # MPT has no key bias, the one analytically-zero gradient of the BLOOM fixture: no noise elements
    write_json(os.path.join(out_dir, SURGERY_PREFIX + "steps.json"), {
        "model": SURGERY_MODEL, "model_dir": f"tests/reference/models/{SURGERY_MODEL}",
        "generator": generator_record(), "targets": fsur.TARGETS, "hyper": hyper,
        "corpus": "tests/reference/surgery/corpus.txt", "n_chunks": len(chunks), "chunks": chunks,
        "steps": steps, "final_slices": sorted(final), "frozen_fnv1a64": frozen, "masked_fnv1a64": masked,
        "noise_elements": {}}, compact_lists=True)
    for st in steps:
        print(f"  step {st['step']}: lr {st['lr']:.6g} loss {st['loss']:.6f} grad_norm {st['grad_norm']:.6f}"
              f" clip_coef {st['clip_coef']:.4f}")
    print(f"mpt surgery steps: {len(frozen)} frozen tensors unchanged, {len(masked)} partly trained")


def make_mpt_surgery(ref_dir: str, tok) -> None:
    """Uses the committed surgery/corpus.txt (written by the "surgery" stage; not rewritten here)."""
    chunks = fsur.corpus_chunks(ref_dir, tok)
    make_mpt_gradients(ref_dir, chunks)
    make_mpt_steps(ref_dir, chunks)


def make_mpt_fixtures(ref_dir: str, tok) -> None:
    make_mpt_models(ref_dir)
    make_mpt_forward(ref_dir, tok)
    make_mpt_surgery(ref_dir, tok)
