/* HTTP request counters by route and status (http_metrics.h). */
#include "http_metrics.h"
#include "api.h"
#include <pthread.h>
#include <stdint.h>

#define MAX_ROUTES 64
#define MAX_STATUSES 16

typedef struct status_count {
    int status;
    uint64_t count;
} status_count;

static pthread_mutex_t metrics_mutex = PTHREAD_MUTEX_INITIALIZER;
/* row MAX_ROUTES is "no route" */
static status_count counts[MAX_ROUTES + 1][MAX_STATUSES];

void hs_http_metrics_count(int route_index, int status)
{
    int row = route_index >= 0 && route_index < MAX_ROUTES ? route_index : MAX_ROUTES;
    pthread_mutex_lock(&metrics_mutex);
    for (int i = 0; i < MAX_STATUSES; i++) {
        if (counts[row][i].status == status || counts[row][i].status == 0) {
            counts[row][i].status = status;
            counts[row][i].count++;
            break;
        }
    }
    pthread_mutex_unlock(&metrics_mutex);
}

void hs_http_metrics_render(hs_strbuf *out)
{
    hs_strbuf_printf(out, "# HELP hs_http_requests_total HTTP requests by route and status.\n"
                          "# TYPE hs_http_requests_total counter\n");
    pthread_mutex_lock(&metrics_mutex);
    for (int r = 0; r <= MAX_ROUTES; r++) {
        const char *method = "ANY", *route = "other";
        if (r < MAX_ROUTES) {
            if ((size_t)r >= hs_route_count)
                continue;
            method = hs_routes[r].method;
            route = hs_routes[r].pattern;
        }
        for (int i = 0; i < MAX_STATUSES && counts[r][i].status; i++)
            hs_strbuf_printf(out,
                             "hs_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                             method, route, counts[r][i].status,
                             (unsigned long long)counts[r][i].count);
    }
    pthread_mutex_unlock(&metrics_mutex);
}
