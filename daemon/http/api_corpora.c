/* Uploaded corpora: POST /api/v1/corpora?name=NAME[&replace=true] stores the raw body as
 * upload NAME (201 new, 200 when NAME already has this content, 409 for other content
 * unless replace=true; the answer carries the content's sha256); GET lists them
 * (store/uploads.h keeps the files). They are used in specs as "upload:NAME". */
#include "api.h"
#include "common/errors.h"
#include "store/uploads.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>

void hs_api_corpora_upload(hs_req *req, hs_resp *resp)
{
    const char *name = hs_req_query(req, "name");
    if (!name)
        return hs_resp_error(resp, 400, "invalid query parameter", "name",
                             "the query parameter name is required (POST /api/v1/corpora?name=NAME)");
    if (!hs_upload_name_valid(name))
        return hs_resp_error(resp, 400, "invalid query parameter", "name",
                             "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not start with '.'");
    const char *replace = hs_req_query(req, "replace");
    if (replace && strcmp(replace, "true") != 0 && strcmp(replace, "false") != 0)
        return hs_resp_error(resp, 400, "invalid query parameter", "replace",
                             "replace must be true or false");
    size_t i = 0;
    while (i < req->body_len && isspace((unsigned char)req->body[i]))
        i++;
    if (i == req->body_len)
        return hs_resp_error(resp, 400, "empty corpus", NULL,
                             "the request body (the text) is empty or only whitespace");
    char err[HS_ERR_LEN], sha[HS_SHA256_HEX], full[200];
    hs_upload_status status;
    if (hs_upload_store(req->app->env.data_dir, name, req->body, req->body_len,
                        replace && !strcmp(replace, "true"), &status, sha, err,
                        sizeof err) != 0)
        return hs_resp_internal(resp, err);
    if (status == HS_UPLOAD_CONFLICT)
        return hs_resp_error(resp, 409, "name taken", "name",
                             "upload %s already has other content (sha256 %s); send "
                             "replace=true to replace it",
                             name, sha);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        snprintf(full, sizeof full, "upload:%s", name);
        cJSON_AddStringToObject(o, "name", full);
        cJSON_AddNumberToObject(o, "bytes", (double)req->body_len);
        cJSON_AddStringToObject(o, "sha256", sha);
        cJSON_AddBoolToObject(o, "replaced", status == HS_UPLOAD_REPLACED);
    }
    hs_resp_json(resp, status == HS_UPLOAD_SAME ? 200 : 201, o);
}

void hs_api_corpora_list(hs_req *req, hs_resp *resp)
{
    cJSON *arr;
    char err[HS_ERR_LEN];
    if (hs_uploads_list_json(req->app->env.data_dir, &arr, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    hs_resp_json_member(resp, 200, "corpora", arr);
}
