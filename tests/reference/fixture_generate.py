"""The `generate` stage: greedy generation and attention matrices from transformers, for the
generate and inspect job kinds (generate/<model>.json and .safetensors, generate/attentions.*).

For each of tiny-h4-f32, tiny-h6-f32 and tiny-mpt-h6-f32 (fp32, eager attention, eval), every
prompt is generated on its own (batch 1, no padding) with
generate(do_sample=False, use_cache=True, max_new_tokens=64, eos_token_id=2): the generated ids,
why it ended (eos or length), and the smallest top-1/top-2 logit gap over its steps. The raw
logits (output_logits) of the first LOGIT_PROMPTS prompts at the steps LOGIT_STEPS are stored
as float32 tensors "p<prompt>_s<step>" [V]. Attentions: one text on tiny-h6-f32 through a plain
forward with output_attentions=True, the post-softmax matrices [T, T] of a few (layer, head)
pairs as tensors "l<layer>_h<head>"."""

import os
import random

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

import fixture_text as ft
from fixture_util import generator_record, write_json

GENERATE_MODELS = ("tiny-h4-f32", "tiny-h6-f32", "tiny-mpt-h6-f32")
N_PROMPTS = 24
MAX_NEW_TOKENS = 64
EOS_ID = 2
LOGIT_PROMPTS = 3
LOGIT_STEPS = (0, 1, 17, 63)
ATTENTION_MODEL = "tiny-h6-f32"
ATTENTION_HEADS = ((0, 0), (1, 3), (2, 5), (2, 1))


def generate_prompts():
    """N_PROMPTS prose prompts of 1 to ~40 tokens (seeded)."""
    rng = random.Random(2026)
    prompts = []
    for i in range(N_PROMPTS):
        words = " ".join(ft.english_sentence(rng) for _ in range(3)).split(" ")
        prompts.append(" ".join(words[: 1 + (i * 7) % 30]))
    return prompts


def attention_text():
    return ("The children walked to school along the river and stopped to watch the boats "
            "while a small dog ran ahead of them.")


def _load(ref_dir, name):
    model = AutoModelForCausalLM.from_pretrained(os.path.join(ref_dir, "models", name),
                                                 dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    return model


def _generate_one(model, ids):
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             do_sample=False, use_cache=True, max_new_tokens=MAX_NEW_TOKENS,
                             eos_token_id=EOS_ID, pad_token_id=3, output_logits=True,
                             return_dict_in_generate=True)
    gen = out.sequences[0, len(ids):].tolist()
    logits = [l[0].float() for l in out.logits]
    gaps = [float(torch.topk(l, 2).values[0] - torch.topk(l, 2).values[1]) for l in logits]
    return gen, logits, gaps


def _model_fixture(ref_dir, tok, name, prompts, out_dir):
    model = _load(ref_dir, name)
    records, tensors = [], {}
    for i, text in enumerate(prompts):
        ids = tok.encode(text, add_special_tokens=False).ids
        gen, logits, gaps = _generate_one(model, ids)
        records.append({"text": text, "ids": ids, "generated": gen,
                        "finish": "eos" if gen and gen[-1] == EOS_ID else "length",
                        "min_top2_gap": min(gaps)})
        if i < LOGIT_PROMPTS:
            for s in LOGIT_STEPS:
                if s < len(logits):
                    tensors[f"p{i}_s{s}"] = logits[s].contiguous()
    save_file(tensors, os.path.join(out_dir, f"{name}.safetensors"))
    write_json(os.path.join(out_dir, f"{name}.json"), {
        "generator": generator_record(), "model": name, "max_new_tokens": MAX_NEW_TOKENS,
        "eos_token_id": EOS_ID, "logit_prompts": LOGIT_PROMPTS, "logit_steps": list(LOGIT_STEPS),
        "prompts": records})
    worst = min(r["min_top2_gap"] for r in records)
    print(f"generate {name}: {len(records)} prompts x {MAX_NEW_TOKENS} tokens, "
          f"{sum(r['finish'] == 'eos' for r in records)} ended at eos, smallest top-2 gap {worst:.3g}")


def _attention_fixture(ref_dir, tok, out_dir):
    model = _load(ref_dir, ATTENTION_MODEL)
    text = attention_text()
    ids = tok.encode(text, add_special_tokens=False).ids
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    tensors = {f"l{l}_h{h}": out.attentions[l][0, h].float().contiguous()
               for l, h in ATTENTION_HEADS}
    save_file(tensors, os.path.join(out_dir, "attentions.safetensors"))
    write_json(os.path.join(out_dir, "attentions.json"), {
        "generator": generator_record(), "model": ATTENTION_MODEL, "text": text, "ids": ids,
        "heads": [[l, h] for l, h in ATTENTION_HEADS]})
    print(f"generate attentions: {len(ATTENTION_HEADS)} heads of {ATTENTION_MODEL}, T={len(ids)}")


def make_generate_fixtures(ref_dir, tok):
    out_dir = os.path.join(ref_dir, "generate")
    os.makedirs(out_dir, exist_ok=True)
    prompts = generate_prompts()
    for name in GENERATE_MODELS:
        _model_fixture(ref_dir, tok, name, prompts, out_dir)
    _attention_fixture(ref_dir, tok, out_dir)
