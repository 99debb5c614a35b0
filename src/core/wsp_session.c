/*
 * wsp_session.c - the protocol life of one WebSocket (see wsp_session.h
 * for the state machine and the contract).  The rules and numbers are
 * those of src/engine/ws_conn.c, moved here so they can be tested and
 * fuzzed without a server, plus the fixes: frames are charged with their
 * overhead, a ping flood keeps at most WSP_MAX_PONGS pending pongs,
 * control frames overtake queued data, and a stalled peer meets the send
 * timeout.
 */
#include <stdlib.h>
#include <string.h>

#include "wsp_session.h"
#include "wsp_internal.h"
#include "wsp_utf8.h"

static int on_reader_message(void *ud, int opcode, const uint8_t *data, size_t len);
static int on_reader_ping(void *ud, const uint8_t *data, size_t len);
static int on_reader_pong(void *ud, const uint8_t *data, size_t len);
static int on_reader_close(void *ud, int code, const char *reason, size_t len);

static const wsp_reader_callbacks reader_callbacks = {
    on_reader_message, on_reader_ping, on_reader_pong, on_reader_close
};

/* ---- small facts -------------------------------------------------------- */

static void after_cost_drop(wsp_session *s);
static int is_data_opcode(int opcode)
{
    return opcode == WSP_OP_TEXT || opcode == WSP_OP_BINARY;
}

static int is_reading_state(const wsp_session *s)
{
    return s->state == WSP_SESSION_OPEN || s->state == WSP_SESSION_CLOSING;
}

/* A caller's clock never runs backwards here.  A stale rx clock (reading
 * just resumed) restarts now: a peer we did not read was not idle. */
/* What the bound is checked against: the cost of the queued frames, and
 * the wire bytes of popped frames the caller has not written yet (a large
 * frame is popped whole and written a chunk at a time): as much memory. */
static size_t pending(const wsp_session *s)
{
    return s->cost + s->unwritten;
}

void wsp_session_sync_clock(wsp_session *s, int64_t now)
{
    if (now > s->now)
        s->now = now;
    if (s->rx_clock_stale) {
        s->last_rx = s->now;
        s->rx_clock_stale = 0;
    }
}

/* ---- life of the struct ------------------------------------------------- */

void wsp_session_init(wsp_session *s, const wsp_session_config *cfg,
                      const wsp_session_callbacks *cb, void *ud, int64_t now)
{
    wsp_reader_config rcfg;

    memset(s, 0, sizeof(*s));
    if (cfg)
        s->cfg = *cfg;
    if (!s->cfg.max_pending)
        s->cfg.max_pending = WSP_SESSION_MAX_PENDING;
    if (cb)
        s->cb = *cb;
    s->ud = ud;
    memset(&rcfg, 0, sizeof(rcfg));
    rcfg.max_message_size = s->cfg.max_message_size;
    rcfg.require_mask = 1;            /* we are the server */
    rcfg.allowed_rsv = wsp_pmd_setup(s);
    rcfg.max_fragments = s->cfg.max_fragments;
    wsp_rate_init(&s->rate, s->cfg.rate_per_sec, s->cfg.rate_burst, now);
    wsp_reader_init(&s->reader, &rcfg, &reader_callbacks, s);
    wsp_outq_init(&s->data);
    s->state = WSP_SESSION_OPEN;
    s->now = s->last_rx = s->last_ping = now;
    s->close_code = WSP_CLOSE_ABNORMAL;
    s->closed_by = WSP_BY_NONE;
}

void wsp_session_free(wsp_session *s)
{
    wsp_lane_drop_all(s);
    wsp_reader_free(&s->reader);
    wsp_pmd_teardown(s);
    free(s->close_reason);
    s->close_reason = NULL;
}

/* ---- callbacks into the handler ----------------------------------------- */

static void notify_close(wsp_session *s)
{
    if (s->notified)
        return;
    s->notified = 1;
    if (!s->cb.on_close)
        return;
    s->busy++;
    s->cb.on_close(s->ud, s->close_code, wsp_session_close_reason(s),
                   s->close_reason_len);
    s->busy--;
}

