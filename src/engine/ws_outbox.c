/*
 * ws_outbox.c - ws_send() and ws_close() from any thread.
 *
 * On the connection's loop thread (a handler callback), a frame goes
 * straight into the protocol session.  From any other thread it is
 * serialized in the caller's thread, then appended to the connection's
 * inbox under loop->mutex, and the connection is scheduled; the loop hands
 * the inbox to the session at its next step (ws_outbox_drain).  The
 * WS_EFULL bound is checked against what both hold, counted as memory
 * (WSP_BUF_COST), not only wire bytes: the session's share is the value it
 * had at the end of its last step (ws_outbox_publish).
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "wsp_utf8.h"

static int ws_status(int wsp_send_status)
{
    switch (wsp_send_status) {
    case WSP_SEND_OK:      return WS_OK;
    case WSP_SEND_EFULL:
        ws_stats_limit(WS_LIMIT_PENDING_OUTPUT);
        return WS_EFULL;
    case WSP_SEND_ECLOSED: return WS_ECLOSED;
    case WSP_SEND_ENOMEM:  return WS_ENOMEM;
    case WSP_SEND_ESTATE:  return WS_ESTATE;
    default:               return WS_EINVAL;
    }
}

/* inbox_head is written under loop->mutex, and read without it by
 * ws_outbox_drain()'s first look: both sides atomic. */
static void set_head(ws_conn_t *wc, ws_inbox_item *it)
{
    __atomic_store_n(&wc->inbox_head, it, __ATOMIC_RELEASE);
}

/* Only the loop thread may touch the session, and only once it runs. */
static int on_loop_thread(const ws_conn_t *wc)
{
    return wc->state == WS_ST_OPEN && ws_loop_is_owner(wc->loop);
}

/* Inside proceed() (a handler callback) its clock is fresh enough. */
static apr_time_t step_clock(const ws_conn_t *wc)
{
    return wc->in_step ? wc->step_now : apr_time_now();
}

static void count_sent(ws_conn_t *wc)
{
    WS_COUNT(&wc->st, msgs_out, 1);
    WS_COUNT(ws_stats_mine(), msgs_out, 1);
}

/* Under loop->mutex: WS_OK if the item may join the inbox.  A message in
 * parts keeps other data out of the inbox until its last part (the
 * session does the same for sends on the loop thread). */
static int inbox_admits(ws_conn_t *wc, const ws_inbox_item *it)
{
    if (wc->inbox_dead || (wc->send_closed && !it->fn))
        return WS_ECLOSED;
    if (!it->frame)
        return WS_OK;
    if (it->part ? wc->parts_open != !it->first_part : wc->parts_open)
        return WS_ESTATE;
    if (wc->session_cost + wc->inbox_cost >= wc->max_pending) {
        __atomic_store_n(&wc->drain_wanted, 1, __ATOMIC_RELEASE);
        ws_stats_limit(WS_LIMIT_PENDING_OUTPUT);
        return WS_EFULL;
    }
    return WS_OK;
}

/* Appends an item (taking it) unless the connection refuses: closed, or
 * for data, the bound is reached. */
static int inbox_append(ws_conn_t *wc, ws_inbox_item *it)
{
    apr_size_t cost = it->frame ? WSP_BUF_COST(it->frame) : 0;
    int rc, wake = 0, mine = ws_loop_is_owner(wc->loop);

    it->from_loop = (unsigned)mine;
    apr_thread_mutex_lock(wc->loop->mutex);
    if ((rc = inbox_admits(wc, it)) == WS_OK) {
        if (wc->inbox_tail)
            wc->inbox_tail->next = it;
        else
            set_head(wc, it);
        wc->inbox_tail = it;
        wc->inbox_cost += cost;
        wc->inbox_bytes += it->frame ? wsp_buf_len(it->frame) : 0;
        if (!it->frame && !it->fn)
            wc->send_closed = 1;
        if (it->part)   /* read without the lock on the loop thread */
            __atomic_store_n(&wc->parts_open, !it->last_part, __ATOMIC_RELEASE);
        wake = ws_loop_schedule_locked(&wc->entry);
        if (mine)        /* loop thread only: no other thread drains */
            wc->own_inbox_items++;
    }
    apr_thread_mutex_unlock(wc->loop->mutex);
    /* From here on `it` may already be drained and freed by the loop. */
    if (rc != WS_OK) {
        wsp_buf_unref(it->frame);
        free(it);
        return rc;
    }
    if (wake)
        ws_loop_wakeup(wc->loop);
    return WS_OK;
}

/* Loop thread: an item of its own has left the inbox. */
static void took(ws_conn_t *wc, const ws_inbox_item *it)
{
    if (it->from_loop)
        wc->own_inbox_items--;
}

/* ws_send_part(): always through the inbox, even on the loop thread, so
 * that the parts keep their order against every other queued frame. */
