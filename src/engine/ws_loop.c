/*
 * ws_loop.c - the event loop that owns upgraded connections.
 *
 * One apr_pollset (epoll on Linux), one timer skiplist and a wakeup pipe.
 * Under an async MPM a loop thread per child serves every WebSocket of the
 * child, so an idle WebSocket costs a pollset entry and some memory, never a
 * thread.  Under prefork/worker the request's own thread runs a loop of its
 * own (one per thread, reused) until its connection ends.
 *
 * Other threads talk to the loop only through loop->mutex: handing off a
 * connection (incoming), or scheduling one that has new output (ready).
 */
#include "ws_internal.h"
#include "http_main.h"
#include "ap_mpm.h"

APLOG_USE_MODULE(websocket);

/* The MPM still finishes its side of a suspension after our
 * suspend_connection hook returns (two stores into the connection state
 * living in c->pool).  Never destroy c->pool sooner than this after the
 * hand-off. */
#define WS_HANDOFF_GRACE apr_time_from_msec(50)

static ws_loop *child_loop;                 /* async MPMs */
static __thread ws_loop *thread_loop;       /* sync MPMs, one per thread */

/* Sync MPMs: every thread's loop, so that child_stopping can reach them. */
static apr_thread_mutex_t *sync_loops_mutex;
static apr_array_header_t *sync_loops;

static int timer_compare(void *a, void *b)
{
    const ws_conn_t *x = a, *y = b;
    if (x->deadline != y->deadline)
        return x->deadline < y->deadline ? -1 : 1;
    if (x == y)
        return 0;
    return (apr_uintptr_t)x < (apr_uintptr_t)y ? -1 : 1;
}

apr_status_t ws_loop_create(ws_loop **out, int async, apr_pool_t *parent)
{
    apr_pool_t *p;
    ws_loop *loop;
    apr_status_t rv;

    if ((rv = apr_pool_create(&p, parent)) != APR_SUCCESS)
        return rv;
    apr_pool_tag(p, "websocket_loop");
    loop = apr_pcalloc(p, sizeof(*loop));
    loop->pool = p;
    loop->async = async;
    loop->owner = apr_os_thread_current();
    /* NOCOPY: each connection's apr_pollfd_t lives in its ws_conn for as
     * long as it is in the set, so APR need not copy it. */
    rv = apr_pollset_create_ex(&loop->pollset, async ? 4096 : 4, p,
                               APR_POLLSET_WAKEABLE | APR_POLLSET_NOCOPY,
                               APR_POLLSET_DEFAULT);
    if (rv == APR_SUCCESS)
        rv = apr_thread_mutex_create(&loop->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS)
        rv = apr_skiplist_init(&loop->timers, p);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(p);
        return rv;
    }
    apr_skiplist_set_compare(loop->timers, timer_compare, timer_compare);
    *out = loop;
    return APR_SUCCESS;
}

int ws_loop_is_owner(const ws_loop *loop)
{
    return apr_os_thread_equal(loop->owner, apr_os_thread_current());
}

void ws_loop_wakeup(ws_loop *loop)
{
    apr_pollset_wakeup(loop->pollset);
}

/* --- timers ------------------------------------------------------------ */

void ws_loop_set_timer(ws_conn_t *wc, apr_time_t deadline)
{
    ws_loop *loop = wc->loop;
    if (wc->deadline)
        apr_skiplist_remove(loop->timers, wc, NULL);
    wc->deadline = deadline;
    if (deadline)
        apr_skiplist_add(loop->timers, wc);
}

static void run_timers(ws_loop *loop, apr_time_t now)
{
    ws_conn_t *wc;
    while ((wc = apr_skiplist_peek(loop->timers)) && wc->deadline <= now) {
        apr_skiplist_pop(loop->timers, NULL);
        wc->deadline = 0;
        ws_conn_on_timer(wc);
    }
}

static apr_interval_time_t next_timeout(ws_loop *loop, apr_time_t now)
{
    apr_interval_time_t t = -1;
    ws_conn_t *wc = apr_skiplist_peek(loop->timers);
    if (loop->ready_head)
        return 0;                    /* work left over (read fairness) */
    if (wc)
        t = wc->deadline > now ? wc->deadline - now : 0;
    if ((loop->graveyard || loop->settling) && (t < 0 || t > WS_HANDOFF_GRACE))
        t = WS_HANDOFF_GRACE;
    return t;
}

/* --- the pollset -------------------------------------------------------- */

