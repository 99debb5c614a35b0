/*
 * ws_limits.c - what a child gives WebSockets: WebSocketMaxConnections
 * (all of them) and WebSocketMaxClientConnections (from one client
 * address), checked at the handshake, answered with 503; and
 * WebSocketMaxMemory, the memory all its WebSockets hold.
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
#include "apr_lib.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

static apr_int64_t max_child, max_client;   /* 0: no limit */
static apr_int64_t max_memory;              /* bytes, 0: no limit */
static apr_int64_t memory;                  /* this child's, atomic */

#define WS_DEFAULT_MAX_MEMORY (APR_INT64_C(512) << 20)
#define WS_SHED_FLOOR         (256 * 1024)  /* below this, never shed */
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
    max_memory = WS_DEFAULT_MAX_MEMORY;
}

/* A server-wide number: digits, then (with suffixes) K, M or G.  NULL,
 * or what to print. */
static const char *global_number(cmd_parms *cmd, const char *arg,
                                 int suffixes, apr_int64_t *out)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    static const char units[] = "KMG";
    const char *u;
    char *end;
    apr_int64_t n;

    if (err)
        return err;
    n = apr_strtoi64(arg, &end, 10);
    if (suffixes && end != arg && *end
        && (u = strchr(units, apr_toupper(*end))) != NULL) {
        n <<= 10 * (u - units + 1);
        end++;
    }
    if (end == arg || *end || n < 0)
        return "";
    *out = n;
    return NULL;
}

const char *ws_limits_set_memory(cmd_parms *cmd, void *dconf, const char *arg)
{
    apr_int64_t n = 0;
    const char *err = global_number(cmd, arg, 1, &n);

    (void)dconf;
    if (err && *err)
        return err;
    if (err || (n && n < (1 << 20)))
        return apr_psprintf(cmd->pool, "WebSocketMaxMemory takes bytes (or "
                            "with K, M, G), 1M at least, or 0 for no limit; "
                            "not '%s'", arg);
    max_memory = n;
    return NULL;
}

const char *ws_limits_set(cmd_parms *cmd, void *dconf, const char *arg)
{
    apr_int64_t n = 0;
    const char *err = global_number(cmd, arg, 0, &n);

    (void)dconf;
    if (err && *err)
        return err;
    if (err || n > 100000000)
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
    memory = 0;
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

/* ---- memory --------------------------------------------------------------
 * After each step a connection reports what it holds (queued output,
 * partial message, zlib state: wsp_session_memory) into the child's sum.
 * Over WebSocketMaxMemory, a connection that holds more than its share
 * (the bound over the open WebSockets, 256 KiB at least) is shed as it
 * steps: closed with 1013 (Try Again Later), its input buffers freed at
 * once, or dropped if its peer is not taking output (its queue cannot be
 * freed otherwise).  Pausing it instead would not free anything, and a
 * paused sender of a large message could never finish it: the others would
 * stay starved.  Only connections that grow step, so the heaviest growing
 * ones go first and the rest of the child goes on. */

apr_int64_t ws_limits_memory(void)
{
    return __atomic_load_n(&memory, __ATOMIC_RELAXED);
}

static void report(ws_conn_t *wc, apr_size_t held)
{
    apr_int64_t delta = (apr_int64_t)held - (apr_int64_t)wc->mem_reported;

    if (delta)
        __atomic_add_fetch(&memory, delta, __ATOMIC_RELAXED);
    wc->mem_reported = held;
}

void ws_limits_memory_step(ws_conn_t *wc, apr_time_t now)
{
    static const char why[] = "memory limit";
    apr_size_t held = wsp_session_memory(&wc->sess), share;
    apr_uint64_t open;

    report(wc, held);
    if (!max_memory || ws_limits_memory() <= max_memory)
        return;
    open = __atomic_load_n(&ws_stats_mine()->open, __ATOMIC_RELAXED);
    share = (apr_size_t)(max_memory / (apr_int64_t)(open ? open : 1));
    if (held <= share || held <= WS_SHED_FLOOR)
        return;
    ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, wc->c, WSLOGNO(00112)
                  "WebSocketMaxMemory (%" APR_INT64_T_FMT ") reached in this "
                  "child: shedding a WebSocket that holds %" APR_SIZE_T_FMT
                  " bytes (close 1013)", max_memory, held);
    WS_COUNT(ws_stats_mine(), mem_shed, 1);
    wsp_session_shed(&wc->sess, WSP_CLOSE_TRY_AGAIN_LATER, why, sizeof(why) - 1,
                     now);
    report(wc, wsp_session_memory(&wc->sess));
}

void ws_limits_memory_leave(ws_conn_t *wc)
{
    report(wc, 0);
}
