#!/usr/bin/env python3
"""Checks files written by OUR C code (surgeond) with the HF libraries themselves:

  verify_ours.py safetensors FILE EXPECTED.json
      safetensors.torch loads FILE; every tensor listed in EXPECTED.json ("tensors" map, the format
      of tests/reference/models/*.expected.json; names matched with or without the `transformer.`
      prefix) is present with the same shape, dtype and fnv1a64 of its float32 upcast.

  verify_ours.py checkpoint DIR --ids 1,2,3 [--logits OURS.json] [--out FILE]
      transformers' BloomForCausalLM or MptForCausalLM (by config.json's model_type "bloom" / "mpt")
      .from_pretrained(DIR) (fp32, eager) and the tokenizer in DIR
      (AutoTokenizer and tokenizers.Tokenizer) load; prints {"ids": [...], "logits": [[V] per
      position]} (to FILE with --out); with --logits compares with OURS.json (same format) and
      fails when max|ours - hf| / max|hf| > 1e-4.

  verify_ours.py surgery-checkpoint DIR [--steps STEPS.json]
      for a checkpoint our surgery job wrote from tests/reference/models/tiny-h6-f32 with the settings
      of tests/reference/surgery/steps.json (init none, in order, 5 steps) -- or, with
      --steps tests/reference/surgery/mpt-steps.json, from models/tiny-mpt-h6-f32 (MPT: the head's
      Wqkv rows in q, k, v blocks and out_proj columns; no biases): transformers loads DIR;
      every frozen tensor has the fixture's frozen_fnv1a64; the non-target parts of the target layers'
      tensors have its masked_fnv1a64; the trained slices equal steps.safetensors within 1e-5
      (the key-bias noise elements within 1e-3, see README.md).

Exit status 0 when every check passes, 1 on a mismatch, 2 on bad usage or a file that fails to load.
Needs torch, transformers, tokenizers, safetensors (not needed by the test suite itself)."""

import argparse
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local directory only; never the network

LOGITS_REL_TOL = 1e-4


def _model_class(model_type):
    """The transformers class for a config.json model_type we write; None for any other."""
    from transformers import BloomForCausalLM, MptForCausalLM
    return {"bloom": BloomForCausalLM, "mpt": MptForCausalLM}.get(model_type)


def _load_causal_lm(model_dir):
    """(model, model_type) for a BLOOM or MPT checkpoint directory, fp32 weights, eager attention.
    Raises ValueError for another model_type."""
    import torch
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        model_type = json.load(f).get("model_type")
    cls = _model_class(model_type)
    if cls is None:
        raise ValueError(f"config.json model_type {model_type!r} is neither 'bloom' nor 'mpt'")
    return cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager"), model_type


def _header(path):
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: shorter than the 8-byte header length")
        n = struct.unpack("<Q", raw)[0]
        return json.loads(f.read(n).decode("utf-8"))


def verify_safetensors(path, expected_path):
    from safetensors.torch import load_file
    from fixture_util import fnv1a64_f32, read_json

    try:
        tensors = load_file(path)
        header = _header(path)
    except Exception as exc:  # report any loader failure as a failed check, with its reason
        print(f"FAIL {path}: safetensors cannot load it: {exc}")
        return 2
    expected = read_json(expected_path)["tensors"]

    def lookup(name):
        for cand in (name, "transformer." + name, name[len("transformer."):] if name.startswith("transformer.") else None):
            if cand is not None and cand in tensors:
                return cand
        return None

    failures = 0
    seen = set()
    for name, rec in sorted(expected.items()):
        key = lookup(name)
        if key is None:
            print(f"FAIL {name}: missing from {path}")
            failures += 1
            continue
        seen.add(key)
        t = tensors[key]
        problems = []
        if list(t.shape) != rec["shape"]:
            problems.append(f"shape {list(t.shape)} != {rec['shape']}")
        if header[key]["dtype"] != rec["dtype"]:
            problems.append(f"dtype {header[key]['dtype']} != {rec['dtype']}")
        if not problems and fnv1a64_f32(t) != rec["fnv1a64"]:
            problems.append("values differ (fnv1a64 " + fnv1a64_f32(t) + " != " + rec["fnv1a64"] + ")")
        if problems:
            print(f"FAIL {name}: " + "; ".join(problems))
            failures += 1
    extra = sorted(set(tensors) - seen)
    for name in extra:
        print(f"note: {name} is in {path} but not in {os.path.basename(expected_path)}")
    print(f"{'OK' if failures == 0 else 'FAIL'}: {len(expected) - failures}/{len(expected)} tensors match "
          f"({len(tensors)} in the file)")
    return 0 if failures == 0 else 1


