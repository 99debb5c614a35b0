/*
 * ws_sock.c - the plain connection's short cut: reading and writing the
 * socket itself instead of going through the filter chains.
 *
 * Only where nothing in the chains can hold data or needs to see it (see
 * ws_sock_plain_output() and ws_io.c's may_hold_input()): no mod_ssl, no
 * HTTP/2 stream, no other filter than the core's own.  Whatever the core
 * still holds goes first, so the bytes keep their order: ws_io.c uses
 * this only while the core's input (output) holds nothing.
 *
 * Why: per small message the filter path costs a heap bucket, a brigade
 * pass through the core output filter (which clears a pool and looks at
 * every bucket) and, for reads, two more read() calls that return
 * nothing; a profile of 512 connections echoing one message each put that
 * at about a quarter of the loop thread's user time (BENCHMARKS.md).
 */
#include <string.h>

#include "ws_internal.h"
#include "http_connection.h"
#include "http_core.h"

APLOG_USE_MODULE(websocket);

/* Frames per writev(): at most IOV_MAX (1024 on Linux); the bytes per
 * call are bounded by what the socket takes anyway. */
#define WS_SOCK_IOV 64

static APR_OPTIONAL_FN_TYPE(ap_logio_add_bytes_out) *logio_add_bytes_out;

/* post_config: mod_logio counts the bytes the core writes for %O; what we
 * write ourselves is counted the same way. */
void ws_sock_init(void)
{
    logio_add_bytes_out = APR_RETRIEVE_OPTIONAL_FN(ap_logio_add_bytes_out);
}

/* The socket the loop polls (ws_io_attach(): a plain connection's poll
 * descriptor is its socket).  Cheaper than ap_get_conn_socket() per step,
 * whose chain through conn_config was a cache miss per connection with
 * 512 of them echoing. */
static apr_socket_t *polled_socket(const ws_conn_t *wc)
{
    return wc->entry.pfd.desc_type == APR_POLL_SOCKET ? wc->entry.pfd.desc.s
                                                       : ap_get_conn_socket(wc->c);
}

/* 1 if the only output filter left is the core's, but for ones that
 * pass everything on (mod_reqtimeout's): writing the socket directly then
 * skips nothing. */
int ws_sock_plain_output(const conn_rec *c)
{
    const ap_filter_t *f = c->output_filters;

    while (f && ws_io_passes_through(f))
        f = f->next;
    return !c->master && f && !f->next
           && f->frec == ap_core_output_filter_handle;
}

/* One non-blocking recv() from the connection's socket, whatever its
 * timeout (a timeout makes APR wait for data): MORE with *n bytes, AGAIN,
 * EOF, or ERROR with *rv. */
ws_io_status ws_sock_recv(apr_socket_t *s, char *buf, apr_size_t *n,
                          apr_status_t *rv)
{
    apr_interval_time_t timeout;

    apr_socket_timeout_get(s, &timeout);
    apr_socket_timeout_set(s, 0);
    *rv = apr_socket_recv(s, buf, n);
    apr_socket_timeout_set(s, timeout);
    if (APR_STATUS_IS_EAGAIN(*rv))
        return WS_IO_AGAIN;
    if (APR_STATUS_IS_EOF(*rv) || (*rv == APR_SUCCESS && *n == 0))
        return WS_IO_EOF;
    return *rv == APR_SUCCESS ? WS_IO_MORE : WS_IO_ERROR;
}

/* From the socket into the loop's one read buffer: one recv() of up to
 * 64 KiB per readiness, no bucket and no buffer per connection.  What the
 * session leaves unused is copied into in_bb by ws_io_read_consume(). */
ws_io_status ws_sock_read(ws_conn_t *wc, const char **data, apr_size_t *len)
{
    char *buf = ws_loop_scratch(wc->loop);
    apr_size_t n = WS_LOOP_SCRATCH;
    apr_status_t rv;
    ws_io_status st;

    if (!buf)
        return WS_IO_ERROR;
    st = ws_sock_recv(polled_socket(wc), buf, &n, &rv);
    if (st == WS_IO_ERROR)
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, wc->c,
                      WSLOGNO(00401) "WebSocket read failed");
    if (st != WS_IO_MORE)
        return st;
    wc->direct_len = n;
    *data = buf;
    *len = n;
    return WS_IO_MORE;
}

