"""Tokenizer fixtures: trains the byte-level BPE tokenizer.json with BLOOM's exact pipeline and
records HF tokenizers' ids / decodes for the test strings (tokenizer/cases.json). Owns nothing
about models."""

import os

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

import fixture_text as ft
from fixture_util import b64, write_json

BLOOM_SPLIT_REGEX = " ?[^(\\s|[.,!?…。，、।۔،])]+"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
VOCAB_SIZE = 4096


def bloom_pipeline_tokenizer() -> Tokenizer:
    """An untrained BPE tokenizer with BLOOM's normalizer/pre-tokenizer/post-processor/decoder."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BLOOM_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer() -> Tokenizer:
    tok = bloom_pipeline_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    lines = ft.training_text().split("\n")
    tok.train_from_iterator([line + "\n" for line in lines], trainer=trainer)
    if tok.get_vocab_size() != VOCAB_SIZE:
        raise RuntimeError(f"trained vocabulary has {tok.get_vocab_size()} entries, want {VOCAB_SIZE}")
    for i, name in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(name) != i:
            raise RuntimeError(f"special token {name} got id {tok.token_to_id(name)}, want {i}")
    return tok


def bytes_to_unicode() -> dict:
    """The GPT-2/ByteLevel byte -> printable char map (docs/model-families.md "tokenizer"), computed independently."""
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    mapping = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(0x100 + n)
            n += 1
    return mapping


def _encode_cases():
    """[(name, text)] of valid Python strings to encode."""
    cases = [
        ("empty", ""),
        ("ascii_prose", "The quick brown fox jumps over the lazy dog. It was the best of times, "
                        "it was the worst of times!"),
        ("hello_world", "Hello world"),
        ("hello_world_leading_space", " Hello world"),
        ("single_space", " "),
        ("many_spaces", "          "),
        ("space_runs_between_words", "a  b   c    d     e"),
        ("trailing_spaces", "end of line   "),
        ("leading_newlines", "\n\n\nstart"),
        ("code_c_tabs", ft.CODE_SNIPPETS[0] + ft.CODE_SNIPPETS[2]),
        ("code_python_spaces", ft.CODE_SNIPPETS[1]),
        ("code_mixed_indent", ft.CODE_SNIPPETS[7] + ft.CODE_SNIPPETS[4]),
        ("code_json", ft.CODE_SNIPPETS[8]),
        ("code_pipes_parens", ft.CODE_SNIPPETS[5]),
        ("windows_newlines", "line one\r\nline two\r\n\r\nline four"),
        ("cjk_chinese", "我们修复坍缩的头。模型的每一层都有多个注意力头，这是一个测试、好吗"),
        ("cjk_japanese", "東京の天気は晴れです。日本語の文章、カタカナ"),
        ("cjk_korean", "한국어 문장입니다. 안녕하세요"),
        ("cjk_unseen_chars", "鱻龘靐齉"),
        ("devanagari", "नमस्ते दुनिया। यह एक परीक्षण है। हिन्दी पाठ"),
        ("arabic", "مرحبا بالعالم۔ هذا اختبار، نموذج اللغة"),
        ("arabic_digits_mixed", "الرقم ١٢٣ and 456"),
        ("emoji", "😀🚀🧠 ok 👍🏽 flags 🇫🇷 family 👨‍👩‍👧 ✨"),
        ("four_byte_math", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 𝟘𝟙 \U0010FFFD"),
        ("mixed_scripts", "The model 注意力头 नमस्ते مرحبا 🤖 end."),
        ("special_eos_inside", "a</s>b"),
        ("special_bos_twice", "<s><s>"),
        ("special_pad_space", "<pad> x"),
        ("special_all", "<unk><s></s><pad>"),
        ("special_in_sentence", "The quick brown fox</s>"),
        ("special_partial", "<s <s/> </ s> <pa d> <unk"),
        ("special_with_spaces", " <s> hello </s> "),
        ("digits", "0123456789 3.14159 1,000,000 2026-11-29"),
        ("other_punct", " ".join(ft.OTHER_PUNCT) + " " + "".join(ft.OTHER_PUNCT)),
        ("ellipsis_ascii_vs_unicode", "wait... wait… ok"),
        ("question_exclaim_runs", "What?!?! No!!! Yes??"),
        ("parens_nested", "f((a|b)|(c))"),
        ("pipe_alone", "|"),
        ("open_paren_alone", "("),
        ("close_paren_alone", ")"),
        ("pipes_spaced", "a | b || c ||| d"),
        ("long_text", ft.long_text()),
    ]
    for i, p in enumerate(ft.PUNCT_IN_REGEX):
        tag = f"punct{i:02d}_U+{ord(p):04X}"
        cases += [
            (tag + "_alone", p),
            (tag + "_tripled", p * 3),
            (tag + "_after_word", "word" + p),
            (tag + "_spaced", "word " + p + " next"),
            (tag + "_between", "a" + p + "b"),
            (tag + "_newline", p + "\n" + p + " x"),
        ]
    for cp in ft.SPACE_LIKE + ft.NOT_SPACES:
        c = chr(cp)
        tag = f"ws_U+{cp:04X}"
        cases += [
            (tag + "_alone", c),
            (tag + "_doubled", c + c),
            (tag + "_inside_word", "ab" + c + "cd"),
            (tag + "_after_space", "a " + c + "b"),
            (tag + "_before_space", "a" + c + " b"),
            (tag + "_next_to_punct", "x." + c + ",y"),
            (tag + "_with_cjk", "注意" + c + "力"),
        ]
    return cases


# Invalid UTF-8 byte sequences: lone continuation bytes, truncated sequences, overlong forms,
# surrogates, values above U+10FFFF, bytes that never occur in UTF-8.
INVALID_UTF8 = [
    ("lone_cont_80", b"\x80"),
    ("lone_cont_in_word", b"a\x80b"),
    ("lone_cont_run", b"\x80\x81\xbf"),
    ("byte_ff", b"\xff"),
    ("bytes_fe_fe_in_text", b"abc\xfe\xfedef"),
    ("lead_c3_alone", b"\xc3"),
    ("lead_c3_then_space", b"\xc3 x"),
    ("truncated_3byte", b"\xe6\xb3"),
    ("truncated_3byte_in_text", b"x\xe6\xb3y"),
    ("truncated_4byte", b"\xf0\x9f\x98"),
    ("overlong_slash", b"\xc0\xaf"),
    ("overlong_3byte", b"\xe0\x80\xaf"),
    ("surrogate_d800", b"\xed\xa0\x80"),
    ("above_10ffff", b"\xf4\x90\x80\x80"),
    ("five_byte_form", b"\xf8\x88\x80\x80\x80"),
    ("valid_then_truncated", "注意".encode() + b"\xe5\x8a"),
    ("invalid_next_to_space", b"a \x80 b"),
    ("invalid_next_to_special", b"</s>\x80<s>"),
]


def _decode_only_cases(tok: Tokenizer):
    """Id lists that decode to invalid UTF-8 (or to valid text across token boundaries)."""
    char_of_byte = bytes_to_unicode()

    def byte_id(b):
        tid = tok.token_to_id(char_of_byte[b])
        if tid is None:
            raise RuntimeError(f"byte 0x{b:02x} has no single-byte token")
        return tid

    def ids_of(text):
        return tok.encode(text, add_special_tokens=False).ids

    smile = "😀".encode()
    return [
        ("lone_cont_token_80", [byte_id(0x80)]),
        ("lone_cont_token_between_words", ids_of("a") + [byte_id(0x80)] + ids_of("b")),
        ("lone_lead_token_e6", [byte_id(0xE6)]),
        ("truncated_3byte_tokens", [byte_id(0xE6), byte_id(0xB3)]),
        ("emoji_split_into_byte_tokens", [byte_id(b) for b in smile]),
        ("emoji_missing_last_byte", [byte_id(b) for b in smile[:3]] + ids_of(" ok")),
        ("byte_ff_token", [byte_id(0xFF)]),
        ("special_then_lone_byte", ids_of("a") + [2, byte_id(0xFF), 1]),
        ("special_only", [1, 2, 3, 0]),
        ("surrogate_bytes", [byte_id(0xED), byte_id(0xA0), byte_id(0x80)]),
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
        with_special = tok.encode(text, add_special_tokens=True).ids
        if ids != with_special:
            raise RuntimeError(f"post-processor added tokens for {text!r}")
        return ids

    for name, text in _encode_cases():
        ids = encode(text)
        decoded = tok.decode(ids, skip_special_tokens=False)
        if decoded != text:
            raise RuntimeError(f"case {name}: decode(encode(s)) != s")
        add({"name": name, "kind": "encode", "text_b64": b64(text.encode("utf-8")), "ids": ids,
             "decoded_b64": b64(decoded.encode("utf-8")), "roundtrip": True})

    for name, raw in INVALID_UTF8:
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
        decoded = tok.decode(ids, skip_special_tokens=False)
        raw = b"".join(_token_bytes(tok, i) for i in ids)
        try:
            roundtrip = raw.decode("utf-8") == decoded
        except UnicodeDecodeError:
            roundtrip = False
        add({"name": "decode_" + name, "kind": "decode_only", "ids": ids,
             "decoded_b64": b64(decoded.encode("utf-8")), "roundtrip": roundtrip})
    return out


def _token_bytes(tok: Tokenizer, tid: int) -> bytes:
    """Raw bytes a token stands for (special tokens: their literal text)."""
    piece = tok.id_to_token(tid)
    if piece in SPECIAL_TOKENS:
        return piece.encode()
    byte_of_char = {c: b for b, c in bytes_to_unicode().items()}
    return bytes(byte_of_char[c] for c in piece)


def make_tokenizer_fixtures(ref_dir: str) -> Tokenizer:
    tok_dir = os.path.join(ref_dir, "tokenizer")
    os.makedirs(tok_dir, exist_ok=True)
    tok = train_tokenizer()
    path = os.path.join(tok_dir, "tokenizer.json")
    tok.save(path, pretty=False)
    tok = Tokenizer.from_file(path)  # everything below uses the file as saved
    cases = make_cases(tok)
    write_json(os.path.join(tok_dir, "cases.json"), cases, compact_lists=True)
    print(f"tokenizer: vocab {tok.get_vocab_size()}, {len(cases)} cases")
    return tok
