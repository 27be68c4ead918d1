/* libFuzzer target: arbitrary bytes as a .safetensors file (through an in-memory file, so the
 * real mmap path runs). Every tensor the reader accepts must lie inside the file; conversions
 * of float tensors must not read out of bounds. */
#include "engine/formats/safetensors.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    hs_st_set *set = hs_st_open_file(path, err, sizeof err);
    if (set) {
        size_t total = 0;
        for (size_t i = 0; i < hs_st_count(set); i++) {
            const hs_st_tensor *t = hs_st_at(set, i);
            total += t->nbytes;
            if (hs_st_find(set, t->name) == NULL)
                abort(); /* every stored name must be found */
            if ((t->dtype == HS_DTYPE_F32 || t->dtype == HS_DTYPE_F16 || t->dtype == HS_DTYPE_BF16) &&
                t->numel <= (1 << 20)) {
                float *v = malloc((size_t)t->numel * sizeof *v + 1);
                if (v && hs_st_to_f32(t, v, err, sizeof err) != 0)
                    abort();
                free(v);
            }
        }
        if (total > size)
            abort();
        hs_st_close(set);
    }
    close(fd);
    return 0;
}
