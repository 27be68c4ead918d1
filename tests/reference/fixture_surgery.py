"""Surgery fixtures on tiny-h6-f32, computed the reference way (full autograd in transformers,
gradient hooks that zero the non-target rows/columns, torch.optim.AdamW, clip_grad_norm_,
LambdaLR): the target slices' gradients after one forward/backward (surgery/gradients.*) and the
target slices after 5 masked AdamW steps plus proof that every frozen value is untouched
(surgery/steps.*). The fixed training text is surgery/corpus.txt."""

import math
import os

import torch
from safetensors.torch import save_file
from transformers import BloomForCausalLM

import fixture_text as ft
from fixture_util import fnv1a64_f32, generator_record, read_json, write_json

MODEL = "tiny-h6-f32"
TARGETS = {"1": [0, 3], "2": [5]}
CHUNK = 32
HYPER = {"init": "none", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
         "batch_size": 1, "grad_accum": 2, "max_length": CHUNK, "clip": 0.05, "max_steps": 5,
         "shuffle": False}


def load_model(ref_dir):
    model = BloomForCausalLM.from_pretrained(os.path.join(ref_dir, "models", MODEL),
                                             dtype=torch.float32, attn_implementation="eager")
    model.eval()  # dropout is 0 in the config; eval makes that explicit
    return model


def corpus_chunks(ref_dir, tok):
    path = os.path.join(ref_dir, "surgery", "corpus.txt")
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    ids = tok.encode(text, add_special_tokens=False).ids
    n = len(ids) // CHUNK
    return [ids[i * CHUNK:(i + 1) * CHUNK] for i in range(n)]


def _head_dim(model):
    return model.config.hidden_size // model.config.n_head


def trainable_setup(model):
    """Freeze everything, then enable the target layers' QKV weight/bias and dense weight with
    hooks that keep only the target heads' rows (QKV) and columns (dense). Returns the params."""
    d = _head_dim(model)
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for layer_s, heads in TARGETS.items():
        attn = model.transformer.h[int(layer_s)].self_attention
        row_mask = torch.zeros(attn.query_key_value.weight.shape[0])
        col_mask = torch.zeros(attn.dense.weight.shape[1])
        for h in heads:
            row_mask[h * 3 * d:(h + 1) * 3 * d] = 1.0
            col_mask[h * d:(h + 1) * d] = 1.0
        qkv_w, qkv_b, dense_w = attn.query_key_value.weight, attn.query_key_value.bias, attn.dense.weight
        for p in (qkv_w, qkv_b, dense_w):
            p.requires_grad_(True)
        qkv_w.register_hook(lambda g, m=row_mask: g * m.view(-1, 1))
        qkv_b.register_hook(lambda g, m=row_mask: g * m)
        dense_w.register_hook(lambda g, m=col_mask: g * m.view(1, -1))
        params += [qkv_w, qkv_b, dense_w]
    return params


def target_slices(model, use_grad):
    """{"layer<L>.head<H>.qkv_weight": [3d, C], ".qkv_bias": [3d], ".dense_cols": [C, d]}."""
    d = _head_dim(model)
    out = {}
    for layer_s, heads in TARGETS.items():
        attn = model.transformer.h[int(layer_s)].self_attention
        qkv_w, qkv_b, dense_w = attn.query_key_value.weight, attn.query_key_value.bias, attn.dense.weight
        if use_grad:
            qkv_w, qkv_b, dense_w = qkv_w.grad, qkv_b.grad, dense_w.grad
        for h in heads:
            name = f"layer{layer_s}.head{h}"
            out[name + ".qkv_weight"] = qkv_w[h * 3 * d:(h + 1) * 3 * d].detach().clone().contiguous()
            out[name + ".qkv_bias"] = qkv_b[h * 3 * d:(h + 1) * 3 * d].detach().clone().contiguous()
            out[name + ".dense_cols"] = dense_w[:, h * d:(h + 1) * d].detach().clone().contiguous()
    return out


def chunk_loss(model, ids):
    """HF's causal-LM loss: mean NLL over the len(ids)-1 shifted targets (fp32 logits)."""
    x = torch.tensor([ids])
    return model(input_ids=x, labels=x).loss


def make_gradients(ref_dir, chunks):
    model = load_model(ref_dir)
    trainable_setup(model)
    loss = chunk_loss(model, chunks[0])
    loss.backward()
    grads = target_slices(model, use_grad=True)
    out_dir = os.path.join(ref_dir, "surgery")
    save_file(grads, os.path.join(out_dir, "gradients.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(out_dir, "gradients.json"), {
        "model": MODEL, "model_dir": f"tests/reference/models/{MODEL}", "generator": generator_record(),
        "targets": TARGETS, "chunk_len": CHUNK, "ids": chunks[0], "loss": loss.item(),
        "tensors": sorted(grads)}, compact_lists=True)
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads.values()))
    print(f"surgery gradients: loss {loss.item():.6f}, |grad| over slices {norm:.6f}")


