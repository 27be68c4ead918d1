/* Diagnosis and perplexity over a job's texts (diagnosis.h): tokenization with truncation,
 * per-head statistics aggregated across texts (mean and population standard deviation,
 * Welford's update in double), classes, counts, the sick band, MLP dormancy, perplexity, and
 * the result JSON. The forward pass itself is model_forward.c's; this file never touches an
 * attention matrix. */
#include "diagnosis.h"
#include "engine/model/model_forward.h"
#include "common/errors.h"
#include "mlp_dormancy.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const hs_diag_thresholds hs_diag_default_thresholds = {
    .dead_bos = 0.95, .sink_bos = 0.5, .low_entropy = 0.5, .local_mass = 0.6,
    .mlp_dormancy = 0.01};

static const char *const class_names[] = {
    [HS_HEAD_HEALTHY] = "healthy",
    [HS_HEAD_BOS_SINK] = "bos-sink",
    [HS_HEAD_DEAD] = "dead",
    [HS_HEAD_LOW_ENTROPY] = "low-entropy",
};

const char *hs_head_class_name(hs_head_class c)
{
    if ((int)c < 0 || (size_t)c >= sizeof class_names / sizeof class_names[0])
        return "unknown";
    return class_names[c];
}

int hs_head_class_from_name(const char *name, hs_head_class *out)
{
    for (size_t i = 0; name && i < sizeof class_names / sizeof class_names[0]; i++)
        if (strcmp(name, class_names[i]) == 0) {
            *out = (hs_head_class)i;
            return 0;
        }
    return -1;
}

hs_head_class hs_classify_head(double bos, double entropy, const hs_diag_thresholds *t)
{
    if (!t)
        t = &hs_diag_default_thresholds;
    if (bos > t->dead_bos)
        return HS_HEAD_DEAD;
    if (bos > t->sink_bos)
        return HS_HEAD_BOS_SINK;
    if (entropy < t->low_entropy)
        return HS_HEAD_LOW_ENTROPY;
    return HS_HEAD_HEALTHY;
}

/* ---- tokenization -------------------------------------------------------------------- */

void hs_token_seqs_free(hs_token_seq *seqs, int n)
{
    if (!seqs)
        return;
    for (int i = 0; i < n; i++)
        free(seqs[i].ids);
    free(seqs);
}

int hs_tokenize_texts(const hs_model *m, const char *const *texts, int n_texts,
                      int max_length, bool prepend_bos, hs_token_seq **seqs, char *err,
                      size_t errlen)
{
    *seqs = NULL;
    if (n_texts < 1)
        return hs_errf(err, errlen, "texts: at least one text is needed");
    if (max_length < 1)
        return hs_errf(err, errlen, "max_length: must be >= 1 (got %d)", max_length);
    if (!m->tok)
        return hs_errf(err, errlen, "model %s: no tokenizer loaded", m->path);
    if (prepend_bos && (m->cfg.bos_token_id < 0 || m->cfg.bos_token_id >= m->cfg.vocab_size))
        return hs_errf(err, errlen, "prepend_bos: model %s has no usable bos_token_id in its "
                       "config.json", m->path);
    hs_token_seq *out = calloc((size_t)n_texts, sizeof *out);
    if (!out)
        return hs_errf(err, errlen, "out of memory for %d token sequences", n_texts);
    for (int i = 0; i < n_texts; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        char terr[HS_ERR_LEN];
        if (hs_tokenizer_encode(m->tok, texts[i], strlen(texts[i]), &ids, &n, terr,
                                sizeof terr) != 0) {
            hs_token_seqs_free(out, n_texts);
            return hs_errf(err, errlen, "text %d: %s", i, terr);
        }
        size_t total = n + (prepend_bos ? 1 : 0);
        if (total == 0) {
            free(ids);
            hs_token_seqs_free(out, n_texts);
            return hs_errf(err, errlen, "text %d is empty (it tokenizes to no tokens)", i);
        }
        size_t keep = total < (size_t)max_length ? total : (size_t)max_length;
        int32_t *seq = malloc(keep * sizeof(int32_t));
        if (!seq) {
            free(ids);
            hs_token_seqs_free(out, n_texts);
            return hs_errf(err, errlen, "text %d: out of memory for %zu token ids", i, keep);
        }
        size_t k = 0;
        if (prepend_bos)
            seq[k++] = m->cfg.bos_token_id;
        for (size_t j = 0; k < keep; j++)
            seq[k++] = ids[j];
        free(ids);
        out[i].ids = seq;
        out[i].T = (int)keep;
    }
    *seqs = out;
    return 0;
}

