/* SHA-256 of buffers and files through libcrypto's EVP interface (sha256_file.h). */
#include "sha256_file.h"
#include "errors.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void to_hex(const unsigned char *md, char hex[HS_SHA256_HEX])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

/* Feeds fd (when >= 0) or the buffer into one digest. */
static int digest(int fd, const void *data, size_t len, char hex[HS_SHA256_HEX], char *err,
                  size_t errlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -1;
    if (rc == 0 && fd < 0 && EVP_DigestUpdate(ctx, data, len) != 1)
        rc = -1;
    char buf[64 * 1024];
    ssize_t n = 0;
    while (rc == 0 && fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            rc = -1;
    if (n < 0)
        rc = hs_errf(err, errlen, "read: %s", strerror(errno));
    else if (rc == 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
        rc = -1;
    if (rc != 0 && n >= 0)
        hs_errf(err, errlen, "sha256 failed");
    EVP_MD_CTX_free(ctx);
    if (rc == 0)
        to_hex(md, hex);
    return rc;
}

int hs_sha256_buf(const void *data, size_t len, char hex[HS_SHA256_HEX], char *err,
                  size_t errlen)
{
    return digest(-1, data, len, hex, err, errlen);
}

int hs_sha256_file(const char *path, char hex[HS_SHA256_HEX], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hs_errf(err, errlen, "%s: %s", path, strerror(errno));
    char inner[HS_ERR_LEN];
    int rc = digest(fd, NULL, 0, hex, inner, sizeof inner);
    close(fd);
    if (rc != 0)
        return hs_errf(err, errlen, "%s: %s", path, inner);
    return 0;
}

bool hs_sha256_hex_valid(const char *text)
{
    if (!text || strlen(text) != 64)
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}
