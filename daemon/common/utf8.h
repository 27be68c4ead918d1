/* UTF-8 checks (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF): whether
 * bytes are valid UTF-8, where a prefix may be cut without splitting a character, and a
 * repaired copy with every invalid byte replaced by U+FFFD, for text that must go out as JSON. */
#ifndef HS_UTF8_H
#define HS_UTF8_H
#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence starting at s (1-4), or 0 when the bytes there are not
 * one (truncated, overlong, a surrogate, beyond U+10FFFF, a stray continuation byte). */
size_t hs_utf8_seq_len(const unsigned char *s, size_t n);
/* Offset of the first byte that is not part of valid UTF-8; n when all of s is valid. */
size_t hs_utf8_invalid_at(const char *s, size_t n);
bool hs_utf8_valid(const char *s, size_t n);
/* The longest prefix of the NUL-terminated s of at most max bytes that ends on a character
 * boundary (for "%.*s" in messages that quote user input). */
int hs_utf8_prefix(const char *s, size_t max);
/* A malloc'd, NUL-terminated copy of s[0..n) with each invalid byte replaced by U+FFFD;
 * *out_len receives its length. NULL when out of memory. */
char *hs_utf8_repair(const char *s, size_t n, size_t *out_len);

#endif