def lr_lambda_factory(warmup, total):
    def factor(s):
        if s < warmup:
            return s / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (s - warmup) / (total - warmup)))
    return factor


def _masked_copy(model, name, tensor):
    """The tensor with the target rows (QKV) or columns (dense) set to +0.0; None when the tensor
    has no trainable part."""
    d = _head_dim(model)
    for layer_s, heads in TARGETS.items():
        prefix = f"transformer.h.{layer_s}.self_attention."
        if name == prefix + "query_key_value.weight" or name == prefix + "query_key_value.bias":
            t = tensor.detach().clone()
            for h in heads:
                t[h * 3 * d:(h + 1) * 3 * d] = 0.0
            return t
        if name == prefix + "dense.weight":
            t = tensor.detach().clone()
            for h in heads:
                t[:, h * d:(h + 1) * d] = 0.0
            return t
    return None


def make_steps(ref_dir, chunks):
    model = load_model(ref_dir)
    expected = read_json(os.path.join(ref_dir, "models", MODEL + ".expected.json"))["tensors"]
    state0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = trainable_setup(model)
    total = HYPER["max_steps"]
    warmup = min(100, total // 4)
    opt = torch.optim.AdamW(params, lr=HYPER["lr"], betas=tuple(HYPER["betas"]), eps=HYPER["eps"],
                            weight_decay=HYPER["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda_factory(warmup, total))
    accum = HYPER["grad_accum"]
    if len(chunks) < total * accum:
        raise RuntimeError(f"corpus has {len(chunks)} chunks, need {total * accum} for one pass")
    steps = []
    next_chunk = 0
    for s in range(total):
        opt.zero_grad(set_to_none=True)
        logged = 0.0
        used = []
        for _ in range(accum):
            loss = chunk_loss(model, chunks[next_chunk]) / accum
            loss.backward()
            logged += loss.item()
            used.append(next_chunk)
            next_chunk += 1
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, HYPER["clip"]))
        lr_used = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        steps.append({"step": s, "chunks": used, "lr": lr_used, "loss": logged, "grad_norm": grad_norm,
                      "clip_coef": min(1.0, HYPER["clip"] / (grad_norm + 1e-6))})

    final = target_slices(model, use_grad=False)
    d = _head_dim(model)
    frozen, masked = {}, {}
    state = model.state_dict()
    for name, rec in expected.items():
        key = name if name in state else "transformer." + name
        after = state[key]
        m_after = _masked_copy(model, key, after)
        if m_after is None:
            fnv = fnv1a64_f32(after)
            if fnv != rec["fnv1a64"]:
                raise RuntimeError(f"frozen tensor {name} changed during the reference training")
            frozen[name] = fnv
        else:
            fnv = fnv1a64_f32(m_after)
            if fnv != fnv1a64_f32(_masked_copy(model, key, state0[key])):
                raise RuntimeError(f"non-target part of {name} changed during the reference training")
            if torch.equal(after, state0[key]):
                raise RuntimeError(f"trainable tensor {name} did not change")
            masked[name] = fnv
    out_dir = os.path.join(ref_dir, "surgery")
    save_file(final, os.path.join(out_dir, "steps.safetensors"), metadata={"format": "pt"})
    hyper = dict(HYPER, warmup_steps=warmup, total_steps=total)
    write_json(os.path.join(out_dir, "steps.json"), {
        "model": MODEL, "model_dir": f"tests/reference/models/{MODEL}", "generator": generator_record(),
        "targets": TARGETS, "hyper": hyper, "corpus": "tests/reference/surgery/corpus.txt",
        "n_chunks": len(chunks), "chunks": chunks, "steps": steps, "final_slices": sorted(final),
        "frozen_fnv1a64": frozen, "masked_fnv1a64": masked,
        "noise_elements": {name: [d, 2 * d] for name in sorted(final) if name.endswith(".qkv_bias")}},
        compact_lists=True)
    for st in steps:
        print(f"  step {st['step']}: lr {st['lr']:.6g} loss {st['loss']:.6f} grad_norm {st['grad_norm']:.6f}"
              f" clip_coef {st['clip_coef']:.4f}")
    print(f"surgery steps: {len(frozen)} frozen tensors unchanged, {len(masked)} partly trained")


def make_surgery_fixtures(ref_dir: str, tok) -> None:
    out_dir = os.path.join(ref_dir, "surgery")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "corpus.txt"), "wb") as f:
        f.write(ft.surgery_corpus().encode("utf-8"))
    chunks = corpus_chunks(ref_dir, tok)
    make_gradients(ref_dir, chunks)
    make_steps(ref_dir, chunks)