/* ---- aggregation --------------------------------------------------------------------- */

/* Running mean and sum of squared deviations (Welford) of the L·H·3 statistics. */
typedef struct stat_acc {
    size_t n_values;
    int n;          /* texts seen */
    double *mean;   /* [L·H·3] */
    double *m2;     /* [L·H·3] */
} stat_acc;

static void stat_acc_add(stat_acc *a, const double *x)
{
    a->n++;
    for (size_t i = 0; i < a->n_values; i++) {
        double delta = x[i] - a->mean[i];
        a->mean[i] += delta / a->n;
        a->m2[i] += delta * (x[i] - a->mean[i]);
    }
}

static double stat_acc_std(const stat_acc *a, size_t i)
{
    if (a->n < 1)
        return 0.0;
    double var = a->m2[i] / a->n;
    return var > 0.0 ? sqrt(var) : 0.0;
}

void hs_diagnosis_free(hs_diagnosis *d)
{
    if (!d)
        return;
    free(d->heads);
    free(d->sick_band);
    free(d->mlp_dormant);
    memset(d, 0, sizeof *d);
}

void hs_perplexity_free(hs_perplexity *p)
{
    if (!p)
        return;
    free(p->text_nll);
    free(p->text_tokens);
    memset(p, 0, sizeof *p);
}

static int finish_diagnosis(hs_model *m, const stat_acc *acc,
                            const hs_diag_thresholds *t, hs_diagnosis *d, char *err,
                            size_t errlen)
{
    const int L = m->cfg.n_layer, H = m->cfg.n_head;
    d->n_layer = L;
    d->n_head = H;
    d->n_texts = acc->n;
    d->mlp_width = 4 * m->cfg.hidden_size;
    d->heads = calloc((size_t)L * H, sizeof *d->heads);
    d->sick_band = calloc((size_t)H, sizeof *d->sick_band);
    d->mlp_dormant = calloc((size_t)L, sizeof *d->mlp_dormant);
    if (!d->heads || !d->sick_band || !d->mlp_dormant) {
        hs_diagnosis_free(d);
        return hs_errf(err, errlen, "out of memory for the diagnosis of %d heads", L * H);
    }
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            size_t base = ((size_t)l * H + h) * HS_STAT_COUNT;
            hs_head_result *r = &d->heads[(size_t)l * H + h];
            r->layer = l;
            r->head = h;
            r->bos_mass = acc->mean[base + HS_STAT_BOS];
            r->entropy = acc->mean[base + HS_STAT_ENTROPY];
            r->local_mass = acc->mean[base + HS_STAT_LOCAL];
            r->bos_std = stat_acc_std(acc, base + HS_STAT_BOS);
            r->entropy_std = stat_acc_std(acc, base + HS_STAT_ENTROPY);
            r->local_std = stat_acc_std(acc, base + HS_STAT_LOCAL);
            r->cls = hs_classify_head(r->bos_mass, r->entropy, t);
            r->local_pattern = r->cls == HS_HEAD_HEALTHY && r->local_mass > t->local_mass;
            d->counts[r->cls]++;
            if (r->cls != HS_HEAD_HEALTHY)
                d->sick_band[h]++;
        }
    double dormancy = t->mlp_dormancy > 0.0 ? t->mlp_dormancy : 0.01;
    if (hs_mlp_dormancy(m, dormancy, d->mlp_dormant, err, errlen) != 0) {
        hs_diagnosis_free(d);
        return -1;
    }
    return 0;
}

