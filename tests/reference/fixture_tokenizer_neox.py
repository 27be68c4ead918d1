"""GPT-NeoX-style tokenizer fixtures (the tokenizer.json MPT checkpoints ship): trains a small
byte-level BPE with HF tokenizers using GPT-NeoX's pipeline (NFC normalizer, ByteLevel
pre-tokenizer with use_regex, ByteLevel post-processor and decoder, added tokens some of them
normalized) and records HF's ids / decodes for the test strings in tokenizer_neox/cases.json,
in the schema of tokenizer/cases.json. Deterministic, CPU only, no downloads.

    python3 tests/reference/fixture_tokenizer_neox.py [--out DIR]
"""

import argparse
import os
import sys
import unicodedata

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_text as ft  # noqa: E402
from fixture_tokenizer import INVALID_UTF8, bytes_to_unicode  # noqa: E402
from fixture_util import b64, write_json  # noqa: E402

REF_DIR = os.path.dirname(os.path.abspath(__file__))
VOCAB_SIZE = 2048  # trained vocabulary, special tokens included
SPECIAL_TOKENS = ["<|endoftext|>", "<|padding|>"]  # ids 0 and 1, normalized false (as GPT-NeoX)
# Added after training, as GPT-NeoX adds its runs of spaces: (content, normalized).
EXTRA_ADDED = [
    ("  ", True),                        # runs of spaces, matched after NFC (GPT-NeoX has 2..24)
    ("    ", True),
    ("        ", True),
    ("<|cafe\u0301|>", True),            # decomposed content: HF matches its NFC form "<|café|>"
    ("<|e\u0301|>", False),              # decomposed content matched only in the raw text
]
EXPECTED_IDS = VOCAB_SIZE + len(EXTRA_ADDED)


def neox_pipeline_tokenizer() -> Tokenizer:
    """An untrained BPE tokenizer with GPT-NeoX's normalizer/pre-tokenizer/post-processor/decoder."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def training_lines():
    """fixture_text's training text plus lines with contractions, digits and accented words."""
    lines = ft.training_text(seed=4321, approx_chars=300_000).split("\n")
    extra = [
        "I'm sure it's fine; we'll see what they've done, you'd know and I'll go, we're here.",
        "Don't stop: 2026-11-29, 3.14159, 1,000,000 and 42 apples cost $7.50.",
        "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade, \u00c5ngstr\u00f6m, Ti\u1ebfng Vi\u1ec7t.",
    ]
    return [line + "\n" for line in lines + extra * 50]


def train_tokenizer() -> Tokenizer:
    tok = neox_pipeline_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(training_lines(), trainer=trainer)
    if tok.get_vocab_size() != VOCAB_SIZE:
        raise RuntimeError(f"trained vocabulary has {tok.get_vocab_size()} entries, want {VOCAB_SIZE}")
    tok.add_tokens([AddedToken(c, normalized=n, special=False) for c, n in EXTRA_ADDED])
    for i, name in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(name) != i:
            raise RuntimeError(f"special token {name} got id {tok.token_to_id(name)}, want {i}")
    if tok.get_vocab_size(with_added_tokens=True) != EXPECTED_IDS:
        raise RuntimeError(f"{tok.get_vocab_size(with_added_tokens=True)} ids, want {EXPECTED_IDS}")
    return tok


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


