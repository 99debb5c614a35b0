/*
 * ws_api.c - the functions handlers reach through mod_websocket.h.
 *
 * send/close/buffered_amount/retain/release/defer/log are safe from any
 * thread (they only touch the outbound queue under the loop's mutex, or
 * copies in the ws_conn); the accessors read the handshake request and are
 * for callbacks, while it still exists.  The table's order is the ABI.
 */
#include <string.h>
#include <strings.h>

#include "ws_internal.h"
#include "apr_strings.h"
#include "wsp_handshake.h"

APLOG_USE_MODULE(websocket);

#define WC(c) ((ws_conn_t *)(c))

static int api_send(ws_conn *c, ws_message_type type, const void *data, size_t len)
{
    if (type != WS_TEXT && type != WS_BINARY)
        return WS_EINVAL;
    if (len && !data)
        return WS_EINVAL;
    if (type == WS_TEXT && !wsp_utf8_valid(data, len))
        return WS_EINVAL;
    return ws_conn_queue_frame(WC(c), type == WS_TEXT ? WSP_OP_TEXT
                                                      : WSP_OP_BINARY,
                               data, len);
}

static int api_close(ws_conn *c, int code, const char *reason)
{
    apr_size_t n = reason ? strlen(reason) : 0;
    if (code && !wsp_close_code_valid(code))
        return WS_EINVAL;
    if (!code && n)
        return WS_EINVAL;          /* a reason needs a code on the wire */
    if (n && !wsp_utf8_valid((const uint8_t *)reason, n))
        return WS_EINVAL;
    return ws_conn_queue_close(WC(c), code, reason, n);
}

static size_t api_buffered_amount(ws_conn *c)
{
    return ws_conn_buffered(WC(c));
}

static void api_retain(ws_conn *c)
{
    apr_atomic_inc32(&WC(c)->refs);
}

static void api_release(ws_conn *c)
{
    ws_conn_release(WC(c));
}

static void api_set_data(ws_conn *c, void *data)
{
    WC(c)->user_data = data;
}

static void *api_get_data(ws_conn *c)
{
    return WC(c)->user_data;
}

static const char *api_header(ws_conn *c, const char *name)
{
    apr_table_t *headers = WC(c)->headers;
    return headers && name ? apr_table_get(headers, name) : NULL;
}

static const char *api_offered_protocols(ws_conn *c)
{
    return WC(c)->offered;
}

/* Only a protocol the client offered may be answered (RFC 6455 4.2.2). */
static int api_select_protocol(ws_conn *c, const char *protocol)
{
    ws_conn_t *wc = WC(c);
    if (wc->state != WS_ST_HANDSHAKE || !wc->r)
        return WS_ECLOSED;
    if (!protocol) {
        wc->protocol = NULL;
        return WS_OK;
    }
    if (!wc->offered || !wsp_list_contains(wc->offered, protocol))
        return WS_EINVAL;
    wc->protocol = apr_pstrdup(wc->r->pool, protocol);
    return WS_OK;
}

static const char *api_protocol(ws_conn *c)
{
    return WC(c)->protocol;
}

static const char *api_uri(ws_conn *c)
{
    return WC(c)->uri;
}

static const char *api_user(ws_conn *c)
{
    return WC(c)->user;
}

static const char *api_remote_ip(ws_conn *c)
{
    return WC(c)->remote_ip;
}

/* On the loop thread the connection's own log context (its LogLevel, the
 * client address httpd adds); from any other thread the conn_rec may be
 * going, so the server's, with the address we copied. */
static void api_log(ws_conn *c, int level, const char *fmt, va_list ap)
{
    ws_conn_t *wc = WC(c);
    const char *name = wc->h->name ? wc->h->name : "handler";
    char buf[1024];

    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    level &= APLOG_LEVELMASK;
    if (wc->c && (!wc->loop || ws_loop_is_owner(wc->loop)))
        ap_log_cerror(APLOG_MARK, level, 0, wc->c, "%s: %s", name, buf);
    else
        ap_log_error(APLOG_MARK, level, 0, wc->s, "[client %s] %s: %s",
                     wc->ip, name, buf);
}

