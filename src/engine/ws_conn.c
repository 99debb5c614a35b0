/*
 * ws_conn.c - one WebSocket from adoption to the end, driven by one
 * function: proceed().
 *
 * The protocol (closing handshake, keepalive, idle and send timeouts,
 * backpressure, the outbound queue with its control lane) lives in the
 * core's wsp_session, which does no I/O and reads no clock.  Each time the
 * loop has news for a connection (readable, writable, woken by another
 * thread, its deadline, adoption, server stop), proceed() runs the same
 * steps, like h2o's websocket proceed():
 *
 *   1. hand the inbox (sends from other threads) to the session
 *   2. tick the session if its deadline passed
 *   3. read while the session wants input; feed it
 *   4. write what the session has queued, through the filters
 *   5. do what the session wants next: shut down our side, or finish
 *   6. poll for what is needed now, and arm the session's next deadline
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

#define WC(e) ((ws_conn_t *)((char *)(e) - offsetof(ws_conn_t, entry)))

static void proceed(ws_loop_entry *e, unsigned events);
static int  settle(ws_loop_entry *e);
static int  destroy(ws_loop_entry *e);

static const ws_loop_ops conn_ops = { proceed, settle, destroy };

/* Serials tell connections apart across a publication's trip through
 * Redis (ws_publish_from's exclusion); never 0. */
static apr_uint64_t next_serial;

/* --- the session's callbacks (loop thread) ---------------------------------- */

static void on_session_message(void *ud, int opcode, const uint8_t *data,
                               size_t len)
{
    ws_conn_t *wc = ud;
    WS_COUNT(&wc->st, msgs_in, 1);
    WS_COUNT(ws_stats_mine(), msgs_in, 1);
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c,
                  "WebSocket %s message, %" APR_SIZE_T_FMT " bytes",
                  opcode == WSP_OP_TEXT ? "text" : "binary", (apr_size_t)len);
    if (wc->h->on_message)
        wc->h->on_message((ws_conn *)wc,
                          opcode == WSP_OP_TEXT ? WS_TEXT : WS_BINARY,
                          data, len);
}

static void on_session_close(void *ud, int code, const char *reason,
                             size_t len)
{
    ws_conn_t *wc = ud;
    char text[WSP_MAX_CONTROL_PAYLOAD];

    if (len >= sizeof(text))
        len = sizeof(text) - 1;
    memcpy(text, reason, len);
    text[len] = '\0';
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00301)
                  "WebSocket closed: code %d", code);
    ws_outbox_publish(wc);             /* no more sends from now on */
    if (wc->opened && wc->h->on_close)
        wc->h->on_close((ws_conn *)wc, code, text);
}

static void on_session_drain(void *ud)
{
    ws_conn_t *wc = ud;
    if (wc->h->on_drain)
        wc->h->on_drain((ws_conn *)wc);
}

static const wsp_session_callbacks session_callbacks = {
    on_session_message, on_session_close, on_session_drain
};

/* --- life of the struct ------------------------------------------------------ */

ws_conn_t *ws_conn_create(request_rec *r, const ws_dir_conf *conf)
{
    conn_rec *c = r->connection;
    ws_conn_t *wc = calloc(1, sizeof(*wc));

    if (!wc)
        return NULL;
    wc->server = &ws_server_table;
    wc->entry.ops = &conn_ops;
    wc->refs = 1;                     /* the engine's own reference */
    wc->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
    wc->r = r;
    wc->c = c;
    wc->headers = r->headers_in;
    wc->uri = r->uri;
    wc->user = r->user;
    wc->remote_ip = r->useragent_ip;
    wc->query = r->args;
    wc->env = r->subprocess_env;
    wc->s = r->server;
    apr_cpystrn(wc->ip, r->useragent_ip ? r->useragent_ip : "-",
                sizeof(wc->ip));
    wc->location = conf->location;
    wc->h = conf->location->handler->h;
    wc->conf_copy = *conf;
    wc->conf = &wc->conf_copy;
    wc->max_pending = conf->max_pending > 0 ? (apr_size_t)conf->max_pending
                                            : WS_DEFAULT_MAX_PENDING;
    wc->state = WS_ST_HANDSHAKE;
    wc->in_bb = apr_brigade_create(c->pool, c->bucket_alloc);
    wc->out_bb = apr_brigade_create(c->pool, c->bucket_alloc);
    wc->pass_bb = apr_brigade_create(c->pool, c->bucket_alloc);
    return wc;
}

