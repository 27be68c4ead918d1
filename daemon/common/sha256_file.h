/* SHA-256 of a buffer or a file, streamed, as 64 lowercase hex digits (OpenSSL's libcrypto,
 * EVP): what uploaded corpora are addressed by, and what sha256.h's token digest uses. */
#ifndef HS_SHA256_FILE_H
#define HS_SHA256_FILE_H
#include <stdbool.h>
#include <stddef.h>

#define HS_SHA256_HEX 65 /* 64 digits and the NUL */

/* 0, or -1 with err. */
int hs_sha256_buf(const void *data, size_t len, char hex[HS_SHA256_HEX], char *err,
                  size_t errlen);
/* The file read in chunks. 0, or -1 with err naming the path. */
int hs_sha256_file(const char *path, char hex[HS_SHA256_HEX], char *err, size_t errlen);
/* Whether text is 64 lowercase hex digits. */
bool hs_sha256_hex_valid(const char *text);

#endif
