"""Deterministic text for the reference fixtures: the tokenizer training text, the tokenizer test
strings, the forward-pass texts and the surgery corpus. Everything is generated from small word
lists written here and a seeded random.Random, so regeneration needs no files from the machine."""

import random

ENGLISH_WORDS = (
    "the of and to in is was for on that with as by at from it an be this which or are have "
    "not had but were his her their one all there been has more when who will would can no if "
    "out so said what up its about into than them only some could other time new these two may "
    "first then do any like my now over such our man me even most made after also did many before "
    "must through back years where much your way well down should because each just those people "
    "how too little state good very make world still own see men work long get here between both "
    "life being under never day same another know while last might us great old year off come "
    "since against go came right used take three attention head model layer token surgery weight "
    "gradient collapse sink entropy mass local healthy dead repair train corpus language matrix "
    "vector query key value softmax position bias slope norm checkpoint daemon kernel tensor"
).split()

CODE_SNIPPETS = (
    "int main(void) {\n\treturn 0;\n}\n",
    "def f(x):\n    if x > 0:\n        return x * 2\n    return -x\n",
    "for (size_t i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}\n",
    "static const char *name = \"head\";\t/* tab-separated */\n",
    "x  =  1;   y   =    2;\n\n\n    z = x + y;\n",
    "if (a || b) { c = (d | e) & f; }\n",
    "SELECT id, name FROM runs WHERE state = 'running';\n",
    "    \t  mixed\t\tindent \t \n",
    "{\"layer\": 5, \"head\": [14, 15], \"lr\": 5e-5}\n",
    "while True:\n\tpass  # spin\n",
)

CJK_PHRASES = (
    "注意力头", "语言模型", "训练数据", "梯度下降", "我们修复坍缩的头。", "这是一个测试，",
    "東京の天気は晴れです。", "日本語の文章、", "한국어 문장입니다", "模型的每一层都有多个注意力头",
)

DEVANAGARI_PHRASES = (
    "नमस्ते दुनिया।", "यह एक परीक्षण है।", "भाषा मॉडल", "ध्यान शीर्ष", "हिन्दी पाठ, ",
)

ARABIC_PHRASES = (
    "مرحبا بالعالم۔", "هذا اختبار، ", "نموذج اللغة", "رأس الانتباه", "اردو متن۔",
)

EMOJI = ("😀", "🚀", "🧠", "👍🏽", "🇫🇷", "👨‍👩‍👧", "✨", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𐍈", "🤖")

PUNCT_IN_REGEX = (".", ",", "!", "?", "…", "。", "，", "、", "।", "۔", "،", "(", "|", ")")

OTHER_PUNCT = (";", ":", "-", "--", "\"", "'", "[", "]", "{", "}", "/", "\\", "*", "&", "#", "@",
               "%", "$", "+", "=", "<", ">", "~", "`", "^", "_")

# (code point, name) of the whitespace and control characters whose treatment by the Split regex
# (\s) must be pinned, and the look-alikes that are not spaces.
SPACE_LIKE = (
    0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x001C, 0x001D, 0x001E, 0x001F, 0x0020, 0x0085,
    0x00A0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
    0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)
NOT_SPACES = (0x180E, 0x200B, 0xFEFF, 0x0000, 0x007F)


SYLLABLE_ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
                   "br", "ch", "st", "th", "pl", "gr", "sh", "tr")
SYLLABLE_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "y")
SYLLABLE_CODAS = ("", "", "n", "r", "s", "t", "ng", "ck", "ll")


def pseudo_word(rng: random.Random) -> str:
    """A pronounceable made-up word (gives the BPE trainer varied sub-word statistics)."""
    return "".join(rng.choice(SYLLABLE_ONSETS) + rng.choice(SYLLABLE_VOWELS) + rng.choice(SYLLABLE_CODAS)
                   for _ in range(rng.randint(1, 3)))


def sentence_word(rng: random.Random) -> str:
    return rng.choice(ENGLISH_WORDS) if rng.random() < 0.7 else pseudo_word(rng)


def cjk_run(rng: random.Random) -> str:
    """Characters drawn from a 768-character slice of the CJK block (3-byte UTF-8)."""
    return "".join(chr(0x4E00 + rng.randrange(768)) for _ in range(rng.randint(2, 8)))


