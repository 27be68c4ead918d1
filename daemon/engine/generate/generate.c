/* The decode loop of generation (generate.h): memory check, prefill of each prompt into its
 * cache slot, then batched one-token steps over the runs of unfinished prompts, each step's
 * token chosen by the sampler (sampler.h) from that prompt's logits after the repetition
 * penalty over prompt and completion; finish by eos, stop string or length; the texts decoded
 * at the end. */
#include "generate.h"
#include "engine/model/model_decode.h"
#include "common/errors.h"
#include "common/system_memory.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *hs_finish_reason_name(hs_finish_reason r)
{
    return r == HS_FINISH_EOS ? "eos" : r == HS_FINISH_STOP ? "stop" : "length";
}

typedef struct gen_state {
    hs_model *m;
    const hs_generate_params *p;
    const hs_token_seq *prompts;
    hs_completion *out;
    int n, V;
    hs_kv_cache *cache;
    float *logits;     /* host [n, V] raw logits of the last call */
    float *work;       /* [V] a row after the repetition penalty */
    double *probs;     /* [V] sampler scratch */
    int *order;        /* [V] sampler scratch */
    uint8_t *mark;     /* [V] penalty scratch, zero between uses */
    int32_t **history; /* [n] prompt then completion, for the penalty */
    bool *done;        /* [n] */
    int32_t *feed;     /* [n] the token each prompt feeds next */
    double start;      /* monotonic seconds at the start */
} gen_state;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

size_t hs_generate_bytes(const hs_model *m, const hs_token_seq *prompts, int n,
                         int max_new_tokens)
{
    int longest = 0;
    for (int i = 0; i < n; i++)
        longest = prompts[i].T > longest ? prompts[i].T : longest;
    int rows = longest > n ? longest : n;
    return hs_kv_cache_bytes(&m->cfg, n, longest + max_new_tokens, rows);
}

void hs_completions_free(hs_completion *c, int n)
{
    for (int i = 0; c && i < n; i++) {
        free(c[i].ids);
        free(c[i].logprobs);
        free(c[i].text);
        memset(&c[i], 0, sizeof c[i]);
    }
}

static void state_free(gen_state *s)
{
    hs_kv_cache_free(s->cache);
    for (int i = 0; s->history && i < s->n; i++)
        free(s->history[i]);
    free(s->history);
    free(s->logits);
    free(s->work);
    free(s->probs);
    free(s->order);
    free(s->mark);
    free(s->done);
    free(s->feed);
}

/* Refuses up front when the estimate exceeds what the host can still give (host-memory
 * backends; a device backend's own allocation failure names the bytes too). */
static int check_memory(const gen_state *s, char *err, size_t errlen)
{
    size_t need = hs_generate_bytes(s->m, s->prompts, s->n, s->p->max_new_tokens);
    long long avail = hs_available_memory_bytes();
    if (s->m->be->caps.host_memory && avail >= 0 && need > (size_t)avail)
        return hs_errf(err, errlen,
                       "the KV cache and activations for %d prompt(s) and %d new tokens need "
                       "%zu bytes; %lld bytes of memory are available",
                       s->n, s->p->max_new_tokens, need, avail);
    return 0;
}

