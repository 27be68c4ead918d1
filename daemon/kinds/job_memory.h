/* The memory shape of each kind's job (engine/model/model_memory.h), read from its spec
 * before the model loads: how many tokens its forward passes take, the KV cache of a
 * generation, the attention maps of an inspection, and a surgery's training batch and target
 * layers. Upper bounds where the exact number needs the model (tokens of a text: at most its
 * bytes + 1; a target rule resolved later: every head in its layer range). */
#ifndef HS_JOB_MEMORY_H
#define HS_JOB_MEMORY_H
#include "engine/model/model_memory.h"
#include <cjson/cJSON.h>
#include <stdbool.h>

/* diagnose / evaluate: one text of max_length tokens (default 512) at a time. */
hs_memory_job hs_job_shape_diag(const cJSON *spec);
/* inspect: the text's tokens (at most max_tokens) with one [H, T, T] probability buffer. */
hs_memory_job hs_job_shape_inspect(const cJSON *spec, int max_tokens);
/* generate: n prompts of at most max_prompt_tokens each, max_new_tokens more, one KV cache. */
hs_memory_job hs_job_shape_generate(const char *const *prompts, int n, int max_prompt_tokens,
                                    int max_new_tokens, bool prepend_bos);
/* surgery: micro-batches of batch_size chunks (× grad_accum on a device that fuses the
 * accumulation group) of max_length tokens; the targets of the spec, against the config of
 * model_dir. 0, or -1 with err when config.json cannot be read or the targets do not parse. */
int hs_job_shape_surgery(const cJSON *spec, const char *model_dir, int batch_size,
                         int grad_accum, int max_length, bool fused_accumulation,
                         hs_memory_job *out, char *err, size_t errlen);

#endif
