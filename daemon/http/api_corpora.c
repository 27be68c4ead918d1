/* Uploaded corpora: POST /api/v1/corpora?name=NAME stores the raw body as upload NAME; GET
 * lists them (store/uploads.h keeps the files). They are used in specs as "upload:NAME". */
#include "api.h"
#include "common/errors.h"
#include "store/uploads.h"
#include <stdio.h>

void hs_api_corpora_upload(hs_req *req, hs_resp *resp)
{
    const char *name = hs_req_query(req, "name");
    if (!name)
        return hs_resp_error(resp, 400, "invalid query parameter", "name",
                             "the query parameter name is required (POST /api/v1/corpora?name=NAME)");
    if (!hs_upload_name_valid(name))
        return hs_resp_error(resp, 400, "invalid query parameter", "name",
                             "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not start with '.'");
    if (req->body_len == 0)
        return hs_resp_error(resp, 400, "empty corpus", NULL, "the request body (the text) is empty");
    char err[HS_ERR_LEN];
    if (hs_upload_store(req->app->env.data_dir, name, req->body, req->body_len, err,
                        sizeof err) != 0)
        return hs_resp_internal(resp, err);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        char full[200];
        snprintf(full, sizeof full, "upload:%s", name);
        cJSON_AddStringToObject(o, "name", full);
        cJSON_AddNumberToObject(o, "bytes", (double)req->body_len);
    }
    hs_resp_json(resp, 201, o);
}

void hs_api_corpora_list(hs_req *req, hs_resp *resp)
{
    cJSON *arr;
    char err[HS_ERR_LEN];
    if (hs_uploads_list_json(req->app->env.data_dir, &arr, err, sizeof err) != 0)
        return hs_resp_internal(resp, err);
    hs_resp_json_member(resp, 200, "corpora", arr);
}
