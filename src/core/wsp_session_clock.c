/*
 * wsp_session_clock.c - the session's time: the deadlines it asks the
 * caller to wake it at (wsp_session_deadline) and what each one does when
 * the caller's clock passes it (wsp_session_tick): ping interval and idle
 * timeout while OPEN, the close and linger timeouts of the closing
 * handshake, and the send timeout of output that makes no progress.  The
 * clock is always the caller's `now`; nothing here reads one.
 */
#include "wsp_session.h"
#include "wsp_internal.h"

static int is_due(const wsp_session *s, int64_t since, int64_t interval)
{
    return interval > 0 && s->now - since >= interval;
}

/* No close frame gets through a peer that stopped reading: just fail. */
static void fail_send_timeout(wsp_session *s)
{
    static const char why[] = "send timeout";

    if (!s->notified)
        wsp_session_record_close(s, WSP_CLOSE_POLICY, why, sizeof(why) - 1,
                                 WSP_BY_SERVER);
    wsp_session_finish(s);
}

/* OPEN and a deadline may be due: idle first (it ends the keepalive),
 * then the ping.  A newer ping replaces an unsent one. */
static void keepalive_tick(wsp_session *s)
{
    static const char why[] = "idle timeout";
    wsp_buf *ping;

    if (!s->paused && is_due(s, s->last_rx, s->cfg.idle_timeout)) {
        if (wsp_session_close(s, WSP_CLOSE_GOING_AWAY, why, sizeof(why) - 1,
                              s->now) != WSP_SEND_OK) {
            wsp_session_record_close(s, WSP_CLOSE_GOING_AWAY, why,
                                     sizeof(why) - 1, WSP_BY_SERVER);
            wsp_session_finish(s);     /* no memory for a close frame */
        }
        return;
    }
    if (is_due(s, s->last_ping, s->cfg.ping_interval)) {
        if ((ping = wsp_buf_frame(WSP_OP_PING, 1, 0, NULL, 0)) != NULL)
            wsp_lane_enqueue(s, ping);
        s->last_ping = s->now;
    }
}

void wsp_session_tick(wsp_session *s, int64_t now)
{
    if (s->busy)
        return;
    wsp_session_sync_clock(s, now);
    if (s->state == WSP_SESSION_FINISHED)
        return;
    if (wsp_lane_has_output(s) && is_due(s, s->progress_at, s->cfg.send_timeout)) {
        fail_send_timeout(s);
        return;
    }
    switch (s->state) {
    case WSP_SESSION_OPEN:
        keepalive_tick(s);
        break;
    case WSP_SESSION_CLOSING:          /* the peer did not answer our close */
    case WSP_SESSION_DRAINING:         /* could not flush in time */
        if (is_due(s, s->state_since, s->cfg.close_timeout))
            wsp_session_finish(s);
        break;
    case WSP_SESSION_LINGER:
        if (is_due(s, s->state_since, s->cfg.linger_timeout))
            wsp_session_finish(s);
        break;
    default:
        break;
    }
}

static int64_t earliest(int64_t d, int64_t since, int64_t interval)
{
    int64_t t;

    if (interval <= 0)
        return d;
    t = since + interval;
    return !d || t < d ? t : d;
}

int64_t wsp_session_deadline(const wsp_session *s)
{
    int64_t d = 0;

    switch (s->state) {
    case WSP_SESSION_OPEN:
        d = earliest(d, s->last_ping, s->cfg.ping_interval);
        if (!s->paused)
            d = earliest(d, s->last_rx, s->cfg.idle_timeout);
        break;
    case WSP_SESSION_CLOSING:
    case WSP_SESSION_DRAINING:
        d = earliest(d, s->state_since, s->cfg.close_timeout);
        break;
    case WSP_SESSION_LINGER:
        d = earliest(d, s->state_since, s->cfg.linger_timeout);
        break;
    default:
        return 0;
    }
    if (wsp_lane_has_output(s))
        d = earliest(d, s->progress_at, s->cfg.send_timeout);
    return d;
}