void ws_conn_release(ws_conn_t *wc)
{
    if (apr_atomic_dec32(&wc->refs) != 0)
        return;
    ws_limits_leave(wc);               /* a handshake that went no further */
    ws_outbox_free(wc);
    if (wc->state != WS_ST_HANDSHAKE)
        wsp_session_free(&wc->sess);
    free(wc->extensions_buf);
    free(wc);
}

static void start_session(ws_conn_t *wc, apr_time_t now)
{
    const ws_dir_conf *conf = wc->conf;
    wsp_session_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_message_size = conf->max_message > 0 ? (uint64_t)conf->max_message
                                                 : WS_DEFAULT_MAX_MESSAGE;
    cfg.max_pending = wc->max_pending;
    cfg.ping_interval = conf->ping_interval > 0 ? conf->ping_interval : 0;
    cfg.idle_timeout = conf->idle_timeout > 0 ? conf->idle_timeout : 0;
    cfg.close_timeout = WS_CLOSE_TIMEOUT;
    cfg.linger_timeout = WS_LINGER_TIMEOUT;
    cfg.send_timeout = conf->send_timeout >= 0 ? conf->send_timeout
                                               : WS_DEFAULT_SEND_TIMEOUT;
    cfg.rate_per_sec = conf->rate > 0 ? (uint32_t)conf->rate : 0;
    cfg.rate_burst = conf->burst > 0 ? (uint32_t)conf->burst : 0;
    cfg.max_fragments = conf->max_fragments >= 0 ? (uint32_t)conf->max_fragments
                                                 : WS_DEFAULT_MAX_FRAGMENTS;
    ws_pmd_session_config(wc, &cfg);
    wsp_session_init(&wc->sess, &cfg, &session_callbacks, wc, now);
    wc->state = WS_ST_OPEN;
    wc->opened_at = now;
    wc->last_input = now;
    WS_COUNT(ws_stats_mine(), open, 1);
    WS_COUNT(ws_stats_mine(), opened, 1);
    ws_capacity_note_open(__atomic_load_n(&ws_stats_mine()->open,
                                          __ATOMIC_RELAXED));
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, wc->c, WSLOGNO(00304)
                  "WebSocket open on %s (subprotocol %s)", wc->uri,
                  wc->protocol ? wc->protocol : "none");
    wc->opened = 1;
    if (wc->h->on_open)
        wc->h->on_open((ws_conn *)wc);
    /* Bytes that came with the handshake wait in the input filters, where
     * no poll would see them: read at once. */
    wc->read_more = 1;
}

/* The WebSocket is over: log it, leave the loop, end the request.  The
 * connection itself goes in destroy(), once the loop allows. */
static void finish(ws_conn_t *wc)
{
    wsp_session_state st = wsp_session_get_state(&wc->sess);

    if (wc->state == WS_ST_FINISHED)
        return;
    if (st != WSP_SESSION_FINISHED)      /* aborted from outside */
        wsp_session_eof(&wc->sess, 1, apr_time_now());
    ws_outbox_publish(wc);
    ws_pubsub_forget(wc);              /* no more publications */
    ws_limits_leave(wc);
    ws_limits_memory_leave(wc);
    ws_outbox_finish(wc);              /* after on_close: deferred calls */
    ws_connlog_write(wc);
    ws_stats_closed(&wc->sess);
    __atomic_fetch_sub(&ws_stats_mine()->open, 1, __ATOMIC_RELAXED);
    wc->state = WS_ST_FINISHED;
    ws_loop_forget(&wc->entry);
    ws_io_finish_request(wc);
}

/* --- the steps --------------------------------------------------------------- */

static int session_wants(const ws_conn_t *wc, unsigned what)
{
    return (wsp_session_wants(&wc->sess) & what) != 0;
}

/* Input after a quiet spell is likely followed by another: once the
 * socket is read dry, the connection gives back its cached read buffer. */
static int note_input(ws_conn_t *wc, apr_time_t now)
{
    int after_quiet = now - wc->last_input >= WS_QUIET_TIME;
    wc->last_input = now;
    wc->trim_due = 1;
    return after_quiet;
}

/* A quiet connection keeps no buffer for a next message it may never
 * send: the cached read buffer, the reader's, an inflater without
 * context. */
static void trim(ws_conn_t *wc)
{
    wc->trim_due = 0;
    ws_io_trim_idle(wc);
    wsp_session_trim(&wc->sess);
}

/* ws_set_timer()'s time has come. */
static void run_handler_timer(ws_conn_t *wc, apr_time_t now)
{
    if (!wc->timer_at || now < wc->timer_at)
        return;
    wc->timer_at = 0;
    if (wc->h->on_timer
        && wsp_session_get_state(&wc->sess) == WSP_SESSION_OPEN)
        wc->h->on_timer((ws_conn *)wc);
}

