/* The masked training pass of surgery (model_train.h): a forward pass that keeps activations
 * only from the lowest target layer `lo` up (layers below run as inference into the input of
 * layer lo), the tied LM head's NLL and its backward, then a backward pass from the top block
 * down to layer lo that computes only what the target slices need:
 *   - frozen layers: activation gradients only (matmuls for dX, layernorm_backward without
 *     dw/db), never a weight gradient;
 *   - target layers: the dense weight gradient of the target heads' columns, the QKV weight and
 *     bias gradients of their 3d rows; attention_backward for all heads (the gradient flows on
 *     down) except at layer lo, where only the target heads are computed and no gradient of
 *     the layer's input is formed.
 * Parameters are only read here; the surgery loop's optimizer writes the slices.
 * Memory classes (one backend allocation each, laid out from tables): saved activations,
 * work buffers (backward gradients, also the scratch of the forward), slice gradients, token
 * ids. Notation: B batch, T tokens, N = B·T rows, C hidden, H heads, d head_dim, L layers. */
#include "model_train.h"
#include "model_arena.h"
#include "model_graph.h"
#include "model_weights.h"
#include "common/errors.h"
#include <stdlib.h>
#include <string.h>

/* Softmax probabilities are kept from the forward for attention_backward while all saved
 * layers' [B, H, T, T] fit in this many bytes; beyond it the backward recomputes them. */
#define HS_TRAIN_PROBS_BUDGET ((size_t)1 << 30)

/* What the backward pass needs of one block l >= lo (NULL where it needs nothing). */
typedef struct train_layer_acts {
    float *x_in;               /* [N, C]  block input (layer lo: also the lower layers' residual) */
    float *ln1_out;            /* [N, C]  input_layernorm output; target layers (QKV weight grad) */
    float *ln1_mean, *ln1_rstd; /* [N]    layers above lo (input_layernorm backward) */
    float *qkv;                /* [N, 3C] query_key_value output, rows [head][q|k|v][d] */
    float *probs;              /* [B, H, T, T] softmax, or NULL (recomputed) */
    float *attn;               /* [N, C]  attention output; target layers (dense column grad) */
    float *x1;                 /* [N, C]  residual after attention */
    float *ln2_mean, *ln2_rstd; /* [N]    post_attention_layernorm statistics */
    float *fc_pre;             /* [N, F]  MLP up projection output before GELU */
} train_layer_acts;

struct hs_model_trainer {
    hs_model *m;
    int max_batch, T;
    int lo;                    /* the lowest target layer */
    int n_targets;
    hs_head_slices *slices;    /* [n_targets], in the order given */
    uint8_t *target_layer;     /* [L] 1 when the layer holds a target head */
    uint8_t *lo_head_mask;     /* [H] host: the target heads of layer lo */

    /* class "saved activations" */
    hs_model_arena saved_arena;
    train_layer_acts *layer;   /* [L] host; entries lo..L−1 laid out */
    float *x_top;              /* [N, C] output of the last block */
    float *lnf_out;            /* [N, C] ln_f output, the LM head's input */
    float *lnf_mean, *lnf_rstd; /* [N] */
    float *lse;                /* [N] logsumexp per row of the LM head */
    float *nll;                /* [N] NLL per row (0 on each sequence's last row) */

    /* class "work": backward gradients; the forward borrows them as scratch (see fwd_scratch) */
    hs_model_arena work_arena;
    float *dx;                 /* [N, C]  ∂L/∂ residual stream */
    float *d_ln;               /* [N, C]  ∂L/∂ a layernorm's output */
    float *d_attn;             /* [N, C]  ∂L/∂ attention output */
    float *dqkv;               /* [N, 3C] ∂L/∂ query_key_value output */
    float *d_fc_act;           /* [N, F]  ∂L/∂ GELU output */
    float *d_fc_pre;           /* [N, F]  ∂L/∂ GELU input */