static void notify_drain(wsp_session *s)
{
    s->drain_wanted = 0;
    if (!s->cb.on_drain)
        return;
    s->busy++;
    s->cb.on_drain(s->ud);
    s->busy--;
}

/* What on_close reports and the log line shows. */
void wsp_session_record_close(wsp_session *s, int code, const char *reason,
                              size_t len, wsp_closer by)
{
    if (len > WSP_CLOSE_REASON_MAX)
        len = WSP_CLOSE_REASON_MAX;
    free(s->close_reason);
    s->close_reason = len ? malloc(len + 1) : NULL;
    if (!s->close_reason)
        len = 0;                       /* out of memory: the code still */
    else {
        memcpy(s->close_reason, reason, len);
        s->close_reason[len] = '\0';
    }
    s->close_reason_len = len;
    s->close_code = code;
    s->closed_by = by;
}

static int queue_close(wsp_session *s, int code)
{
    uint8_t payload[WSP_MAX_CONTROL_PAYLOAD];

    return wsp_lane_queue_close(s, payload,
                               wsp_close_payload(payload, code, NULL, 0));
}

/* ---- state changes ------------------------------------------------------ */

static void release_reader_if_done(wsp_session *s)
{
    if (!s->feeding && !is_reading_state(s))
        wsp_reader_free(&s->reader);
}

void wsp_session_finish(wsp_session *s)
{
    if (s->state == WSP_SESSION_FINISHED)
        return;
    s->state = WSP_SESSION_FINISHED;
    s->paused = 0;
    wsp_lane_drop_all(s);
    release_reader_if_done(s);
    notify_close(s);
}

/* DRAINING and nothing left for the peer: linger for its EOF, unless it
 * came already. */
static void linger_if_flushed(wsp_session *s)
{
    if (s->state != WSP_SESSION_DRAINING || wsp_lane_has_output(s))
        return;
    if (s->eof) {
        wsp_session_finish(s);
        return;
    }
    s->state = WSP_SESSION_LINGER;
    s->state_since = s->now;
}

static void enter_closing(wsp_session *s)
{
    s->state = WSP_SESSION_CLOSING;
    s->state_since = s->now;
    s->paused = 0;         /* input now adds no output: read the peer's close */
}

/* The handshake is over, or the connection failed: tell the handler, then
 * flush what is queued, our close frame last. */
static void enter_draining(wsp_session *s)
{
    s->state = WSP_SESSION_DRAINING;
    s->state_since = s->now;
    s->paused = 0;
    release_reader_if_done(s);
    notify_close(s);
    linger_if_flushed(s);
}

/* A protocol violation: close with the code the peer earned (after what
 * is queued) and read nothing more. */
void wsp_session_fail(wsp_session *s, int code)
{
    if (s->state == WSP_SESSION_OPEN)
        queue_close(s, code);
    wsp_session_record_close(s, code, NULL, 0, WSP_BY_SERVER);
    enter_draining(s);
}

/* ---- the frame reader's callbacks --------------------------------------- */

/* Backpressure on input: once half the bound waits to go out, stop right
 * after the message (or ping) that got us there; its echoes would only
 * grow the queue.  Resumed in pop() at a quarter.  So a handler that only
 * answers messages never meets WSP_SEND_EFULL. */
static int pause_if_backed_up(wsp_session *s)
{
    if (s->state != WSP_SESSION_OPEN || pending(s) < s->cfg.max_pending / 2)
        return 0;
    s->paused = 1;
    return 1;                          /* stops wsp_reader_feed() */
}

void wsp_session_deliver(wsp_session *s, int opcode, const uint8_t *data,
                         size_t len)
{
    if (!s->cb.on_message)
        return;
    s->busy++;
    s->cb.on_message(s->ud, opcode, data, len);
    s->busy--;
}

/* WebSocketMessageRate: 1 (and closing 1008) if the peer is over it. */
static int over_rate(wsp_session *s)
{
    if (wsp_rate_take(&s->rate, s->now))
        return 0;
    wsp_session_fail(s, WSP_CLOSE_POLICY);
    return 1;
}

