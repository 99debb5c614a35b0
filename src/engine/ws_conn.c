/*
 * ws_conn.c - the life of one WebSocket after the 101: feeding the frame
 * reader, dispatching to the handler, the closing handshake, and the
 * outbound queue that any thread may add to.
 *
 * States (ws_state): OPEN -> CLOSING (we sent a close) -> DRAINING (close
 * handshake over, or the peer failed) -> LINGER (our FIN is out) ->
 * FINISHED.  A peer that vanishes goes straight to FINISHED with 1006.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

APLOG_USE_MODULE(websocket);

static void conn_flush(ws_conn_t *wc);
static void conn_finish(ws_conn_t *wc);

/* --- life of the struct ---------------------------------------------------- */

static int on_reader_message(void *ud, int opcode, const uint8_t *data, size_t len);
static int on_reader_ping(void *ud, const uint8_t *data, size_t len);
static int on_reader_pong(void *ud, const uint8_t *data, size_t len);
static int on_reader_close(void *ud, int code, const char *reason, size_t len);

static const wsp_reader_callbacks reader_callbacks = {
    on_reader_message, on_reader_ping, on_reader_pong, on_reader_close
};

ws_conn_t *ws_conn_create(request_rec *r, const ws_dir_conf *conf)
{
    conn_rec *c = r->connection;
    wsp_reader_config cfg;
    ws_conn_t *wc = calloc(1, sizeof(*wc));

    if (!wc)
        return NULL;
    wc->server = &ws_server_table;
    wc->refs = 1;                     /* the engine's own reference */
    wc->r = r;
    wc->c = c;
    wc->headers = r->headers_in;
    wc->uri = r->uri;
    wc->user = r->user;
    wc->remote_ip = r->useragent_ip;
    wc->h = conf->handler->h;
    wc->conf_copy = *conf;
    wc->conf = &wc->conf_copy;
    wc->max_pending = conf->max_pending > 0 ? (apr_size_t)conf->max_pending
                                            : WS_DEFAULT_MAX_PENDING;
    wc->state = WS_ST_HANDSHAKE;
    wc->close_code = WSP_CLOSE_ABNORMAL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_message_size = conf->max_message > 0 ? (uint64_t)conf->max_message
                                                 : WS_DEFAULT_MAX_MESSAGE;
    cfg.require_mask = 1;
    cfg.allowed_rsv = 0;              /* no extension negotiated (yet) */
    wsp_reader_init(&wc->reader, &cfg, &reader_callbacks, wc);
    wc->in_bb = apr_brigade_create(c->pool, c->bucket_alloc);
    wc->out_bb = apr_brigade_create(c->pool, c->bucket_alloc);
    wc->pass_bb = apr_brigade_create(c->pool, c->bucket_alloc);
    return wc;
}

void ws_conn_release(ws_conn_t *wc)
{
    ws_outbuf *o, *next;

    if (apr_atomic_dec32(&wc->refs) != 0)
        return;
    for (o = wc->q_head; o; o = next) {
        next = o->next;
        free(o);
    }
    wsp_reader_free(&wc->reader);
    free(wc);
}

/* --- the outbound queue (any thread) --------------------------------------- */

static ws_outbuf *frame_new(int opcode, const void *data, apr_size_t len)
{
    apr_size_t hl = wsp_frame_header_size(len, 0);
    ws_outbuf *o = malloc(sizeof(*o) + hl + len);
    if (!o)
        return NULL;
    o->next = NULL;
    o->len = hl + len;
    wsp_frame_header_write(WS_OUTBUF_DATA(o), 1, 0, opcode, len, NULL);
    if (len)
        memcpy(WS_OUTBUF_DATA(o) + hl, data, len);
    return o;
}

/* Under loop->mutex.  Returns 1 if the loop must be woken. */
static int queue_append(ws_conn_t *wc, ws_outbuf *o)
{
    if (wc->q_tail)
        wc->q_tail->next = o;
    else
        wc->q_head = o;
    wc->q_tail = o;
    wc->buffered += o->len;
    return ws_loop_schedule(wc);
}