static int state_init(gen_state *s, char *err, size_t errlen)
{
    const int n = s->n, V = s->V, max_new = s->p->max_new_tokens;
    int longest = 0;
    for (int i = 0; i < n; i++) {
        if (s->prompts[i].T < 1)
            return hs_errf(err, errlen, "prompt %d has no tokens", i);
        longest = s->prompts[i].T > longest ? s->prompts[i].T : longest;
    }
    if (check_memory(s, err, errlen) != 0)
        return -1;
    s->logits = malloc((size_t)n * V * sizeof(float));
    s->work = malloc((size_t)V * sizeof(float));
    s->probs = malloc((size_t)V * sizeof(double));
    s->order = malloc((size_t)V * sizeof(int));
    s->mark = calloc((size_t)V, 1);
    s->history = calloc((size_t)n, sizeof *s->history);
    s->done = calloc((size_t)n, sizeof *s->done);
    s->feed = calloc((size_t)n, sizeof *s->feed);
    if (!s->logits || !s->work || !s->probs || !s->order || !s->mark || !s->history ||
        !s->done || !s->feed)
        return hs_errf(err, errlen, "out of memory for generation state (vocabulary %d)", V);
    for (int i = 0; i < n; i++) {
        s->history[i] = malloc(((size_t)s->prompts[i].T + max_new) * sizeof(int32_t));
        s->out[i].ids = malloc((size_t)max_new * sizeof(int32_t));
        s->out[i].logprobs = s->p->logprobs ? malloc((size_t)max_new * sizeof(float)) : NULL;
        if (!s->history[i] || !s->out[i].ids || (s->p->logprobs && !s->out[i].logprobs))
            return hs_errf(err, errlen, "out of memory for %d completions", n);
        memcpy(s->history[i], s->prompts[i].ids, (size_t)s->prompts[i].T * sizeof(int32_t));
    }
    int rows = longest > n ? longest : n;
    return hs_kv_cache_create(s->m, n, longest + max_new, rows, &s->cache, err, errlen);
}

/* log-softmax of raw[V] at id, in double. */
static float log_prob(const float *raw, int V, int id)
{
    double mx = -INFINITY, sum = 0.0;
    for (int v = 0; v < V; v++)
        mx = raw[v] > mx ? raw[v] : mx;
    for (int v = 0; v < V; v++)
        sum += exp((double)raw[v] - mx);
    return (float)((double)raw[id] - mx - log(sum));
}

/* The decoded completion of prompt i (without a final eos); NULL with err. */
static char *decode_completion(const gen_state *s, int i, char *err, size_t errlen)
{
    const hs_completion *c = &s->out[i];
    int n = c->n;
    if (c->finish == HS_FINISH_EOS)
        n--;
    char *text = NULL;
    size_t len = 0;
    if (hs_tokenizer_decode(s->m->tok, c->ids, (size_t)n, &text, &len, err, errlen) != 0)
        return NULL;
    return text;
}

/* Whether prompt i's text now contains a stop string; cuts the text before the first. */
static int check_stop(gen_state *s, int i, bool *stopped, char *err, size_t errlen)
{
    *stopped = false;
    if (s->p->n_stop == 0)
        return 0;
    char *text = decode_completion(s, i, err, errlen);
    if (!text)
        return -1;
    char *first = NULL;
    for (int k = 0; k < s->p->n_stop; k++) {
        char *hit = s->p->stop[k][0] ? strstr(text, s->p->stop[k]) : NULL;
        if (hit && (!first || hit < first))
            first = hit;
    }
    if (first) {
        *first = '\0';
        free(s->out[i].text);
        s->out[i].text = text;
        *stopped = true;
    } else {
        free(text);
    }
    return 0;
}

/* Chooses prompt i's token of this step from s->logits row i and records it. */
static int choose_token(gen_state *s, int i, int step, char *err, size_t errlen)
{
    const int V = s->V;
    const float *raw = s->logits + (size_t)i * V;
    hs_completion *c = &s->out[i];
    if (s->p->on_logits)
        s->p->on_logits(s->p->on_logits_arg, i, step, raw, V);
    memcpy(s->work, raw, (size_t)V * sizeof(float));
    hs_apply_repetition_penalty(s->work, V, s->history[i], s->prompts[i].T + c->n,
                                s->p->sampling.repetition_penalty, s->mark);
    int tok = hs_sample_token(&s->p->sampling, s->work, V, (uint64_t)i, (uint64_t)step,
                              s->probs, s->order);
    if (c->logprobs)
        c->logprobs[c->n] = log_prob(raw, V, tok);
    c->ids[c->n++] = tok;
    s->history[i][s->prompts[i].T + c->n - 1] = tok;
    s->feed[i] = tok;
    bool stopped = false;
    if (tok == s->m->cfg.eos_token_id) {
        c->finish = HS_FINISH_EOS;
        s->done[i] = true;
    } else if (check_stop(s, i, &stopped, err, errlen) != 0) {
        return -1;
    } else if (stopped) {
        c->finish = HS_FINISH_STOP;
        s->done[i] = true;
    } else if (c->n >= s->p->max_new_tokens) {
        c->finish = HS_FINISH_LENGTH;
        s->done[i] = true;
    }
    if (s->done[i])
        c->seconds = now_seconds() - s->start;
    return 0;
}

