/* hs_sha256_hex through OpenSSL's libcrypto (sha256_file.c), and random hex tokens from the
 * kernel (sha256.h). */
#include "sha256.h"
#include "sha256_file.h"
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void hs_sha256_hex(const void *data, size_t len, char out[HS_SHA256_HEX_LEN])
{
    char err[128];
    /* A digest that cannot be computed (out of memory in libcrypto) is the empty string,
     * which never equals a stored hash: a token check then fails closed. */
    if (hs_sha256_buf(data, len, out, err, sizeof err) != 0)
        out[0] = '\0';
}

int hs_random_hex(size_t nbytes, char *out, size_t outlen)
{
    unsigned char buf[64];
    if (nbytes > sizeof buf || outlen < 2 * nbytes + 1)
        return -1;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(buf + got, nbytes - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", buf[i]);
    return 0;
}
