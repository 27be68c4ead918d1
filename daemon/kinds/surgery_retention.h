/* Checkpoint retention of a surgery (spec field keep_checkpoints): "all" (the default) keeps
 * every checkpoint; "best_and_final" keeps the best one and the newest (the final one when the
 * pass ends); an integer N >= 1 keeps the newest N and the best. A checkpoint that falls out
 * goes at once (row, then files). The newest always stays while training, so a requeued job
 * can resume from it. Applied within each pass (a second pass keeps pass 1's survivors). */
#ifndef HS_SURGERY_RETENTION_H
#define HS_SURGERY_RETENTION_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { HS_KEEP_ALL, HS_KEEP_BEST_AND_FINAL, HS_KEEP_LAST_N } hs_keep_mode;

typedef struct hs_retention {
    hs_keep_mode mode;
    int last_n; /* HS_KEEP_LAST_N */
} hs_retention;

/* value is the spec's keep_checkpoints (NULL: "all"). 0, or -1 with why. */
int hs_retention_parse(const cJSON *value, hs_retention *out, char *why, size_t whylen);
/* Whether the checkpoint at index (0 = oldest) of n, best or not, is kept. */
bool hs_retention_keeps(const hs_retention *r, int index, int n, bool best);

#endif
