/* MLP dormancy per layer from the weights (mlp_dormancy.h). Owns nothing else: the diagnosis
 * calls it once per job. Norms are accumulated in double. */
#include "mlp_dormancy.h"
#include "common/errors.h"
#include <math.h>
#include <stdlib.h>

int hs_mlp_dormancy(hs_model *m, double threshold, int *dormant, char *err,
                    size_t errlen)
{
    const size_t C = (size_t)m->cfg.hidden_size, W = (size_t)m->cfg.mlp_hidden;
    float *fc = malloc(W * C * sizeof(float));   /* [F, C] MLP up projection */
    float *proj = malloc(C * W * sizeof(float)); /* [C, F] MLP down projection */
    double *col_sq = malloc(W * sizeof(double)); /* [F] squared column norms of proj */
    if (!fc || !proj || !col_sq) {
        free(fc);
        free(proj);
        free(col_sq);
        return hs_errf(err, errlen, "model %s: out of memory for the MLP dormancy check",
                       m->path);
    }
    int rc = 0;
    for (int l = 0; l < m->cfg.n_layer && rc == 0; l++) {
        const hs_layer_params *lp = hs_model_layer(m, l, err, errlen);
        if (!lp) {
            rc = -1;
            break;
        }
        if (m->be->download(m->bctx, fc, lp->fc_w, W * C * sizeof(float)) != 0 ||
            m->be->download(m->bctx, proj, lp->proj_w, C * W * sizeof(float)) != 0) {
            rc = hs_errf(err, errlen, "model %s: downloading layer %d's MLP weights: %s", m->path, l,
                         m->be->last_error(m->bctx));
            break;
        }
        for (size_t i = 0; i < W; i++)
            col_sq[i] = 0.0;
        for (size_t r = 0; r < C; r++)
            for (size_t i = 0; i < W; i++)
                col_sq[i] += (double)proj[r * W + i] * proj[r * W + i];
        int count = 0;
        for (size_t i = 0; i < W; i++) {
            double row_sq = 0.0;
            for (size_t c = 0; c < C; c++)
                row_sq += (double)fc[i * C + c] * fc[i * C + c];
            if (sqrt(row_sq) * sqrt(col_sq[i]) < threshold)
                count++;
        }
        dormant[l] = count;
    }
    free(fc);
    free(proj);
    free(col_sq);
    return rc;
}
