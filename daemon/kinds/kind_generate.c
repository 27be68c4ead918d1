/* The `generate` job kind: spec fields, checks, and the runner — prompts → tokens → one
 * prefill per prompt and batched one-token decode steps over a KV cache (engine/generate/),
 * greedy or sampled as transformers' generate(); the cache is sized up front and the job fails
 * at once, naming the bytes, when it cannot fit. Result: {"model", "completions": [{"index",
 * "prompt_tokens", "text", "token_ids", "finish_reason", "logprobs"?, "tokens_per_s"}],
 * "new_tokens", "seconds", "tokens_per_s"}. */
#include "engine/generate/generate.h"
#include "common/errors.h"
#include "job_memory.h"
#include "job_model.h"
#include "kinds.h"
#include "precision.h"
#include "spec.h"
#include "store/paths.h"
#include "texts.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_PROMPTS = 256, MAX_PROMPT_TOKENS = 8192 };

static const hs_spec_field generate_fields[] = {
    {.name = "model", .type = HS_FIELD_STRING, .required = true, .min = 1, .max = 4096,
     .help = "model directory under --model-root, or run:<id>/<checkpoint>"},
    {.name = "prompts", .type = HS_FIELD_STRING_ARRAY, .min = 1, .max = MAX_PROMPTS,
     .help = "1-256 prompts, decoded as one batch (or prompt_file)"},
    {.name = "prompt_file", .type = HS_FIELD_STRING, .min = 1, .max = 4096,
     .help = "file under --corpus-root or upload:<name>, one prompt per non-empty line (or "
             "prompts)"},
    {.name = "max_new_tokens", .type = HS_FIELD_INT, .min = 1, .max = 4096,
     .help = "tokens generated per prompt at most (default 64)"},
    {.name = "do_sample", .type = HS_FIELD_BOOL,
     .help = "sample (temperature, top_k, top_p) instead of greedy argmax (default false)"},
    {.name = "temperature", .type = HS_FIELD_NUMBER, .min = 0, .max = 100, .exclusive_min = true,
     .help = "logits are divided by it before sampling (default 1)"},
    {.name = "top_k", .type = HS_FIELD_INT, .min = 0, .max = 1000000,
     .help = "sample among the k most likely tokens; 0 = all (default 50, as transformers)"},
    {.name = "top_p", .type = HS_FIELD_NUMBER, .min = 0, .max = 1, .exclusive_min = true,
     .help = "sample among the most likely tokens whose probability reaches top_p (default 1)"},
    {.name = "repetition_penalty", .type = HS_FIELD_NUMBER, .min = 0, .max = 100,
     .exclusive_min = true,
     .help = "transformers' penalty on tokens of the prompt and completion (default 1: none)"},
    {.name = "seed", .type = HS_FIELD_INT, .min = 0, .max = 9e15,
     .help = "seed of the sampling draws (default 0); the same seed gives the same text"},
    {.name = "stop", .type = HS_FIELD_STRING_ARRAY, .min = 0, .max = 16,
     .help = "up to 16 strings; a completion ends before the first one it produces"},
    {.name = "logprobs", .type = HS_FIELD_BOOL,
     .help = "also return each generated token's log-probability (default false)"},
    {.name = "prepend_bos", .type = HS_FIELD_BOOL,
     .help = "put the model's bos token before every prompt (default false)"},
    HS_SPEC_FIELD_PRECISION,
    {.name = NULL},
};

static int generate_check(const cJSON *spec, const hs_kind_env *env, hs_spec_error *e)
{
    char path[PATH_MAX], why[HS_ERR_LEN];
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (hs_resolve_model(env, model->valuestring, path, sizeof path, why, sizeof why) != 0)
        return hs_spec_errorf(e, "model", "%s", why);
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(spec, "prompts");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "prompt_file");
    if (!prompts && !file)
        return hs_spec_errorf(e, "prompts",
                              "one of prompts (an array of strings) or prompt_file is required");
    if (prompts && file)
        return hs_spec_errorf(e, "prompt_file", "give either prompts or prompt_file, not both");
    if (file && hs_resolve_corpus(env, file->valuestring, path, sizeof path, why, sizeof why) != 0)
        return hs_spec_errorf(e, "prompt_file", "%s", why);
    const cJSON *item;
    int i = 0;
    cJSON_ArrayForEach(item, prompts)
    {
        if (!*item->valuestring)
            return hs_spec_errorf(e, "prompts", "prompts[%d] is empty", i);
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(spec, "stop"))
    {
        size_t len = strlen(item->valuestring);
        if (len < 1 || len > 256)
            return hs_spec_errorf(e, "stop", "stop[%d] must be 1 to 256 bytes long (got %zu)", i,
                                  len);
        i++;
    }
    return 0;
}