static int on_reader_message(void *ud, int opcode, const uint8_t *data, size_t len)
{
    wsp_session *s = ud;

    if (s->state != WSP_SESSION_OPEN)
        return 0;                      /* after our close: discarded */
    if (over_rate(s))
        return 1;
    if (opcode & WSP_MSG_COMPRESSED) {
        if (wsp_pmd_deliver(s, opcode & ~WSP_MSG_COMPRESSED, data, len))
            return 1;                  /* stops the feed: we are closing */
    }
    else
        wsp_session_deliver(s, opcode, data, len);
    return pause_if_backed_up(s);
}

static int on_reader_ping(void *ud, const uint8_t *data, size_t len)
{
    wsp_session *s = ud;
    wsp_buf *b;

    if (s->state != WSP_SESSION_OPEN)
        return 0;                      /* nothing may follow our close */
    if (over_rate(s))
        return 1;
    if ((b = wsp_buf_frame(WSP_OP_PONG, 1, 0, data, len)) != NULL)
        wsp_lane_enqueue(s, b);
    return pause_if_backed_up(s);
}

static int on_reader_pong(void *ud, const uint8_t *data, size_t len)
{
    wsp_session *s = ud;
    (void)data; (void)len;
    /* Ignored (unsolicited ones too), but they count against the rate. */
    return s->state == WSP_SESSION_OPEN && over_rate(s);
}

static int on_reader_close(void *ud, int code, const char *reason, size_t len)
{
    wsp_session *s = ud;

    if (s->state == WSP_SESSION_OPEN) {
        /* The peer started the close: echo its code, report its words. */
        queue_close(s, code == WSP_CLOSE_NO_STATUS ? 0 : code);
        wsp_session_record_close(s, code, reason, len, WSP_BY_CLIENT);
    }
    if (is_reading_state(s))
        enter_draining(s);
    return 1;                          /* nothing after a close frame counts */
}

/* ---- inputs ------------------------------------------------------------- */

size_t wsp_session_feed(wsp_session *s, const uint8_t *data, size_t len,
                        int64_t now)
{
    size_t used = len;
    wsp_status st;

    if (s->busy)
        return 0;
    wsp_session_sync_clock(s, now);
    if (!is_reading_state(s) || s->eof)
        return len;                    /* draining or lingering: discarded */
    if (s->paused)
        return 0;
    if (len)
        s->last_rx = s->now;
    s->feeding = 1;
    st = wsp_reader_feed(&s->reader, data, len, &used);
    s->feeding = 0;
    if (st == WSP_FAIL) {
        wsp_session_fail(s, wsp_reader_error(&s->reader));
        return len;
    }
    release_reader_if_done(s);
    if (st == WSP_STOPPED && s->paused && is_reading_state(s))
        return used;
    return len;                        /* a close frame ends the input */
}

/* Why a send must be refused, or WSP_SEND_OK. */
static int check_send(wsp_session *s, int opcode, int control_too_big)
{
    if (s->state != WSP_SESSION_OPEN)
        return WSP_SEND_ECLOSED;
    if (is_data_opcode(opcode)) {
        if (pending(s) < s->cfg.max_pending)
            return WSP_SEND_OK;
        s->drain_wanted = 1;
        return WSP_SEND_EFULL;
    }
    if (opcode == WSP_OP_PING || opcode == WSP_OP_PONG)
        return control_too_big ? WSP_SEND_EINVAL : WSP_SEND_OK;
    return WSP_SEND_EINVAL;
}

int wsp_session_send(wsp_session *s, int opcode, const void *data, size_t len,
                     int64_t now)
{
    wsp_buf *b;
    int rc;

    wsp_session_sync_clock(s, now);
    rc = check_send(s, opcode, len > WSP_MAX_CONTROL_PAYLOAD);
    if (rc != WSP_SEND_OK)
        return rc;
    if (s->parts_open && is_data_opcode(opcode))
        return WSP_SEND_ESTATE;
    b = is_data_opcode(opcode) ? wsp_pmd_frame(s, opcode, data, len) : NULL;
    if (!b && !(b = wsp_buf_frame(opcode, 1, 0, data, len)))
        return WSP_SEND_ENOMEM;
    if ((rc = wsp_lane_enqueue(s, b)) != WSP_SEND_OK)
        wsp_buf_unref(b);
    return rc;
}

