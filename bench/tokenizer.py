#!/usr/bin/env python3
"""Tokenizer speed: our tokenizer (C, one core) against HF `tokenizers` on the same text with
a vocabulary of BLOOM's size (or, with --pipeline neox, GPT-NeoX's pipeline at its size).

At run time, in a temporary directory (nothing is committed):
  1. builds a mixed corpus (~MB): Python standard-library source found on this machine (code,
     English prose in docstrings and comments) plus generated CJK / Devanagari / Arabic / emoji text;
  2. trains a byte-level BPE with BLOOM's exact pipeline (no normalizer; Split with BLOOM's regex,
     Isolated; ByteLevel without prefix space; ByteLevel decoder) to 250,000+ vocabulary entries
     with HF `tokenizers` and saves tokenizer.json. With --pipeline neox: GPT-NeoX's pipeline
     as MPT ships it (NFC; ByteLevel with GPT-2's regex; <|endoftext|>, <|padding|> and runs of
     2..24 spaces as normalized added tokens), 50,277 ids by default, and the timed text also
     holds accented Latin words in decomposed form (NFD) so that NFC has work to do;
  3. compiles bench/tokenizer_bench.c (a small driver around daemon/engine/tokenizer*.c) with -O3,
     times our encode of the bench text in-process (best of --repeat), and times HF's
     Tokenizer.encode on the same text single-threaded (RAYON_NUM_THREADS=1);
  4. checks the ids are identical and prints MB/s for both and the ratio; also times HF's
     encode_batch on the text cut at newlines (one thread), HF's faster path, for a second ratio.

    python3 bench/tokenizer.py [--pipeline bloom|neox] [--text-mb 4] [--train-mb 12] [--vocab N]
                               [--repeat 3]
"""

import argparse
import glob
import json
import os
import random
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
import unicodedata

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOOM_REGEX = " ?[^(\\s|[.,!?…。，、।۔،])]+"


def stdlib_text(limit_bytes, rng):
    """Python sources of the standard library on this machine, shuffled, up to limit_bytes."""
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"), recursive=True))
    rng.shuffle(files)
    parts, total = [], 0
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                t = fh.read()
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(t)
        total += len(t.encode())
        if total >= limit_bytes:
            break
    return "".join(parts)


def script_words(rng, n_words):
    """Generated words of CJK, Devanagari, Arabic and emoji characters with punctuation."""
    cjk = [chr(c) for c in range(0x4E00, 0x4E00 + 6000)]
    deva = [chr(c) for c in range(0x0905, 0x0939)] + [chr(c) for c in range(0x093E, 0x094D)]
    arab = [chr(c) for c in range(0x0627, 0x064A)]
    emoji = [chr(c) for c in range(0x1F600, 0x1F640)]
    punct = ["。", "，", "、", "।", "۔", "،", ".", ",", "!", "?", "…"]
    out = []
    for _ in range(n_words):
        r = rng.random()
        if r < 0.5:
            w = "".join(rng.choice(cjk[: rng.choice((300, 2000, 6000))]) for _ in range(rng.randint(1, 6)))
        elif r < 0.75:
            w = "".join(rng.choice(deva) for _ in range(rng.randint(2, 7)))
        elif r < 0.95:
            w = "".join(rng.choice(arab) for _ in range(rng.randint(2, 7)))
        else:
            w = rng.choice(emoji)
        out.append(w)
        out.append(rng.choice(punct) if rng.random() < 0.15 else " ")
        if rng.random() < 0.02:
            out.append("\n")
    return "".join(out)


ACCENTED = ("café", "crème", "brûlée", "naïve", "façade", "Ångström", "Tiếng", "Việt", "año", "über",
            "São", "Paulo", "déjà", "vu", "résumé", "coöperate", "Zürich", "Kraków", "Dvořák")


def accented_words(rng, n_words):
    """Accented Latin words, most of them decomposed (NFD), as sentences."""
    words = [unicodedata.normalize("NFD", w) if rng.random() < 0.7 else w
             for w in (rng.choice(ACCENTED) for _ in range(n_words))]
    return "\n".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12))


def mixed_text(mb, seed, accented=False):
    rng = random.Random(seed)
    code = stdlib_text(int(mb * 0.7e6), rng)
    scripts = script_words(rng, int(mb * 0.3e6 / 8))
    if accented:
        scripts += "\n" + accented_words(rng, int(mb * 0.1e6 / 7))
    # interleave paragraphs so both kinds are spread through the text
    a, b = code.split("\n\n"), scripts.split("\n")
    out = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return "\n\n".join(out)


