"""Sliding-window perplexity fixture (stage "window_ppl"): transformers (fp32, eager) on the saved
tiny-h6-f32 model scores one text longer than max_length in windows of max_length tokens that
start every stride tokens, each window scoring only the tokens the previous one did not
(transformers' sliding-window perplexity, docs/api.md "Evaluate result"). Token i is scored in
the first window [b, e) with e > i and b < i: NLL_i = logsumexp(logits[i-1-b]) - logits[i-1-b][id_i],
from that window's own logits. ppl = exp(sum NLL / scored tokens). Written to
window_ppl/tiny-h6-f32.json: the text, its ids, and per (max_length, stride) the NLL sum, the
scored-token count and the perplexity."""

import math
import os
import random

import torch
from transformers import BloomForCausalLM

import fixture_text as ft
from fixture_util import generator_record, write_json

MODEL = "tiny-h6-f32"
CASES = ((16, 16), (16, 5), (24, 24), (24, 1))


def window_nll(model, ids, max_length, stride):
    """(sum NLL in float64, scored tokens) of ids over the windows."""
    total, scored, prev_end, b = 0.0, 0, 0, 0
    while prev_end < len(ids):
        e = min(b + max_length, len(ids))
        first = max(prev_end, b + 1)
        if e - first >= 1:
            with torch.no_grad():
                logits = model(torch.tensor([ids[b:e]])).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            for i in range(first, e):
                total -= float(logp[i - 1 - b, ids[i]])
                scored += 1
        prev_end = e
        b += stride
    return total, scored


def make_window_ppl_fixtures(ref_dir, tok):
    model_dir = os.path.join(ref_dir, "models", MODEL)
    model = BloomForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    model.eval()
    rng = random.Random(20261203)
    text = " ".join(ft.english_sentence(rng) for _ in range(8))
    ids = tok.encode(text, add_special_tokens=False).ids
    assert len(ids) > 2 * max(m for m, _ in CASES), len(ids)
    cases = []
    for max_length, stride in CASES:
        nll, scored = window_nll(model, ids, max_length, stride)
        cases.append({"max_length": max_length, "stride": stride, "nll": nll, "tokens": scored,
                      "ppl": math.exp(nll / scored)})
    out_dir = os.path.join(ref_dir, "window_ppl")
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, MODEL + ".json"),
               {"model": MODEL, "generator": generator_record(), "text": text, "ids": ids,
                "cases": cases})