static int finish_perplexity(const hs_perplexity *src, hs_perplexity *p)
{
    double total = 0.0;
    long long tokens = 0;
    for (int i = 0; i < src->n; i++) {
        total += src->text_nll[i];
        tokens += src->text_tokens[i];
    }
    *p = *src;
    p->tokens = tokens;
    p->ppl = tokens > 0 ? exp(total / (double)tokens) : NAN;
    return 0;
}

/* One text: the head statistics of its first window (stats, when not NULL) and the Σ NLL
 * and count of its predicted tokens (nll, when not NULL) over sliding windows of w->max_length
 * tokens advancing by w->stride, each scoring only the tokens the previous one did not
 * (docs/api.md "Evaluate result"); one window when the text fits or w is NULL. */
static int eval_text(hs_model *m, const hs_token_seq *s, const hs_ppl_window *w, double *stats,
                     double *nll, int *count, char *err, size_t errlen)
{
    int L = w && w->max_length > 1 ? w->max_length : s->T;
    int stride = w && w->stride > 0 && w->stride <= L ? w->stride : L;
    if (s->T <= L) {
        *count = s->T - 1;
        return hs_model_stats_and_nll(m, s->ids, s->T, stats, nll, err, errlen);
    }
    double sum = 0.0;
    int scored = 0, prev_end = 0;
    for (int b = 0; prev_end < s->T; b += stride) {
        int e = b + L < s->T ? b + L : s->T;
        int first = prev_end > b + 1 ? prev_end : b + 1; /* absolute index of the first scored */
        double part = 0.0;
        if (e - first >= 1) {
            if (hs_model_stats_and_nll_from(m, s->ids + b, e - b, first - b, b == 0 ? stats : NULL,
                                            nll ? &part : NULL, err, errlen) != 0)
                return -1;
            sum += part;
            scored += e - first;
        }
        prev_end = e;
        if (!nll)
            break; /* the statistics need only the first window */
    }
    if (nll)
        *nll = sum;
    *count = scored;
    return 0;
}

int hs_diagnose_and_perplexity(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                               const hs_diag_thresholds *t, hs_diagnosis *diag,
                               hs_perplexity *ppl,
                               void (*progress)(void *arg, int done, int total),
                               bool (*should_stop)(void *arg), void *arg, char *err,
                               size_t errlen)
{
    return hs_diagnose_and_perplexity_windowed(m, seqs, n_seqs, NULL, t, diag, ppl, progress,
                                               should_stop, arg, err, errlen);
}

