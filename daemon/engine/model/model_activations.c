/* The inference forward pass's activation classes (model_activations.h): tables of the
 * buffers each class holds for N rows, laid out through model_arena. */
#include "model_activations.h"
#include "common/errors.h"
#include <stdlib.h>

static hs_model_fwd_acts *acts_of(hs_model *m, char *err, size_t errlen)
{
    if (m->fwd)
        return m->fwd;
    hs_model_fwd_acts *a = calloc(1, sizeof *a);
    if (!a) {
        hs_errf(err, errlen, "model %s: out of memory for the activation table", m->path);
        return NULL;
    }
    hs_model_arena init = {.be = m->be, .bctx = m->bctx};
    a->act_arena = init;
    a->token_arena = init;
    a->logit_arena = init;
    m->fwd = a;
    return a;
}

int hs_model_fwd_acts_prepare(hs_model *m, int N, char *err, size_t errlen)
{
    hs_model_fwd_acts *a = acts_of(m, err, errlen);
    if (!a)
        return -1;
    if (a->N == N && a->x)
        return 0;
    const size_t n = (size_t)N, C = (size_t)m->cfg.hidden_size, F = sizeof(float);
    const size_t stats = (size_t)m->cfg.n_layer * (size_t)m->cfg.n_head * HS_STAT_COUNT;
    const hs_model_arena_row act_rows[] = {
        {(void **)&a->x, n * C * F},        {(void **)&a->ln, n * C * F},
        {(void **)&a->qkv, n * 3 * C * F},  {(void **)&a->attn, n * C * F},
        {(void **)&a->proj, n * C * F},     
        {(void **)&a->fc, n * (size_t)m->cfg.mlp_hidden * F},
        {(void **)&a->stats, stats * F},    {(void **)&a->nll, n * F},
    };
    const hs_model_arena_row token_rows[] = {
        {(void **)&a->ids, n * sizeof(int32_t)},
        {(void **)&a->targets, n * sizeof(int32_t)},
    };
    a->N = 0;
    if (hs_model_arena_layout(&a->act_arena, act_rows, sizeof act_rows / sizeof act_rows[0],
                              "forward activations", err, errlen) != 0 ||
        hs_model_arena_layout(&a->token_arena, token_rows,
                              sizeof token_rows / sizeof token_rows[0], "token ids", err,
                              errlen) != 0)
        return -1;
    a->N = N;
    return 0;
}

int hs_model_fwd_acts_logits(hs_model *m, int N, char *err, size_t errlen)
{
    hs_model_fwd_acts *a = acts_of(m, err, errlen);
    if (!a)
        return -1;
    const hs_model_arena_row rows[] = {
        {(void **)&a->logits, (size_t)N * (size_t)m->cfg.vocab_size * sizeof(float)},
    };
    return hs_model_arena_layout(&a->logit_arena, rows, 1, "logits", err, errlen);
}

void hs_model_fwd_acts_free(hs_model *m)
{
    if (!m || !m->fwd)
        return;
    hs_model_arena_release(&m->fwd->act_arena);
    hs_model_arena_release(&m->fwd->token_arena);
    hs_model_arena_release(&m->fwd->logit_arena);
    free(m->fwd);
    m->fwd = NULL;
}
