/* Allocation-failure injection: this binary is linked with -Wl,--wrap for malloc, calloc,
 * realloc, strdup and strndup (the project's own code), and routes cJSON (cJSON_InitHooks)
 * and SQLite (SQLITE_CONFIG_MALLOC) through the same allocator, which can be told to fail its
 * n-th allocation. Each operation below is swept over n = 1, 2, ... until a run no longer
 * reaches the n-th allocation: every injected failure must end in an error (or a success
 * that did without), never a crash, and AddressSanitizer's leak check at exit must find
 * nothing. Operations: job spec validation, the store (open with migrations, submit, claim),
 * config.json, safetensors and tokenizer.json of the tiny reference models, and request
 * bodies through the in-process HTTP server. */
#include "test_util.h"

#include "engine/formats/safetensors.h"
#include "engine/formats/tokenizer.h"
#include "engine/families/model_config.h"
#include "http/api.h"
#include "http/http_server.h"
#include "kinds/spec.h"
#include "store/job_store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

/* ---- the failing allocator ------------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static atomic_long alloc_count; /* allocations since arming */
static atomic_long fail_at;     /* the allocation that fails (1-based); 0: none */
static atomic_bool failed_one;  /* the armed failure happened */

static bool should_fail(void)
{
    long at = atomic_load(&fail_at);
    if (at <= 0)
        return false;
    if (atomic_fetch_add(&alloc_count, 1) + 1 != at)
        return false;
    atomic_store(&failed_one, true);
    return true;
}

static void arm(long n)
{
    atomic_store(&failed_one, false);
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_at, n);
}

/* Disarms; true when the armed allocation was reached (and failed). */
static bool disarm(void)
{
    atomic_store(&fail_at, 0);
    return atomic_load(&failed_one);
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail() ? NULL : __real_strndup(s, n); }

static void *json_malloc(size_t n) { return __wrap_malloc(n); }

/* SQLite's allocator: a 16-byte header keeps the size for xSize. */
static void *sq_malloc(int n)
{
    char *p = __wrap_malloc((size_t)n + 16);
    if (!p)
        return NULL;
    *(size_t *)p = (size_t)n;
    return p + 16;
}
static void sq_free(void *p)
{
    if (p)
        free((char *)p - 16);
}
static void *sq_realloc(void *p, int n)
{
    if (!p)
        return sq_malloc(n);
    char *q = __wrap_realloc((char *)p - 16, (size_t)n + 16);
    if (!q)
        return NULL;
    *(size_t *)q = (size_t)n;
    return q + 16;
}
static int sq_size(void *p) { return p ? (int)*(size_t *)((char *)p - 16) : 0; }
static int sq_roundup(int n) { return (n + 7) & ~7; }
static int sq_init(void *arg) { return SQLITE_OK; }
static void sq_shutdown(void *arg) {}

static void install_hooks(void)
{
    static const sqlite3_mem_methods mem = {sq_malloc, sq_free,   sq_realloc, sq_size,
                                            sq_roundup, sq_init, sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK) {
        fprintf(stderr, "sqlite3_config(SQLITE_CONFIG_MALLOC) failed\n");
        exit(1);
    }
    cJSON_Hooks hooks = {json_malloc, free};
    cJSON_InitHooks(&hooks);
}

/* Runs op once counting its allocations (it must succeed: this also warms one-time state
 * up), then with the n-th allocation failing for n = 1, 2, ... until a run no longer reaches
 * it (that run must succeed). Past the first FULL_SWEEP points, n advances in steps that
 * keep each sweep near FULL_SWEEP runs (HS_ALLOC_SWEEP_ALL=1 visits every point). Returns
 * how many failure points were visited. */
#define FULL_SWEEP 1500
typedef int (*op_fn)(void *arg);
static long sweep(const char *what, op_fn op, void *arg)
{
    arm(LONG_MAX);
    int rc0 = op(arg);
    long total = atomic_load(&alloc_count);
    disarm();
    if (rc0 != 0)
        fail_msg("%s: fails without an injected allocation failure", what);
    const char *all = getenv("HS_ALLOC_SWEEP_ALL");
    long step = all && *all == '1' ? 1 : total / FULL_SWEEP + 1;
    long visited = 0;
    for (long n = 1; n < 10000000; n += n <= FULL_SWEEP ? 1 : step) {
        arm(n);
        int rc = op(arg);
        bool reached = disarm();
        if (!reached) {
            if (rc != 0)
                fail_msg("%s: failed with no allocation failing (n = %ld)", what, n);
            printf("%s: %ld of %ld allocation failure points visited, none crashed\n", what,
                   visited, total);
            return visited;
        }
        visited++;
    }
    fail_msg("%s: too many allocations", what);
    return -1;
}