int hs_diagnose_and_perplexity_windowed(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                                        const hs_ppl_window *w, const hs_diag_thresholds *t,
                                        hs_diagnosis *diag, hs_perplexity *ppl,
                                        void (*progress)(void *arg, int done, int total),
                                        bool (*should_stop)(void *arg), void *arg, char *err,
                                        size_t errlen)
{
    if (!diag && !ppl)
        return hs_errf(err, errlen, "internal: neither a diagnosis nor a perplexity asked for");
    if (!t)
        t = &hs_diag_default_thresholds;
    if (diag)
        memset(diag, 0, sizeof *diag);
    if (ppl)
        memset(ppl, 0, sizeof *ppl);
    if (n_seqs < 1)
        return hs_errf(err, errlen, "texts: at least one text is needed");
    for (int i = 0; i < n_seqs; i++) {
        if (seqs[i].T < 1)
            return hs_errf(err, errlen, "text %d is empty (no tokens)", i);
        if (ppl && seqs[i].T < 2)
            return hs_errf(err, errlen,
                           "text %d has only %d token: perplexity needs at least 2 (one "
                           "predicted token)",
                           i, seqs[i].T);
    }
    const size_t n_values = (size_t)m->cfg.n_layer * m->cfg.n_head * HS_STAT_COUNT;
    stat_acc acc = {.n_values = n_values};
    double *stats = NULL;
    hs_perplexity part = {.n = n_seqs};
    int rc = 0;
    if (diag) {
        acc.mean = calloc(n_values, sizeof(double));
        acc.m2 = calloc(n_values, sizeof(double));
        stats = malloc(n_values * sizeof(double));
        if (!acc.mean || !acc.m2 || !stats)
            rc = hs_errf(err, errlen, "out of memory for head statistics");
    }
    if (rc == 0 && ppl) {
        part.text_nll = calloc((size_t)n_seqs, sizeof(double));
        part.text_tokens = calloc((size_t)n_seqs, sizeof(int));
        if (!part.text_nll || !part.text_tokens)
            rc = hs_errf(err, errlen, "out of memory for per-text perplexity");
    }
    for (int i = 0; rc == 0 && i < n_seqs; i++) {
        if (should_stop && should_stop(arg)) {
            rc = 1;
            break;
        }
        char ferr[HS_ERR_LEN];
        double nll = 0.0;
        int scored = 0;
        int frc = eval_text(m, &seqs[i], w, diag ? stats : NULL, ppl ? &nll : NULL, &scored,
                            ferr, sizeof ferr);
        if (frc != 0) {
            rc = hs_errf(err, errlen, "text %d: %s", i, ferr);
            break;
        }
        if (diag) {
            for (size_t k = 0; k < n_values; k++)
                if (!isfinite(stats[k])) {
                    rc = hs_errf(err, errlen, "text %d: non-finite attention statistics "
                                              "(layer %zu head %zu); the model's weights "
                                              "overflow",
                                 i, k / HS_STAT_COUNT / m->cfg.n_head,
                                 k / HS_STAT_COUNT % m->cfg.n_head);
                    break;
                }
            if (rc != 0)
                break;
            stat_acc_add(&acc, stats);
        }
        if (ppl) {
            if (!isfinite(nll)) {
                rc = hs_errf(err, errlen, "text %d: the NLL is not finite", i);
                break;
            }
            part.text_nll[i] = nll;
            part.text_tokens[i] = scored;
        }
        if (progress)
            progress(arg, i + 1, n_seqs);
    }
    if (rc == 0 && diag)
        rc = finish_diagnosis(m, &acc, t, diag, err, errlen);
    if (rc == 0 && ppl) {
        finish_perplexity(&part, ppl);
        part.text_nll = NULL;
        part.text_tokens = NULL;
    }
    free(acc.mean);
    free(acc.m2);
    free(stats);
    free(part.text_nll);
    free(part.text_tokens);
    if (rc != 0 && diag)
        hs_diagnosis_free(diag);
    if (rc != 0 && ppl)
        hs_perplexity_free(ppl);
    return rc;
}

int hs_diagnose(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                const hs_diag_thresholds *t, hs_diagnosis *out,
                void (*progress)(void *arg, int done, int total), void *arg, char *err,
                size_t errlen)
{
    return hs_diagnose_and_perplexity(m, seqs, n_seqs, t, out, NULL, progress, NULL, arg, err,
                                      errlen);
}

int hs_perplexity_eval(hs_model *m, const hs_token_seq *seqs, int n_seqs,
                       hs_perplexity *out, void (*progress)(void *arg, int done, int total),
                       void *arg, char *err, size_t errlen)
{
    return hs_diagnose_and_perplexity(m, seqs, n_seqs, NULL, NULL, out, progress, NULL, arg,
                                      err, errlen);
}

/* ---- result JSON --------------------------------------------------------------------- */

