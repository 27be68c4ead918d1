/* The regex pre-tokenizers, run with PCRE2 (UTF, UCP, JIT) with behavior Isolated (every match
 * and every gap between matches is its own piece):
 * - BLOOM's Split: regex " ?[^(\s|[.,!?…。，、।۔،])]+". Oniguruma's nested class [^(\s|[...])]
 *   is the union of \s, "(", "|", ")" and the listed punctuation; PCRE2 has no nested classes,
 *   so it is written flat.
 * - ByteLevel with use_regex (GPT-2, GPT-NeoX, MPT): HF's fixed pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   (case-sensitive contractions; "\s+(?!\S)" leaves the last space of a run to the word after).
 * \p{L} and \p{N} are PCRE2's plus the code points Oniguruma's newer Unicode tables add (below).
 * In both, `\s` is written out as the explicit set Oniguruma (HF tokenizers' engine) matches —
 * U+0009-000D, U+0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000 — measured on every code point against HF tokenizers 0.23
 * (tests/unit/test_formats_tokenizer_pretok.c checks it), and `\S` as its complement. PCRE2's
 * own \s is not used: with UCP it also matches U+180E, which Oniguruma does not.
 * Input must be valid UTF-8 (tokenizer.c repairs invalid input first). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/errors.h"
#include "tokenizer_internal.h"
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

const char HS_TOK_BLOOM_SPLIT_REGEX[] =
    " ?[^(\\s|[.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C])]+";

/* Oniguruma's \s as the inside of a PCRE2 character class. */
#define ONIG_SPACE_SET                                                                           \
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"       \
    "\\x{205F}\\x{3000}"

static const char bloom_split_pattern[] =
    "\\x{20}?[^" ONIG_SPACE_SET
    "(|)"                                               /* ( | ) of the outer class */
    ".,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C}" /* . , ! ? … 。 ， 、 । ۔ ، */
    "]+";

/* Letters (\p{L}) and numbers (\p{N}) of HF tokenizers 0.23.3's Oniguruma (Unicode 16) that
 * PCRE2 10.42's tables (Unicode 14; Debian 12) lack: Unicode 15-16 additions (CJK extensions H
 * and I, Egyptian hieroglyphs extension A, Kawi, Garay, Tulu-Tigalari, Nag Mundari digits, ...).
 * Measured on every code point (tests/unit/test_formats_tokenizer_neox.c checks all of them
 * against tests/reference/tokenizer_neox/byte_level_classes.json); a union, so a newer PCRE2
 * that has them already changes nothing. */
#define LETTERS_NEWER_THAN_PCRE2                                                                 \
    "\\x{1C89}-\\x{1C8A}\\x{A7CB}-\\x{A7CD}\\x{A7DA}-\\x{A7DC}\\x{105C0}-\\x{105F3}"                     \
    "\\x{10D4A}-\\x{10D65}\\x{10D6F}-\\x{10D85}\\x{10EC2}-\\x{10EC4}\\x{1123F}-\\x{11240}"                 \
    "\\x{11380}-\\x{11389}\\x{1138B}\\x{1138E}\\x{11390}-\\x{113B5}\\x{113B7}\\x{113D1}"                 \
    "\\x{113D3}\\x{11BC0}-\\x{11BE0}\\x{11F02}\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}"                 \
    "\\x{1342F}\\x{13441}-\\x{13446}\\x{13460}-\\x{143FA}\\x{16100}-\\x{1611D}"                        \
    "\\x{16D40}-\\x{16D6C}\\x{18CFF}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}"                          \
    "\\x{1E030}-\\x{1E06D}\\x{1E4D0}-\\x{1E4EB}\\x{1E5D0}-\\x{1E5ED}\\x{1E5F0}\\x{2B739}"                \
    "\\x{2EBF0}-\\x{2EE5D}\\x{31350}-\\x{323AF}"
#define NUMBERS_NEWER_THAN_PCRE2                                                                 \
    "\\x{10D40}-\\x{10D49}\\x{116D0}-\\x{116E3}\\x{11BF0}-\\x{11BF9}\\x{11F50}-\\x{11F59}"                \
    "\\x{16130}-\\x{16139}\\x{16D70}-\\x{16D79}\\x{1CCF0}-\\x{1CCF9}\\x{1D2C0}-\\x{1D2D3}"                \
    "\\x{1E4F0}-\\x{1E4F9}\\x{1E5F1}-\\x{1E5FA}"
#define ONIG_LETTER_SET "\\p{L}" LETTERS_NEWER_THAN_PCRE2
#define ONIG_NUMBER_SET "\\p{N}" NUMBERS_NEWER_THAN_PCRE2

/* HF's ByteLevel regex with \s -> [ONIG_SPACE_SET], \S -> [^ONIG_SPACE_SET], \p{L} ->
 * [ONIG_LETTER_SET] and \p{N} -> [ONIG_NUMBER_SET]. */
static const char byte_level_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d"
    "|\\x{20}?[" ONIG_LETTER_SET "]+"
    "|\\x{20}?[" ONIG_NUMBER_SET "]+"
    "|\\x{20}?[^" ONIG_SPACE_SET ONIG_LETTER_SET ONIG_NUMBER_SET "]+"
    "|[" ONIG_SPACE_SET "]+(?![^" ONIG_SPACE_SET "])"
    "|[" ONIG_SPACE_SET "]+";

struct hs_tok_pretok {
    pcre2_code *re;
    int jit; /* 1 when JIT compilation succeeded */
};

hs_tok_pretok *hs_tok_pretok_new(hs_tok_split_kind kind, char *err, size_t errlen)
{
    const char *pattern = kind == HS_TOK_SPLIT_BLOOM ? bloom_split_pattern : byte_level_pattern;
    hs_tok_pretok *p = calloc(1, sizeof *p);
    if (!p) {
        hs_errf(err, errlen, "tokenizer: out of memory");
        return NULL;
    }
    int code;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &code, &off, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        hs_errf(err, errlen, "tokenizer: cannot compile the pre-tokenizer regex: %s at %zu", (char *)msg,
                (size_t)off);
        free(p);
        return NULL;
    }
    p->jit = pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) == 0;
    return p;
}

void hs_tok_pretok_free(hs_tok_pretok *p)
{
    if (!p)
        return;
    pcre2_code_free(p->re);
    free(p);
}

int hs_tok_pretok_split(const hs_tok_pretok *p, const char *text, size_t len, hs_tok_piece_fn piece,
                        void *ctx, char *err, size_t errlen)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!md)
        return hs_errf(err, errlen, "tokenizer: out of memory");
    int rc = 0;
    size_t pos = 0, gap = 0;
    while (pos < len) {
        int m = p->jit ? pcre2_jit_match(p->re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, md, NULL)
                       : pcre2_match(p->re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(m, msg, sizeof msg);
            rc = hs_errf(err, errlen, "tokenizer: regex match failed: %s", (char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e <= s) { /* the pattern cannot match empty; guard anyway */
            rc = hs_errf(err, errlen, "tokenizer: regex matched an empty string");
            break;
        }
        if ((s > gap && piece(ctx, text + gap, s - gap) != 0) || piece(ctx, text + s, e - s) != 0) {
            rc = hs_errf(err, errlen, "tokenizer: out of memory");
            break;
        }
        gap = pos = e;
    }
    if (rc == 0 && len > gap && piece(ctx, text + gap, len - gap) != 0)
        rc = hs_errf(err, errlen, "tokenizer: out of memory");
    pcre2_match_data_free(md);
    return rc;
}
