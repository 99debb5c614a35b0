/*
 * ws_upgrade.c - the opening handshake (RFC 6455 section 4.2), run as an
 * ordinary content handler so that access control, authentication,
 * rewrites and logging apply as to any request; then the hand-over of the
 * connection to a loop.
 */
#include <string.h>

#include "ws_internal.h"
#include "ap_mpm.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "wsp_handshake.h"
#include "wsp_origin.h"

APLOG_USE_MODULE(websocket);

/* Not an upgrade at all: tell the client what this location speaks. */
static int upgrade_required(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "Upgrade", "websocket");
    apr_table_setn(r->err_headers_out, "Connection", "Upgrade");
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, WSLOGNO(00101)
                  "not a WebSocket upgrade request: 426");
    return HTTP_UPGRADE_REQUIRED;
}

static int version_required(request_rec *r, const char *version)
{
    apr_table_setn(r->err_headers_out, "Sec-WebSocket-Version", "13");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WSLOGNO(00102)
                  "unsupported Sec-WebSocket-Version '%s': 426",
                  version ? version : "(none)");
    return HTTP_UPGRADE_REQUIRED;
}

static int bad_handshake(request_rec *r, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WSLOGNO(00103)
                  "bad WebSocket handshake: %s", why);
    return HTTP_BAD_REQUEST;
}

static int is_version_13(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncmp(v, "13", 2) != 0)
        return 0;
    for (v += 2; *v == ' ' || *v == '\t'; v++)
        ;
    return *v == '\0';
}

/* An upgrade request with a body would have us parse the body as
 * WebSocket frames while an intermediary saw an HTTP body: refuse it.  An
 * HTTP/2 stream is the exception: mod_http2 turns an extended CONNECT (RFC
 * 8441) into an upgrade GET and, the stream having no length, marks it
 * chunked; what follows on that stream is the WebSocket. */
static int has_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    if (ws_io_is_h2_stream(r->connection))
        return 0;
    if (apr_table_get(r->headers_in, "Transfer-Encoding"))
        return 1;
    return cl && strspn(cl, "0 \t") != strlen(cl);
}

/* Checks the request against RFC 6455 4.2.1; returns OK or the status.  On
 * an HTTP/2 stream the request is mod_http2's rewrite of the client's
 * extended CONNECT, which carries the same headers. */
static int validate_request(request_rec *r)
{
    const char *upgrade = apr_table_get(r->headers_in, "Upgrade");
    const char *connection = apr_table_get(r->headers_in, "Connection");
    const char *version = apr_table_get(r->headers_in, "Sec-WebSocket-Version");
    const char *key = apr_table_get(r->headers_in, "Sec-WebSocket-Key");

    if (!upgrade || !wsp_header_has_token(upgrade, "websocket"))
        return upgrade_required(r);
    if (strcmp(r->method, "GET") != 0 || r->header_only)
        return bad_handshake(r, "method is not GET");
    if (r->proto_num < HTTP_VERSION(1, 1))
        return bad_handshake(r, "protocol older than HTTP/1.1");
    if (has_body(r))
        return bad_handshake(r, "an upgrade request must not have a body");
    if (!connection || !wsp_header_has_token(connection, "upgrade"))
        return bad_handshake(r, "Connection header lacks the upgrade token");
    if (!version || !is_version_13(version))
        return version_required(r, version);
    if (!key)
        return bad_handshake(r, "no Sec-WebSocket-Key");
    if (!wsp_key_valid(key))
        return bad_handshake(r, "Sec-WebSocket-Key is not base64 of 16 bytes");
    return OK;
}

/* WebSocketOrigin: a browser always sends Origin, and a page of another
 * site must not open a WebSocket that carries this site's cookies
 * (cross-site WebSocket hijacking).  Clients that send no Origin are not
 * browsers and pass. */
static int check_origin(request_rec *r, const ws_dir_conf *conf)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");

    if (!conf->origins || !origin
        || wsp_origin_allowed(origin, (const char *const *)conf->origins->elts,
                              (size_t)conf->origins->nelts))
        return OK;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSLOGNO(00107)
                  "WebSocket from Origin '%s' refused by WebSocketOrigin: 403",
                  origin);
    return HTTP_FORBIDDEN;
}

/* WebSocketProtocol: the first subprotocol the client offered that the
 * location accepts (the handler may choose otherwise in on_handshake). */
static void preselect_protocol(ws_conn_t *wc, const ws_dir_conf *conf)
{
    const char *cursor = wc->offered, *tok;
    size_t len;
    int i;

    if (!conf->protocols || !wc->offered)
        return;
    while (wsp_list_next(&cursor, &tok, &len))
        for (i = 0; i < conf->protocols->nelts; i++) {
            const char *p = APR_ARRAY_IDX(conf->protocols, i, const char *);
            if (strlen(p) == len && strncmp(p, tok, len) == 0) {
                wc->protocol = p;
                return;
            }
        }
}

