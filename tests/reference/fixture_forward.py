"""Forward-pass fixtures: runs transformers (fp32, eager) on the saved tiny models and records,
per text, ids, logits at sampled positions, per-head attention statistics (float64, from
output_attentions), NLL and perplexity, plus per-run aggregates (forward/<model>.json and
forward/<model>.safetensors)."""

import math
import os
import random

import torch
from safetensors.torch import save_file
from transformers import BloomForCausalLM

import fixture_text as ft
from fixture_util import b64, generator_record, write_json

MAX_LENGTH = 64
BOS_ID = 1
# (model, weights note, with the prepend_bos run) -- the bf16 model has only the plain run, to keep
# the committed fixtures under 5 MB (its weights load bit-exactly anyway: models/*.expected.json)
FORWARD_MODELS = (
    ("tiny-h4-f32", "fp32", True),
    ("tiny-h6-f32", "fp32", True),
    ("tiny-h4-bf16", "bf16 upcast to fp32", False),
)


def _text_with_exact_tokens(tok, n_tokens: int, seed: int) -> str:
    """A prose text whose HF encoding has exactly n_tokens ids (searched over word prefixes)."""
    rng = random.Random(seed)
    words = " ".join(ft.english_sentence(rng) for _ in range(60)).split(" ")
    for end in range(1, len(words) + 1):
        text = " ".join(words[:end])
        n = len(tok.encode(text, add_special_tokens=False).ids)
        if n == n_tokens:
            return text
        if n > n_tokens:
            break
    # a word boundary can jump past n_tokens: extend character by character instead
    base = " ".join(words)
    for end in range(1, len(base) + 1):
        if len(tok.encode(base[:end], add_special_tokens=False).ids) == n_tokens:
            return base[:end]
    raise RuntimeError(f"no prefix tokenizes to exactly {n_tokens} tokens")


def forward_text_set(tok):
    """(plain run texts, prepend_bos run texts) as [(name, text)]."""
    base = dict(ft.forward_texts())
    exact = _text_with_exact_tokens(tok, MAX_LENGTH, seed=64)
    rng = random.Random(65)
    longer = " ".join(ft.english_sentence(rng) for _ in range(12)) + "\n\t" + ft.CODE_SNIPPETS[2]
    if len(tok.encode(longer, add_special_tokens=False).ids) <= MAX_LENGTH + 16:
        raise RuntimeError("the 'longer' text is not longer than max_length")
    plain = [
        ("sentence", base["sentence"]),
        ("exactly_max_length", exact),
        ("longer_than_max_length", longer),
    ]
    with_bos = [("paragraph_bos", base["paragraph"])]
    return plain, with_bos


def head_statistics(attn_layers):
    """attn_layers: tuple of L tensors [1, H, T, T]. Returns (bos, entropy, local) [L][H] lists,
    computed in float64."""
    bos, ent, loc = [], [], []
    for a in attn_layers:
        a = a[0].to(torch.float64)                          # [H, T, T]
        T = a.shape[-1]
        bos.append(a[:, :, 0].mean(dim=-1).tolist())
        plogp = torch.where(a > 0, a * torch.log(torch.where(a > 0, a, torch.ones_like(a))),
                            torch.zeros_like(a))
        ent.append((-plogp.sum(dim=-1)).mean(dim=-1).tolist())
        t_idx = torch.arange(T).view(T, 1)
        j_idx = torch.arange(T).view(1, T)
        band = ((j_idx <= t_idx) & (j_idx >= t_idx - 2)).to(torch.float64)
        loc.append((a * band).sum(dim=-1).mean(dim=-1).tolist())
    return bos, ent, loc


def nll_sum(logits, ids):
    """Sum over t = 0..T-2 of -log softmax(logits[t])[ids[t+1]] (fp32 logits, float64 math)."""
    lp = torch.log_softmax(logits.float().to(torch.float64), dim=-1)
    targets = torch.tensor(ids[1:], dtype=torch.long)
    return float(-lp[:-1].gather(1, targets.view(-1, 1)).sum())


