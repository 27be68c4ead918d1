#!/usr/bin/env python3
"""Regenerates every reference fixture under tests/reference/ from scratch (no downloads):
tokenizer, tiny BLOOM models, forward-pass references and surgery references, then the same for
tiny MPT models (stage "mpt"), all computed with HF transformers / tokenizers in fp32 on CPU. See README.md beside this file for every file and field.

    python3 tests/reference/make_fixtures.py [--only tokenizer,models,forward,surgery,mpt,tokenizer_neox,generate,window_ppl,check]

The "mpt" stage needs the tokenizer and surgery/corpus.txt already in place (it reads them). The last
stage, "check", re-derives the forward fixtures with independent float64 numpy BLOOM and MPT
forwards and re-loads every model with transformers (fixture_selfcheck.py); it writes nothing.
"""

import argparse
import os
import sys
import time

REF_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, REF_DIR)

STAGES = ("tokenizer", "models", "forward", "surgery", "mpt", "tokenizer_neox", "generate",
          "window_ppl",
          "check")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(STAGES),
                        help="comma-separated subset of: " + ", ".join(STAGES))
    args = parser.parse_args(argv)
    stages = [s for s in args.only.split(",") if s]
    for s in stages:
        if s not in STAGES:
            parser.error(f"unknown stage {s!r}")

    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    torch.use_deterministic_algorithms(True)

    from tokenizers import Tokenizer
    import fixture_tokenizer

    t_start = time.time()
    tok_path = os.path.join(REF_DIR, "tokenizer", "tokenizer.json")
    if "tokenizer" in stages:
        tok = fixture_tokenizer.make_tokenizer_fixtures(REF_DIR)
    else:
        tok = Tokenizer.from_file(tok_path)
    if "models" in stages:
        import fixture_models
        fixture_models.make_model_fixtures(REF_DIR, tok_path)
    if "forward" in stages:
        import fixture_forward
        fixture_forward.make_forward_fixtures(REF_DIR, tok)
    if "surgery" in stages:
        import fixture_surgery
        fixture_surgery.make_surgery_fixtures(REF_DIR, tok)
    if "mpt" in stages:
        import fixture_mpt
        fixture_mpt.make_mpt_fixtures(REF_DIR, tok)
    if "tokenizer_neox" in stages:
        import fixture_tokenizer_neox
        fixture_tokenizer_neox.make_tokenizer_neox_fixtures(REF_DIR)
    if "generate" in stages:
        import fixture_generate
        fixture_generate.make_generate_fixtures(REF_DIR, tok)
    if "window_ppl" in stages:
        import fixture_window_ppl
        fixture_window_ppl.make_window_ppl_fixtures(REF_DIR, tok)
    if "check" in stages:
        import fixture_selfcheck
        fixture_selfcheck.run_selfcheck(REF_DIR)
    print(f"done in {time.time() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
