/*
 * ws_status.c - the WebSocket section of mod_status: /server-status (HTML)
 * and /server-status?auto, from the shared counters (ws_stats.c).
 *
 * mod_status's scoreboard cannot show WebSockets (under mpm_event they
 * are suspended requests the MPM no longer tracks), and the page is made
 * by whichever child serves it: hence the segment every child writes.
 */
#include <ctype.h>

#include "ws_internal.h"
#include "http_protocol.h"
#include "mod_status.h"
#include "apr_strings.h"

#define U64 "%" APR_UINT64_T_FMT

/* "max_message" -> "MaxMessage": the ?auto spelling of a limit. */
static const char *camel(apr_pool_t *p, const char *name)
{
    char *out = apr_pstrdup(p, name), *o = out;
    int up = 1;

    for (; *name; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        *o++ = up ? (char)toupper((unsigned char)*name) : *name;
        up = 0;
    }
    *o = '\0';
    return out;
}

static void print_closes(request_rec *r, const char *prefix, const ws_stats *st)
{
    int i;

    for (i = 0; i < WS_NCLOSE; i++) {
        int code = ws_stats_close_code(i);
        if (code)
            ap_rprintf(r, "%sWebSocketCloses%d: " U64 "\n", prefix, code,
                       st->closes[i]);
        else
            ap_rprintf(r, "%sWebSocketClosesOther: " U64 "\n", prefix,
                       st->closes[i]);
    }
    for (i = 0; i < WS_NLIMITS; i++)
        ap_rprintf(r, "%sWebSocketLimit%s: " U64 "\n", prefix,
                   camel(r->pool, ws_stats_limit_name(i)), st->limits[i]);
}

static void print_auto(request_rec *r, const char *prefix, const ws_stats *st)
{
    const ws_counters *c = &st->c;

    ap_rprintf(r, "%sWebSocketsOpen: " U64 "\n%sWebSocketsTotal: " U64 "\n"
               "%sWebSocketMessagesIn: " U64 "\n"
               "%sWebSocketMessagesOut: " U64 "\n"
               "%sWebSocketBytesIn: " U64 "\n%sWebSocketBytesOut: " U64 "\n"
               "%sWebSocketPublicationsDropped: " U64 "\n"
               "%sWebSocketsShedForMemory: " U64 "\n",
               prefix, c->open, prefix, c->opened, prefix, c->msgs_in,
               prefix, c->msgs_out, prefix, c->bytes_in, prefix, c->bytes_out,
               prefix, c->pub_dropped, prefix, c->mem_shed);
    print_closes(r, prefix, st);
    if (ws_redis_configured())
        ap_rprintf(r, "%sWebSocketPubSubLinksUp: " U64 "\n"
                   "%sWebSocketPubSubConnects: " U64 "\n"
                   "%sWebSocketPubSubSent: " U64 "\n"
                   "%sWebSocketPubSubReceived: " U64 "\n",
                   prefix, c->redis_up, prefix, c->redis_connects,
                   prefix, c->redis_out, prefix, c->redis_in);
}

static void status_auto(request_rec *r, const ws_stats_view *v)
{
    int i;

    print_auto(r, "", &v->total);
    ap_rprintf(r, "WebSocketChildrenRetired: " U64 "\n", v->children_retired);
    print_auto(r, "Retired", &v->retired);
    for (i = 0; i < v->nchildren; i++) {
        const ws_stats_child *ch = &v->child[i];
        char prefix[32];

        apr_snprintf(prefix, sizeof(prefix), "Child%u", (unsigned)ch->pid);
        ap_rprintf(r, "%sGeneration: %d\n", prefix, ch->generation);
        print_auto(r, prefix, &ch->st);
    }
}

static void print_row(request_rec *r, const char *who, const char *gen,
                      const ws_counters *c)
{
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>" U64 "</td><td>" U64
               "</td><td>" U64 "</td><td>" U64 "</td><td>" U64 "</td><td>"
               U64 "</td></tr>\n", who, gen, c->open, c->opened,
               c->msgs_in, c->msgs_out, c->bytes_in, c->bytes_out);
}

/* Closes by code and limit hits, whole server: a header row, a row of
 * numbers. */
static void print_events(request_rec *r, const ws_stats *st)
{
    int i;

    ap_rputs("<table border=\"1\"><tr><th>closes by code</th>", r);
    for (i = 0; i < WS_NCLOSE; i++) {
        int code = ws_stats_close_code(i);
        if (code)
            ap_rprintf(r, "<th>%d</th>", code);
        else
            ap_rputs("<th>other</th>", r);
    }
    ap_rputs("</tr>\n<tr><td>all</td>", r);
    for (i = 0; i < WS_NCLOSE; i++)
        ap_rprintf(r, "<td>" U64 "</td>", st->closes[i]);
    ap_rputs("</tr></table>\n<table border=\"1\"><tr><th>limit hits</th>", r);
    for (i = 0; i < WS_NLIMITS; i++)
        ap_rprintf(r, "<th>%s</th>", ws_stats_limit_name(i));
    ap_rputs("</tr>\n<tr><td>all</td>", r);
    for (i = 0; i < WS_NLIMITS; i++)
        ap_rprintf(r, "<td>" U64 "</td>", st->limits[i]);
    ap_rputs("</tr></table>\n", r);
}

static void status_html(request_rec *r, const ws_stats_view *v)
{
    char retired[48];
    int i;

    ap_rputs("<hr />\n<h2>WebSockets (mod_websocket)</h2>\n<table border=\"1\">"
             "<tr><th>child pid</th><th>generation</th><th>open</th>"
             "<th>total</th><th>messages in</th><th>messages out</th>"
             "<th>bytes in</th><th>bytes out</th></tr>\n", r);
    for (i = 0; i < v->nchildren; i++) {
        char who[16], gen[16];
        apr_snprintf(who, sizeof(who), "%u", (unsigned)v->child[i].pid);
        apr_snprintf(gen, sizeof(gen), "%d", v->child[i].generation);
        print_row(r, who, gen, &v->child[i].st.c);
    }
    apr_snprintf(retired, sizeof(retired), "retired (" U64 " children)",
                 v->children_retired);
    print_row(r, retired, "", &v->retired.c);
    print_row(r, "all", "", &v->total.c);
    ap_rputs("</table>\n", r);
    print_events(r, &v->total);
}

static int status_hook(request_rec *r, int flags)
{
    ws_stats_view v;

    ws_stats_snapshot(r->pool, &v);
    if (flags & AP_STATUS_SHORT)
        status_auto(r, &v);
    else
        status_html(r, &v);
    return OK;
}

void ws_status_register_hooks(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL, APR_HOOK_MIDDLE);
}