def _mean_std(values):
    """Per-(layer, head) mean and population std over a list of [L][H] lists."""
    t = torch.tensor(values, dtype=torch.float64)           # [N, L, H]
    return t.mean(dim=0).tolist(), t.std(dim=0, unbiased=False).tolist()


@torch.no_grad()
def run_model_texts(model, tok, texts, prepend_bos, first_index, logits_out):
    entries = []
    for k, (name, text) in enumerate(texts):
        index = first_index + k
        full = tok.encode(text, add_special_tokens=False).ids
        if prepend_bos:
            full = [BOS_ID] + full
        ids = full[:MAX_LENGTH]
        T = len(ids)
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
        logits = out.logits[0]
        positions = [0, T // 2, T - 1]
        logits_out[f"logits.{index}"] = logits[positions].float().contiguous().clone()
        bos, ent, loc = head_statistics(out.attentions)
        nll = nll_sum(logits, ids)
        entries.append({
            "index": index, "name": name, "text": text, "text_b64": b64(text.encode("utf-8")),
            "n_tokens_full": len(full), "ids": ids, "T": T, "logit_positions": positions,
            "logits": f"logits.{index}", "nll_sum": nll, "count": T - 1,
            "ppl": math.exp(nll / (T - 1)), "bos": bos, "entropy": ent, "local": loc,
        })
    return entries


def make_run(name, prepend_bos, entries):
    total_nll = sum(e["nll_sum"] for e in entries)
    total_pred = sum(e["count"] for e in entries)
    stats = {}
    for key, field in (("bos", "bos"), ("entropy", "entropy"), ("local", "local")):
        mean, std = _mean_std([e[field] for e in entries])
        stats[key + "_mean"] = mean
        stats[key + "_std"] = std
    return {"name": name, "prepend_bos": prepend_bos, "max_length": MAX_LENGTH, "texts": entries,
            "total_nll": total_nll, "total_predicted": total_pred,
            "ppl": math.exp(total_nll / total_pred), "head_stats": stats}


def make_forward_fixtures(ref_dir: str, tok) -> None:
    out_dir = os.path.join(ref_dir, "forward")
    os.makedirs(out_dir, exist_ok=True)
    plain, with_bos = forward_text_set(tok)
    for model_name, weights, with_bos_run in FORWARD_MODELS:
        model_dir = os.path.join(ref_dir, "models", model_name)
        model = BloomForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                 attn_implementation="eager")
        model.eval()
        logits = {}
        plain_entries = run_model_texts(model, tok, plain, False, 0, logits)
        runs = [make_run("plain", False, plain_entries)]
        if with_bos_run:
            bos_entries = run_model_texts(model, tok, with_bos, True, len(plain_entries), logits)
            runs.append(make_run("prepend_bos", True, bos_entries))
        doc = {"model": model_name, "model_dir": f"tests/reference/models/{model_name}",
               "generator": generator_record(), "max_length": MAX_LENGTH, "weights": weights,
               "runs": runs}
        write_json(os.path.join(out_dir, model_name + ".json"), doc, compact_lists=True)
        save_file(logits, os.path.join(out_dir, model_name + ".safetensors"), metadata={"format": "pt"})
        lens = [e["T"] for r in runs for e in r["texts"]]
        print(f"forward {model_name}: T {lens}, ppl plain {runs[0]['ppl']:.4f}")
        _print_planted(ref_dir, model_name, runs)


def _print_planted(ref_dir, model_name, runs):
    import json
    with open(os.path.join(ref_dir, "models", model_name + ".expected.json"), encoding="utf-8") as f:
        planted = json.load(f)["planted_bos_head"]
    L, H = planted["layer"], planted["head"]
    for r in runs:
        bos = r["head_stats"]["bos_mean"]
        others = max(bos[l][h] for l in range(len(bos)) for h in range(len(bos[0])) if (l, h) != (L, H))
        print(f"  run {r['name']}: planted head L{L}H{H} bos {bos[L][H]:.3f}; max other head bos {others:.3f}")