    /* class "slice gradients": g_qkv_w [3d, C], g_qkv_b [3d], g_dense [C, d] per target */
    hs_model_arena grad_arena;

    /* class "token ids" */
    hs_model_arena token_arena;
    int32_t *ids;              /* [N] */
    int32_t *targets;          /* [N] ids shifted left within each row, −1 on its last token */
    int32_t *host_targets;     /* [N] host staging */
    float *host_nll;           /* [N] host staging */
};

static int lay_out_saved(hs_model_trainer *tr, char *err, size_t errlen)
{
    const hs_model_config *c = &tr->m->cfg;
    const size_t N = (size_t)tr->max_batch * (size_t)tr->T, C = (size_t)c->hidden_size;
    const size_t F = sizeof(float), L = (size_t)c->n_layer, FF = (size_t)c->mlp_hidden;
    const size_t saved_layers = L - (size_t)tr->lo;
    const size_t probs_bytes = (size_t)tr->max_batch * (size_t)c->n_head * (size_t)tr->T *
                               (size_t)tr->T * F;
    const bool keep_probs = probs_bytes * saved_layers <= HS_TRAIN_PROBS_BUDGET;

    enum { ROWS_PER_LAYER = 12, TOP_ROWS = 6 };
    hs_model_arena_row *rows = calloc(saved_layers * ROWS_PER_LAYER + TOP_ROWS, sizeof *rows);
    if (!rows)
        return hs_errf(err, errlen, "trainer: out of memory for the activation table");
    size_t n = 0;
    for (int l = tr->lo; l < c->n_layer; l++) {
        train_layer_acts *a = &tr->layer[l];
        const bool target = tr->target_layer[l], above_lo = l > tr->lo;
        rows[n++] = (hs_model_arena_row){(void **)&a->x_in, N * C * F};
        rows[n++] = (hs_model_arena_row){(void **)&a->ln1_out, target ? N * C * F : 0};
        rows[n++] = (hs_model_arena_row){(void **)&a->ln1_mean, above_lo ? N * F : 0};
        rows[n++] = (hs_model_arena_row){(void **)&a->ln1_rstd, above_lo ? N * F : 0};
        rows[n++] = (hs_model_arena_row){(void **)&a->qkv, N * 3 * C * F};
        rows[n++] = (hs_model_arena_row){(void **)&a->probs, keep_probs ? probs_bytes : 0};
        rows[n++] = (hs_model_arena_row){(void **)&a->attn, target ? N * C * F : 0};
        rows[n++] = (hs_model_arena_row){(void **)&a->x1, N * C * F};
        rows[n++] = (hs_model_arena_row){(void **)&a->ln2_mean, N * F};
        rows[n++] = (hs_model_arena_row){(void **)&a->ln2_rstd, N * F};
        rows[n++] = (hs_model_arena_row){(void **)&a->fc_pre, N * FF * F};
    }
    rows[n++] = (hs_model_arena_row){(void **)&tr->x_top, N * C * F};
    rows[n++] = (hs_model_arena_row){(void **)&tr->lnf_out, N * C * F};
    rows[n++] = (hs_model_arena_row){(void **)&tr->lnf_mean, N * F};
    rows[n++] = (hs_model_arena_row){(void **)&tr->lnf_rstd, N * F};
    rows[n++] = (hs_model_arena_row){(void **)&tr->lse, N * F};
    rows[n++] = (hs_model_arena_row){(void **)&tr->nll, N * F};
    int rc = hs_model_arena_layout(&tr->saved_arena, rows, n, "trainer saved activations", err,
                                   errlen);
    free(rows);
    return rc;
}

