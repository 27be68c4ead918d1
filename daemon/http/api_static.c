/* GET of the dashboard: the embedded web/ files at / (index.html for /), and Debian's Chart.js
 * (a system package file, read once) at /vendor/chart.js. */
#include "api.h"
#include "common/embedded_files.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *content_type_for(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".json", "application/json"},
        {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static pthread_once_t chart_once = PTHREAD_ONCE_INIT;
static char *chart_js;
static size_t chart_js_len;

static void load_chart_js(void)
{
    static const char *const candidates[] = {
        "/usr/share/javascript/chart.js/chart.umd.js",
        "/usr/share/javascript/chart.js/chart.min.js",
    };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        FILE *f = fopen(candidates[i], "rb");
        if (!f)
            continue;
        if (fseek(f, 0, SEEK_END) == 0) {
            long size = ftell(f);
            if (size > 0 && fseek(f, 0, SEEK_SET) == 0) {
                char *data = malloc((size_t)size);
                if (data && fread(data, 1, (size_t)size, f) == (size_t)size) {
                    chart_js = data;
                    chart_js_len = (size_t)size;
                } else {
                    free(data);
                }
            }
        }
        fclose(f);
        if (chart_js)
            return;
    }
}

void hs_api_static(hs_req *req, hs_resp *resp)
{
    if (strcmp(req->path, "/vendor/chart.js") == 0) {
        pthread_once(&chart_once, load_chart_js);
        if (!chart_js)
            return hs_resp_error(resp, 404, "not found", NULL,
                                 "Chart.js is not installed (Debian package libjs-chart.js)");
        return hs_resp_text(resp, 200, "text/javascript; charset=utf-8", chart_js, chart_js_len,
                            true);
    }
    char path[512];
    const char *rel = req->path[0] == '/' ? req->path + 1 : req->path;
    if (strstr(rel, ".."))
        return hs_resp_error(resp, 404, "not found", NULL, "no file %s", req->path);
    size_t rl = strlen(rel);
    if (rl == 0 || rel[rl - 1] == '/')
        snprintf(path, sizeof path, "web/%sindex.html", rel);
    else
        snprintf(path, sizeof path, "web/%s", rel);
    const hs_embedded_file *f = hs_embedded_find(path);
    if (!f)
        return hs_resp_error(resp, 404, "not found", NULL, "no file %s", req->path);
    hs_resp_text(resp, 200, content_type_for(path), (char *)f->data, f->size, true);
}
