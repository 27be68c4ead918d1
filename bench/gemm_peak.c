/* Measures the machine's practical fp32 GEMM peak: plain cblas_sgemm (OpenBLAS, all its
 * threads) on square and BLOOM-shaped problems, best of several runs, printed as GFLOP/s.
 * The benchmarks divide their achieved FLOP/s by this figure. Standalone; not built by
 * `make test`. From the repo root:
 *
 *   cc -std=c11 -D_GNU_SOURCE -O2 $(pkg-config --cflags openblas) bench/gemm_peak.c \
 *      -o build/gemm_peak $(pkg-config --libs openblas)
 *   ./build/gemm_peak [repeats]
 *
 * The last line, "sgemm_peak_gflops <value>", is the largest figure seen, for scripts. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best GFLOP/s of C[M,N] = A[M,K]·B[N,K]ᵀ (the nn.Linear layout) over `repeats` runs. */
static double measure(int M, int N, int K, int repeats)
{
    float *a = malloc(sizeof(float) * (size_t)M * K);
    float *b = malloc(sizeof(float) * (size_t)N * K);
    float *c = malloc(sizeof(float) * (size_t)M * N);
    if (!a || !b || !c) {
        fprintf(stderr, "gemm_peak: cannot allocate %d×%d×%d operands\n", M, N, K);
        exit(1);
    }
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++)
        b[i] = (float)(i % 13) * 0.01f;
    double best = 1e30;
    for (int r = 0; r <= repeats; r++) { /* the first run warms caches and threads up */
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c,
                    N);
        double t = now_seconds() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * M * N * K / best * 1e-9;
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    if (repeats < 1)
        repeats = 1;
    const int shapes[][3] = {{2048, 2048, 2048}, {512, 3072, 1024}, {512, 4096, 1024},
                             {512, 1024, 4096}, {512, 6144, 2048}};
    double peak = 0.0;
    printf("%s, %d threads, best of %d\n", openblas_get_config(), openblas_get_num_threads(),
           repeats);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double g = measure(shapes[i][0], shapes[i][1], shapes[i][2], repeats);
        printf("sgemm M=%5d N=%5d K=%5d  %8.1f GFLOP/s\n", shapes[i][0], shapes[i][1],
               shapes[i][2], g);
        if (g > peak)
            peak = g;
    }
    printf("sgemm_peak_gflops %.1f\n", peak);
    return 0;
}