/* Sets the events polled for wc (0 removes it).  epoll has no "modify" in
 * APR's API, so a change is a remove and an add. */
void ws_loop_watch(ws_conn_t *wc, apr_int16_t events)
{
    ws_loop *loop = wc->loop;
    if (wc->in_pollset && wc->pfd.reqevents == events)
        return;
    if (wc->in_pollset) {
        apr_pollset_remove(loop->pollset, &wc->pfd);
        wc->in_pollset = 0;
    }
    if (events) {
        apr_status_t rv;
        wc->pfd.reqevents = events;
        rv = apr_pollset_add(loop->pollset, &wc->pfd);
        if (rv != APR_SUCCESS) {
            ap_log_cerror(APLOG_MARK, APLOG_ERR, rv, wc->c, WSLOGNO(00201)
                          "cannot add WebSocket to the loop's pollset");
            ws_conn_abort(wc);
            return;
        }
        wc->in_pollset = 1;
    }
}

/* --- connection lists ---------------------------------------------------- */

static void link_conn(ws_loop *loop, ws_conn_t *wc)
{
    wc->all_prev = NULL;
    wc->all_next = loop->all;
    if (loop->all)
        loop->all->all_prev = wc;
    loop->all = wc;
    loop->nconns++;
}

static void unlink_conn(ws_loop *loop, ws_conn_t *wc)
{
    if (wc->all_prev)
        wc->all_prev->all_next = wc->all_next;
    else
        loop->all = wc->all_next;
    if (wc->all_next)
        wc->all_next->all_prev = wc->all_prev;
    wc->all_prev = wc->all_next = NULL;
    loop->nconns--;
}

static void unsettle(ws_loop *loop, ws_conn_t *wc);

/* Takes wc off every list of the loop's; the loop thread calls it as the
 * connection finishes.  Afterwards no other thread can schedule it. */
void ws_loop_forget(ws_conn_t *wc)
{
    ws_loop *loop = wc->loop;
    ws_conn_t **pp;

    ws_loop_watch(wc, 0);
    ws_loop_set_timer(wc, 0);
    unlink_conn(loop, wc);
    if (loop->async)
        unsettle(loop, wc);
    apr_thread_mutex_lock(loop->mutex);
    wc->send_closed = 1;
    if (wc->scheduled) {
        ws_conn_t *prev = NULL;
        for (pp = &loop->ready_head; *pp; prev = *pp, pp = &(*pp)->ready_next) {
            if (*pp == wc) {
                *pp = wc->ready_next;
                if (loop->ready_tail == wc)
                    loop->ready_tail = prev;
                break;
            }
        }
        wc->scheduled = 0;
    }
    apr_thread_mutex_unlock(loop->mutex);
}

void ws_loop_bury(ws_conn_t *wc)
{
    ws_loop *loop = wc->loop;
    wc->grave_next = loop->graveyard;
    loop->graveyard = wc;
}

/* Async: releases the request of each connection adopted at least
 * WS_HANDOFF_GRACE ago (the MPM may still be finishing the suspension
 * until then, reading c->sbh among others). */
static void settle_requests(ws_loop *loop, apr_time_t now)
{
    ws_conn_t **pp = &loop->settling;
    while (*pp) {
        ws_conn_t *wc = *pp;
        if (now - wc->adopted < WS_HANDOFF_GRACE) {
            pp = &wc->settle_next;
            continue;
        }
        *pp = wc->settle_next;
        wc->settle_next = NULL;
        ws_io_release_request(wc);
    }
}

static void unsettle(ws_loop *loop, ws_conn_t *wc)
{
    ws_conn_t **pp;
    for (pp = &loop->settling; *pp; pp = &(*pp)->settle_next) {
        if (*pp == wc) {
            *pp = wc->settle_next;
            wc->settle_next = NULL;
            return;
        }
    }
}

static void reap_graveyard(ws_loop *loop, apr_time_t now, int all)
{
    ws_conn_t **pp = &loop->graveyard;
    while (*pp) {
        ws_conn_t *wc = *pp;
        if (!all && now - wc->adopted < WS_HANDOFF_GRACE) {
            pp = &wc->grave_next;
            continue;
        }
        *pp = wc->grave_next;
        ws_io_destroy(wc);
        ws_conn_release(wc);          /* the loop's own reference */
    }
}

/* Under loop->mutex: puts wc on the ready list, for the loop to move its
 * queued frames to the network.  Returns 1 if the list was empty: only
 * then does another thread need to wake the loop. */