def verify_checkpoint(model_dir, ids, ours_path, out_path):
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        print(f"FAIL {model_dir}: not a model directory (no config.json)", file=sys.stderr)
        return 2
    try:
        model, model_type = _load_causal_lm(model_dir)
        auto_tok = AutoTokenizer.from_pretrained(model_dir)
        raw_tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    except Exception as exc:
        print(f"FAIL {model_dir}: transformers/tokenizers cannot load it: {exc}", file=sys.stderr)
        return 2
    model.eval()
    vocab = model.config.vocab_size
    if max(ids) >= vocab or min(ids) < 0:
        print(f"FAIL --ids: ids must be in [0, {vocab})", file=sys.stderr)
        return 2
    probe = "Hello world, 注意力头!"
    if auto_tok(probe)["input_ids"] != raw_tok.encode(probe, add_special_tokens=False).ids:
        print("FAIL tokenizer: AutoTokenizer and tokenizer.json disagree on a probe text", file=sys.stderr)
        return 1
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    cfg = model.config
    extra = ""
    if model_type == "mpt":
        att = cfg.attn_config
        extra = (f", max_seq_len {cfg.max_seq_len}, alibi {att.alibi}, alibi_bias_max {att.alibi_bias_max}, "
                 f"softmax_scale {att.softmax_scale}, clip_qkv {att.clip_qkv}, qk_ln {att.qk_ln}, "
                 f"no_bias {cfg.no_bias}, logit_scale {cfg.logit_scale}")
    print(f"loaded {model_dir}: {model_type} ({type(model).__name__}), {cfg.num_hidden_layers} layers, "
          f"{cfg.num_attention_heads} heads, hidden {cfg.hidden_size}, vocab {vocab}, "
          f"layer_norm_epsilon {cfg.layer_norm_epsilon}, tie_word_embeddings {cfg.tie_word_embeddings}{extra}; "
          f"tokenizer vocab {raw_tok.get_vocab_size()}", file=sys.stderr)
    doc = {"ids": ids, "logits": [[float(x) for x in row] for row in logits]}
    if out_path:
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
    elif not ours_path:
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    if not ours_path:
        return 0
    with open(ours_path, encoding="utf-8") as f:
        ours = json.load(f)
    if ours.get("ids") != ids:
        print(f"FAIL {ours_path}: its ids {ours.get('ids')} are not --ids {ids}")
        return 1
    theirs = torch.tensor(ours["logits"], dtype=torch.float64)
    if tuple(theirs.shape) != tuple(logits.shape):
        print(f"FAIL {ours_path}: logits shape {tuple(theirs.shape)} != HF's {tuple(logits.shape)}")
        return 1
    ref = logits.double()
    err = float((theirs - ref).abs().max() / ref.abs().max())
    ok = err <= LOGITS_REL_TOL
    print(f"{'OK' if ok else 'FAIL'}: logits max|ours - hf| / max|hf| = {err:.3e} (tolerance {LOGITS_REL_TOL:.0e})")
    return 0 if ok else 1