def english_sentence(rng: random.Random) -> str:
    n = rng.randint(4, 14)
    words = [sentence_word(rng) for _ in range(n)]
    words[0] = words[0].capitalize()
    if rng.random() < 0.2:
        words.insert(rng.randint(1, len(words) - 1), "(" + rng.choice(ENGLISH_WORDS) + ")")
    if rng.random() < 0.15:
        words.insert(rng.randint(1, len(words) - 1), str(rng.randint(0, 99999)))
    end = rng.choice((".", ".", ".", "!", "?", "…", ","))
    return " ".join(words) + end


def training_text(seed: int = 1234, approx_chars: int = 600_000) -> str:
    """Mixed text for BPE training: mostly English prose, plus code, CJK, Devanagari, Arabic,
    emoji, punctuation and odd whitespace, so every script in the test strings has merges."""
    rng = random.Random(seed)
    parts = []
    total = 0
    while total < approx_chars:
        r = rng.random()
        if r < 0.55:
            piece = " ".join(english_sentence(rng) for _ in range(rng.randint(1, 5)))
            piece += rng.choice(("\n", "\n\n", " ", "  "))
        elif r < 0.70:
            piece = rng.choice(CODE_SNIPPETS)
        elif r < 0.78:
            piece = "".join(rng.choice(CJK_PHRASES) if rng.random() < 0.5 else cjk_run(rng)
                            for _ in range(rng.randint(1, 4))) + rng.choice(("\n", "。", "，"))
        elif r < 0.84:
            piece = " ".join(rng.choice(DEVANAGARI_PHRASES) for _ in range(rng.randint(1, 3))) + "\n"
        elif r < 0.90:
            piece = " ".join(rng.choice(ARABIC_PHRASES) for _ in range(rng.randint(1, 3))) + "\n"
        elif r < 0.94:
            piece = " ".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4))) + " "
        elif r < 0.97:
            piece = " ".join(rng.choice(PUNCT_IN_REGEX + OTHER_PUNCT) for _ in range(rng.randint(1, 6))) + " "
        else:
            cp = rng.choice(SPACE_LIKE + NOT_SPACES[:3])
            piece = rng.choice(ENGLISH_WORDS) + chr(cp) + rng.choice(ENGLISH_WORDS) + " "
        parts.append(piece)
        total += len(piece)
    return "".join(parts)


def long_text(seed: int = 99, approx_bytes: int = 20_000) -> str:
    """~20 kB of mixed text for the long tokenizer case (its own seed, not the training text)."""
    rng = random.Random(seed)
    parts = []
    size = 0
    while size < approx_bytes:
        r = rng.random()
        if r < 0.6:
            piece = english_sentence(rng) + rng.choice((" ", "\n", "\n\n", "\t"))
        elif r < 0.75:
            piece = rng.choice(CODE_SNIPPETS)
        elif r < 0.85:
            piece = rng.choice(CJK_PHRASES)
        elif r < 0.9:
            piece = rng.choice(DEVANAGARI_PHRASES)
        elif r < 0.95:
            piece = rng.choice(ARABIC_PHRASES)
        else:
            piece = rng.choice(EMOJI) + " "
        parts.append(piece)
        size += len(piece.encode("utf-8"))
    return "".join(parts)


def surgery_corpus(seed: int = 7, sentences: int = 60) -> str:
    """The fixed training text of the surgery fixture (committed as surgery/corpus.txt)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences // 4):
        lines.append(" ".join(english_sentence(rng) for _ in range(4)))
    return "\n".join(lines) + "\n"


def forward_texts(seed: int = 31):
    """Texts of different lengths for the forward fixture (before the exactly-64 and longer texts,
    which make_fixtures.py derives with the tokenizer). Returns [(name, text)]."""
    rng = random.Random(seed)
    return [
        ("two_words", "Hello world"),
        ("sentence", english_sentence(rng)),
        ("paragraph", " ".join(english_sentence(rng) for _ in range(3))),
        ("mixed_scripts", "The model " + CJK_PHRASES[4] + " " + DEVANAGARI_PHRASES[0] + " "
         + ARABIC_PHRASES[1] + EMOJI[1] + "\n\tdone."),
    ]