def pipeline_tokenizer(pipeline):
    """An untrained BPE tokenizer with BLOOM's or GPT-NeoX's pipeline, and its special tokens."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.decoder = decoders.ByteLevel()
    if pipeline == "neox":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
        tok.post_processor = processors.ByteLevel(trim_offsets=True)
        return tok, ["<|endoftext|>", "<|padding|>"]
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BLOOM_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    return tok, ["<unk>", "<s>", "</s>", "<pad>"]


def train(text, vocab_size, path, pipeline):
    tok, special = pipeline_tokenizer(pipeline)
    space_runs = [" " * n for n in range(24, 1, -1)] if pipeline == "neox" else []
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(space_runs), min_frequency=1,
                                  special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    lines = text.split("\n")
    tok.train_from_iterator((line + "\n" for line in lines), trainer=trainer)
    if space_runs:  # as GPT-NeoX: normalized, not special
        tok.add_tokens([AddedToken(s, normalized=True, special=False) for s in space_runs])
    tok.save(path)
    with open(path, encoding="utf-8") as fh:
        model = json.load(fh)["model"]
    return len(model["vocab"]), len(model["merges"])


def icu_libs():
    """Linker flags for ICU's common library (the NFC normalizer)."""
    try:
        out = subprocess.run(["pkg-config", "--libs", "icu-uc"], check=True, capture_output=True, text=True)
        return out.stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return ["-licuuc"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text-mb", type=float, default=4.0, help="size of the timed text")
    ap.add_argument("--train-mb", type=float, default=12.0, help="size of the training text")
    ap.add_argument("--pipeline", choices=("bloom", "neox"), default="bloom")
    ap.add_argument("--vocab", type=int, default=None, help="ids in all (default 250880; neox 50277)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    args = ap.parse_args()
    if args.vocab is None:
        args.vocab = 50277 if args.pipeline == "neox" else 250880

    with tempfile.TemporaryDirectory(prefix="hs_bench_tok.") as tmp:
        tok_path = os.path.join(tmp, "tokenizer.json")
        t0 = time.perf_counter()
        n_vocab, n_merges = train(mixed_text(args.train_mb, seed=1, accented=args.pipeline == "neox"),
                                  args.vocab, tok_path, args.pipeline)
        print(f"trained tokenizer.json: {n_vocab} vocab entries, {n_merges} merges "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)

        text = mixed_text(args.text_mb, seed=2, accented=args.pipeline == "neox")  # not the training text
        data = text.encode("utf-8")
        text_path = os.path.join(tmp, "bench.txt")
        with open(text_path, "wb") as fh:
            fh.write(data)

        exe = os.path.join(tmp, "tokenizer_bench")
        srcs = sorted(glob.glob(os.path.join(REPO, "daemon/engine/formats/tokenizer*.c"))) + \
            [os.path.join(REPO, "daemon/common/errors.c"), os.path.join(REPO, "daemon/common/file_io.c"),
             os.path.join(REPO, "bench/tokenizer_bench.c")]
        subprocess.run([args.cc, "-std=c11", "-D_GNU_SOURCE", "-O3", "-march=native",
                        "-I", os.path.join(REPO, "daemon"), "-I/usr/include/cjson", *srcs,
                        "-o", exe, "-lpcre2-8", "-lcjson", *icu_libs()], check=True)
        ids_path = os.path.join(tmp, "ours.ids")
        out = subprocess.run([exe, tok_path, text_path, ids_path, str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)

        hf = Tokenizer.from_file(tok_path)
        best = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            enc = hf.encode(text, add_special_tokens=False)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        hf_ids = enc.ids
        # HF on the same text cut at newlines, as a batch (still one thread): its usual use
        lines = [line + "\n" for line in text.split("\n")]
        best_batch = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            hf.encode_batch(lines, add_special_tokens=False)
            dt = time.perf_counter() - t0
            best_batch = dt if best_batch is None else min(best_batch, dt)
        with open(ids_path, "rb") as fh:
            raw = fh.read()
        our_ids = list(struct.unpack(f"<{len(raw) // 4}i", raw))
        same = our_ids == hf_ids
        mb = len(data) / 1e6
        print(f"text: {mb:.2f} MB, {len(hf_ids)} tokens; ids identical to HF: {same}")
        print(f"load tokenizer.json: ours {ours['load_s']:.2f} s")
        print(f"encode (best of {args.repeat}, one core): ours {ours['encode_s']:.3f} s = "
              f"{mb / ours['encode_s']:.2f} MB/s; HF tokenizers {best:.3f} s = {mb / best:.2f} MB/s; "
              f"ours/HF speed ratio {best / ours['encode_s']:.2f}")
        print(f"HF encode_batch of the {len(lines)} lines (one thread): {best_batch:.3f} s = "
              f"{mb / best_batch:.2f} MB/s; ours/HF-batch speed ratio {best_batch / ours['encode_s']:.2f}")
        if not same:
            first = next(i for i, (a, b) in enumerate(zip(our_ids, hf_ids)) if a != b) \
                if any(a != b for a, b in zip(our_ids, hf_ids)) else min(len(our_ids), len(hf_ids))
            print(f"first differing position: {first}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