/* ---- operations ----------------------------------------------------------------------- */

typedef struct env_paths {
    char tmp[4096], models[4096 + 16], model_dir[4096 + 48];
    hs_kind_env env;
} env_paths;

static int op_spec(void *arg)
{
    env_paths *p = arg;
    static const char text[] =
        "{\"kind\": \"diagnose\", \"model\": \"tiny-h4-f32\", \"texts\": [\"a b c\", \"d e\"],"
        " \"max_length\": 16, \"priority\": 2, \"client_id\": \"c-1\","
        " \"thresholds\": {\"dead_bos\": 0.9}}";
    cJSON *spec = cJSON_Parse(text);
    if (!spec)
        return -1;
    hs_job_spec out;
    hs_spec_error e = {{0}, {0}};
    int rc = hs_job_spec_parse(spec, &p->env, &out, &e);
    if (rc != 0 && !e.detail[0])
        fail_msg("spec refused without a reason");
    cJSON_Delete(spec);
    return rc;
}

static void remove_db(const char *path)
{
    char f[4200];
    static const char *const ext[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", path, ext[i]);
        unlink(f);
    }
}

static int op_store(void *arg)
{
    env_paths *p = arg;
    char db[4200], err[512];
    snprintf(db, sizeof db, "%s/alloc.db", p->tmp);
    remove_db(db);
    hs_store *store = NULL;
    err[0] = '\0';
    if (hs_store_open(db, &store, err, sizeof err) != 0) {
        if (!err[0])
            fail_msg("store open failed without a reason");
        return -1;
    }
    hs_job_submit_req req = {.kind = "test-steps", .spec_json = "{\"kind\":\"test-steps\",\"steps\":1}",
                             .max_attempts = 3};
    int64_t id = 0;
    int rc = hs_job_submit(store, &req, &id, err, sizeof err) == 1 ? 0 : -1;
    if (rc == 0) {
        hs_claimed_job job;
        int claimed = hs_job_claim(store, "cpu", &job, err, sizeof err);
        if (claimed == 1)
            hs_claimed_job_free(&job);
        rc = claimed == 1 ? 0 : -1;
    }
    hs_store_close(store);
    return rc;
}

static int op_config(void *arg)
{
    env_paths *p = arg;
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/config.json", p->model_dir);
    hs_model_config cfg;
    return hs_model_config_load(path, &cfg, err, sizeof err);
}

static int op_safetensors(void *arg)
{
    env_paths *p = arg;
    char err[512];
    hs_st_set *set = hs_st_open_dir(p->model_dir, err, sizeof err);
    if (!set)
        return -1;
    hs_st_close(set);
    return 0;
}

static int op_tokenizer(void *arg)
{
    env_paths *p = arg;
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", p->model_dir);
    hs_tokenizer *tok = hs_tokenizer_load(path, err, sizeof err);
    if (!tok)
        return -1;
    static const char text[] = "The children walked to school, didn't they? 123";
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = hs_tokenizer_encode(tok, text, sizeof text - 1, &ids, &n, err, sizeof err);
    char *back = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = hs_tokenizer_decode(tok, ids, n, &back, &len, err, sizeof err);
    free(ids);
    free(back);
    hs_tokenizer_free(tok);
    return rc;
}

/* One HTTP exchange on loopback: the status code, or 0 when the server closed the
 * connection without an answer (also an acceptable outcome of a failed allocation). */