static void wake_loop_unless_owner(ws_conn_t *wc, int needed)
{
    if (needed && !ws_loop_is_owner(wc->loop))
        ws_loop_wakeup(wc->loop);
}

typedef enum { WS_Q_DATA, WS_Q_CONTROL, WS_Q_CLOSE } ws_qkind;

/* Under loop->mutex: our close frame o is queued; unless the peer spoke
 * first, its code and reason are what on_close will report. */
static void record_our_close(ws_conn_t *wc, const ws_outbuf *o)
{
    const unsigned char *p = WS_OUTBUF_DATA(o) + 2;   /* header: 2 bytes */
    apr_size_t n = o->len - 2;

    wc->send_closed = 1;
    if (wc->close_code != WSP_CLOSE_ABNORMAL)
        return;
    wc->closed_by = WS_BY_SERVER;
    wc->close_code = n >= 2 ? (p[0] << 8) | p[1] : WSP_CLOSE_NO_STATUS;
    n = n > 2 ? n - 2 : 0;
    memcpy(wc->close_reason, p + 2, n);
    wc->close_reason[n] = '\0';
}

/* Appends frame o (taking it) unless the connection refuses: closed, or
 * for data, the queue already holds WebSocketMaxPendingOutput. */
static int enqueue(ws_conn_t *wc, ws_outbuf *o, ws_qkind kind)
{
    int rc = WS_OK, wake = 0;

    apr_thread_mutex_lock(wc->loop->mutex);
    if (wc->send_closed)
        rc = WS_ECLOSED;
    else if (kind == WS_Q_DATA && wc->buffered >= wc->max_pending) {
        wc->drain_wanted = 1;
        rc = WS_EFULL;
    }
    else {
        wake = queue_append(wc, o);
        if (kind == WS_Q_CLOSE)
            record_our_close(wc, o);
    }
    apr_thread_mutex_unlock(wc->loop->mutex);
    if (rc != WS_OK) {
        free(o);
        return rc;
    }
    if (kind == WS_Q_DATA) {
        WS_COUNT(&wc->st, msgs_out, 1);
        WS_COUNT(ws_stats_mine(), msgs_out, 1);
    }
    wake_loop_unless_owner(wc, wake);
    return WS_OK;
}

int ws_conn_queue_frame(ws_conn_t *wc, int opcode, const void *data,
                        apr_size_t len, int is_control)
{
    ws_outbuf *o;

    if (!wc->loop)
        return WS_ECLOSED;            /* still in the handshake */
    if (!(o = frame_new(opcode, data, len)))
        return WS_ENOMEM;
    return enqueue(wc, o, is_control ? WS_Q_CONTROL : WS_Q_DATA);
}

/* Queues our close frame (code 0: none) after everything already queued;
 * nothing may be sent after it. */
int ws_conn_queue_close(ws_conn_t *wc, int code, const char *reason,
                        apr_size_t reason_len)
{
    unsigned char payload[WSP_MAX_CONTROL_PAYLOAD];
    apr_size_t n = wsp_close_payload(payload, code, reason, reason_len);
    ws_outbuf *o;

    if (!wc->loop)
        return WS_ECLOSED;
    if (!(o = frame_new(WSP_OP_CLOSE, payload, n)))
        return WS_ENOMEM;
    return enqueue(wc, o, WS_Q_CLOSE);
}

/* --- state changes (loop thread) ------------------------------------------- */

static void notify_close(ws_conn_t *wc)
{
    int code;
    char reason[sizeof(wc->close_reason)];

    if (wc->close_notified || !wc->opened)
        return;
    wc->close_notified = 1;
    apr_thread_mutex_lock(wc->loop->mutex);
    code = wc->close_code;
    memcpy(reason, wc->close_reason, sizeof(reason));
    apr_thread_mutex_unlock(wc->loop->mutex);
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00301)
                  "WebSocket closed: code %d", code);
    if (wc->h->on_close)
        wc->h->on_close((ws_conn *)wc, code, reason);
}

