/* Bench driver for bench/tokenizer.py: loads a tokenizer.json, encodes a text file (best wall
 * time of N runs, one thread), writes the ids as little-endian int32 and prints
 * {"load_s", "encode_s", "bytes", "ids"} as JSON. Not part of the daemon. */
#include "engine/formats/tokenizer.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: tokenizer_bench TOKENIZER.json TEXT IDS_OUT REPEAT\n");
        return 2;
    }
    char err[512];
    double t0 = now();
    hs_tokenizer *tok = hs_tokenizer_load(argv[1], err, sizeof err);
    if (!tok) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double load_s = now() - t0;
    FILE *fp = fopen(argv[2], "rb");
    if (!fp || fseek(fp, 0, SEEK_END) != 0) {
        perror(argv[2]);
        return 1;
    }
    long size = ftell(fp);
    rewind(fp);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, fp) != (size_t)size) {
        fprintf(stderr, "%s: read error\n", argv[2]);
        return 1;
    }
    fclose(fp);
    int repeat = atoi(argv[4]);
    double best = 1e30;
    int32_t *ids = NULL;
    size_t n = 0;
    for (int r = 0; r < (repeat > 0 ? repeat : 1); r++) {
        free(ids);
        t0 = now();
        if (hs_tokenizer_encode(tok, text, (size_t)size, &ids, &n, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    fp = fopen(argv[3], "wb");
    if (!fp || fwrite(ids, sizeof *ids, n, fp) != n || fclose(fp) != 0) {
        perror(argv[3]);
        return 1;
    }
    printf("{\"load_s\": %.6f, \"encode_s\": %.6f, \"bytes\": %ld, \"ids\": %zu}\n", load_s, best,
           size, n);
    free(ids);
    free(text);
    hs_tokenizer_free(tok);
    return 0;
}