static int lay_out_work_grads_tokens(hs_model_trainer *tr, char *err, size_t errlen)
{
    const hs_model_config *c = &tr->m->cfg;
    const size_t N = (size_t)tr->max_batch * (size_t)tr->T, C = (size_t)c->hidden_size;
    const size_t F = sizeof(float), d = (size_t)c->head_dim, FF = (size_t)c->mlp_hidden;
    const hs_model_arena_row work[] = {
        {(void **)&tr->dx, N * C * F},           {(void **)&tr->d_ln, N * C * F},
        {(void **)&tr->d_attn, N * C * F},       {(void **)&tr->dqkv, N * 3 * C * F},
        {(void **)&tr->d_fc_act, N * FF * F}, {(void **)&tr->d_fc_pre, N * FF * F},
    };
    if (hs_model_arena_layout(&tr->work_arena, work, sizeof work / sizeof work[0],
                              "trainer work buffers", err, errlen) != 0)
        return -1;

    hs_model_arena_row *grads = calloc((size_t)tr->n_targets * 3, sizeof *grads);
    if (!grads)
        return hs_errf(err, errlen, "trainer: out of memory for the gradient table");
    for (int i = 0; i < tr->n_targets; i++) {
        hs_head_slices *s = &tr->slices[i];
        grads[3 * i + 0] = (hs_model_arena_row){(void **)&s->g_qkv_w, 3 * d * C * F};
        grads[3 * i + 1] = (hs_model_arena_row){(void **)&s->g_qkv_b, s->qkv_b ? 3 * d * F : 0};
        grads[3 * i + 2] = (hs_model_arena_row){(void **)&s->g_dense, C * d * F};
    }
    int rc = hs_model_arena_layout(&tr->grad_arena, grads, (size_t)tr->n_targets * 3,
                                   "trainer slice gradients", err, errlen);
    free(grads);
    if (rc != 0)
        return -1;

    const hs_model_arena_row tokens[] = {
        {(void **)&tr->ids, N * sizeof(int32_t)},
        {(void **)&tr->targets, N * sizeof(int32_t)},
    };
    if (hs_model_arena_layout(&tr->token_arena, tokens, 2, "trainer token ids", err, errlen) != 0)
        return -1;
    tr->host_targets = malloc(N * sizeof(int32_t));
    tr->host_nll = malloc(N * sizeof(float));
    if (!tr->host_targets || !tr->host_nll)
        return hs_errf(err, errlen, "trainer: out of host memory for %zu targets", N);
    return 0;
}

static int validate_targets(const hs_model *m, const hs_head_target *targets,
                            int n_targets, int max_batch, int T, char *err, size_t errlen)
{
    const int L = m->cfg.n_layer, H = m->cfg.n_head;
    if (!targets || n_targets < 1)
        return hs_errf(err, errlen, "targets: at least one (layer, head) is needed");
    if (max_batch < 1)
        return hs_errf(err, errlen, "batch_size: must be >= 1 (got %d)", max_batch);
    if (T < 2)
        return hs_errf(err, errlen, "max_length: must be >= 2 tokens (got %d)", T);
    for (int i = 0; i < n_targets; i++) {
        if (targets[i].layer < 0 || targets[i].layer >= L)
            return hs_errf(err, errlen, "targets: layer %d is outside the model's %d layers",
                           targets[i].layer, L);
        if (targets[i].head < 0 || targets[i].head >= H)
            return hs_errf(err, errlen, "targets: head %d of layer %d is outside the model's %d heads",
                           targets[i].head, targets[i].layer, H);
        for (int j = 0; j < i; j++)
            if (targets[j].layer == targets[i].layer && targets[j].head == targets[i].head)
                return hs_errf(err, errlen, "targets: layer %d head %d is given twice",
                               targets[i].layer, targets[i].head);
    }
    return 0;
}

