/* GPU check, peak reference: the device's practical GEMM peak measured with cuBLASLt directly
 * (no conversion, no backend), bf16 operands with fp32 accumulation and fp32 output (the
 * arithmetic of the backend's bf16 GEMMs), and fp32 (no TF32), on a large square problem and
 * the BLOOM nn.Linear shapes; best of several runs. The last lines,
 * "bf16_peak_tflops X" and "fp32_peak_tflops Y", are the largest figures seen, for
 * tests/gpu/check_models.py to divide achieved TFLOP/s by. Needs a GPU (exit 77 without).
 * Built by `make gpu-check` when nvcc is found. */
/* cublasLt.h declares a function with an empty parameter list */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <cublasLt.h>
#pragma GCC diagnostic pop
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_CUDA(call)                                                                       \
    do {                                                                                       \
        cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "gemm_peak_cuda: %s failed: %s\n", #call, cudaGetErrorString(e_)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#define CHECK_LT(call)                                                                         \
    do {                                                                                       \
        cublasStatus_t s_ = (call);                                                            \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                     \
            fprintf(stderr, "gemm_peak_cuda: %s failed: status %d\n", #call, (int)s_);         \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* n random values in [-1, 1) of type `in` uploaded to dev (bf16: the top half of the fp32). */
static int fill_random(void *dev, size_t n, cudaDataType_t in)
{
    size_t es = in == CUDA_R_16BF ? 2 : 4;
    unsigned char *h = malloc(n * es);
    if (!h)
        return -1;
    uint64_t x = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        float f = (float)((x >> 40) * (1.0 / 8388608.0)) - 1.0f;
        uint32_t u;
        memcpy(&u, &f, 4);
        if (es == 2) {
            uint16_t top = (uint16_t)(u >> 16);
            memcpy(h + i * 2, &top, 2);
        } else {
            memcpy(h + i * 4, &u, 4);
        }
    }
    cudaError_t e = cudaMemcpy(dev, h, n * es, cudaMemcpyHostToDevice);
    free(h);
    if (e != cudaSuccess) {
        fprintf(stderr, "gemm_peak_cuda: cudaMemcpy failed: %s\n", cudaGetErrorString(e));
        exit(1);
    }
    return 0;
}

/* Best TFLOP/s of the column-major D[m,n] = A[k,m]ᵀ·B[k,n] (the nn.Linear layout seen from
 * cuBLAS) with operands of type `in` (CUDA_R_16BF or CUDA_R_32F), fp32 output. */
static double measure(cublasLtHandle_t lt, cudaStream_t stream, void *ws, size_t ws_bytes,
                      cudaDataType_t in, int m, int n, int k, int repeats)
{
    size_t es = in == CUDA_R_16BF ? 2 : 4;
    void *a = NULL, *b = NULL, *d = NULL;
    CHECK_CUDA(cudaMalloc(&a, (size_t)m * k * es));
    CHECK_CUDA(cudaMalloc(&b, (size_t)k * n * es));
    CHECK_CUDA(cudaMalloc(&d, (size_t)m * n * 4));
    /* random values in [-1, 1): zeros would flatter the peak (less power, higher clocks) */
    if (fill_random(a, (size_t)m * k, in) != 0 || fill_random(b, (size_t)k * n, in) != 0) {
        fprintf(stderr, "gemm_peak_cuda: out of host memory\n");
        exit(1);
    }

    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CHECK_LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CHECK_LT(cublasLtMatrixLayoutCreate(&la, in, k, m, k));
    CHECK_LT(cublasLtMatrixLayoutCreate(&lb, in, k, n, k));
    CHECK_LT(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, m));
    CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t wsb = ws_bytes;
    CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &wsb, sizeof wsb));
    cublasLtMatmulHeuristicResult_t res;
    memset(&res, 0, sizeof res);
    int found = 0;
    CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, ld, ld, pref, 1, &res, &found));
    double best = 0.0;
    if (found > 0) {
        float alpha = 1.0f, beta = 0.0f;
        for (int r = 0; r <= repeats; r++) {
            CHECK_CUDA(cudaStreamSynchronize(stream));
            double t0 = now_s();
            for (int i = 0; i < 10; i++)
                CHECK_LT(cublasLtMatmul(lt, op, &alpha, a, la, b, lb, &beta, d, ld, d, ld,
                                        &res.algo, ws, ws_bytes, stream));
            CHECK_CUDA(cudaStreamSynchronize(stream));
            double t = (now_s() - t0) / 10;
            double tf = 2.0 * m * n * k / t / 1e12;
            if (r > 0 && tf > best) /* the first round warms up */
                best = tf;
        }
    }
    CHECK_LT(cublasLtMatmulPreferenceDestroy(pref));
    CHECK_LT(cublasLtMatrixLayoutDestroy(ld));
    CHECK_LT(cublasLtMatrixLayoutDestroy(lb));
    CHECK_LT(cublasLtMatrixLayoutDestroy(la));
    CHECK_LT(cublasLtMatmulDescDestroy(op));
    CHECK_CUDA(cudaFree(a));
    CHECK_CUDA(cudaFree(b));
    CHECK_CUDA(cudaFree(d));
    return best;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines reach a pipe before a crash or a time limit */
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    if (repeats < 1)
        repeats = 1;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
        printf("gemm_peak_cuda: skipped, no GPU\n");
        return 77;
    }
    struct cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t stream;
    CHECK_CUDA(cudaStreamCreate(&stream));
    cublasLtHandle_t lt;
    CHECK_LT(cublasLtCreate(&lt));
    size_t ws_bytes = (size_t)32 << 20;
    void *ws = NULL;
    CHECK_CUDA(cudaMalloc(&ws, ws_bytes));
    /* m = output features, n = rows (tokens), k = input features */
    const int shapes[][3] = {{8192, 8192, 8192}, {3072, 4096, 1024}, {4096, 4096, 1024},
                             {6144, 4096, 2048}, {8192, 4096, 2048}, {2048, 4096, 8192}};
    double peak[2] = {0, 0};
    const cudaDataType_t types[2] = {CUDA_R_16BF, CUDA_R_32F};
    const char *names[2] = {"bf16", "fp32"};
    printf("cuBLASLt peak on %s, fp32 accumulation and output, best of %d\n", prop.name, repeats);
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            double tf = measure(lt, stream, ws, ws_bytes, types[t], shapes[i][0], shapes[i][1],
                                shapes[i][2], repeats);
            printf("%s out=%5d rows=%5d in=%5d  %7.1f TFLOP/s\n", names[t], shapes[i][0],
                   shapes[i][1], shapes[i][2], tf);
            if (tf > peak[t])
                peak[t] = tf;
        }
    CHECK_CUDA(cudaFree(ws));
    CHECK_LT(cublasLtDestroy(lt));
    CHECK_CUDA(cudaStreamDestroy(stream));
    printf("bf16_peak_tflops %.1f\n", peak[0]);
    printf("fp32_peak_tflops %.1f\n", peak[1]);
    return 0;
}
