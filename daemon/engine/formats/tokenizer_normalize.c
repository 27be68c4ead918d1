/* The NFC normalizer (tokenizer.json "normalizer": {"type": "NFC"}, as GPT-NeoX and MPT ship),
 * through ICU's unorm2: UTF-8 -> UTF-16, normalize, back to UTF-8. Text made only of code
 * points below U+0300 is already NFC (no such code point decomposes or combines with what
 * precedes it), so it is returned as it is without calling ICU; so is text ICU finds
 * normalized. Input must be valid UTF-8 (tokenizer.c repairs invalid input first). */
#include "common/errors.h"
#include "tokenizer_internal.h"
#include <stdint.h>
#include <stdlib.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

/* Lead bytes below 0xCC start code points below U+0300 (continuation bytes are below 0xC0). */
static int below_combining_marks(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)s[i] >= 0xCC)
            return 0;
    return 1;
}

/* ICU counts in int32_t; a UTF-16 text is at most as many units as its UTF-8 has bytes, and
 * NFC can grow it (by at most a factor of 3), so texts above this are refused. */
#define MAX_NFC_INPUT ((size_t)INT32_MAX / 4)

static int icu_failed(UErrorCode status, const char *step, char *err, size_t errlen)
{
    return hs_errf(err, errlen, "tokenizer: NFC normalization failed (%s): %s", step,
                   u_errorName(status));
}

/* s as a malloc'd UTF-16 string of *n units. */
static UChar *utf8_to_utf16(const char *s, size_t len, int32_t *n, char *err, size_t errlen)
{
    UErrorCode status = U_ZERO_ERROR;
    u_strFromUTF8(NULL, 0, n, s, (int32_t)len, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) {
        icu_failed(status, "UTF-8 to UTF-16", err, errlen);
        return NULL;
    }
    UChar *out = malloc(((size_t)*n + 1) * sizeof *out);
    if (!out) {
        hs_errf(err, errlen, "tokenizer: out of memory normalizing");
        return NULL;
    }
    status = U_ZERO_ERROR;
    u_strFromUTF8(out, *n + 1, NULL, s, (int32_t)len, &status);
    if (U_FAILURE(status)) {
        icu_failed(status, "UTF-8 to UTF-16", err, errlen);
        free(out);
        return NULL;
    }
    return out;
}

/* The NFC form of u[0..n) as a malloc'd UTF-16 string of *out_n units. */
static UChar *nfc_utf16(const UNormalizer2 *nfc, const UChar *u, int32_t n, int32_t *out_n,
                        char *err, size_t errlen)
{
    UErrorCode status = U_ZERO_ERROR;
    int32_t need = unorm2_normalize(nfc, u, n, NULL, 0, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) {
        icu_failed(status, "normalize", err, errlen);
        return NULL;
    }
    UChar *out = malloc(((size_t)need + 1) * sizeof *out);
    if (!out) {
        hs_errf(err, errlen, "tokenizer: out of memory normalizing");
        return NULL;
    }
    status = U_ZERO_ERROR;
    *out_n = unorm2_normalize(nfc, u, n, out, need + 1, &status);
    if (U_FAILURE(status)) {
        icu_failed(status, "normalize", err, errlen);
        free(out);
        return NULL;
    }
    return out;
}

/* u[0..n) as a malloc'd NUL-terminated UTF-8 string of *len bytes. */
static char *utf16_to_utf8(const UChar *u, int32_t n, size_t *len, char *err, size_t errlen)
{
    UErrorCode status = U_ZERO_ERROR;
    int32_t need = 0;
    u_strToUTF8(NULL, 0, &need, u, n, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) {
        icu_failed(status, "UTF-16 to UTF-8", err, errlen);
        return NULL;
    }
    char *out = malloc((size_t)need + 1);
    if (!out) {
        hs_errf(err, errlen, "tokenizer: out of memory normalizing");
        return NULL;
    }
    status = U_ZERO_ERROR;
    u_strToUTF8(out, need + 1, NULL, u, n, &status);
    if (U_FAILURE(status)) {
        icu_failed(status, "UTF-16 to UTF-8", err, errlen);
        free(out);
        return NULL;
    }
    out[need] = '\0';
    *len = (size_t)need;
    return out;
}

int hs_tok_nfc(const char *s, size_t len, char **out, size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = len;
    if (below_combining_marks(s, len))
        return 0;
    if (len > MAX_NFC_INPUT)
        return hs_errf(err, errlen, "tokenizer: %zu bytes of text are too many to normalize", len);
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *nfc = unorm2_getNFCInstance(&status);
    if (U_FAILURE(status))
        return icu_failed(status, "no NFC instance", err, errlen);
    int32_t n;
    UChar *u = utf8_to_utf16(s, len, &n, err, errlen);
    if (!u)
        return -1;
    UBool normalized = unorm2_isNormalized(nfc, u, n, &status);
    if (U_FAILURE(status)) {
        free(u);
        return icu_failed(status, "check", err, errlen);
    }
    if (normalized) {
        free(u);
        return 0;
    }
    int32_t m;
    UChar *v = nfc_utf16(nfc, u, n, &m, err, errlen);
    free(u);
    if (!v)
        return -1;
    *out = utf16_to_utf8(v, m, out_len, err, errlen);
    free(v);
    return *out ? 0 : -1;
}