hs_model_trainer *hs_model_trainer_new(hs_model *m, const hs_head_target *targets,
                                       int n_targets, int max_batch, int T, char *err,
                                       size_t errlen)
{
    if (validate_targets(m, targets, n_targets, max_batch, T, err, errlen) != 0)
        return NULL;
    const hs_model_config *c = &m->cfg;
    const int C = c->hidden_size, d = c->head_dim;
    hs_model_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) {
        hs_errf(err, errlen, "trainer: out of memory");
        return NULL;
    }
    tr->m = m;
    tr->max_batch = max_batch;
    tr->T = T;
    tr->n_targets = n_targets;
    hs_model_arena init = {.be = m->be, .bctx = m->bctx};
    tr->saved_arena = tr->work_arena = tr->grad_arena = tr->token_arena = init;
    tr->slices = calloc((size_t)n_targets, sizeof *tr->slices);
    tr->target_layer = calloc((size_t)c->n_layer, 1);
    tr->lo_head_mask = calloc((size_t)c->n_head, 1);
    tr->layer = calloc((size_t)c->n_layer, sizeof *tr->layer);
    if (!tr->slices || !tr->target_layer || !tr->lo_head_mask || !tr->layer) {
        hs_errf(err, errlen, "trainer: out of memory");
        goto fail;
    }
    tr->lo = c->n_layer;
    for (int i = 0; i < n_targets; i++) {
        tr->target_layer[targets[i].layer] = 1;
        if (targets[i].layer < tr->lo)
            tr->lo = targets[i].layer;
    }
    for (int i = 0; i < n_targets; i++) {
        /* the slices below point into the layer's own fp32 QKV and dense weights */
        if (hs_model_make_trainable(m, targets[i].layer, err, errlen) != 0)
            goto fail;
        const hs_layer_params *lp = &m->p.layers[targets[i].layer];
        const size_t h = (size_t)targets[i].head;
        hs_head_slices *s = &tr->slices[i];
        s->layer = targets[i].layer;
        s->head = targets[i].head;
        s->qkv_w = lp->qkv_w + h * 3 * (size_t)d * (size_t)C;
        s->qkv_b = lp->qkv_b ? lp->qkv_b + h * 3 * (size_t)d : NULL; /* NULL: no QKV bias */
        s->dense_w = lp->dense_w + h * (size_t)d;
        if (targets[i].layer == tr->lo)
            tr->lo_head_mask[h] = 1;
    }
    if (lay_out_saved(tr, err, errlen) != 0 || lay_out_work_grads_tokens(tr, err, errlen) != 0)
        goto fail;
    if (hs_model_arena_zero(&tr->grad_arena, "trainer slice gradients", err, errlen) != 0)
        goto fail;
    return tr;
fail:
    hs_model_trainer_free(tr);
    return NULL;
}

void hs_model_trainer_free(hs_model_trainer *tr)
{
    if (!tr)
        return;
    hs_model_arena_release(&tr->saved_arena);
    hs_model_arena_release(&tr->work_arena);
    hs_model_arena_release(&tr->grad_arena);
    hs_model_arena_release(&tr->token_arena);
    free(tr->host_targets);
    free(tr->host_nll);
    free(tr->layer);
    free(tr->lo_head_mask);
    free(tr->target_layer);
    free(tr->slices);
    free(tr);
}

hs_head_slices *hs_model_trainer_slices(hs_model_trainer *tr, int *n_slices)
{
    if (n_slices)
        *n_slices = tr->n_targets;
    return tr->slices;
}

int hs_model_trainer_zero_grad(hs_model_trainer *tr)
{
    char err[HS_ERR_LEN];
    return hs_model_arena_zero(&tr->grad_arena, "trainer slice gradients", err, sizeof err);
}

/* Block l >= lo through the shared block forward, keeping what its backward needs; the work
 * buffers serve as scratch (forward and backward never overlap). Writes its output to the
 * next block's x_in (or x_top). */