static void api_log_server(int level, const char *fmt, va_list ap)
{
    char buf[1024];
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    ap_log_error(APLOG_MARK, level & APLOG_LEVELMASK, 0, NULL, "%s", buf);
}

/* ---- version 2 ---- */

static void *api_location_ctx(ws_conn *c)
{
    return WC(c)->location ? WC(c)->location->ctx : NULL;
}

static const char *api_query(ws_conn *c)
{
    return WC(c)->query;
}

static const char *api_env(ws_conn *c, const char *name)
{
    apr_table_t *env = WC(c)->env;
    return env && name ? apr_table_get(env, name) : NULL;
}

/* The handshake's own headers are the module's to write. */
static int reserved_header(const char *name)
{
    static const char *const own[] = {
        "Upgrade", "Connection", "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Version", "Content-Length", "Transfer-Encoding"
    };
    size_t i;
    for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcasecmp(name, own[i]) == 0)
            return 1;
    return 0;
}

/* A header name is an HTTP token; a value has no CR, LF or NUL. */
static int api_set_header(ws_conn *c, const char *name, const char *value)
{
    ws_conn_t *wc = WC(c);

    if (wc->state != WS_ST_HANDSHAKE || !wc->r)
        return WS_ESTATE;
    if (!name || !value || !wsp_is_token(name, strlen(name))
        || reserved_header(name) || strpbrk(value, "\r\n"))
        return WS_EINVAL;
    if (!wc->extra_headers)
        wc->extra_headers = apr_table_make(wc->r->pool, 2);
    apr_table_add(wc->extra_headers, name, value);
    return WS_OK;
}

static int api_set_timer(ws_conn *c, long long usec)
{
    ws_conn_t *wc = WC(c);

    if (usec < 0)
        return WS_EINVAL;
    if (wc->state != WS_ST_OPEN || !ws_loop_is_owner(wc->loop))
        return wc->state == WS_ST_FINISHED ? WS_ECLOSED : WS_ESTATE;
    wc->timer_at = usec ? (wc->in_step ? wc->step_now : apr_time_now())
                          + (apr_time_t)usec
                        : 0;
    return WS_OK;
}

static int api_defer(ws_conn *c, void (*fn)(ws_conn *, void *), void *arg)
{
    return ws_conn_defer(WC(c), fn, arg);
}

static int api_subscribe(ws_conn *c, const char *topic)
{
    return ws_pubsub_subscribe(WC(c), topic);
}

static int api_unsubscribe(ws_conn *c, const char *topic)
{
    return ws_pubsub_unsubscribe(WC(c), topic);
}

static int api_publish(const char *topic, ws_message_type type,
                       const void *data, size_t len, ws_conn *exclude)
{
    return ws_pubsub_publish(topic, type, data, len, exclude ? WC(exclude) : NULL);
}

const ws_server ws_server_table = {
    WS_HANDLER_ABI_VERSION,
    sizeof(ws_server),
    api_send,
    api_close,
    api_buffered_amount,
    api_retain,
    api_release,
    api_set_data,
    api_get_data,
    api_header,
    api_offered_protocols,
    api_select_protocol,
    api_protocol,
    api_uri,
    api_user,
    api_remote_ip,
    api_log,
    /* version 2 */
    api_location_ctx,
    api_query,
    api_env,
    api_set_header,
    api_set_timer,
    api_defer,
    ws_conn_send_part,
    ws_config_alloc_fn,
    ws_config_error_fn,
    ws_config_where_fn,
    ws_config_handler_ctx_fn,
    api_log_server,
    api_subscribe,
    api_unsubscribe,
    api_publish,
    ws_pubsub_subscribers
};
