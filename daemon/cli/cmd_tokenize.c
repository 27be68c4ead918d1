/* `surgeond tokenize`: a model directory's tokenizer (DIR/tokenizer.json) on a text, printing
 * {"ids": [...], "count": n}; with --decode, a JSON array of ids back to text (written as raw
 * bytes, no newline added). Input from --text-file / --ids-file, else stdin. For users checking
 * their corpora and for tests. Exit status: 0 done, 1 failed (reason on stderr), 2 usage. */
#include "commands.h"
#include "common/errors.h"
#include "engine/formats/tokenizer.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_tokenize_usage(FILE *out)
{
    fprintf(out,
            "usage: surgeond tokenize --model DIR [--text-file FILE]\n"
            "       surgeond tokenize --model DIR --decode [--ids-file FILE]\n"
            "  Tokenizes text with DIR/tokenizer.json exactly as HF's BLOOM tokenizer (no BOS added)\n"
            "  and prints {\"ids\": [...], \"count\": n}; reads stdin without --text-file.\n"
            "  --decode reads a JSON array of ids (stdin without --ids-file) and prints the text.\n"
            "  --model DIR       model directory holding tokenizer.json\n"
            "  --text-file FILE  text to tokenize (any bytes; invalid UTF-8 becomes U+FFFD)\n"
            "  --decode          decode ids instead\n"
            "  --ids-file FILE   JSON array of ids to decode\n"
            "  --help            this text\n");
}

/* Whole stream into a malloc'd buffer (NUL-terminated). */
static char *read_stream(FILE *fp, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap) {
            if (ferror(fp)) {
                free(buf);
                return NULL;
            }
            if (feof(fp) || got == 0)
                break;
            continue;
        }
        char *nb = cap > SIZE_MAX / 4 ? NULL : realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            return NULL;
        }
        buf = nb;
        cap *= 2;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *read_input(const char *path, size_t *len)
{
    if (!path)
        return read_stream(stdin, len);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "surgeond tokenize: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = read_stream(fp, len);
    fclose(fp);
    if (!buf)
        fprintf(stderr, "surgeond tokenize: %s: read error\n", path);
    return buf;
}

/* "--flag value" or "--flag=value"; advances *i past the value. NULL when missing. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int print_ids(const int32_t *ids, size_t n)
{
    fputs("{\"ids\": [", stdout);
    for (size_t i = 0; i < n; i++)
        printf(i ? ", %d" : "%d", ids[i]);
    printf("], \"count\": %zu}\n", n);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int do_decode(const hs_tokenizer *tok, const char *ids_file)
{
    size_t len;
    char *text = read_input(ids_file, &len);
    if (!text)
        return 1;
    cJSON *arr = cJSON_ParseWithLength(text, len);
    free(text);
    const char *src = ids_file ? ids_file : "stdin";
    if (!cJSON_IsArray(arr)) {
        fprintf(stderr, "surgeond tokenize: %s: expected a JSON array of token ids\n", src);
        cJSON_Delete(arr);
        return 1;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        cJSON_Delete(arr);
        fprintf(stderr, "surgeond tokenize: out of memory\n");
        return 1;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        double d = x->valuedouble;
        if (!cJSON_IsNumber(x) || d != floor(d) || d < INT32_MIN || d > INT32_MAX) {
            fprintf(stderr, "surgeond tokenize: %s: element %zu is not an integer id\n", src, i);
            free(ids);
            cJSON_Delete(arr);
            return 1;
        }
        ids[i++] = (int32_t)d;
    }
    cJSON_Delete(arr);
    char err[HS_ERR_LEN] = "", *out;
    size_t out_len;
    if (hs_tokenizer_decode(tok, ids, n, &out, &out_len, err, sizeof err) != 0) {
        fprintf(stderr, "surgeond tokenize: %s\n", err);
        free(ids);
        return 1;
    }
    free(ids);
    int rc = fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0 ? 0 : 1;
    free(out);
    return rc;
}

int hs_cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text_file = NULL, *ids_file = NULL;
    int decode = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            hs_tokenize_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--decode") == 0) {
            decode = 1;
        } else if ((v = flag_value(argc, argv, &i, "--model"))) {
            model = v;
        } else if ((v = flag_value(argc, argv, &i, "--text-file"))) {
            text_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--ids-file"))) {
            ids_file = v;
        } else {
            fprintf(stderr, "surgeond tokenize: unknown or incomplete flag '%s'\n", argv[i]);
            hs_tokenize_usage(stderr);
            return 2;
        }
    }
    if (!model || (decode && text_file) || (!decode && ids_file)) {
        fprintf(stderr, "surgeond tokenize: %s\n",
                !model ? "--model DIR is required"
                       : decode ? "--text-file does not go with --decode"
                                : "--ids-file needs --decode");
        hs_tokenize_usage(stderr);
        return 2;
    }
    char path[PATH_MAX], err[HS_ERR_LEN] = "";
    if (snprintf(path, sizeof path, "%s/tokenizer.json", model) >= (int)sizeof path) {
        fprintf(stderr, "surgeond tokenize: --model path too long\n");
        return 2;
    }
    hs_tokenizer *tok = hs_tokenizer_load(path, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "surgeond tokenize: %s\n", err);
        return 1;
    }
    int rc;
    if (decode) {
        rc = do_decode(tok, ids_file);
    } else {
        size_t len;
        char *text = read_input(text_file, &len);
        if (!text) {
            hs_tokenizer_free(tok);
            return 1;
        }
        int32_t *ids;
        size_t n;
        if (hs_tokenizer_encode(tok, text, len, &ids, &n, err, sizeof err) != 0) {
            fprintf(stderr, "surgeond tokenize: %s\n", err);
            rc = 1;
        } else {
            rc = print_ids(ids, n);
            free(ids);
        }
        free(text);
    }
    hs_tokenizer_free(tok);
    return rc;
}