def verify_surgery_checkpoint(model_dir, steps_path):
    import torch
    from safetensors.torch import load_file
    from fixture_util import fnv1a64_f32, read_json

    fx = read_json(steps_path)
    ref = load_file(os.path.join(os.path.dirname(os.path.abspath(steps_path)),
                                 os.path.basename(steps_path).replace(".json", ".safetensors")))
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        print(f"FAIL {model_dir}: not a model directory (no config.json)")
        return 2
    try:
        model, model_type = _load_causal_lm(model_dir)
    except Exception as exc:
        print(f"FAIL {model_dir}: transformers cannot load it: {exc}")
        return 2
    ref_cfg = os.path.join(os.path.dirname(os.path.abspath(steps_path)), "..", "models", fx["model"], "config.json")
    ref_type = read_json(ref_cfg)["model_type"] if os.path.isfile(ref_cfg) else model_type
    if ref_type != model_type:
        print(f"FAIL {model_dir}: a {model_type} checkpoint, but {steps_path} is for {fx['model']} ({ref_type})")
        return 1
    state = model.state_dict()
    C = model.config.hidden_size
    d = C // model.config.num_attention_heads

    def head_rows(h):
        """Rows of the fused QKV weight that belong to head h (BLOOM: one 3d block per head;
        MPT: d rows in each of the q, k and v blocks), in the slice order."""
        if model_type == "mpt":
            return torch.cat([torch.arange(part * C + h * d, part * C + (h + 1) * d) for part in range(3)])
        return torch.arange(h * 3 * d, (h + 1) * 3 * d)

    failures = 0
    for name, fnv in sorted(fx["frozen_fnv1a64"].items()):
        key = name if name.startswith("transformer.") else "transformer." + name
        if fnv1a64_f32(state[key]) != fnv:
            print(f"FAIL frozen tensor {name} changed")
            failures += 1
    for name, fnv in sorted(fx["masked_fnv1a64"].items()):
        key = name if name.startswith("transformer.") else "transformer." + name
        t = state[key].detach().clone()
        layer = key.split(".")[2]
        for h in fx["targets"][layer]:
            if key.endswith("dense.weight") or key.endswith("out_proj.weight"):
                t[:, h * d:(h + 1) * d] = 0.0
            else:
                t[head_rows(h)] = 0.0
        if fnv1a64_f32(t) != fnv:
            print(f"FAIL non-target part of {name} changed")
            failures += 1
    worst = worst_noise = 0.0
    seen = set()
    for layer, heads in fx["targets"].items():
        for h in heads:
            n = f"layer{layer}.head{h}"
            if model_type == "mpt":
                p = f"transformer.blocks.{layer}.attn."
                got = {".qkv_weight": state[p + "Wqkv.weight"][head_rows(h)],
                       ".dense_cols": state[p + "out_proj.weight"][:, h * d:(h + 1) * d]}
            else:
                p = f"transformer.h.{layer}.self_attention."
                got = {".qkv_weight": state[p + "query_key_value.weight"][head_rows(h)],
                       ".qkv_bias": state[p + "query_key_value.bias"][head_rows(h)].clone(),
                       ".dense_cols": state[p + "dense.weight"][:, h * d:(h + 1) * d]}
            for suffix, t in got.items():
                seen.add(n + suffix)
                diff = (t.double() - ref[n + suffix].double()).abs()
                if n + suffix in fx.get("noise_elements", {}):
                    b, e = fx["noise_elements"][n + suffix]
                    worst_noise = max(worst_noise, float(diff[b:e].max()))
                    diff[b:e] = 0.0
                worst = max(worst, float(diff.max()))
    missing = sorted(set(fx["final_slices"]) - seen)
    for name in missing:
        print(f"FAIL trained slice {name} of the fixture was not compared")
        failures += 1
    ok_slices = worst <= 1e-5 and worst_noise <= 1e-3
    if not ok_slices:
        failures += 1
    print(f"trained slices vs HF: max abs err {worst:.3e} (tol 1e-5)" +
          (f", key-bias noise elements {worst_noise:.3e} (tol 1e-3)" if fx.get("noise_elements") else ""))
    n_checked = len(fx["frozen_fnv1a64"]) + len(fx["masked_fnv1a64"])
    print(f"{'OK' if failures == 0 else 'FAIL'}: transformers loads {model_dir}; "
          f"{n_checked} frozen/partly frozen tensors checked; {failures} failure(s)")
    return 0 if failures == 0 else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check files written by surgeond with the HF libraries.")
    sub = parser.add_subparsers(dest="mode", required=True)
    p_st = sub.add_parser("safetensors", help="compare a safetensors file with an expected JSON")
    p_st.add_argument("file")
    p_st.add_argument("expected")
    p_ck = sub.add_parser("checkpoint", help="load a BLOOM or MPT checkpoint dir with transformers, "
                                             "print/compare logits")
    p_ck.add_argument("dir")
    p_ck.add_argument("--ids", required=True, help="comma-separated token ids, e.g. 1,2,3")
    p_ck.add_argument("--logits", help="our logits JSON to compare with")
    p_ck.add_argument("--out", help="write HF's logits JSON here instead of stdout")
    p_sc = sub.add_parser("surgery-checkpoint", help="check a surgery checkpoint against surgery/steps.* "
                                                    "(or surgery/mpt-steps.* for MPT)")
    p_sc.add_argument("dir")
    p_sc.add_argument("--steps", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "surgery", "steps.json"))
    args = parser.parse_args(argv)
    if args.mode == "surgery-checkpoint":
        return verify_surgery_checkpoint(args.dir, args.steps)
    if args.mode == "safetensors":
        return verify_safetensors(args.file, args.expected)
    try:
        ids = [int(x) for x in args.ids.split(",") if x.strip()]
    except ValueError:
        parser.error("--ids must be comma-separated integers")
    if not ids:
        parser.error("--ids is empty")
    return verify_checkpoint(args.dir, ids, args.logits, args.out)


if __name__ == "__main__":
    sys.exit(main())