static void enter_closing(ws_conn_t *wc)
{
    wc->state = WS_ST_CLOSING;
    ws_loop_set_timer(wc, apr_time_now() + WS_CLOSE_TIMEOUT);
}

/* The close handshake is over (or the connection failed): tell the
 * handler, then flush what is queued, our close frame last. */
static void enter_draining(ws_conn_t *wc)
{
    wc->state = WS_ST_DRAINING;
    ws_loop_set_timer(wc, apr_time_now() + WS_CLOSE_TIMEOUT);
    apr_thread_mutex_lock(wc->loop->mutex);
    ws_loop_schedule(wc);              /* flush, then shut down */
    apr_thread_mutex_unlock(wc->loop->mutex);
    notify_close(wc);
}

/* A protocol violation: close with the code the peer earned and read
 * nothing more from it. */
static void fail_connection(ws_conn_t *wc, int code, const char *why)
{
    ap_log_cerror(APLOG_MARK, APLOG_INFO, 0, wc->c, WSLOGNO(00302)
                  "closing WebSocket with %d: %s", code, why);
    ws_conn_queue_close(wc, code, NULL, 0);
    apr_thread_mutex_lock(wc->loop->mutex);
    wc->close_code = code;             /* what really ended it */
    wc->close_reason[0] = '\0';
    wc->closed_by = WS_BY_SERVER;
    apr_thread_mutex_unlock(wc->loop->mutex);
    enter_draining(wc);
}

/* The peer's TCP side ended.  An error means the connection is broken:
 * finish now.  An EOF may be only a half-close (shutdown(SHUT_WR)): the
 * peer may still read, so what is queued to it (our echo of its last
 * message, our close frame) is still flushed before we close. */
static void peer_gone(ws_conn_t *wc, int error)
{
    wc->input_eof = 1;
    if (wc->state == WS_ST_OPEN || wc->state == WS_ST_CLOSING) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00303)
                      "peer %s without a close handshake",
                      error ? "failed" : "closed the connection");
        apr_thread_mutex_lock(wc->loop->mutex);
        wc->close_code = WSP_CLOSE_ABNORMAL;
        wc->close_reason[0] = '\0';
        wc->closed_by = WS_BY_NONE;
        apr_thread_mutex_unlock(wc->loop->mutex);
    }
    if (error || wc->state == WS_ST_LINGER) {
        conn_finish(wc);
        return;
    }
    if (wc->state != WS_ST_DRAINING)
        enter_draining(wc);
    else
        conn_flush(wc);
}

static void conn_finish(ws_conn_t *wc)
{
    if (wc->state == WS_ST_FINISHED)
        return;
    notify_close(wc);
    if (wc->opened) {
        ws_connlog_write(wc);
        __atomic_fetch_sub(&ws_stats_mine()->open, 1, __ATOMIC_RELAXED);
    }
    ws_loop_forget(wc);
    wc->state = WS_ST_FINISHED;
    ws_io_finish_request(wc);
    wsp_reader_free(&wc->reader);
    ws_loop_bury(wc);
}

void ws_conn_abort(ws_conn_t *wc)
{
    conn_finish(wc);
}

void ws_conn_going_away(ws_conn_t *wc)
{
    if (wc->state != WS_ST_OPEN)
        return;
    if (ws_conn_queue_close(wc, WSP_CLOSE_GOING_AWAY, "server shutting down",
                            strlen("server shutting down")) == WS_OK)
        enter_closing(wc);
}

/* The next keepalive deadline: a ping due, or the idle limit. */
static void arm_keepalive(ws_conn_t *wc)
{
    apr_time_t next = 0;
    if (wc->conf->ping_interval > 0)
        next = wc->last_ping + wc->conf->ping_interval;
    if (wc->conf->idle_timeout > 0) {
        apr_time_t idle = wc->last_rx + wc->conf->idle_timeout;
        if (!next || idle < next)
            next = idle;
    }
    ws_loop_set_timer(wc, next);
}

