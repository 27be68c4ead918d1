/* hs_worker_ctx_ops: the runner API of queued jobs, backed by SQLite and the job's log file
 * (worker_context.h). */
#include "worker_context.h"
#include "common/clock.h"
#include "common/errors.h"
#include "store/data_dir.h"
#include "store/job_store.h"
#include "store/runs_store.h"
#include <stdlib.h>
#include <string.h>

#define PROGRESS_INTERVAL_MS 200

static hs_worker_job_state *state_of(hs_job_ctx *ctx) { return ctx->impl; }

static void note_storage_error(hs_worker_job_state *s, const char *err)
{
    if (!s->storage_failed) {
        s->storage_failed = true;
        snprintf(s->storage_error, sizeof s->storage_error, "%s", err);
    }
}

static bool ctx_should_stop(hs_job_ctx *ctx)
{
    hs_worker_job_state *s = state_of(ctx);
    return s->stop_requested && s->stop_requested(s->stop_arg);
}

static void write_progress(hs_job_ctx *ctx)
{
    hs_worker_job_state *s = state_of(ctx);
    char err[HS_ERR_LEN];
    if (hs_job_set_progress(s->store, ctx->job_id, s->pending_step, s->pending_total,
                            s->pending_message, err, sizeof err) != 0)
        note_storage_error(s, err);
    s->progress_pending = false;
    s->last_progress_ms = hs_now_ms();
}

static void ctx_progress(hs_job_ctx *ctx, int64_t step, int64_t total, const char *message)
{
    hs_worker_job_state *s = state_of(ctx);
    s->pending_step = step;
    s->pending_total = total;
    snprintf(s->pending_message, sizeof s->pending_message, "%s", message ? message : "");
    s->progress_pending = true;
    if (hs_now_ms() - s->last_progress_ms >= PROGRESS_INTERVAL_MS || (total > 0 && step >= total))
        write_progress(ctx);
}

void hs_worker_ctx_flush_progress(hs_job_ctx *ctx)
{
    if (state_of(ctx)->progress_pending)
        write_progress(ctx);
}

/* Log lines show paths relative to their roots, as every API answer does. */
static void ctx_log_line(hs_job_ctx *ctx, const char *line)
{
    hs_roots roots = {.model_root = ctx->model_root, .corpus_root = ctx->corpus_root,
                      .data_dir = ctx->data_dir};
    char *shown = hs_roots_relative_text(&roots, line);
    hs_job_log_append(state_of(ctx)->log, shown ? shown : line);
    free(shown);
}

static int ctx_add_curve_point(hs_job_ctx *ctx, int64_t step, double epoch, const char *name,
                               double value)
{
    hs_worker_job_state *s = state_of(ctx);
    char err[HS_ERR_LEN];
    if (hs_runs_add_curve_point(s->store, ctx->job_id, step, epoch, name, value, err,
                                sizeof err) != 0) {
        note_storage_error(s, err);
        return -1;
    }
    return 0;
}

static int ctx_store_head_stats(hs_job_ctx *ctx, const char *checkpoint,
                                const hs_head_stat_row *rows, int n_rows)
{
    hs_worker_job_state *s = state_of(ctx);
    char err[HS_ERR_LEN];
    if (hs_runs_store_head_stats(s->store, ctx->job_id, checkpoint, rows, n_rows, err,
                                 sizeof err) != 0) {
        note_storage_error(s, err);
        return -1;
    }
    return 0;
}

static int ctx_store_checkpoint(hs_job_ctx *ctx, const hs_checkpoint_row *row)
{
    hs_worker_job_state *s = state_of(ctx);
    char err[HS_ERR_LEN];
    if (hs_runs_store_checkpoint(s->store, ctx->job_id, row, err, sizeof err) != 0) {
        note_storage_error(s, err);
        return -1;
    }
    return 0;
}

static int ctx_store_result(hs_job_ctx *ctx, const cJSON *result)
{
    hs_worker_job_state *s = state_of(ctx);
    char *text = cJSON_PrintUnformatted(result);
    if (!text) {
        note_storage_error(s, "out of memory serialising the result");
        return -1;
    }
    free(s->result_json);
    s->result_json = text;
    return 0;
}

static cJSON *ctx_load_diagnosis(hs_job_ctx *ctx, int64_t run_id, char *err, size_t errlen)
{
    hs_worker_job_state *s = state_of(ctx);
    hs_db *db = hs_store_reader(s->store, err, errlen);
    return db ? hs_runs_load_diagnosis(db, run_id, err, errlen) : NULL;
}

const hs_job_ctx_ops hs_worker_ctx_ops = {
    .should_stop = ctx_should_stop,
    .progress = ctx_progress,
    .log_line = ctx_log_line,
    .add_curve_point = ctx_add_curve_point,
    .store_head_stats = ctx_store_head_stats,
    .store_checkpoint = ctx_store_checkpoint,
    .store_result = ctx_store_result,
    .load_diagnosis = ctx_load_diagnosis,
};