/* The ping or idle timer fired: the same for a connection quiet since. */
static void trim_if_quiet(ws_conn_t *wc, apr_time_t now)
{
    if (now - wc->last_input >= WS_QUIET_TIME)
        trim(wc);
}

/* Step 3.  Reads at most WS_READ_ROUNDS brigades (fairness: then comes
 * back next round).  What the session did not use (it paused for
 * backpressure) stays in in_bb for later. */
static void read_input(ws_conn_t *wc, apr_time_t now)
{
    int rounds, after_quiet = 0;

    wc->read_more = 0;
    for (rounds = 0; rounds < WS_READ_ROUNDS; rounds++) {
        const char *data;
        apr_size_t len, used;
        ws_io_status st;

        if (!session_wants(wc, WSP_WANT_READ)) {
            /* Paused: input may wait in in_bb or inside mod_ssl where no
             * poll sees it; look again once the session wants it. */
            wc->read_more = wsp_session_paused(&wc->sess);
            return;
        }
        st = ws_io_read(wc, &data, &len);
        if (st == WS_IO_AGAIN)
            break;
        if (st == WS_IO_EOF || st == WS_IO_ERROR) {
            wc->input_eof = 1;
            wsp_session_eof(&wc->sess, st == WS_IO_ERROR, now);
            return;
        }
        after_quiet |= note_input(wc, now);
        used = wsp_session_feed(&wc->sess, (const uint8_t *)data, len, now);
        WS_COUNT(&wc->st, bytes_in, used);
        WS_COUNT(ws_stats_mine(), bytes_in, used);
        ws_io_read_consume(wc, used);
        if (ws_io_read_dry(wc, len))  /* one read per readiness */
            break;
    }
    if (rounds == WS_READ_ROUNDS)
        wc->read_more = 1;
    else if (after_quiet)
        trim(wc);
}

/* LINGER: our FIN is out; read (and drop) until the peer's EOF. */
static void linger_input(ws_conn_t *wc, apr_time_t now)
{
    ws_io_status st = ws_io_discard(wc);
    if (st == WS_IO_EOF || st == WS_IO_ERROR) {
        wc->input_eof = 1;
        wsp_session_eof(&wc->sess, st == WS_IO_ERROR, now);
    }
}

/* Step 5.  SHUTDOWN: end the output (mod_ssl's close_notify, h2's
 * END_STREAM), and once that is written shut down the write side. */
static void apply_wants(ws_conn_t *wc, apr_time_t now)
{
    unsigned wants = wsp_session_wants(&wc->sess);

    if (wants & WSP_WANT_FINISH) {
        finish(wc);
        return;
    }
    if ((wants & WSP_WANT_SHUTDOWN) && !wc->shut_down) {
        ws_io_status st = ws_io_end_output(wc);
        if (st == WS_IO_ERROR) {
            wsp_session_eof(&wc->sess, 1, now);
            finish(wc);
            return;
        }
        if (st == WS_IO_DONE) {
            ws_io_shutdown_write(wc);
            wc->shut_down = 1;
            if (wc->input_eof)         /* nothing left to linger for */
                wsp_session_eof(&wc->sess, 0, now);
            if (session_wants(wc, WSP_WANT_FINISH))
                finish(wc);
        }
    }
}

/* The session's deadline moves with every write (the send timeout counts
 * from the last progress) and every message: re-keying the timer each
 * step would cost a skiplist remove and add per message.  So the timer
 * only ever moves earlier; when it fires early, the session's tick finds
 * nothing due and the timer is armed afresh, at most once per period. */
static void arm_deadline(ws_conn_t *wc)
{
    apr_time_t want = wsp_session_deadline(&wc->sess);
    apr_time_t armed = wc->entry.deadline;

    if (wc->timer_at && (!want || wc->timer_at < want))
        want = wc->timer_at;
    /* A connection that goes quiet after input is trimmed then, not only
     * at its next input or ping. */
    if (wc->trim_due && (!want || wc->last_input + WS_QUIET_TIME < want))
        want = wc->last_input + WS_QUIET_TIME;

    if (want && (!armed || want < armed))
        ws_loop_set_deadline(&wc->entry, want);
}