int ws_loop_schedule(ws_conn_t *wc)
{
    ws_loop *loop = wc->loop;
    int first = loop->ready_head == NULL;
    if (wc->scheduled)
        return 0;
    wc->scheduled = 1;
    wc->ready_next = NULL;
    if (loop->ready_tail)
        loop->ready_tail->ready_next = wc;
    else
        loop->ready_head = wc;
    loop->ready_tail = wc;
    return first;
}

/* Runs every connection that was ready when we started.  The list is
 * detached under the lock but each entry keeps its `scheduled` flag until
 * its turn, so another thread's ws_send meanwhile finds it scheduled and
 * leaves its links alone (re-linking it would cut this walk short and
 * strand the rest of the list).  The flag is cleared, under the lock,
 * just before the entry runs: whatever is queued after that point
 * schedules it afresh on the new list, with a wakeup. */
static void run_ready(ws_loop *loop)
{
    ws_conn_t *wc, *next;

    apr_thread_mutex_lock(loop->mutex);
    wc = loop->ready_head;
    loop->ready_head = loop->ready_tail = NULL;
    apr_thread_mutex_unlock(loop->mutex);

    for (; wc; wc = next) {
        apr_thread_mutex_lock(loop->mutex);
        next = wc->ready_next;
        wc->ready_next = NULL;
        wc->scheduled = 0;
        apr_thread_mutex_unlock(loop->mutex);
        if (wc->state != WS_ST_FINISHED)
            ws_conn_on_scheduled(wc);
    }
}

/* --- hand-off from the MPM's worker -------------------------------------- */

/* One wakeup per batch: the loop takes the whole list each time it wakes,
 * so a push onto a non-empty list is already covered by a wakeup. */
void ws_loop_handoff(ws_loop *loop, ws_conn_t *wc)
{
    int first;
    apr_thread_mutex_lock(loop->mutex);
    first = loop->incoming == NULL;
    wc->ready_next = loop->incoming;
    loop->incoming = wc;
    apr_thread_mutex_unlock(loop->mutex);
    if (first)
        ws_loop_wakeup(loop);
}

static void adopt(ws_loop *loop, ws_conn_t *wc)
{
    wc->adopted = apr_time_now();
    link_conn(loop, wc);
    if (loop->async) {
        wc->settle_next = loop->settling;
        loop->settling = wc;
    }
    ws_conn_adopt(wc);
    if (loop->stopping && wc->state != WS_ST_FINISHED)
        ws_conn_going_away(wc);
}

static void take_incoming(ws_loop *loop)
{
    ws_conn_t *wc, *next, *rev = NULL;

    apr_thread_mutex_lock(loop->mutex);
    wc = loop->incoming;
    loop->incoming = NULL;
    apr_thread_mutex_unlock(loop->mutex);
    for (; wc; wc = next) {          /* restore hand-off order */
        next = wc->ready_next;
        wc->ready_next = rev;
        rev = wc;
    }
    for (wc = rev; wc; wc = next) {
        next = wc->ready_next;
        wc->ready_next = NULL;
        adopt(loop, wc);
    }
}

/* --- the loop itself ------------------------------------------------------ */

static void dispatch(ws_conn_t *wc, apr_int16_t events)
{
    if (events & (APR_POLLIN | APR_POLLHUP | APR_POLLERR))
        ws_conn_on_readable(wc);
    if ((events & APR_POLLOUT) && wc->state != WS_ST_FINISHED)
        ws_conn_on_writable(wc);
}

static void going_away_all(ws_loop *loop)
{
    ws_conn_t *wc, *next;
    for (wc = loop->all; wc; wc = next) {
        next = wc->all_next;
        ws_conn_going_away(wc);
    }
    loop->stop_done = 1;
}

/* prefork announces a graceful stop only by a signal (which interrupts
 * our poll) and this state; it runs no child_stopping hook for it. */
static int mpm_is_stopping(void)
{
    int state = AP_MPMQ_RUNNING;
    ap_mpm_query(AP_MPMQ_MPM_STATE, &state);
    return state == AP_MPMQ_STOPPING;
}