/* Messages in parts: a continuation only inside one, a new data message
 * only outside.  Returns the parts_open value after b, or -1. */
static int parts_after(const wsp_session *s, const wsp_buf *b)
{
    int opcode = wsp_buf_opcode(b);
    int fin = (wsp_buf_data(b)[0] & 0x80) != 0;

    if (opcode == WSP_OP_CONT)
        return s->parts_open ? !fin : -1;
    if (is_data_opcode(opcode))
        return s->parts_open ? -1 : !fin;
    return s->parts_open;              /* control frames pass */
}

int wsp_session_send_buf(wsp_session *s, wsp_buf *b, int64_t now)
{
    int rc, opcode = wsp_buf_opcode(b), parts, failed;
    wsp_buf *z;

    wsp_session_sync_clock(s, now);
    rc = check_send(s, opcode == WSP_OP_CONT ? WSP_OP_BINARY : opcode,
                    wsp_buf_len(b) > 2 + WSP_MAX_CONTROL_PAYLOAD);
    if (rc != WSP_SEND_OK)
        return rc;
    if ((parts = parts_after(s, b)) < 0)
        return WSP_SEND_ESTATE;
    /* Compressed here, in queue order, if deflate applies to it. */
    z = wsp_pmd_refit(s, b, &failed);
    if (failed) {
        wsp_session_fail(s, WSP_CLOSE_INTERNAL_ERROR);
        return WSP_SEND_ENOMEM;
    }
    b = z ? z : wsp_buf_ref(b);
    if ((rc = wsp_lane_enqueue(s, b)) != WSP_SEND_OK)
        wsp_buf_unref(b);
    else
        s->parts_open = (unsigned)parts;
    return rc;
}

int wsp_session_close(wsp_session *s, int code, const char *reason,
                      size_t len, int64_t now)
{
    uint8_t payload[WSP_MAX_CONTROL_PAYLOAD];
    size_t n;
    int rc;

    wsp_session_sync_clock(s, now);
    if (s->state != WSP_SESSION_OPEN)
        return WSP_SEND_ECLOSED;
    if (code == WSP_CLOSE_NO_STATUS)
        code = 0;
    if ((code && !wsp_close_code_valid(code))
        || (len && (!reason || !wsp_utf8_valid((const uint8_t *)reason, len))))
        return WSP_SEND_EINVAL;
    n = wsp_close_payload(payload, code, reason, len);
    if ((rc = wsp_lane_queue_close(s, payload, n)) != WSP_SEND_OK)
        return rc;
    /* The reason as it went out: cut to fit at a UTF-8 boundary. */
    wsp_session_record_close(s, code ? code : WSP_CLOSE_NO_STATUS,
                             (const char *)payload + 2, n > 2 ? n - 2 : 0,
                             WSP_BY_SERVER);
    enter_closing(s);
    return WSP_SEND_OK;
}

void wsp_session_going_away(wsp_session *s, int64_t now)
{
    static const char why[] = "server shutting down";

    wsp_session_close(s, WSP_CLOSE_GOING_AWAY, why, sizeof(why) - 1, now);
}

/* The peer's TCP side ended.  An error means the connection is broken:
 * finish now.  An EOF may be only a half-close (shutdown(SHUT_WR)): the
 * peer may still read, so what is queued to it is still flushed. */
void wsp_session_eof(wsp_session *s, int error, int64_t now)
{
    if (s->busy || s->state == WSP_SESSION_FINISHED)
        return;
    wsp_session_sync_clock(s, now);
    s->eof = 1;
    if (is_reading_state(s))
        wsp_session_record_close(s, WSP_CLOSE_ABNORMAL, NULL, 0, WSP_BY_NONE);
    if (error || s->state == WSP_SESSION_LINGER)
        wsp_session_finish(s);
    else if (s->state != WSP_SESSION_DRAINING)
        enter_draining(s);
    else
        linger_if_flushed(s);
}

