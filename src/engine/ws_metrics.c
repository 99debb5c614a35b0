/*
 * ws_metrics.c - the counters of ws_stats.c in the Prometheus text
 * exposition format, version 0.0.4, for a scraper:
 *
 *   <Location "/websocket-metrics">
 *       SetHandler websocket-metrics
 *       Require ip 127.0.0.1
 *   </Location>
 *
 * A handler name rather than a directive, like mod_status's server-status:
 * where it is served and who may read it are the <Location>'s business.
 * The numbers are those of /server-status?auto (the same snapshot code),
 * under one HELP and TYPE per metric family; labels: code (closes), limit
 * (limit hits), pid and generation (per child).
 */
#include <stddef.h>

#include "ws_internal.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#define WS_METRICS_HANDLER "websocket-metrics"
#define PREFIX "mod_websocket_"
#define U64 "%" APR_UINT64_T_FMT

typedef struct ws_metric {
    const char *name, *type, *help;
    size_t      off;                 /* of the value in ws_stats */
} ws_metric;

#define AT(field) offsetof(ws_stats, c.field)

static const ws_metric plain_metrics[] = {
    { "connections_open", "gauge", "WebSockets open now.", AT(open) },
    { "connections_total", "counter",
      "WebSockets opened (101 sent) since httpd started.", AT(opened) },
    { "messages_in_total", "counter",
      "Messages received from clients.", AT(msgs_in) },
    { "messages_out_total", "counter",
      "Messages queued to clients.", AT(msgs_out) },
    { "bytes_in_total", "counter",
      "Frame bytes read from clients.", AT(bytes_in) },
    { "bytes_out_total", "counter",
      "Frame bytes written to clients.", AT(bytes_out) },
    { "publications_dropped_total", "counter",
      "Publications not delivered: a subscriber's queue or the Redis "
      "link's queue was full.", AT(pub_dropped) },
    { "shed_for_memory_total", "counter",
      "WebSockets closed (1013) or dropped at WebSocketMaxMemory.",
      AT(mem_shed) },
    { "pubsub_links_up", "gauge",
      "Children whose Redis link (WebSocketPubSub) is up.", AT(redis_up) },
    { "pubsub_connects_total", "counter",
      "Times a child's Redis link came up.", AT(redis_connects) },
    { "pubsub_sent_total", "counter",
      "Publications sent to Redis.", AT(redis_out) },
    { "pubsub_received_total", "counter",
      "Publications received from Redis.", AT(redis_in) },
};

static apr_uint64_t value_at(const ws_stats *st, size_t off)
{
    return *(const apr_uint64_t *)((const char *)st + off);
}

static void family(request_rec *r, const char *name, const char *type,
                   const char *help)
{
    ap_rprintf(r, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n",
               name, help, name, type);
}

static void print_plain(request_rec *r, const ws_stats *st)
{
    apr_size_t i;

    for (i = 0; i < sizeof(plain_metrics) / sizeof(plain_metrics[0]); i++) {
        const ws_metric *m = &plain_metrics[i];
        family(r, m->name, m->type, m->help);
        ap_rprintf(r, PREFIX "%s " U64 "\n", m->name, value_at(st, m->off));
    }
}

static void print_labelled(request_rec *r, const ws_stats *st)
{
    int i;

    family(r, "closes_total", "counter", "WebSockets ended, by close code "
           "(the peer's if its close came first, 1006: it vanished).");
    for (i = 0; i < WS_NCLOSE; i++) {
        int code = ws_stats_close_code(i);
        if (code)
            ap_rprintf(r, PREFIX "closes_total{code=\"%d\"} " U64 "\n", code,
                       st->closes[i]);
        else
            ap_rprintf(r, PREFIX "closes_total{code=\"other\"} " U64 "\n",
                       st->closes[i]);
    }
    family(r, "limit_hits_total", "counter",
           "Times a configured limit refused or ended something.");
    for (i = 0; i < WS_NLIMITS; i++)
        ap_rprintf(r, PREFIX "limit_hits_total{limit=\"%s\"} " U64 "\n",
                   ws_stats_limit_name(i), st->limits[i]);
}

static void print_children(request_rec *r, const ws_stats_view *v)
{
    int i;

    family(r, "children", "gauge", "Children counting WebSockets now, "
           "every generation.");
    ap_rprintf(r, PREFIX "children %d\n", v->nchildren);
    family(r, "children_retired_total", "counter", "Children gone whose "
           "counts were folded into the totals.");
    ap_rprintf(r, PREFIX "children_retired_total " U64 "\n",
               v->children_retired);
    family(r, "child_connections_open", "gauge", "WebSockets open now, "
           "per child.");
    for (i = 0; i < v->nchildren; i++)
        ap_rprintf(r, PREFIX "child_connections_open{pid=\"%u\","
                   "generation=\"%d\"} " U64 "\n", (unsigned)v->child[i].pid,
                   v->child[i].generation, v->child[i].st.c.open);
    family(r, "child_connections_total", "counter", "WebSockets opened, "
           "per child (the series ends with the child).");
    for (i = 0; i < v->nchildren; i++)
        ap_rprintf(r, PREFIX "child_connections_total{pid=\"%u\","
                   "generation=\"%d\"} " U64 "\n", (unsigned)v->child[i].pid,
                   v->child[i].generation, v->child[i].st.c.opened);
}

static int metrics_handler(request_rec *r)
{
    ws_stats_view v;

    if (!r->handler || strcmp(r->handler, WS_METRICS_HANDLER))
        return DECLINED;
    /* The 405's Allow header is made from r->allowed_methods. */
    ap_allow_standard_methods(r, 1, M_GET, -1);
    if (r->method_number != M_GET)     /* HEAD is M_GET, header_only */
        return HTTP_METHOD_NOT_ALLOWED;
    ap_set_content_type(r, "text/plain; version=0.0.4");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only)
        return OK;
    ws_stats_snapshot(r->pool, &v);
    print_plain(r, &v.total);
    print_labelled(r, &v.total);
    print_children(r, &v);
    return OK;
}

void ws_metrics_register_hooks(void)
{
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
