/* SHA-256 (FIPS 180-4) of a buffer as lowercase hex, and random tokens from the kernel: what
 * the report tokens of cluster jobs are made of (a token is shown once; its hash is kept). */
#ifndef HS_SHA256_H
#define HS_SHA256_H
#include <stddef.h>

#define HS_SHA256_HEX_LEN 65 /* 64 hex digits and the NUL */

void hs_sha256_hex(const void *data, size_t len, char out[HS_SHA256_HEX_LEN]);
/* nbytes random bytes from getrandom(2) as 2*nbytes hex digits into out (size >= 2*nbytes+1).
 * 0, or -1 when the kernel gives none. */
int hs_random_hex(size_t nbytes, char *out, size_t outlen);

#endif
