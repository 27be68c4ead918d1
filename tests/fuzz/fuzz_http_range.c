/* libFuzzer target: arbitrary bytes as a Range header against file sizes around its numbers
 * (api_download.c). Invariants: the answer is -1, 0 or 1; a range (1) lies inside the file,
 * first <= last < size; a file of 0 bytes never gets a range. */
#include "http/api.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size + 1);
    if (!h)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    const uint64_t sizes[] = {0, 1, 2, 99, 100, 101, 4096, UINT64_MAX / 2, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t first = 7, last = 7;
        int rc = hs_http_parse_range(h, sizes[i], &first, &last);
        if (rc < -1 || rc > 1)
            abort();
        if (rc == 1 && (first > last || last >= sizes[i]))
            abort();
    }
    free(h);
    return 0;
}