def _encode_cases():
    """[(name, text)] of valid Python strings to encode."""
    cafe = "caf\u00e9"
    return [
        ("empty", ""),
        ("ascii_prose", "The quick brown fox jumps over the lazy dog. It was the best of times!"),
        ("hello_world_leading_space", " Hello world"),
        # contractions: the regex's 's 't 're 've 'm 'll 'd, case-sensitive
        ("contractions_lower", "I'm sure it's fine, we'll see; they've gone, you'd know, we're here, don't"),
        ("contractions_upper", "IT'S DON'T WE'LL THEY'VE I'M"),
        ("contractions_alone", "'s 't 're 've 'm 'll 'd"),
        ("contractions_doubled_quote", "''s x''ll '''"),
        ("contraction_after_space", "rock 'n' roll, 'tis"),
        ("contraction_curly_quote", "it\u2019s we\u2019ll"),
        # digits: \p{N} runs (decimal, other-number, letter-number)
        ("digits", "0123456789 3.14159 1,000,000 2026-11-29 a1b22c333"),
        ("digits_other_scripts", "\u0661\u0662\u0663 \u0967\u0968 \u00bd \u00b2\u00b3 \u216b \u2460"),
        ("digits_leading_space_runs", "  42   7"),
        # whitespace: \s+(?!\S) leaves the last space to the next word
        ("single_space", " "),
        ("many_spaces", "          "),
        ("space_runs_between_words", "a  b   c    d     e         f"),
        ("trailing_spaces", "end of line   "),
        ("spaces_before_newline", "a   \n b\n\n  c"),
        ("leading_newlines", "\n\n\nstart"),
        ("trailing_newlines", "end\n\n"),
        ("tabs", "\t\tx\t y \t"),
        ("windows_newlines", "line one\r\nline two\r\n\r\nline four"),
        ("mixed_whitespace", " \u00a0x\u3000y\u2028z \u2003 w"),
        ("code_python", ft.CODE_SNIPPETS[1]),
        ("code_c_tabs", ft.CODE_SNIPPETS[0]),
        # punctuation: ?[^\s\p{L}\p{N}]+
        ("punctuation", "Hello, world! (yes) [no] {maybe}... --- ?! a.b,c;d:e"),
        ("punctuation_runs", " !!! ??? ... ((( ))) \"quoted\" 'single'"),
        ("other_punct", " ".join(ft.OTHER_PUNCT) + " " + "".join(ft.OTHER_PUNCT)),
        ("symbols", "\u00a9 \u20ac5 \u2192 \u00b1 \u221e \u2026"),
        # scripts
        ("cjk_chinese", "我们修复坍缩的头。模型的每一层都有多个注意力头，这是一个测试、好吗"),
        ("cjk_japanese", "東京の天気は晴れです。日本語の文章、カタカナ"),
        ("cjk_korean", "한국어 문장입니다. 안녕하세요"),
        ("devanagari", "नमस्ते दुनिया। यह एक परीक्षण है।"),
        ("arabic", "مرحبا بالعالم۔ هذا اختبار، نموذج اللغة"),
        ("emoji", "😀🚀🧠 ok 👍🏽 flags 🇫🇷 family 👨‍👩‍👧 ✨"),
        ("four_byte_math", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 𝟘𝟙 \U0010FFFD"),
        # NFC: decomposed input must give the ids of the composed text
        ("nfc_composed", f"The {cafe} serves cr\u00e8me br\u00fbl\u00e9e"),
        ("nfc_decomposed", nfd(f"The {cafe} serves cr\u00e8me br\u00fbl\u00e9e")),
        ("nfc_vietnamese_decomposed", nfd("Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u")),
        ("nfc_hangul_jamo", "\u1100\u1161\u11a8 \u1112\u1161\u11ab"),
        ("nfc_singletons", "\u212b \u2126 \u212a \u0344"),
        ("nfc_reorder_marks", "a\u0302\u0323 a\u0323\u0302"),
        ("nfc_leading_combining", "\u0301x \u0301 \u0301\u0301"),
        ("nfc_stacked_marks", "e\u0301\u0301 o\u0308\u0304"),
        ("nfc_ligature_kept", "\ufb01ne \u2460 \uff21"),
        ("nfc_angstrom_sign_word", "10 \u212b apart"),
        # added tokens
        ("special_eos_inside", "hello<|endoftext|>world"),
        ("special_both", "<|endoftext|><|padding|>"),
        ("special_partial", "<|endoftext| <|padding <|endoftext|x"),
        ("special_with_spaces", " <|padding|> x <|endoftext|> "),
        ("special_twice", "<|endoftext|><|endoftext|>"),
        ("added_spaces_9", "a" + " " * 9 + "b"),
        ("added_spaces_3", "x   y"),
        ("added_spaces_16_at_end", "z" + " " * 16),
        ("added_spaces_in_code", "    if x:\n        return 1\n"),
        ("added_normalized_composed", "a<|caf\u00e9|>b"),
        ("added_normalized_decomposed", "a<|cafe\u0301|>b"),
        ("added_raw_decomposed", "a<|e\u0301|>b"),
        ("added_raw_composed_is_text", "a<|\u00e9|>b"),
        ("nfc_not_across_special", "e<|endoftext|>\u0301"),
        ("nfc_across_normalized_added", "e\u0301<|caf\u00e9|>\u0301"),
        ("long_text", ft.long_text(seed=5, approx_bytes=6000)),
    ]


INVALID_EXTRA = [
    ("truncated_combining", b"e\xcc"),
    ("invalid_next_to_eos", b"<|endoftext|>\x80<|padding|>"),
    ("invalid_between_spaces", b"a  \xff  b"),
]


def _decode_only_cases(tok: Tokenizer):
    """Id lists that decode to invalid UTF-8, and added tokens decoded."""
    char_of_byte = bytes_to_unicode()

    def byte_id(b):
        tid = tok.token_to_id(char_of_byte[b])
        if tid is None:
            raise RuntimeError(f"byte 0x{b:02x} has no single-byte token")
        return tid

    def ids_of(text):
        return tok.encode(text, add_special_tokens=False).ids

    def added(content):
        return tok.token_to_id(content)

    smile = "😀".encode()
    return [
        ("lone_cont_token_80", [byte_id(0x80)]),
        ("lone_lead_token_e6", [byte_id(0xE6)]),
        ("combining_acute_bytes_alone", [byte_id(0xCC), byte_id(0x81)]),
        ("lead_without_acute_cont", ids_of("e") + [byte_id(0xCC)] + ids_of("x")),
        ("emoji_missing_last_byte", [byte_id(b) for b in smile[:3]] + ids_of(" ok")),
        ("special_only", [0, 1, 0]),
        ("special_then_lone_byte", ids_of("a") + [0, byte_id(0xFF), 1]),
        ("added_space_tokens", [added("  "), added("    "), added("        ")]),
        ("added_decomposed_contents", [added("<|cafe\u0301|>"), added("<|e\u0301|>")]),
    ]


def make_cases(tok: Tokenizer):
    out = []
    names = set()

    def add(entry):
        if entry["name"] in names:
            raise RuntimeError(f"duplicate case name {entry['name']}")
        names.add(entry["name"])
        out.append(entry)

    def encode(text):
        ids = tok.encode(text, add_special_tokens=False).ids
        if ids != tok.encode(text, add_special_tokens=True).ids:
            raise RuntimeError(f"post-processor added tokens for {text!r}")
        return ids

    for name, text in _encode_cases():
        ids = encode(text)
        decoded = tok.decode(ids, skip_special_tokens=False)
        # byte-level BPE gives back the NORMALIZED text (and added tokens' file contents)
        add({"name": name, "kind": "encode", "text_b64": b64(text.encode("utf-8")), "ids": ids,
             "decoded_b64": b64(decoded.encode("utf-8")), "roundtrip": decoded == text})

    for name, raw in list(INVALID_UTF8) + INVALID_EXTRA:
        try:
            raw.decode("utf-8")
            raise RuntimeError(f"invalid-UTF-8 case {name} is valid UTF-8")
        except UnicodeDecodeError:
            pass
        text = raw.decode("utf-8", errors="replace")
        ids = encode(text)
        decoded = tok.decode(ids, skip_special_tokens=False)
        add({"name": "invalid_" + name, "kind": "invalid_utf8", "raw_b64": b64(raw),
             "text_b64": b64(text.encode("utf-8")), "ids": ids,
             "decoded_b64": b64(decoded.encode("utf-8")), "roundtrip": decoded == text})

    for name, ids in _decode_only_cases(tok):
        if any(i is None for i in ids):
            raise RuntimeError(f"decode case {name}: a token is missing")
        decoded = tok.decode(ids, skip_special_tokens=False)
        add({"name": "decode_" + name, "kind": "decode_only", "ids": ids,
             "decoded_b64": b64(decoded.encode("utf-8")), "roundtrip": False})
    return out


def check_pinned_behaviour(tok: Tokenizer, cases):
    """Facts the C test relies on, asserted here so that a tokenizers upgrade that changes them
    fails loudly instead of silently changing the fixture."""
    by_name = {c["name"]: c for c in cases}
    if by_name["nfc_composed"]["ids"] != by_name["nfc_decomposed"]["ids"]:
        raise RuntimeError("NFC: decomposed text did not encode like the composed text")
    eid = tok.token_to_id("<|cafe\u0301|>")
    for name in ("added_normalized_composed", "added_normalized_decomposed"):
        if eid not in by_name[name]["ids"]:
            raise RuntimeError(f"{name}: the normalized added token was not matched")
    if tok.token_to_id("<|e\u0301|>") not in by_name["added_raw_decomposed"]["ids"]:
        raise RuntimeError("added_raw_decomposed: the raw added token was not matched")
    if tok.token_to_id("<|e\u0301|>") in by_name["added_raw_composed_is_text"]["ids"]:
        raise RuntimeError("added_raw_composed_is_text: a non-normalized token matched NFC text")


def _ranges(flags):
    """Inclusive [first, last] code point ranges where flags is true."""
    out, start = [], None
    for cp, flag in enumerate(flags):
        if flag and start is None:
            start = cp
        if not flag and start is not None:
            out.append([start, cp - 1])
            start = None
    if start is not None:
        out.append([start, len(flags) - 1])
    return out


def byte_level_classes():
    """For every Unicode scalar value c, how HF's ByteLevel regex (Oniguruma's \\p{L}, \\p{N})
    classes it, probed through pre_tokenize_str: a letter when "a"+c+"b" stays one piece, a number
    when "1"+c+"1" does; anything else (marks, punctuation, symbols, spaces, unassigned) neither."""
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    letter, number = [False] * 0x110000, [False] * 0x110000
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if len(pre.pre_tokenize_str("a" + c + "b")) == 1:
            letter[cp] = True
        elif len(pre.pre_tokenize_str("1" + c + "1")) == 1:
            number[cp] = True
    return {"letter": _ranges(letter), "number": _ranges(number)}


def nfc_table():
    """HF's NFC normalizer on every code point it changes ("single": [c, NFC(c)]) and on the
    canonical decomposition of every code point that has one ("decomposed": [NFD(c), NFC of
    it]), Hangul syllables sampled (every 97th: their composition is arithmetic)."""
    nfc, nfd = normalizers.NFC(), normalizers.NFD()
    single, decomposed = [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or (0xAC00 <= cp <= 0xD7A3 and cp % 97):
            continue
        c = chr(cp)
        d = nfd.normalize_str(c)
        if d != c:
            decomposed.append([d, nfc.normalize_str(d)])
        n = nfc.normalize_str(c)
        if n != c:
            single.append([c, n])
    return {"single": single, "decomposed": decomposed}


def make_tokenizer_neox_fixtures(ref_dir: str) -> Tokenizer:
    out_dir = os.path.join(ref_dir, "tokenizer_neox")
    os.makedirs(out_dir, exist_ok=True)
    tok = train_tokenizer()
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path, pretty=False)
    tok = Tokenizer.from_file(path)  # everything below uses the file as saved
    cases = make_cases(tok)
    check_pinned_behaviour(tok, cases)
    write_json(os.path.join(out_dir, "cases.json"), cases, compact_lists=True)
    write_json(os.path.join(out_dir, "byte_level_classes.json"), byte_level_classes(), compact_lists=True)
    write_json(os.path.join(out_dir, "nfc.json"), nfc_table(), compact_lists=True)
    sizes = {f: os.path.getsize(os.path.join(out_dir, f))
             for f in ("tokenizer.json", "cases.json", "byte_level_classes.json", "nfc.json")}
    print(f"tokenizer_neox: {tok.get_vocab_size(with_added_tokens=True)} ids, {len(cases)} cases, "
          f"sizes {sizes}")
    return tok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=REF_DIR, help="reference folder (tokenizer_neox/ is written in it)")
    args = parser.parse_args(argv)
    make_tokenizer_neox_fixtures(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