static int http_exchange(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect: %s", strerror(errno));
    size_t len = strlen(request), off = 0;
    while (off < len) {
        ssize_t w = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char buf[4096];
    size_t got = 0;
    for (int i = 0; i < 10000 && got < sizeof buf - 1; i++) { /* bounded */
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                fail_msg("no answer within 30 s");
            break;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fd);
    int status = 0;
    if (got && sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        fail_msg("not an HTTP answer: %.80s", buf);
    return status;
}

typedef struct http_ctx {
    int port;
    const char *request;
    int also_ok; /* a status that counts as success besides 2xx (0: none) */
} http_ctx;

static int op_http(void *arg)
{
    http_ctx *h = arg;
    int status = http_exchange(h->port, h->request);
    return (status >= 200 && status < 300) || status == h->also_ok ? 0 : -1;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- tests ---------------------------------------------------------------------------- */

static env_paths paths;

static int setup(void **state)
{
    snprintf(paths.tmp, sizeof paths.tmp, "%s/hs_alloc.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(paths.tmp))
        return -1;
    /* A model root holding a real copy of tiny-h4-f32 (the fixture's tokenizer.json is a
     * symlink out of its folder, which name resolution rightly refuses). */
    snprintf(paths.models, sizeof paths.models, "%s/models", paths.tmp);
    snprintf(paths.model_dir, sizeof paths.model_dir, "%s/tiny-h4-f32", paths.models);
    if (mkdir(paths.models, 0755) != 0 || mkdir(paths.model_dir, 0755) != 0)
        return -1;
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                        "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char from[4200], rel[128], to[4200 + 64];
        snprintf(rel, sizeof rel, "tests/reference/models/tiny-h4-f32/%s", files[i]);
        tu_repo_path(from, sizeof from, rel);
        snprintf(to, sizeof to, "%s/%s", paths.model_dir, files[i]);
        tu_copy_file(from, to);
    }
    paths.env = (hs_kind_env){.model_root = paths.models, .corpus_root = paths.tmp,
                              .data_dir = paths.tmp};
    return 0;
}

static int teardown(void **state)
{
    char db[4200];
    snprintf(db, sizeof db, "%s/alloc.db", paths.tmp);
    remove_db(db);
    tu_rm_tree(paths.tmp);
    return 0;
}

static void test_spec_validation(void **state) { assert_true(sweep("spec", op_spec, &paths) > 10); }
static void test_store_open_submit(void **state) { assert_true(sweep("store", op_store, &paths) > 10); }
static void test_config_json(void **state) { assert_true(sweep("config.json", op_config, &paths) > 3); }
static void test_safetensors(void **state) { assert_true(sweep("safetensors", op_safetensors, &paths) > 3); }
static void test_tokenizer_json(void **state) { assert_true(sweep("tokenizer", op_tokenizer, &paths) > 10); }

static void test_request_bodies(void **state)
{
    char db[4200], err[512];
    snprintf(db, sizeof db, "%s/http.db", paths.tmp);
    remove_db(db);
    hs_store *store = NULL;
    assert_int_equal(hs_store_open(db, &store, err, sizeof err), 0);
    static hs_app app;
    app = (hs_app){.store = store, .env = paths.env, .max_body = 1 << 20};
    char listen[64];
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    hs_http *http = NULL;
    if (hs_http_start(&app, listen, &http, err, sizeof err) != 0)
        fail_msg("%s", err);
    static const char body[] = "{\"kind\": \"test-steps\", \"steps\": 3, \"priority\": 1}";
    char submit[512];
    snprintf(submit, sizeof submit,
             "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", port, sizeof body - 1, body);
    http_ctx submit_ctx = {port, submit, 0};
    sweep("POST /api/v1/jobs", op_http, &submit_ctx);
    static const char text[] = "one line of corpus text\nanother line\n";
    char upload[512];
    snprintf(upload, sizeof upload,
             "POST /api/v1/corpora?name=c1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s", port, sizeof text - 1, text);
    http_ctx upload_ctx = {port, upload, 0};
    sweep("POST /api/v1/corpora", op_http, &upload_ctx);
    static const char sched[] = "{\"name\": \"n\", \"cron\": \"0 3 * * *\", \"enabled\": false,"
                                " \"job\": {\"kind\": \"test-steps\", \"steps\": 1}}";
    char schedule[512];
    snprintf(schedule, sizeof schedule,
             "POST /api/v1/schedules HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", port, sizeof sched - 1, sched);
    http_ctx sched_ctx = {port, schedule, 409}; /* the name exists after one success */
    sweep("POST /api/v1/schedules", op_http, &sched_ctx);
    hs_http_stop(http);
    hs_store_close(store);
    remove_db(db);
    char path[4200];
    snprintf(path, sizeof path, "%s/corpora/c1", paths.tmp);
    unlink(path);
    snprintf(path, sizeof path, "%s/corpora", paths.tmp);
    rmdir(path);
}

int main(void)
{
    install_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_validation),
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_safetensors),
        cmocka_unit_test(test_tokenizer_json),
        cmocka_unit_test(test_store_open_submit),
        cmocka_unit_test(test_request_bodies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