/* OPEN and the keepalive deadline passed.  Reading does not re-arm the
 * timer (that would cost a skiplist update per read); the timer checks
 * the clocks when it fires and re-arms itself. */
static void keepalive_tick(ws_conn_t *wc)
{
    apr_time_t now = apr_time_now();

    if (wc->read_paused)
        wc->last_rx = now;             /* silent because we stopped reading */
    if (wc->conf->idle_timeout > 0
        && now - wc->last_rx >= wc->conf->idle_timeout) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00308)
                      "WebSocket idle for %" APR_TIME_T_FMT " s: closing",
                      apr_time_sec(now - wc->last_rx));
        if (ws_conn_queue_close(wc, WSP_CLOSE_GOING_AWAY, "idle timeout",
                                strlen("idle timeout")) == WS_OK)
            enter_closing(wc);
        return;
    }
    if (wc->conf->ping_interval > 0
        && now - wc->last_ping >= wc->conf->ping_interval) {
        ws_conn_queue_frame(wc, WSP_OP_PING, NULL, 0, 1);
        wc->last_ping = now;
    }
    arm_keepalive(wc);
}

void ws_conn_adopt(ws_conn_t *wc)
{
    wc->state = WS_ST_OPEN;
    wc->opened = 1;
    wc->opened_at = wc->last_rx = wc->last_ping = apr_time_now();
    WS_COUNT(ws_stats_mine(), open, 1);
    WS_COUNT(ws_stats_mine(), opened, 1);
    arm_keepalive(wc);
    ws_loop_watch(wc, APR_POLLIN);
    if (wc->state == WS_ST_FINISHED)
        return;
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00304)
                  "WebSocket open on %s (subprotocol %s)", wc->uri,
                  wc->protocol ? wc->protocol : "none");
    if (wc->h->on_open)
        wc->h->on_open((ws_conn *)wc);
    /* Bytes that came with the handshake wait in the input filters, where
     * no poll would see them: read at once. */
    ws_conn_on_readable(wc);
}

/* --- the frame reader's callbacks ------------------------------------------ */

/* Backpressure on input.  Once half of WebSocketMaxPendingOutput waits to
 * go out, stop reading from this peer right after the message that got us
 * there (its further echoes and pongs would only grow the queue); what is
 * already read stays in in_bb.  Reading resumes below a quarter.  So a
 * handler that only answers messages never meets WS_EFULL. */
static apr_size_t buffered_now(ws_conn_t *wc)
{
    apr_size_t n;
    apr_thread_mutex_lock(wc->loop->mutex);
    n = wc->buffered;
    apr_thread_mutex_unlock(wc->loop->mutex);
    return n;
}

static int pause_if_backed_up(ws_conn_t *wc)
{
    if (buffered_now(wc) < wc->max_pending / 2)
        return 0;
    wc->read_paused = 1;
    return 1;                          /* stops wsp_reader_feed() */
}

static void resume_if_drained(ws_conn_t *wc)
{
    if (!wc->read_paused || buffered_now(wc) > wc->max_pending / 4)
        return;
    wc->read_paused = 0;
    wc->read_pending = 1;              /* in_bb may hold input already */
    apr_thread_mutex_lock(wc->loop->mutex);
    ws_loop_schedule(wc);
    apr_thread_mutex_unlock(wc->loop->mutex);
}

