/* A run's metadata fields, common to every job spec and changed later by PATCH /runs/{id}:
 * "name" (1-128 characters), "tags" (at most 32, each 1-64 of [A-Za-z0-9._:-], no repeats)
 * and "notes" (at most 64 KiB of UTF-8). */
#ifndef HS_SPEC_META_H
#define HS_SPEC_META_H
#include "kinds.h"
#include <stdbool.h>

#define HS_RUN_NAME_MAX 128
#define HS_RUN_TAGS_MAX 32
#define HS_RUN_TAG_MAX 64
#define HS_RUN_NOTES_MAX (64 * 1024)

/* Whether name is one of the metadata fields. */
bool hs_spec_is_meta_field(const char *name);
/* Checks the metadata fields present in obj (others are ignored); allow_null: null is
 * accepted (PATCH's "clear"). 0, or -1 with e naming the field. */
int hs_spec_meta_check(const cJSON *obj, bool allow_null, hs_spec_error *e);
/* Whether tag is 1-64 characters of [A-Za-z0-9._:-]. */
bool hs_run_tag_valid(const char *tag);

#endif