/* Lets the handler look at the request, refuse it or pick a subprotocol. */
static int run_handshake_callback(request_rec *r, ws_conn_t *wc)
{
    int status;

    if (!wc->h->on_handshake)
        return OK;
    status = wc->h->on_handshake((ws_conn *)wc);
    if (status == 0)
        return OK;
    if (status < 400 || status > 599) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSLOGNO(00104)
                      "handler %s refused the handshake with invalid status %d",
                      wc->h->name ? wc->h->name : "?", status);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WSLOGNO(00105)
                  "handler %s refused the WebSocket handshake: %d",
                  wc->h->name ? wc->h->name : "?", status);
    return status;
}

/* Each on a line of its own: Set-Cookie values must not be merged. */
static int add_header(void *headers, const char *name, const char *value)
{
    apr_table_add(headers, name, value);
    return 1;
}

static void send_switching_protocols(request_rec *r, ws_conn_t *wc)
{
    char accept[WSP_ACCEPT_KEY_LEN + 1];

    wsp_accept_key(apr_table_get(r->headers_in, "Sec-WebSocket-Key"), accept);
    r->status = HTTP_SWITCHING_PROTOCOLS;
    apr_table_clear(r->headers_out);
    apr_table_setn(r->headers_out, "Upgrade", "websocket");
    apr_table_setn(r->headers_out, "Connection", "Upgrade");
    apr_table_set(r->headers_out, "Sec-WebSocket-Accept", accept);
    if (wc->protocol)
        apr_table_setn(r->headers_out, "Sec-WebSocket-Protocol", wc->protocol);
    if (wc->extensions)                /* permessage-deflate, ws_pmd.c */
        apr_table_setn(r->headers_out, "Sec-WebSocket-Extensions",
                       wc->extensions);
    if (wc->extra_headers)             /* ws_set_header() in on_handshake */
        apr_table_do(add_header, r->headers_out, wc->extra_headers, NULL);
    ap_send_interim_response(r, 1);
    /* The response is complete as far as HTTP goes: no final response may
     * follow, and the connection is never reused for HTTP. */
    r->eos_sent = 1;
    r->connection->keepalive = AP_CONN_CLOSE;
}

static int is_async_mpm(conn_rec *c)
{
    int async = 0;
    /* An HTTP/2 stream is processed on an h2 worker that must stay with
     * it: mod_http2 (2.4) ends the stream when its request returns, so it
     * cannot be SUSPENDED. */
    return c->cs && !ws_io_is_h2_stream(c)
           && ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) == APR_SUCCESS
           && async && ws_loop_for_child();
}

/* After the 101: give the connection to a loop.  Async MPM: the child's loop
 * thread takes it in our suspend_connection hook, once the MPM has let go
 * (SUSPENDED).  Otherwise this thread runs it to the end. */
static int hand_over(request_rec *r, ws_conn_t *wc)
{
    conn_rec *c = r->connection;
    apr_status_t rv;

    /* Our idle policy replaces mod_reqtimeout's, which would otherwise cut
     * a silent WebSocket after its header/body timeouts. */
    ap_remove_input_filter_byhandle(c->input_filters, "reqtimeout");
    if ((rv = ws_io_attach(wc)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, WSLOGNO(00106)
                      "cannot poll this connection for WebSocket input");
        ws_conn_release(wc);
        return DONE;
    }
    if (is_async_mpm(c)) {
        wc->loop = ws_loop_for_child();
        ap_set_module_config(c->conn_config, &websocket_module, wc);
        return SUSPENDED;
    }
    wc->loop = ws_loop_for_this_thread();
    if (!wc->loop) {
        ws_conn_release(wc);
        return DONE;
    }
    ws_loop_run_inline(wc->loop, &wc->entry); /* releases the engine's reference */
    return OK;
}

int ws_upgrade_handler(request_rec *r, const ws_dir_conf *conf)
{
    ws_conn_t *wc;
    int status = validate_request(r);

    if (status != OK || (status = check_origin(r, conf)) != OK)
        return status;
    if (!(wc = ws_conn_create(r, conf)))
        return HTTP_INTERNAL_SERVER_ERROR;
    if ((status = ws_limits_admit(r, wc)) != OK) {
        ws_conn_release(wc);
        return status;
    }
    wc->offered = apr_table_get(r->headers_in, "Sec-WebSocket-Protocol");
    preselect_protocol(wc, conf);
    ws_pmd_negotiate(r, wc);
    if ((status = run_handshake_callback(r, wc)) != OK) {
        ws_conn_release(wc);
        return status;
    }
    send_switching_protocols(r, wc);
    if (r->connection->aborted) {
        ws_conn_release(wc);
        return DONE;
    }
    return hand_over(r, wc);
}