int ws_conn_send_part(ws_conn *c, ws_message_type type, const void *data,
                      size_t len, int fin)
{
    ws_conn_t *wc = (ws_conn_t *)c;
    ws_inbox_item *it;
    int first, rc;

    if ((type != WS_TEXT && type != WS_BINARY) || (len && !data))
        return WS_EINVAL;
    if (type == WS_TEXT && !wsp_utf8_valid(data, len))
        return WS_EINVAL;
    if (!wc->loop || wc->state == WS_ST_FINISHED)
        return WS_ECLOSED;
    apr_thread_mutex_lock(wc->loop->mutex);
    first = !wc->parts_open;
    apr_thread_mutex_unlock(wc->loop->mutex);
    if (!(it = calloc(1, sizeof(*it))))
        return WS_ENOMEM;
    it->part = 1;
    it->first_part = first;
    it->last_part = fin != 0;
    it->frame = wsp_buf_frame(!first ? WSP_OP_CONT
                              : type == WS_TEXT ? WSP_OP_TEXT : WSP_OP_BINARY,
                              fin != 0, 0, data, len);
    if (!it->frame) {
        free(it);
        return WS_ENOMEM;
    }
    rc = inbox_append(wc, it);
    if (rc == WS_OK && fin)
        count_sent(wc);
    return rc;
}

int ws_conn_queue_frame(ws_conn_t *wc, int opcode, const void *data,
                        apr_size_t len)
{
    ws_inbox_item *it;
    int rc;

    if (!wc->loop || wc->state == WS_ST_FINISHED)
        return WS_ECLOSED;            /* still in the handshake, or over */
    /* On the loop thread straight into the session, unless the inbox holds
     * something this thread queued there (a part, a deferral): then behind
     * it, in the order of the calls. */
    if (on_loop_thread(wc) && !wc->own_inbox_items) {
        /* A message in parts is open in the inbox: this one waits. */
        if (__atomic_load_n(&wc->parts_open, __ATOMIC_ACQUIRE))
            return WS_ESTATE;
        rc = ws_status(wsp_session_send(&wc->sess, opcode, data, len,
                                        step_clock(wc)));
        if (rc == WS_OK) {
            count_sent(wc);
            if (!wc->in_step)          /* else the step writes it anyway */
                ws_loop_schedule(&wc->entry);
        }
        return rc;
    }
    if (!(it = calloc(1, sizeof(*it))))
        return WS_ENOMEM;
    if (!(it->frame = wsp_buf_frame(opcode, 1, 0, data, len))) {
        free(it);
        return WS_ENOMEM;
    }
    rc = inbox_append(wc, it);
    if (rc == WS_OK)
        count_sent(wc);
    return rc;
}

int ws_conn_queue_close(ws_conn_t *wc, int code, const char *reason,
                        apr_size_t reason_len)
{
    ws_inbox_item *it;

    if (!wc->loop || wc->state == WS_ST_FINISHED)
        return WS_ECLOSED;
    if (on_loop_thread(wc)) {
        int rc = ws_status(wsp_session_close(&wc->sess, code, reason,
                                             reason_len, step_clock(wc)));
        if (rc == WS_OK && !wc->in_step)
            ws_loop_schedule(&wc->entry);
        return rc;
    }
    if (!(it = calloc(1, sizeof(*it))))
        return WS_ENOMEM;
    it->close_code = code;
    it->reason_len = reason_len < sizeof(it->reason) ? reason_len
                                                     : sizeof(it->reason);
    memcpy(it->reason, reason, it->reason_len);
    return inbox_append(wc, it);
}

/* ws_defer(): fn runs on the loop thread in inbox order.  The item holds
 * a reference, so the handle stays valid for fn whatever happens. */
int ws_conn_defer(ws_conn_t *wc, void (*fn)(ws_conn *, void *), void *arg)
{
    ws_inbox_item *it;
    int rc;

    if (!fn)
        return WS_EINVAL;
    if (!wc->loop || wc->state == WS_ST_FINISHED)
        return WS_ECLOSED;
    if (!(it = calloc(1, sizeof(*it))))
        return WS_ENOMEM;
    it->fn = fn;
    it->arg = arg;
    apr_atomic_inc32(&wc->refs);
    if ((rc = inbox_append(wc, it)) != WS_OK)
        ws_conn_release(wc);
    return rc;
}

static void run_deferred(ws_conn_t *wc, ws_inbox_item *it)
{
    it->fn((ws_conn *)wc, it->arg);
    ws_conn_release(wc);               /* the item's reference */
}

/* Loop thread, as the connection finishes (after on_close): no more
 * deferrals are taken, and those waiting run now, as promised. */
void ws_outbox_finish(ws_conn_t *wc)
{
    ws_inbox_item *it, *next, *keep = NULL, **tail = &keep;

    apr_thread_mutex_lock(wc->loop->mutex);
    wc->inbox_dead = 1;
    it = wc->inbox_head;
    set_head(wc, NULL);
    wc->inbox_tail = NULL;
    apr_thread_mutex_unlock(wc->loop->mutex);
    for (; it; it = next) {
        next = it->next;
        took(wc, it);
        if (it->fn) {
            run_deferred(wc, it);
            free(it);
        }
        else {                         /* frames: freed with the conn */
            it->next = NULL;
            *tail = it;
            tail = &it->next;
        }
    }
    set_head(wc, keep);
}

