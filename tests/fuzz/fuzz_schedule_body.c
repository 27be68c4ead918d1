/* libFuzzer target: arbitrary bytes as the JSON body of POST /api/v1/schedules, validated and
 * stored by hs_schedule_write (queue/schedules.c, as the HTTP handler does) in a scratch
 * database, then PATCHed with the same body and deleted. A body is either refused with a reason, or stored and read back with
 * its name and cron; never a crash or a leak. */
#include "queue/schedules.h"
#include "store/schedule_store.h"
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hs_store *store;
static char dir[] = "/tmp/fuzz_schedule_body.XXXXXX";
static hs_kind_env env;

static void cleanup(void)
{
    char path[128];
    hs_store_close(store);
    static const char *const files[] = {"surgeon.db", "surgeon.db-wal", "surgeon.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/demo", dir);
    rmdir(path);
    rmdir(dir);
}

static void setup(void)
{
    char err[512], path[128];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/demo", dir); /* a model name the seeds use */
    if (mkdir(path, 0755) != 0)
        abort();
    snprintf(path, sizeof path, "%s/surgeon.db", dir);
    if (hs_store_open(path, &store, err, sizeof err) != 0)
        abort();
    env = (hs_kind_env){.model_root = dir, .corpus_root = dir, .data_dir = dir};
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store)
        setup();
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    if (!body)
        return 0;
    cJSON *out = NULL;
    hs_schedule_status status = HS_SCHEDULE_OK;
    hs_spec_error serr = {{0}, {0}};
    char err[512];
    if (hs_schedule_write(store, &env, body, true, 0, &out, &status, &serr, err, sizeof err) != 0)
        abort(); /* a scratch database on a healthy disk never fails */
    /* (the field may be "": a key with an embedded NUL byte reads as the empty name) */
    if (status == HS_SCHEDULE_INVALID && !serr.detail[0])
        abort();
    if (status == HS_SCHEDULE_OK) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(out, "id");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(cJSON_GetObjectItem(out, "name")) ||
            !cJSON_IsString(cJSON_GetObjectItem(out, "cron")))
            abort();
        int64_t sid = (int64_t)id->valuedouble;
        cJSON *patched = NULL;
        if (hs_schedule_write(store, &env, body, false, sid, &patched, &status, &serr, err,
                              sizeof err) != 0 || status != HS_SCHEDULE_OK)
            abort(); /* what was accepted once is accepted again */
        cJSON_Delete(patched);
        if (hs_schedule_delete(store, sid, &status, err, sizeof err) != 0 ||
            status != HS_SCHEDULE_OK)
            abort();
    }
    cJSON_Delete(out);
    cJSON_Delete(body);
    return 0;
}