static void iterate(ws_loop *loop)
{
    apr_int32_t n = 0, i;
    const apr_pollfd_t *fds;
    apr_time_t now = apr_time_now();
    apr_status_t rv;

    rv = apr_pollset_poll(loop->pollset, next_timeout(loop, now), &n, &fds);
    if (rv == APR_SUCCESS) {
        for (i = 0; i < n; i++)
            dispatch(fds[i].client_data, fds[i].rtnevents);
    }
    else if (!APR_STATUS_IS_EINTR(rv) && !APR_STATUS_IS_TIMEUP(rv)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, ap_server_conf, WSLOGNO(00202)
                     "WebSocket loop: poll failed");
    }
    take_incoming(loop);
    if (!loop->async && !loop->stopping && mpm_is_stopping())
        loop->stopping = 1;
    if (loop->stopping && !loop->stop_done)
        going_away_all(loop);
    run_timers(loop, apr_time_now());
    /* Last, so that whatever the steps above queued goes out before the
     * next poll. */
    run_ready(loop);
    if (loop->async) {
        settle_requests(loop, apr_time_now());
        reap_graveyard(loop, apr_time_now(), 0);
    }
}

static void abort_all(ws_loop *loop)
{
    while (loop->all)
        ws_conn_abort(loop->all);
}

static void *APR_THREAD_FUNC loop_thread_main(apr_thread_t *thd, void *data)
{
    ws_loop *loop = data;
    (void)thd;
    loop->owner = apr_os_thread_current();
    while (!loop->exiting)
        iterate(loop);
    take_incoming(loop);
    abort_all(loop);
    return NULL;
}

static apr_status_t loop_thread_join(void *data)
{
    ws_loop *loop = data;
    apr_status_t trv;
    ws_loop_stop(loop, 1);
    apr_thread_join(&trv, loop->thread);
    child_loop = NULL;
    return APR_SUCCESS;
}

apr_status_t ws_loop_start_thread(ws_loop *loop)
{
    apr_threadattr_t *attr;
    apr_status_t rv;

    apr_threadattr_create(&attr, loop->pool);
    /* The loop's stack holds little: keep it small, like httpd's workers. */
    apr_threadattr_stacksize_set(attr, 256 * 1024);
    rv = apr_thread_create(&loop->thread, attr, loop_thread_main, loop,
                           loop->pool);
    if (rv != APR_SUCCESS)
        return rv;
    child_loop = loop;
    /* Pre-cleanup: stop the thread before the pools it uses go away. */
    apr_pool_pre_cleanup_register(apr_pool_parent_get(loop->pool), loop,
                                  loop_thread_join);
    return APR_SUCCESS;
}

void ws_loop_stop(ws_loop *loop, int now)
{
    loop->stopping = 1;
    if (now)
        loop->exiting = 1;
    ws_loop_wakeup(loop);
}

ws_loop *ws_loop_for_child(void)
{
    return child_loop;
}

void ws_loop_init_child(apr_pool_t *pchild)
{
    if (apr_thread_mutex_create(&sync_loops_mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) == APR_SUCCESS)
        sync_loops = apr_array_make(pchild, 16, sizeof(ws_loop *));
}

/* Stops every loop of this process: the child's, or each thread's. */
void ws_loop_stop_all(int now)
{
    int i;
    if (child_loop)
        ws_loop_stop(child_loop, now);
    if (!sync_loops)
        return;
    apr_thread_mutex_lock(sync_loops_mutex);
    for (i = 0; i < sync_loops->nelts; i++)
        ws_loop_stop(APR_ARRAY_IDX(sync_loops, i, ws_loop *), now);
    apr_thread_mutex_unlock(sync_loops_mutex);
}

static void register_sync_loop(ws_loop *loop)
{
    if (!sync_loops)
        return;
    apr_thread_mutex_lock(sync_loops_mutex);
    APR_ARRAY_PUSH(sync_loops, ws_loop *) = loop;
    apr_thread_mutex_unlock(sync_loops_mutex);
}

/* Sync MPMs: the calling worker thread's own loop, made on first use and
 * kept for the thread's life (a process-lifetime pool, never destroyed, so
 * a handler thread holding a reference can always reach its mutex). */
ws_loop *ws_loop_for_this_thread(void)
{
    if (!thread_loop) {
        ws_loop *loop;
        if (ws_loop_create(&loop, 0, NULL) != APR_SUCCESS)
            return NULL;
        register_sync_loop(loop);
        thread_loop = loop;
    }
    thread_loop->owner = apr_os_thread_current();
    return thread_loop;
}

void ws_loop_run_inline(ws_loop *loop, ws_conn_t *wc)
{
    adopt(loop, wc);
    while (wc->state != WS_ST_FINISHED)
        iterate(loop);
    reap_graveyard(loop, 0, 1);
}