static int saved_block_forward(hs_model_trainer *tr, int l, int B, char *err, size_t errlen)
{
    hs_model *m = tr->m;
    train_layer_acts *a = &tr->layer[l];
    float *out = l + 1 < m->cfg.n_layer ? tr->layer[l + 1].x_in : tr->x_top;
    const hs_block_buffers buf = {
        .ln1 = a->ln1_out ? a->ln1_out : tr->d_ln,
        .ln1_mean = a->ln1_mean, .ln1_rstd = a->ln1_rstd,
        .qkv = a->qkv, .probs = a->probs,
        .attn = a->attn ? a->attn : tr->d_attn,
        .proj = tr->dx, .x1 = a->x1,
        .ln2 = tr->d_ln, .ln2_mean = a->ln2_mean, .ln2_rstd = a->ln2_rstd,
        .fc_pre = a->fc_pre, .fc_act = tr->d_fc_act,
    };
    return hs_model_block_forward(m, l, a->x_in, out, &buf, B, tr->T, NULL, false, err, errlen);
}

/* Embedding, inference blocks below lo, saved blocks lo..L−1, ln_f and the LM head NLL. */
static int train_forward(hs_model_trainer *tr, int B, char *err, size_t errlen)
{
    hs_model *m = tr->m;
    const hs_model_config *c = &m->cfg;
    const int N = B * tr->T, C = c->hidden_size;
    float *x = tr->layer[tr->lo].x_in;
    /* below lo: inference in place on x, the work buffers as scratch */
    const hs_block_buffers below = {.ln1 = tr->d_ln, .qkv = tr->dqkv, .attn = tr->d_attn,
                                    .proj = tr->dx, .x1 = x, .ln2 = tr->d_ln,
                                    .fc_pre = tr->d_fc_act, .fc_act = tr->d_fc_act};
    if (hs_model_embed(m, x, tr->d_ln, tr->ids, N, err, errlen) != 0)
        return -1;
    for (int l = 0; l < tr->lo; l++)
        if (hs_model_block_forward(m, l, x, x, &below, B, tr->T, NULL, false, err, errlen) != 0)
            return -1;
    for (int l = tr->lo; l < c->n_layer; l++)
        if (saved_block_forward(tr, l, B, err, errlen) != 0)
            return -1;
    if (m->be->layernorm(m->bctx, tr->lnf_out, tr->lnf_mean, tr->lnf_rstd, tr->x_top, m->p.lnf_w,
                         m->p.lnf_b, N, C, (float)c->layer_norm_epsilon) != 0)
        return hs_model_op_error(m, -1, "final layernorm", err, errlen);
    if (hs_model_prepare_embeddings(m, err, errlen) != 0) /* the backward reads them too */
        return -1;
    if (m->be->lm_head_nll(m->bctx, tr->nll, tr->lse, tr->lnf_out, hs_model_wte(m), tr->targets, N, C,
                           c->vocab_size) != 0)
        return hs_model_op_error(m, -1, "LM head NLL", err, errlen);
    return 0;
}

/* The target heads' weight gradients of layer l: dense columns from dx (= ∂L/∂x1, the dense
 * output's gradient) and the saved attention output. */
static int dense_column_grads(hs_model_trainer *tr, int l, int N, char *err, size_t errlen)
{
    hs_model *m = tr->m;
    const int C = m->cfg.hidden_size, d = m->cfg.head_dim;
    const train_layer_acts *a = &tr->layer[l];
    for (int i = 0; i < tr->n_targets; i++) {
        hs_head_slices *s = &tr->slices[i];
        if (s->layer != l)
            continue;
        /* g_dense[C, d] += dxᵀ[C, N] · attn[:, head·d .. +d][N, d] */
        if (m->be->matmul(m->bctx, s->g_dense, tr->dx, a->attn + (size_t)s->head * d, NULL, C, d,
                          N, true, false, C, C, d, 1.0f, 1.0f) != 0)
            return hs_model_op_error(m, l, "dense column gradient", err, errlen);
    }
    return 0;
}

/* The target heads' query_key_value row gradients of layer l from dqkv and the saved
 * input_layernorm output. */