static cJSON *head_json(const hs_head_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "layer", r->layer) ||
        !cJSON_AddNumberToObject(o, "head", r->head) ||
        !cJSON_AddNumberToObject(o, "bos_mass", r->bos_mass) ||
        !cJSON_AddNumberToObject(o, "entropy", r->entropy) ||
        !cJSON_AddNumberToObject(o, "local_mass", r->local_mass) ||
        !cJSON_AddNumberToObject(o, "bos_mass_std", r->bos_std) ||
        !cJSON_AddNumberToObject(o, "entropy_std", r->entropy_std) ||
        !cJSON_AddNumberToObject(o, "local_mass_std", r->local_std) ||
        !cJSON_AddStringToObject(o, "class", hs_head_class_name(r->cls)) ||
        (r->cls == HS_HEAD_HEALTHY &&
         !cJSON_AddStringToObject(o, "pattern", r->local_pattern ? "local" : "distributed"))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *hs_diagnosis_to_json(const hs_diagnosis *d, const hs_model *m)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    if (!model || !cJSON_AddNumberToObject(model, "n_layer", m->cfg.n_layer) ||
        !cJSON_AddNumberToObject(model, "n_head", m->cfg.n_head) ||
        !cJSON_AddNumberToObject(model, "hidden_size", m->cfg.hidden_size) ||
        !cJSON_AddNumberToObject(model, "head_dim", m->cfg.head_dim) ||
        !cJSON_AddNumberToObject(model, "vocab_size", m->cfg.vocab_size))
        goto fail;
    cJSON *heads = cJSON_AddArrayToObject(root, "heads");
    if (!heads)
        goto fail;
    for (int i = 0; i < d->n_layer * d->n_head; i++) {
        cJSON *h = head_json(&d->heads[i]);
        if (!h)
            goto fail;
        cJSON_AddItemToArray(heads, h);
    }
    cJSON *summary = cJSON_AddObjectToObject(root, "summary");
    if (!summary || !cJSON_AddNumberToObject(summary, "healthy", d->counts[HS_HEAD_HEALTHY]) ||
        !cJSON_AddNumberToObject(summary, "bos_sink", d->counts[HS_HEAD_BOS_SINK]) ||
        !cJSON_AddNumberToObject(summary, "dead", d->counts[HS_HEAD_DEAD]) ||
        !cJSON_AddNumberToObject(summary, "low_entropy", d->counts[HS_HEAD_LOW_ENTROPY]))
        goto fail;
    cJSON *band = cJSON_CreateIntArray(d->sick_band, d->n_head);
    if (!band)
        goto fail;
    cJSON_AddItemToObject(root, "sick_band", band);
    cJSON *dorm = cJSON_AddArrayToObject(root, "mlp_dormancy");
    if (!dorm)
        goto fail;
    for (int l = 0; l < d->n_layer; l++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            goto fail;
        cJSON_AddItemToArray(dorm, o);
        if (!cJSON_AddNumberToObject(o, "layer", l) ||
            !cJSON_AddNumberToObject(o, "dormant", d->mlp_dormant[l]) ||
            !cJSON_AddNumberToObject(o, "width", d->mlp_width) ||
            !cJSON_AddNumberToObject(o, "fraction",
                                     d->mlp_width ? (double)d->mlp_dormant[l] / d->mlp_width
                                                  : 0.0))
            goto fail;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

cJSON *hs_perplexity_to_json(const hs_perplexity *p)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    if (!cJSON_AddNumberToObject(root, "ppl", p->ppl) ||
        !cJSON_AddNumberToObject(root, "tokens", (double)p->tokens))
        goto fail;
    cJSON *texts = cJSON_AddArrayToObject(root, "texts");
    if (!texts)
        goto fail;
    for (int i = 0; i < p->n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            goto fail;
        cJSON_AddItemToArray(texts, o);
        double text_ppl = p->text_tokens[i] > 0 ? exp(p->text_nll[i] / p->text_tokens[i]) : 0;
        if (!cJSON_AddNumberToObject(o, "index", i) ||
            !cJSON_AddNumberToObject(o, "tokens", p->text_tokens[i]) ||
            !cJSON_AddNumberToObject(o, "nll", p->text_nll[i]) ||
            !cJSON_AddNumberToObject(o, "ppl", text_ppl))
            goto fail;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}