static double number_or(const cJSON *spec, const char *name, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, name);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* The engine's parameters from the (validated) spec; p->stop points into the spec. */
static int params_from_spec(const cJSON *spec, hs_generate_params *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    hs_sampling s = hs_sampling_default();
    s.do_sample = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "do_sample"));
    s.temperature = number_or(spec, "temperature", s.temperature);
    s.top_k = (int)number_or(spec, "top_k", s.top_k);
    s.top_p = number_or(spec, "top_p", s.top_p);
    s.repetition_penalty = number_or(spec, "repetition_penalty", s.repetition_penalty);
    s.seed = (uint64_t)number_or(spec, "seed", 0);
    p->sampling = s;
    p->max_new_tokens = (int)number_or(spec, "max_new_tokens", 64);
    p->logprobs = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "logprobs"));
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(spec, "stop");
    p->n_stop = cJSON_GetArraySize(stop);
    if (p->n_stop > 0) {
        const char **list = calloc((size_t)p->n_stop, sizeof *list);
        if (!list)
            return hs_errf(err, errlen, "out of memory for the stop strings");
        for (int i = 0; i < p->n_stop; i++)
            list[i] = cJSON_GetArrayItem(stop, i)->valuestring;
        p->stop = list;
    }
    return 0;
}

/* The job's prompts and model, tokenized. */
typedef struct gen_inputs {
    char **texts;
    int n;
    hs_model *model; /* owned by the device cache */
    hs_token_seq *seqs;
} gen_inputs;

static void inputs_free(gen_inputs *in)
{
    hs_token_seqs_free(in->seqs, in->n);
    hs_job_texts_free(in->texts, in->n);
    memset(in, 0, sizeof *in);
}

static int inputs_load(hs_job_ctx *ctx, const cJSON *spec, gen_inputs *in, char *err,
                       size_t errlen)
{
    memset(in, 0, sizeof *in);
    const hs_kind_env env = {
        .model_root = ctx->model_root, .corpus_root = ctx->corpus_root, .data_dir = ctx->data_dir,
        .instance = ctx->instance};
    if (hs_job_texts_load(spec, &env, "prompts", "prompt_file", &in->texts, &in->n, err,
                          errlen) != 0)
        return -1;
    if (in->n < 1 || in->n > MAX_PROMPTS) {
        int n = in->n;
        inputs_free(in);
        return hs_errf(err, errlen, "prompts: 1 to %d prompts are needed (got %d)", MAX_PROMPTS,
                       n);
    }
    bool bos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "prepend_bos"));
    const hs_memory_job shape =
        hs_job_shape_generate((const char *const *)in->texts, in->n, MAX_PROMPT_TOKENS,
                              (int)number_or(spec, "max_new_tokens", 64), bos);
    in->model = hs_job_load_model(ctx, spec, &shape, err, errlen);
    if (!in->model ||
        hs_tokenize_texts(in->model, (const char *const *)in->texts, in->n, MAX_PROMPT_TOKENS,
                          bos, &in->seqs, err, errlen) != 0) {
        in->model = NULL;
        inputs_free(in);
        return -1;
    }
    return 0;
}

static cJSON *completion_json(const hs_completion *c, int index, int prompt_tokens)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *ids = cJSON_CreateArray();
    if (!o || !ids) {
        cJSON_Delete(o);
        cJSON_Delete(ids);
        return NULL;
    }
    cJSON_AddItemToObject(o, "index", cJSON_CreateNumber(index));
    cJSON_AddItemToObject(o, "prompt_tokens", cJSON_CreateNumber(prompt_tokens));
    cJSON_AddItemToObject(o, "text", cJSON_CreateString(c->text));
    for (int t = 0; t < c->n; t++)
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(c->ids[t]));
    cJSON_AddItemToObject(o, "token_ids", ids);
    cJSON_AddItemToObject(o, "finish_reason",
                          cJSON_CreateString(hs_finish_reason_name(c->finish)));
    if (c->logprobs) {
        cJSON *lp = cJSON_CreateArray();
        for (int t = 0; lp && t < c->n; t++)
            cJSON_AddItemToArray(lp, cJSON_CreateNumber(c->logprobs[t]));
        cJSON_AddItemToObject(o, "logprobs", lp);
    }
    cJSON_AddItemToObject(o, "tokens_per_s",
                          cJSON_CreateNumber(c->seconds > 0 ? c->n / c->seconds : 0));
    return o;
}