/* Step 6. */
static void arm(ws_conn_t *wc)
{
    apr_int16_t events = 0;
    int lingering = wsp_session_get_state(&wc->sess) == WSP_SESSION_LINGER;

    if (!wc->input_eof && (session_wants(wc, WSP_WANT_READ)
                           || (lingering && wc->shut_down)))
        events |= APR_POLLIN;
    /* write_more: its turn was up (fairness); the next comes when the
     * socket is writable, in turn with the others (an HTTP/2 stream has
     * no socket to poll: the next round). */
    if (wc->c->data_in_output_filters
        || (wc->write_more && !ws_io_is_h2_stream(wc->c)))
        events |= APR_POLLOUT;
    ws_loop_watch(&wc->entry, events);
    arm_deadline(wc);
    if ((wc->read_more && session_wants(wc, WSP_WANT_READ))
        || (wc->write_more && ws_io_is_h2_stream(wc->c)))
        ws_loop_schedule(&wc->entry);  /* input may wait in filters, or
                                          output after the turn */
}

/* Step 4.  Writing may unpause reading: then the input that waits (in
 * in_bb, or inside mod_ssl where no poll sees it) is read at once, and
 * its answers written. */
static void write_output(ws_conn_t *wc, apr_time_t now)
{
    int was_paused = wsp_session_paused(&wc->sess);
    ws_io_status st = ws_io_flush(wc, now);

    wc->write_more = st == WS_IO_MORE;
    if (st == WS_IO_ERROR) {
        wsp_session_eof(&wc->sess, 1, now);
        return;
    }
    if (was_paused && session_wants(wc, WSP_WANT_READ)) {
        read_input(wc, now);
        st = ws_io_flush(wc, now);
        wc->write_more = st == WS_IO_MORE;
        if (st == WS_IO_ERROR)
            wsp_session_eof(&wc->sess, 1, now);
    }
}

static void proceed(ws_loop_entry *e, unsigned events)
{
    ws_conn_t *wc = WC(e);
    apr_time_t now = apr_time_now();

    if (wc->state == WS_ST_FINISHED)
        return;
    wc->in_step = 1;
    wc->step_now = now;
    if (events & WS_EV_ADOPT)
        start_session(wc, now);
    if (events & WS_EV_ABORT) {
        finish(wc);
        goto out;
    }
    ws_outbox_drain(wc, now);
    if (events & WS_EV_STOP)
        wsp_session_going_away(&wc->sess, now);
    if (events & WS_EV_TIMER) {
        wsp_session_tick(&wc->sess, now);
        run_handler_timer(wc, now);
        trim_if_quiet(wc, now);
    }
    if (wsp_session_get_state(&wc->sess) == WSP_SESSION_LINGER) {
        if (wc->shut_down && (events & WS_EV_READABLE))
            linger_input(wc, now);
    }
    else if ((events & WS_EV_READABLE) || wc->read_more) {
        read_input(wc, now);
    }
    /* Woken only by input: write after every connection of this poll round
     * has read (ws_loop_defer), so the answers leave together and the
     * peers wake once for them, not once each. */
    if (events == WS_EV_READABLE && session_wants(wc, WSP_WANT_WRITE))
        ws_loop_defer(&wc->entry);
    else
        write_output(wc, now);
    ws_outbox_publish(wc);             /* before the drain check uses it */
    if (ws_outbox_take_drain_wanted(wc) && wc->h->on_drain
        && wsp_session_get_state(&wc->sess) == WSP_SESSION_OPEN)
        wc->h->on_drain((ws_conn *)wc);
    ws_limits_memory_step(wc, now);
    apply_wants(wc, now);
    if (wc->state == WS_ST_FINISHED)
        goto out;
    arm(wc);
out:
    wc->in_step = 0;
}

/* --- the loop's other calls -------------------------------------------------- */

/* mpm_event's notify_suspend() runs our suspend_connection hook, then sets
 * c->sbh = NULL and marks its private state suspended: neither the request
 * nor c->pool may go before the first of these stores is visible (the
 * grace period covers the second, the next instruction). */
static int mpm_let_go(const ws_conn_t *wc)
{
    return !wc->c || !wc->loop->async
           || __atomic_load_n(&wc->c->sbh, __ATOMIC_ACQUIRE) == NULL;
}

static int settle(ws_loop_entry *e)
{
    ws_conn_t *wc = WC(e);
    if (!mpm_let_go(wc))
        return 0;
    ws_io_release_request(wc);
    return 1;
}

static int destroy(ws_loop_entry *e)
{
    ws_conn_t *wc = WC(e);
    if (!mpm_let_go(wc))
        return 0;
    ws_io_destroy(wc);
    ws_conn_release(wc);               /* the engine's own reference */
    return 1;
}