/* For %O in the access log line of the upgrade request, as the core's
 * output filter counts.  Under an async MPM that line is written when the
 * request is released, right after the 101 (ws_io_release_request());
 * mod_logio resets its count at each logged request and nothing reads it
 * after the last, so once r is gone counting would only cost a cache miss
 * per write (1.3 % of the loop thread with 512 connections echoing). */
static void count_for_logio(ws_conn_t *wc, apr_size_t written)
{
    if (logio_add_bytes_out && wc->r)
        logio_add_bytes_out(wc->c, (apr_off_t)written);
}

/* One non-blocking writev(); *n: the bytes written (0 on EAGAIN). */
static apr_status_t send_now(apr_socket_t *s, struct iovec *iov, int niov,
                             apr_size_t *n)
{
    apr_interval_time_t timeout;
    apr_status_t rv;

    apr_socket_timeout_get(s, &timeout);
    apr_socket_timeout_set(s, 0);
    rv = apr_socket_sendv(s, iov, niov, n);
    apr_socket_timeout_set(s, timeout);
    if (APR_STATUS_IS_EAGAIN(rv)) {
        *n = 0;
        return APR_SUCCESS;
    }
    return rv;
}

/* The frames (or parts) the socket did not take go to out_bb, where the
 * filter path (ws_io_flush) takes over: the core sets them aside and the
 * loop polls for POLLOUT. */
static void keep_unwritten(ws_conn_t *wc, wsp_buf **f, int n,
                           apr_size_t written)
{
    int i;

    for (i = 0; i < n; i++) {
        apr_size_t len = wsp_buf_len(f[i]);
        apr_bucket *b;

        if (written >= len) {
            written -= len;
            wsp_buf_unref(f[i]);
            continue;
        }
        b = ws_io_add_frame_bucket(wc, f[i]);
        if (written) {                    /* the part already sent goes */
            apr_bucket_split(b, written);
            apr_bucket_delete(b);
            written = 0;
        }
    }
}

/* Writes what the session has queued straight to the socket, a writev()
 * of up to WS_SOCK_IOV frames at a time, until the queue is empty (DONE),
 * the socket takes less than it was given (AGAIN: the rest is in out_bb)
 * or WS_WRITE_TURN bytes went and more is queued (MORE: the others' turn,
 * as in ws_io_flush(); popping may call the handler's on_drain, which can
 * refill the queue for as long as a fast client reads). */
ws_io_status ws_sock_write(ws_conn_t *wc, apr_int64_t now)
{
    apr_socket_t *s = polled_socket(wc);
    apr_size_t turn = 0;

    for (;;) {
        wsp_buf *f[WS_SOCK_IOV];
        struct iovec iov[WS_SOCK_IOV];
        apr_size_t total = 0, written = 0;
        apr_status_t rv;
        int n = 0;

        if (turn >= WS_WRITE_TURN && wsp_session_queued_bytes(&wc->sess))
            return WS_IO_MORE;
        while (n < WS_SOCK_IOV && (f[n] = wsp_session_pop(&wc->sess))) {
            iov[n].iov_base = (void *)wsp_buf_data(f[n]);
            iov[n].iov_len = wsp_buf_len(f[n]);
            total += iov[n].iov_len;
            n++;
        }
        if (!n)
            return WS_IO_DONE;
        rv = send_now(s, iov, n, &written);
        if (written) {
            ws_io_account_written(wc, written, now);
            count_for_logio(wc, written);
        }
        keep_unwritten(wc, f, n, rv == APR_SUCCESS ? written : total);
        if (rv != APR_SUCCESS) {
            ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, wc->c, WSLOGNO(00402)
                          "WebSocket write failed");
            return WS_IO_ERROR;
        }
        if (written < total)
            return WS_IO_AGAIN;
        turn += written;
    }
}