static cJSON *result_json(const cJSON *spec, const gen_inputs *in, const hs_completion *out,
                          double seconds, const hs_generate_stats *st)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    if (!result || !list) {
        cJSON_Delete(result);
        cJSON_Delete(list);
        return NULL;
    }
    long long total = 0;
    for (int i = 0; i < in->n; i++) {
        cJSON *c = completion_json(&out[i], i, in->seqs[i].T);
        if (!c) {
            cJSON_Delete(result);
            cJSON_Delete(list);
            return NULL;
        }
        cJSON_AddItemToArray(list, c);
        total += out[i].n;
    }
    cJSON_AddItemToObject(result, "model", cJSON_Duplicate(
                                               cJSON_GetObjectItemCaseSensitive(spec, "model"),
                                               true));
    cJSON_AddItemToObject(result, "completions", list);
    cJSON_AddItemToObject(result, "new_tokens", cJSON_CreateNumber((double)total));
    cJSON_AddItemToObject(result, "seconds", cJSON_CreateNumber(seconds));
    cJSON_AddItemToObject(result, "tokens_per_s",
                          cJSON_CreateNumber(seconds > 0 ? (double)total / seconds : 0));
    cJSON *timing = cJSON_AddObjectToObject(result, "timing");
    if (timing) {
        cJSON_AddNumberToObject(timing, "prefill_seconds", st->prefill_seconds);
        cJSON_AddNumberToObject(timing, "prefill_tokens", (double)st->prefill_tokens);
        cJSON_AddNumberToObject(timing, "decode_seconds", st->decode_seconds);
        cJSON_AddNumberToObject(timing, "decode_tokens", (double)st->decode_tokens);
    }
    return result;
}

static void generate_progress(void *arg, int step, int total)
{
    char msg[64];
    snprintf(msg, sizeof msg, "step %d of %d", step, total);
    hs_job_progress((hs_job_ctx *)arg, step, total, msg);
}

static bool generate_should_stop(void *arg)
{
    return hs_job_should_stop((hs_job_ctx *)arg);
}

static int generate_run(hs_job_ctx *ctx, const cJSON *spec, char *err, size_t errlen)
{
    hs_generate_params p;
    hs_generate_stats stats = {0};
    gen_inputs in;
    hs_job_progress(ctx, 0, 0, "loading");
    if (params_from_spec(spec, &p, err, errlen) != 0)
        return -1;
    p.stats = &stats;
    if (inputs_load(ctx, spec, &in, err, errlen) != 0) {
        free((void *)p.stop);
        return -1;
    }
    hs_job_logf(ctx, "%d prompt(s), up to %d new tokens each; KV cache and activations %zu bytes",
                in.n, p.max_new_tokens,
                hs_generate_bytes(in.model, in.seqs, in.n, p.max_new_tokens));
    hs_completion *out = calloc((size_t)in.n, sizeof *out);
    const hs_generate_hooks hooks = {.progress = generate_progress,
                                     .should_stop = generate_should_stop, .arg = ctx};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = out ? hs_generate(in.model, in.seqs, in.n, &p, &hooks, out, err, errlen)
                 : hs_errf(err, errlen, "out of memory for %d completions", in.n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 1)
        hs_job_logf(ctx, "cancelled");
    if (rc == 0) {
        double seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        cJSON *result = result_json(spec, &in, out, seconds, &stats);
        if (!result || hs_result_add_precision(result, spec) != 0)
            rc = hs_errf(err, errlen, "out of memory building the result");
        else if (ctx->ops->store_result(ctx, result) != 0)
            rc = hs_errf(err, errlen, "storing the result failed");
        if (result)
            hs_job_logf(ctx, "%d completion(s), %.0f new tokens in %.3f s", in.n,
                        cJSON_GetNumberValue(cJSON_GetObjectItem(result, "new_tokens")), seconds);
        cJSON_Delete(result);
        hs_completions_free(out, in.n);
    }
    free(out);
    free((void *)p.stop);
    inputs_free(&in);
    return rc;
}

const hs_job_kind hs_kind_generate = {
    .name = "generate",
    .description = "text generation from prompts over a KV cache: greedy or sampled "
                   "(temperature, top-k, top-p, repetition penalty), stop strings, logprobs",
    .fields = generate_fields,
    .check = generate_check,
    .run = generate_run,
};