static int on_reader_message(void *ud, int opcode, const uint8_t *data, size_t len)
{
    ws_conn_t *wc = ud;
    if (wc->state != WS_ST_OPEN)
        return 0;                      /* after our close: discarded */
    WS_COUNT(&wc->st, msgs_in, 1);
    WS_COUNT(ws_stats_mine(), msgs_in, 1);
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c,
                  "WebSocket %s message, %" APR_SIZE_T_FMT " bytes",
                  opcode == WSP_OP_TEXT ? "text" : "binary", (apr_size_t)len);
    if (wc->h->on_message)
        wc->h->on_message((ws_conn *)wc,
                          opcode == WSP_OP_TEXT ? WS_TEXT : WS_BINARY,
                          data, len);
    return pause_if_backed_up(wc);
}

static int on_reader_ping(void *ud, const uint8_t *data, size_t len)
{
    ws_conn_t *wc = ud;
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c,
                  "WebSocket ping, %" APR_SIZE_T_FMT " bytes", (apr_size_t)len);
    ws_conn_queue_frame(wc, WSP_OP_PONG, data, len, 1);
    return pause_if_backed_up(wc);
}

static int on_reader_pong(void *ud, const uint8_t *data, size_t len)
{
    (void)ud; (void)data; (void)len;
    return 0;                          /* unsolicited pongs are ignored */
}

static int on_reader_close(void *ud, int code, const char *reason, size_t len)
{
    ws_conn_t *wc = ud;

    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00305)
                  "WebSocket close frame from peer, code %d", code);
    if (wc->state == WS_ST_OPEN) {
        /* The peer started the close: echo its code, report its words. */
        ws_conn_queue_close(wc, code == WSP_CLOSE_NO_STATUS ? 0 : code,
                            NULL, 0);
        apr_thread_mutex_lock(wc->loop->mutex);
        wc->close_code = code;
        wc->closed_by = WS_BY_CLIENT;
        if (len > sizeof(wc->close_reason) - 1)
            len = sizeof(wc->close_reason) - 1;
        memcpy(wc->close_reason, reason, len);
        wc->close_reason[len] = '\0';
        apr_thread_mutex_unlock(wc->loop->mutex);
    }
    if (wc->state == WS_ST_OPEN || wc->state == WS_ST_CLOSING)
        enter_draining(wc);
    return 1;                          /* nothing after a close frame counts */
}

/* --- events from the loop -------------------------------------------------- */

/* Returns how much of data was used: all of it, unless reading paused. */
static apr_size_t feed(ws_conn_t *wc, const char *data, apr_size_t len)
{
    wsp_status st;
    size_t used = len;

    if (wc->state != WS_ST_OPEN && wc->state != WS_ST_CLOSING)
        return len;                    /* draining or lingering: discard */
    st = wsp_reader_feed(&wc->reader, (const uint8_t *)data, len, &used);
    if (st == WSP_FAIL)
        fail_connection(wc, wsp_reader_error(&wc->reader),
                        wsp_reader_error_text(&wc->reader));
    else if (st == WSP_STOPPED && wc->read_paused
             && (wc->state == WS_ST_OPEN || wc->state == WS_ST_CLOSING))
        return used;
    return len;                        /* a close frame ends the input */
}

void ws_conn_on_readable(ws_conn_t *wc)
{
    int rounds;

    if (wc->input_eof) {
        conn_flush(wc);                /* HUP/ERR after EOF: finish the flush */
        return;
    }
    if (wc->read_paused)
        return;
    if (wc->state == WS_ST_LINGER) {
        ws_io_status st = ws_io_discard(wc);
        if (st == WS_IO_EOF || st == WS_IO_ERROR)
            conn_finish(wc);
        return;                        /* MORE: POLLIN fires again */
    }

    for (rounds = 0; rounds < WS_READ_ROUNDS; rounds++) {
        const char *data;
        apr_size_t len;
        ws_io_status st = ws_io_read(wc, &data, &len);

        if (st == WS_IO_AGAIN)
            return;
        if (st == WS_IO_EOF || st == WS_IO_ERROR) {
            peer_gone(wc, st == WS_IO_ERROR);
            return;
        }
        wc->last_rx = apr_time_now();
        len = feed(wc, data, len);     /* what was used: the rest is read again */
        WS_COUNT(&wc->st, bytes_in, len);
        WS_COUNT(ws_stats_mine(), bytes_in, len);
        ws_io_read_consume(wc, len);
        if (wc->state == WS_ST_FINISHED)
            return;
        if (wc->read_paused) {
            /* Stop polling for input, or a peer that has sent its FIN
             * (or more data) would keep the loop spinning on POLLIN that
             * nobody reads.  The queued output that made us pause has
             * scheduled a flush, which arms POLLOUT if it has to wait;
             * errors and hang-ups are reported with it. */
            ws_loop_watch(wc, wc->pfd.reqevents & ~APR_POLLIN);
            return;
        }
    }
    /* Fairness: let other connections run; come back next iteration (the
     * filters may hold data that no poll would report). */
    apr_thread_mutex_lock(wc->loop->mutex);
    ws_loop_schedule(wc);
    apr_thread_mutex_unlock(wc->loop->mutex);
    wc->read_pending = 1;
}

