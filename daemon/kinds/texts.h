/* The texts a job spec names, as every text-taking job kind reads them: either a string array
 * field given inline, or a file field naming a corpus file (under --corpus-root or
 * upload:<name>) holding one text per non-empty line, trailing \r\n stripped. Used by the
 * diagnose/evaluate inputs (texts / text_file) and the surgery's eval texts (eval_texts /
 * eval_file). */
#ifndef HS_JOB_TEXTS_H
#define HS_JOB_TEXTS_H
#include "kinds.h"
#include <stddef.h>

/* *texts = malloc'd copies of the texts of spec's array_field when it is present, else of the
 * lines of the file named by file_field; *n their count (0 for an empty array; a file without
 * a text is an error). 0, or -1 with a reason naming the field, item or file at fault. Free
 * with hs_job_texts_free. */
int hs_job_texts_load(const cJSON *spec, const hs_kind_env *env, const char *array_field,
                      const char *file_field, char ***texts, int *n, char *err, size_t errlen);
void hs_job_texts_free(char **texts, int n);

/* Submit-time refusals of texts with nothing to read: 0 when every string of spec's array
 * field (when present) and the file named by its file field (when present, resolved under
 * env) has a non-whitespace character; else -1 with e naming the field ("<field>[i]" for an
 * array item). */
/* array_field or file_field may be NULL. */
int hs_job_texts_check_blank(const cJSON *spec, const hs_kind_env *env, const char *array_field,
                             const char *file_field, hs_spec_error *e);

#endif
