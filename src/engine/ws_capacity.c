/*
 * ws_capacity.c - how many WebSockets the server can hold, said where an
 * operator sees it.
 *
 * Under mpm_event a WebSocket holds no worker thread, but it stays one of
 * the child's connections, and a child stops accepting any connection
 * (plain HTTP included) once it has ThreadsPerChild + idle threads x
 * AsyncRequestWorkerFactor of them (event.c, connections_above_limit()).
 * With every worker idle that is ThreadsPerChild x (1 + factor) per child,
 * for at most MaxRequestWorkers / ThreadsPerChild children.  Debian's
 * stock mpm_event.conf (150 workers, 25 per child, factor 2): 6 x 75 = 450
 * connections in all, after which the whole site stops answering.  httpd's
 * own log then suggests raising MaxRequestWorkers (AH00484), which does not
 * help a child that is full; the factor is the knob.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ws_internal.h"
#include "ap_mpm.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

#define WS_DEFAULT_CAPACITY_WARNING 1000
#define EVENT_DEFAULT_FACTOR        2

static apr_int64_t warn_below = -1;   /* WebSocketCapacityWarning */
static int threads_per_child, max_children, factor;
static int full_logged;               /* per child: once */

const char *ws_capacity_set_warning(cmd_parms *cmd, const char *arg)
{
    char *end;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);

    if (end == arg || *end || n < 0)
        return apr_psprintf(cmd->pool, "WebSocketCapacityWarning must be a "
                            "whole number of WebSockets (0: no warning), not "
                            "'%s'", arg);
    warn_below = n;
    return NULL;
}

void ws_capacity_pre_config(void)
{
    warn_below = -1;
}

/* AsyncRequestWorkerFactor as the configuration sets it (the MPM keeps it
 * to itself): the last one at top level wins, as in the MPM. */
static int configured_factor(void)
{
    const ap_directive_t *d;
    int f = EVENT_DEFAULT_FACTOR;

    for (d = ap_conftree; d; d = d->next)
        if (strcasecmp(d->directive, "AsyncRequestWorkerFactor") == 0
            && d->args && atoi(d->args) > 0)
            f = atoi(d->args);
    return f;
}

/* Fills the MPM's numbers; 0 if the MPM is not async (then every
 * WebSocket is a thread or process, and MaxRequestWorkers is the limit). */
static int read_mpm(void)
{
    int async = 0;

    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) != APR_SUCCESS || !async
        || ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads_per_child) != APR_SUCCESS
        || ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &max_children) != APR_SUCCESS
        || threads_per_child <= 0 || max_children <= 0)
        return 0;
    factor = configured_factor();
    return 1;
}

static apr_int64_t per_child(void)
{
    return (apr_int64_t)threads_per_child * (1 + factor);
}

/* The smallest factor with which max_children hold n connections. */
static apr_int64_t factor_for(apr_int64_t n)
{
    apr_int64_t child = (n + max_children - 1) / max_children;
    apr_int64_t f = (child + threads_per_child - 1) / threads_per_child - 1;
    return f > 0 ? f : 1;
}

/* At startup, configtest and each restart: one warning if the server
 * cannot hold the number of WebSockets the operator expects. */
void ws_capacity_check(server_rec *s)
{
    apr_int64_t threshold = warn_below >= 0 ? warn_below
                                            : WS_DEFAULT_CAPACITY_WARNING;
    apr_int64_t total;

    if (!threshold || !ws_handlers_in_use())
        return;
    if (!read_mpm()) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, WSLOGNO(00003)
                     "the MPM is not asynchronous: every open WebSocket holds "
                     "a worker (thread or process), so MaxRequestWorkers is "
                     "the limit on WebSockets and on everything else");
        return;
    }
    total = per_child() * max_children;
    if (total >= threshold)
        return;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, WSLOGNO(00004)
                 "this server can hold at most %" APR_INT64_T_FMT " open "
                 "connections, WebSockets included (%d children x "
                 "ThreadsPerChild %d x (1 + AsyncRequestWorkerFactor %d)), "
                 "fewer than WebSocketCapacityWarning %" APR_INT64_T_FMT ": "
                 "then it stops accepting any connection.  Raise "
                 "AsyncRequestWorkerFactor (e.g. %" APR_INT64_T_FMT " for "
                 "this many), and the open-files limit",
                 total, max_children, threads_per_child, factor, threshold,
                 factor_for(threshold));
}

void ws_capacity_child_init(void)
{
    full_logged = 0;
    if (!read_mpm())
        threads_per_child = 0;
}

/* A WebSocket opened; open is this child's count.  Once the child holds
 * all but ThreadsPerChild of what mpm_event lets it keep, say so, once. */
void ws_capacity_note_open(apr_uint64_t open)
{
    if (full_logged || threads_per_child <= 0
        || (apr_int64_t)open < per_child() - threads_per_child)
        return;
    full_logged = 1;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, NULL, WSLOGNO(00005)
                 "this child holds %" APR_UINT64_T_FMT " WebSockets, close "
                 "to the %" APR_INT64_T_FMT " connections mpm_event lets "
                 "one child keep (ThreadsPerChild %d x (1 + "
                 "AsyncRequestWorkerFactor %d)); once every child is there "
                 "the server accepts no connection at all.  Raise "
                 "AsyncRequestWorkerFactor (MaxRequestWorkers does not help "
                 "a full child)", open, per_child(), threads_per_child,
                 factor);
}