static void conn_flush(ws_conn_t *wc)
{
    ws_io_status st = ws_io_flush(wc);
    int want_drain = 0;

    if (st == WS_IO_ERROR) {
        peer_gone(wc, 1);
        return;
    }
    resume_if_drained(wc);
    /* Never poll for input after EOF: it would stay readable forever. */
    ws_loop_watch(wc, (wc->read_paused || wc->input_eof ? 0 : APR_POLLIN)
                      | (st == WS_IO_AGAIN ? APR_POLLOUT : 0));
    if (st == WS_IO_AGAIN)
        return;
    if (wc->state == WS_ST_DRAINING) {
        /* Everything queued is out: end the output (TLS close_notify). */
        st = ws_io_end_output(wc);
        if (st == WS_IO_AGAIN) {
            ws_loop_watch(wc, APR_POLLOUT);
            return;
        }
        /* Nothing left to linger for: the peer is gone or the write failed. */
        if (wc->input_eof || st == WS_IO_ERROR) {
            conn_finish(wc);
            return;
        }
        ws_io_shutdown_write(wc);
        wc->state = WS_ST_LINGER;
        ws_loop_set_timer(wc, apr_time_now() + WS_LINGER_TIMEOUT);
        return;
    }
    apr_thread_mutex_lock(wc->loop->mutex);
    if (wc->drain_wanted && wc->buffered < wc->max_pending / 2) {
        wc->drain_wanted = 0;
        want_drain = 1;
    }
    apr_thread_mutex_unlock(wc->loop->mutex);
    if (want_drain && wc->state == WS_ST_OPEN && wc->h->on_drain)
        wc->h->on_drain((ws_conn *)wc);
}

void ws_conn_on_writable(ws_conn_t *wc)
{
    conn_flush(wc);
}

void ws_conn_on_scheduled(ws_conn_t *wc)
{
    int close_queued;

    if (wc->read_pending && !wc->read_paused && !wc->input_eof) {
        wc->read_pending = 0;
        ws_conn_on_readable(wc);
        if (wc->state == WS_ST_FINISHED)
            return;
    }
    apr_thread_mutex_lock(wc->loop->mutex);
    close_queued = wc->send_closed;
    apr_thread_mutex_unlock(wc->loop->mutex);
    if (wc->state == WS_ST_OPEN && close_queued)
        enter_closing(wc);            /* the handler called ws_close() */
    if (wc->state != WS_ST_LINGER)
        conn_flush(wc);
}

void ws_conn_on_timer(ws_conn_t *wc)
{
    switch (wc->state) {
    case WS_ST_CLOSING:
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00306)
                      "peer did not answer our close frame in time");
        conn_finish(wc);
        break;
    case WS_ST_DRAINING:
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00307)
                      "could not flush the close frame in time");
        conn_finish(wc);
        break;
    case WS_ST_LINGER:
        conn_finish(wc);
        break;
    case WS_ST_OPEN:
        keepalive_tick(wc);
        break;
    default:
        break;
    }
}
