/* Counters of HTTP requests by route and status for GET /metrics (in memory, since start). */
#ifndef HS_HTTP_METRICS_H
#define HS_HTTP_METRICS_H
#include "common/strbuf.h"

/* route_index: an index into hs_routes, or -1 for "no route" (404, static files). */
void hs_http_metrics_count(int route_index, int status);
/* Appends hs_http_requests_total{method,route,status} lines in Prometheus text format. */
void hs_http_metrics_render(hs_strbuf *out);

#endif
