/*
 * ws_limits.c - how many WebSockets a child takes: WebSocketMaxConnections
 * (all of them) and WebSocketMaxClientConnections (from one client
 * address), checked at the handshake, answered with 503.
 *
 * Counted per child process, from the accepted handshake until the
 * WebSocket is over: the MPM's own limit already bounds connections per
 * child, these let an operator keep WebSockets (or one address) to a
 * share of it.  With several children a client can reach the per-address
 * limit in each.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "apr_hash.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

static apr_int64_t max_child, max_client;   /* 0: no limit */
static apr_uint32_t admitted;               /* this child's, atomic */
static apr_thread_mutex_t *clients_mutex;
static apr_hash_t *clients;                 /* address -> client_count */

typedef struct client_count {
    apr_uint32_t n;
    char         ip[1];                     /* allocated longer */
} client_count;

void ws_limits_pre_config(void)
{
    max_child = max_client = 0;
}

const char *ws_limits_set(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    apr_int64_t n;

    (void)dconf;
    if (err)
        return err;
    n = apr_strtoi64(arg, &end, 10);
    if (end == arg || *end || n < 0 || n > 100000000)
        return apr_psprintf(cmd->pool, "%s must be a whole number from 0 to "
                            "100000000, not '%s'", cmd->directive->directive,
                            arg);
    if (cmd->info)
        max_client = n;
    else
        max_child = n;
    return NULL;
}

void ws_limits_child_init(apr_pool_t *pchild)
{
    admitted = 0;
    clients = NULL;
    if (max_client && apr_thread_mutex_create(&clients_mutex,
                                              APR_THREAD_MUTEX_DEFAULT,
                                              pchild) == APR_SUCCESS)
        clients = apr_hash_make(pchild);
}

/* Under clients_mutex: one more from ip, unless it has max_client. */
static int client_enter(const char *ip)
{
    client_count *c = apr_hash_get(clients, ip, APR_HASH_KEY_STRING);
    size_t len = strlen(ip);

    if (c && c->n >= (apr_uint32_t)max_client)
        return 0;
    if (!c) {
        if (!(c = calloc(1, sizeof(*c) + len)))
            return 0;
        memcpy(c->ip, ip, len + 1);
        apr_hash_set(clients, c->ip, APR_HASH_KEY_STRING, c);
    }
    c->n++;
    return 1;
}

static void client_leave(const char *ip)
{
    client_count *c = apr_hash_get(clients, ip, APR_HASH_KEY_STRING);

    if (c && --c->n == 0) {
        apr_hash_set(clients, c->ip, APR_HASH_KEY_STRING, NULL);
        free(c);
    }
}

static int refuse(request_rec *r, const char *what, apr_int64_t limit)
{
    apr_table_setn(r->err_headers_out, "Retry-After", "10");
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, WSLOGNO(00111)
                  "WebSocket refused: %s (%" APR_INT64_T_FMT ") reached in this "
                  "child: 503", what, limit);
    return HTTP_SERVICE_UNAVAILABLE;
}

int ws_limits_admit(request_rec *r, ws_conn_t *wc)
{
    apr_uint32_t now = apr_atomic_inc32(&admitted) + 1;

    if (max_child && now > (apr_uint32_t)max_child) {
        apr_atomic_dec32(&admitted);
        return refuse(r, "WebSocketMaxConnections", max_child);
    }
    if (clients) {
        int ok;
        apr_thread_mutex_lock(clients_mutex);
        ok = client_enter(wc->ip);
        apr_thread_mutex_unlock(clients_mutex);
        if (!ok) {
            apr_atomic_dec32(&admitted);
            return refuse(r, "WebSocketMaxClientConnections", max_client);
        }
    }
    wc->admitted = 1;
    return OK;
}

void ws_limits_leave(ws_conn_t *wc)
{
    if (!wc->admitted)
        return;
    wc->admitted = 0;
    apr_atomic_dec32(&admitted);
    if (clients) {
        apr_thread_mutex_lock(clients_mutex);
        client_leave(wc->ip);
        apr_thread_mutex_unlock(clients_mutex);
    }
}