static int prefill(gen_state *s, char *err, size_t errlen)
{
    for (int i = 0; i < s->n; i++) {
        if (hs_model_decode(s->m, s->cache, i, 1, s->prompts[i].ids, s->prompts[i].T,
                            s->logits + (size_t)i * s->V, err, errlen) != 0 ||
            choose_token(s, i, 0, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* One decode step over every run of consecutive unfinished prompts; *active = how many were
 * unfinished. */
static int decode_step(gen_state *s, int step, int *active, char *err, size_t errlen)
{
    *active = 0;
    for (int b0 = 0; b0 < s->n;) {
        if (s->done[b0]) {
            b0++;
            continue;
        }
        int nb = 1;
        while (b0 + nb < s->n && !s->done[b0 + nb])
            nb++;
        if (hs_model_decode(s->m, s->cache, b0, nb, s->feed + b0, 1,
                            s->logits + (size_t)b0 * s->V, err, errlen) != 0)
            return -1;
        for (int i = b0; i < b0 + nb; i++)
            if (choose_token(s, i, step, err, errlen) != 0)
                return -1;
        *active += nb;
        b0 += nb;
    }
    return 0;
}

static int finish_texts(gen_state *s, char *err, size_t errlen)
{
    for (int i = 0; i < s->n; i++) {
        if (s->out[i].text)
            continue;
        s->out[i].text = decode_completion(s, i, err, errlen);
        if (!s->out[i].text)
            return -1;
    }
    return 0;
}

int hs_generate(hs_model *m, const hs_token_seq *prompts, int n, const hs_generate_params *p,
                const hs_generate_hooks *hooks, hs_completion *out, char *err, size_t errlen)
{
    memset(out, 0, (size_t)n * sizeof *out);
    if (n < 1 || p->max_new_tokens < 1)
        return hs_errf(err, errlen, "generate: %d prompts, %d new tokens", n, p->max_new_tokens);
    gen_state s = {.m = m, .p = p, .prompts = prompts, .out = out, .n = n,
                   .V = m->cfg.vocab_size, .start = now_seconds()};
    hs_generate_stats stats = {0};
    int rc = state_init(&s, err, errlen);
    double t0 = now_seconds();
    if (rc == 0)
        rc = prefill(&s, err, errlen);
    double t1 = now_seconds();
    stats.prefill_seconds = t1 - t0;
    for (int i = 0; i < n; i++)
        stats.prefill_tokens += prompts[i].T;
    for (int step = 1; rc == 0 && step < p->max_new_tokens; step++) {
        if (hooks && hooks->should_stop && hooks->should_stop(hooks->arg)) {
            rc = 1;
            break;
        }
        int active = 0;
        rc = decode_step(&s, step, &active, err, errlen);
        stats.decode_tokens += active;
        if (hooks && hooks->progress)
            hooks->progress(hooks->arg, step, p->max_new_tokens);
        if (active == 0)
            break;
    }
    stats.decode_seconds = now_seconds() - t1;
    if (p->stats)
        *p->stats = stats;
    if (rc == 0)
        rc = finish_texts(&s, err, errlen);
    state_free(&s);
    if (rc != 0)
        hs_completions_free(out, n);
    return rc;
}
