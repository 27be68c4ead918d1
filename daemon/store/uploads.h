/* Uploaded corpora: files under <data-dir>/corpora/ (data_dir.h), each stored atomically
 * (temporary file, fsync, rename, directory fsync) so a reader sees the old text or the new one,
 * never a part; listed as {name: "upload:<name>", bytes}. Specs name them "upload:<name>"
 * (paths.c resolves that). */
#ifndef HS_UPLOADS_H
#define HS_UPLOADS_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define HS_UPLOAD_NAME_MAX 128

/* 1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.'. */
bool hs_upload_name_valid(const char *name);
/* Stores len bytes of data as upload `name` (replacing an earlier one). 0, or -1 with err. */
int hs_upload_store(const char *data_dir, const char *name, const void *data, size_t len,
                    char *err, size_t errlen);
/* Every upload, sorted by name, as an array of {name, bytes}; an empty array when there are
 * none. 0, or -1 with err. */
int hs_uploads_list_json(const char *data_dir, cJSON **out, char *err, size_t errlen);

/* Removes the temporary files interrupted uploads (a crash, a kill) left in the uploads
 * directory; *removed counts them. Run at start-up, before uploads are accepted. */
int hs_uploads_sweep_temp(const char *data_dir, int *removed, char *err, size_t errlen);

#endif
