/* Uploaded corpora: files under <data-dir>/corpora/ (data_dir.h), addressed by content as
 * well: each content is kept once under corpus-blobs/<sha256> and the upload's name is a hard
 * link to it, both written atomically (temporary file, fsync, rename, directory fsync) so a
 * reader sees the old text or the new one, never a part. Re-uploading a name with other
 * content needs replace; the content a job started on stays under its SHA-256 for that job
 * ("upload:<name>@<sha256>", model_alias.h's twin for corpora: hs_job_resolve_corpus).
 * Listed as {name: "upload:<name>", bytes}. */
#ifndef HS_UPLOADS_H
#define HS_UPLOADS_H
#include "common/sha256_file.h"
#include "store.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_UPLOAD_NAME_MAX 128

typedef enum hs_upload_status {
    HS_UPLOAD_CREATED,  /* a new name */
    HS_UPLOAD_SAME,     /* the name already had this content: nothing changed */
    HS_UPLOAD_REPLACED, /* other content, replace asked for */
    HS_UPLOAD_CONFLICT, /* other content, no replace: nothing changed */
} hs_upload_status;

/* 1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.'. */
bool hs_upload_name_valid(const char *name);
/* Stores len bytes of data as upload `name`; sha256 receives the content's digest (on a
 * conflict: the stored content's). 0 with *status, or -1 with err. */
int hs_upload_store(const char *data_dir, const char *name, const void *data, size_t len,
                    bool replace, hs_upload_status *status, char sha256[HS_SHA256_HEX],
                    char *err, size_t errlen);
/* The current content of upload name as a blob (made when an older upload has none): its
 * digest into sha256. 0, or -1 with err. */
int hs_upload_pin(const char *data_dir, const char *name, char sha256[HS_SHA256_HEX], char *err,
                  size_t errlen);
/* At a job's start: "upload:<name>" becomes "upload:<name>@<sha256>" of the content now (or
 * the one an earlier attempt recorded as corpus_resolved); other corpora stay as they are.
 * 0 with out, or -1 with err. */
int hs_job_resolve_corpus(hs_store *store, const char *data_dir, int64_t job_id,
                          const char *corpus, char *out, size_t outlen, char *err,
                          size_t errlen);
/* Every upload, sorted by name, as an array of {name, bytes}; an empty array when there are
 * none. 0, or -1 with err. */
int hs_uploads_list_json(const char *data_dir, cJSON **out, char *err, size_t errlen);

/* Removes the temporary files interrupted uploads (a crash, a kill) left in the uploads
 * directory; *removed counts them. Run at start-up, before uploads are accepted. */
int hs_uploads_sweep_temp(const char *data_dir, int *removed, char *err, size_t errlen);

#endif