static int qkv_row_grads(hs_model_trainer *tr, int l, int N, char *err, size_t errlen)
{
    hs_model *m = tr->m;
    const int C = m->cfg.hidden_size, d3 = 3 * m->cfg.head_dim;
    const train_layer_acts *a = &tr->layer[l];
    for (int i = 0; i < tr->n_targets; i++) {
        hs_head_slices *s = &tr->slices[i];
        if (s->layer != l)
            continue;
        const float *dq = tr->dqkv + (size_t)s->head * d3;
        /* g_qkv_w[3d, C] += dqkv[:, head rows]ᵀ[3d, N] · ln1_out[N, C] */
        if (m->be->matmul(m->bctx, s->g_qkv_w, dq, a->ln1_out, NULL, d3, C, N, true, false,
                          3 * C, C, C, 1.0f, 1.0f) != 0)
            return hs_model_op_error(m, l, "QKV row gradient", err, errlen);
        if (s->g_qkv_b && m->be->bias_backward(m->bctx, s->g_qkv_b, dq, N, d3, 3 * C) != 0)
            return hs_model_op_error(m, l, "QKV bias gradient", err, errlen);
    }
    return 0;
}

/* Block l's backward: on entry dx = ∂L/∂(block output); on exit (l > lo) dx = ∂L/∂x_in. */
static int block_backward(hs_model_trainer *tr, int l, int B, char *err, size_t errlen)
{
    hs_model *m = tr->m;
    const hs_backend *be = m->be;
    hs_backend_ctx *ctx = m->bctx;
    const hs_layer_params *lp = hs_model_layer(m, l, err, errlen);
    if (!lp)
        return -1;
    const hs_model_config *c = &m->cfg;
    const int C = c->hidden_size, F = c->mlp_hidden, N = B * tr->T;
    const train_layer_acts *a = &tr->layer[l];

    /* MLP: out = x1 + proj(gelu(fc(ln2(x1)))); weights frozen, activation gradients only. */
    if (be->matmul(ctx, tr->d_fc_act, tr->dx, lp->proj_w, NULL, N, F, C, false, false, C, F, F,
                   1.0f, 0.0f) != 0)
        return hs_model_op_error(m, l, "MLP down projection backward", err, errlen);
    if (be->gelu_backward(ctx, tr->d_fc_pre, a->fc_pre, tr->d_fc_act, (size_t)N * F,
                          c->family->gelu) != 0)
        return hs_model_op_error(m, l, "gelu backward", err, errlen);
    if (be->matmul(ctx, tr->d_ln, tr->d_fc_pre, lp->fc_w, NULL, N, C, F, false, false, F, C, C,
                   1.0f, 0.0f) != 0)
        return hs_model_op_error(m, l, "MLP up projection backward", err, errlen);
    if (be->layernorm_backward(ctx, tr->dx, NULL, NULL, tr->d_ln, a->x1, a->ln2_mean,
                               a->ln2_rstd, lp->ln2_w, N, C) != 0)
        return hs_model_op_error(m, l, "MLP layernorm backward", err, errlen);

    /* Attention: x1 = x_in + dense(attn(qkv(ln1(x_in)))); dx is now ∂L/∂x1. */
    if (tr->target_layer[l] && dense_column_grads(tr, l, N, err, errlen) != 0)
        return -1;
    if (be->matmul(ctx, tr->d_attn, tr->dx, lp->dense_w, NULL, N, C, C, false, false, C, C, C,
                   1.0f, 0.0f) != 0)
        return hs_model_op_error(m, l, "attention output projection backward", err, errlen);
    const uint8_t *mask = l == tr->lo ? tr->lo_head_mask : NULL;
    if (be->attention_backward(ctx, tr->dqkv, tr->d_attn, a->qkv, a->probs, m->slopes, mask, B,
                               tr->T, c->n_head, c->head_dim) != 0)
        return hs_model_op_error(m, l, "attention backward", err, errlen);
    if (tr->target_layer[l] && qkv_row_grads(tr, l, N, err, errlen) != 0)
        return -1;
    if (l == tr->lo)
        return 0; /* nothing below the lowest target layer needs a gradient */
    if (be->matmul(ctx, tr->d_ln, tr->dqkv, lp->qkv_w, NULL, N, C, 3 * C, false, false, 3 * C, C,
                   C, 1.0f, 0.0f) != 0)
        return hs_model_op_error(m, l, "QKV projection backward", err, errlen);
    if (be->layernorm_backward(ctx, tr->dx, NULL, NULL, tr->d_ln, a->x_in, a->ln1_mean,
                               a->ln1_rstd, lp->ln1_w, N, C) != 0)
        return hs_model_op_error(m, l, "attention layernorm backward", err, errlen);
    return 0;
}

