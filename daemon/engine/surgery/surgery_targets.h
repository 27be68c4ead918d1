/* Surgery targets from a job spec: the explicit form {"5": [14, 15], "6": [9]} or the rule
 * form {"from_run": 12, "classes": ["bos-sink", "dead"], "layers": "5-22", "heads": "9-15"}
 * resolved against a stored diagnosis. Parsing checks indices against the model's layer and
 * head counts; every error names the offending field ("targets.5", "targets.layers", ...).
 * Targets come out sorted by (layer, head) without duplicates. */
#ifndef HS_SURGERY_TARGETS_H
#define HS_SURGERY_TARGETS_H
#include "engine/model/model_train.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct hs_target_rule {
    int64_t from_run;
    unsigned class_mask;        /* bit per hs_head_class */
    int layer_lo, layer_hi;     /* inclusive */
    int head_lo, head_hi;       /* inclusive */
} hs_target_rule;

/* True when `targets` is the rule form (has "from_run"). */
bool hs_targets_is_rule(const cJSON *targets);
/* Explicit form → malloc'd sorted targets. field receives the offending field on error. */
int hs_targets_parse_explicit(const cJSON *targets, int n_layer, int n_head,
                              hs_head_target **out, int *n_out, char *field, size_t fieldlen,
                              char *err, size_t errlen);
/* Rule form → rule (classes default to bos-sink and dead, layers/heads to everything). */
int hs_targets_parse_rule(const cJSON *targets, int n_layer, int n_head, hs_target_rule *rule,
                          char *field, size_t fieldlen, char *err, size_t errlen);
/* Applies the rule to a diagnosis's head rows (cJSON array of {layer, head, class, ...}). */
int hs_targets_from_diagnosis(const hs_target_rule *rule, const cJSON *heads,
                              hs_head_target **out, int *n_out, char *err, size_t errlen);
/* {"5": [14, 15], ...} */
cJSON *hs_targets_to_json(const hs_head_target *t, int n);
/* "5-22", "5" or a JSON integer → inclusive range within [0, limit). */
int hs_parse_index_range(const cJSON *v, int limit, int *lo, int *hi, char *err, size_t errlen);

#endif