void wsp_session_shed(wsp_session *s, int code, const char *reason,
                      size_t len, int64_t now)
{
    wsp_session_sync_clock(s, now);
    if (s->state == WSP_SESSION_FINISHED || s->busy)
        return;
    if (pending(s) > WSP_SHED_KEEP) {  /* the peer is not taking output */
        if (!s->notified)
            wsp_session_record_close(s, code, reason, len, WSP_BY_SERVER);
        wsp_session_finish(s);
        return;
    }
    if (s->state == WSP_SESSION_OPEN || s->state == WSP_SESSION_CLOSING) {
        if (s->state == WSP_SESSION_OPEN)
            queue_close(s, code);
        if (!s->notified)
            wsp_session_record_close(s, code, reason, len, WSP_BY_SERVER);
        enter_draining(s);             /* frees the reader */
    }
}

void wsp_session_trim(wsp_session *s)
{
    if (s->busy || s->feeding)
        return;
    wsp_reader_trim(&s->reader);
    wsp_pmd_trim(s);
}

void wsp_session_wrote(wsp_session *s, size_t bytes, int64_t now)
{
    wsp_session_sync_clock(s, now);
    if (s->state == WSP_SESSION_FINISHED)
        return;
    if (bytes > s->unwritten)
        bytes = s->unwritten;
    s->unwritten -= bytes;
    if (bytes) {
        s->progress_at = s->now;
        if (!s->busy)
            after_cost_drop(s);
    }
    linger_if_flushed(s);
}

/* ---- outputs ------------------------------------------------------------ */

/* The queue shrank: resume reading at a quarter, wake a blocked sender
 * below half. */
static void after_cost_drop(wsp_session *s)
{
    if (s->paused && pending(s) <= s->cfg.max_pending / 4) {
        s->paused = 0;
        s->rx_clock_stale = 1;
    }
    if (s->drain_wanted && s->state == WSP_SESSION_OPEN
        && pending(s) < s->cfg.max_pending / 2)
        notify_drain(s);
}

wsp_buf *wsp_session_pop(wsp_session *s)
{
    wsp_buf *b;

    if (s->state == WSP_SESSION_FINISHED || !(b = wsp_lane_take(s)))
        return NULL;
    after_cost_drop(s);
    return b;
}

unsigned wsp_session_wants(const wsp_session *s)
{
    unsigned w = 0;

    if (s->state == WSP_SESSION_FINISHED)
        return WSP_WANT_FINISH;
    if (is_reading_state(s) && !s->paused && !s->eof)
        w |= WSP_WANT_READ;
    if (s->cost)
        w |= WSP_WANT_WRITE;
    if (s->state == WSP_SESSION_LINGER)
        w |= WSP_WANT_SHUTDOWN;
    return w;
}

/* ---- queries ------------------------------------------------------------ */

wsp_session_state wsp_session_get_state(const wsp_session *s) { return s->state; }
size_t wsp_session_queued_cost(const wsp_session *s) { return s->cost; }
size_t wsp_session_queued_bytes(const wsp_session *s) { return s->bytes; }
size_t wsp_session_unwritten(const wsp_session *s) { return s->unwritten; }
int wsp_session_paused(const wsp_session *s) { return s->paused; }
int wsp_session_close_code(const wsp_session *s) { return s->close_code; }
const char *wsp_session_close_reason(const wsp_session *s)
{
    return s->close_reason ? s->close_reason : "";
}
wsp_closer wsp_session_closed_by(const wsp_session *s) { return s->closed_by; }

size_t wsp_session_memory(const wsp_session *s)
{
    return s->cost + s->unwritten + s->reader.msg_cap + wsp_pmd_memory(s);
}

size_t wsp_session_reader_buffered(const wsp_session *s)
{
    return wsp_reader_buffered(&s->reader);
}