static int train_backward(hs_model_trainer *tr, int B, float loss_scale, char *err,
                          size_t errlen)
{
    hs_model *m = tr->m;
    const hs_model_config *c = &m->cfg;
    const int C = c->hidden_size, N = B * tr->T;
    const float scale = loss_scale / (float)((double)B * (tr->T - 1));
    /* d_ln = ∂(scale·Σ nll)/∂ ln_f output */
    if (m->be->lm_head_nll_backward(m->bctx, tr->d_ln, tr->lnf_out, hs_model_wte(m), tr->targets, tr->lse,
                                    scale, N, C, c->vocab_size) != 0)
        return hs_model_op_error(m, -1, "LM head NLL backward", err, errlen);
    if (m->be->fill_zero(m->bctx, tr->dx, (size_t)N * C * sizeof(float)) != 0)
        return hs_model_op_error(m, -1, "zeroing the residual gradient", err, errlen);
    if (m->be->layernorm_backward(m->bctx, tr->dx, NULL, NULL, tr->d_ln, tr->x_top, tr->lnf_mean,
                                  tr->lnf_rstd, m->p.lnf_w, N, C) != 0)
        return hs_model_op_error(m, -1, "final layernorm backward", err, errlen);
    for (int l = c->n_layer - 1; l >= tr->lo; l--)
        if (block_backward(tr, l, B, err, errlen) != 0)
            return -1;
    return 0;
}

int hs_model_trainer_step(hs_model_trainer *tr, const int32_t *ids, int B, float loss_scale,
                          double *loss, char *err, size_t errlen)
{
    hs_model *m = tr->m;
    const int T = tr->T;
    if (!ids || B < 1 || B > tr->max_batch)
        return hs_errf(err, errlen, "trainer step: batch of %d sequences (1..%d allowed)", B,
                       tr->max_batch);
    const size_t N = (size_t)B * (size_t)T;
    if (hs_model_check_ids(m, ids, N, err, errlen) != 0)
        return -1;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t + 1 < T; t++)
            tr->host_targets[(size_t)b * T + t] = ids[(size_t)b * T + t + 1];
        tr->host_targets[(size_t)b * T + T - 1] = -1;
    }
    if (m->be->upload(m->bctx, tr->ids, ids, N * sizeof(int32_t)) != 0 ||
        m->be->upload(m->bctx, tr->targets, tr->host_targets, N * sizeof(int32_t)) != 0)
        return hs_model_op_error(m, -1, "uploading token ids", err, errlen);
    if (train_forward(tr, B, err, errlen) != 0)
        return -1;
    if (m->be->download(m->bctx, tr->host_nll, tr->nll, N * sizeof(float)) != 0)
        return hs_model_op_error(m, -1, "downloading the NLL", err, errlen);
    double sum = 0.0;
    for (size_t i = 0; i < N; i++)
        sum += tr->host_nll[i];
    if (loss)
        *loss = sum / ((double)B * (T - 1));
    return train_backward(tr, B, loss_scale, err, errlen);
}