/* Loop thread: hands the inbox to the session, in order.  A frame the
 * session refuses for now (its own bound, reached meanwhile by sends from
 * the loop thread) stays, with everything after it, for the next step:
 * a send that returned WS_OK is never dropped while the WebSocket is
 * open. */
void ws_outbox_drain(ws_conn_t *wc, apr_int64_t now)
{
    ws_inbox_item *it, *next;
    apr_size_t cost = 0, bytes = 0;

    /* Most steps find the inbox empty (a handler answering on the loop
     * thread sends straight into the session): then no lock.  An item
     * appended after this look schedules the connection, and its next
     * step takes it. */
    if (!__atomic_load_n(&wc->inbox_head, __ATOMIC_ACQUIRE))
        return;
    apr_thread_mutex_lock(wc->loop->mutex);
    it = wc->inbox_head;
    set_head(wc, NULL);
    wc->inbox_tail = NULL;
    apr_thread_mutex_unlock(wc->loop->mutex);
    for (; it; it = next) {
        next = it->next;
        if (it->frame && !it->fn
            && wsp_session_send_buf(&wc->sess, it->frame, now) == WSP_SEND_EFULL)
            break;
        took(wc, it);
        if (it->fn) {
            run_deferred(wc, it);
        }
        else if (it->frame) {
            cost += WSP_BUF_COST(it->frame);
            bytes += wsp_buf_len(it->frame);
            wsp_buf_unref(it->frame);  /* the session holds its own */
        }
        else {
            wsp_session_close(&wc->sess, it->close_code, it->reason,
                              it->reason_len, now);
        }
        free(it);
    }
    apr_thread_mutex_lock(wc->loop->mutex);
    if (it) {                          /* put the rest back in front */
        ws_inbox_item *last = it;
        while (last->next)
            last = last->next;
        last->next = wc->inbox_head;
        if (!wc->inbox_head)
            wc->inbox_tail = last;
        set_head(wc, it);
    }
    wc->inbox_cost -= cost;
    wc->inbox_bytes -= bytes;
    apr_thread_mutex_unlock(wc->loop->mutex);
}

/* Loop thread, after each step: what other threads check their sends
 * against.  Once the session is past OPEN, every further send is
 * refused. */
void ws_outbox_publish(ws_conn_t *wc)
{
    apr_size_t cost = wsp_session_queued_cost(&wc->sess)
                      + wsp_session_unwritten(&wc->sess);
    apr_size_t bytes = wsp_session_queued_bytes(&wc->sess)
                       + wsp_session_unwritten(&wc->sess);
    int open = wsp_session_get_state(&wc->sess) == WSP_SESSION_OPEN;

    /* Unchanged since the last step (an echo's queue is empty again after
     * each): the other threads already see these numbers.  Only this
     * thread writes them, so it may read them without the lock. */
    if (open && cost == wc->session_cost && bytes == wc->session_bytes)
        return;
    apr_thread_mutex_lock(wc->loop->mutex);
    wc->session_cost = cost;
    wc->session_bytes = bytes;
    if (!open)
        wc->send_closed = 1;
    apr_thread_mutex_unlock(wc->loop->mutex);
}

/* 1 (once) if a sender got WS_EFULL and the queue is now below half. */
int ws_outbox_take_drain_wanted(ws_conn_t *wc)
{
    int take;

    /* Set only by a sender refused for a queue that was then full, so the
     * steps that empty it follow and look again: no lock until then. */
    if (!__atomic_load_n(&wc->drain_wanted, __ATOMIC_ACQUIRE))
        return 0;
    apr_thread_mutex_lock(wc->loop->mutex);
    take = wc->drain_wanted
           && wc->session_cost + wc->inbox_cost < wc->max_pending / 2;
    if (take)
        __atomic_store_n(&wc->drain_wanted, 0, __ATOMIC_RELAXED);
    apr_thread_mutex_unlock(wc->loop->mutex);
    return take;
}

/* Wire bytes not yet written: the session's (exact on the loop thread,
 * as of its last step elsewhere) and the inbox's. */
apr_size_t ws_conn_buffered(ws_conn_t *wc)
{
    apr_size_t n, mine = 0;
    int here;
    if (!wc->loop)
        return 0;
    if ((here = on_loop_thread(wc)))
        mine = wsp_session_queued_bytes(&wc->sess)
               + wsp_session_unwritten(&wc->sess);
    apr_thread_mutex_lock(wc->loop->mutex);
    n = (here ? mine : wc->session_bytes) + wc->inbox_bytes;
    apr_thread_mutex_unlock(wc->loop->mutex);
    return n;
}

/* The last reference is gone: nobody else can reach the inbox. */
void ws_outbox_free(ws_conn_t *wc)
{
    ws_inbox_item *it, *next;
    for (it = wc->inbox_head; it; it = next) {
        next = it->next;
        wsp_buf_unref(it->frame);
        free(it);
    }
    wc->inbox_head = wc->inbox_tail = NULL;
}
