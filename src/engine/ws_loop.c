/*
 * ws_loop.c - the reactor that owns upgraded connections (see ws_loop.h).
 *
 * One apr_pollset (epoll on Linux), one timer skiplist and a wakeup pipe.
 * Under an async MPM a loop thread per child serves every WebSocket of the
 * child, so an idle WebSocket costs a pollset entry and some memory, never a
 * thread.  Under prefork/worker, and for HTTP/2 streams, the request's own
 * thread runs a loop of its own (one per thread, reused) until its
 * connection ends.
 *
 * Other threads talk to the loop only through loop->mutex: handing off an
 * entry (incoming), or scheduling one (ready).
 */
#include <stdlib.h>

#include "httpd.h"
#include "http_log.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "apr_skiplist.h"
#include "apr_thread_proc.h"

#include "ws_loop.h"

APLOG_USE_MODULE(websocket);

#define WSLOGNO(n) "WS" #n ": "

/* The event MPM still finishes its side of a suspension after our
 * suspend_connection hook returns (two stores, see DESIGN.md "The hand-off
 * guard"): no entry is settled or destroyed sooner than this after
 * adoption, and not before its owner has seen the first store. */
#define WS_HANDOFF_GRACE apr_time_from_msec(50)

static int timer_compare(void *a, void *b)
{
    const ws_loop_entry *x = a, *y = b;
    if (x->deadline != y->deadline)
        return x->deadline < y->deadline ? -1 : 1;
    if (x == y)
        return 0;
    return (apr_uintptr_t)x < (apr_uintptr_t)y ? -1 : 1;
}

static apr_status_t free_scratch(void *data)
{
    ws_loop *loop = data;
    free(loop->scratch);
    loop->scratch = NULL;
    return APR_SUCCESS;
}

/* malloc'd on first use, on the loop thread: a private loop that never
 * reads directly (an HTTP/2 stream, TLS) never pays for it. */
void *ws_loop_scratch(ws_loop *loop)
{
    if (!loop->scratch)
        loop->scratch = malloc(WS_LOOP_SCRATCH);
    return loop->scratch;
}

apr_status_t ws_loop_create(ws_loop **out, int async, apr_pool_t *parent)
{
    apr_pool_t *p, *child_pool = ws_loop_child_pool();
    ws_loop *loop;
    apr_status_t rv;

    if ((rv = apr_pool_create(&p, parent)) != APR_SUCCESS)
        return rv;
    apr_pool_tag(p, "websocket_loop");
    loop = apr_pcalloc(p, sizeof(*loop));
    loop->pool = p;
    loop->state_pool = parent || !child_pool ? p : child_pool;
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
    ws_loop_cleanup_register(loop, loop, free_scratch);
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

void ws_loop_set_deadline(ws_loop_entry *e, apr_time_t when)
{
    if (e->deadline == when)
        return;
    if (e->deadline)
        apr_skiplist_remove(e->loop->timers, e, NULL);
    e->deadline = when;
    if (when)
        apr_skiplist_add(e->loop->timers, e);
}

static void run_timers(ws_loop *loop, apr_time_t now)
{
    ws_loop_entry *e;
    while ((e = apr_skiplist_peek(loop->timers)) && e->deadline <= now) {
        apr_skiplist_pop(loop->timers, NULL);
        e->deadline = 0;
        e->ops->proceed(e, WS_EV_TIMER);
    }
}

static apr_interval_time_t next_timeout(ws_loop *loop, apr_time_t now)
{
    apr_interval_time_t t = -1;
    ws_loop_entry *e = apr_skiplist_peek(loop->timers);
    if (loop->ready_head)
        return 0;                    /* work left over (read fairness) */
    if (e)
        t = e->deadline > now ? e->deadline - now : 0;
    if ((loop->graveyard || loop->settling) && (t < 0 || t > WS_HANDOFF_GRACE))
        t = WS_HANDOFF_GRACE;
    return t;
}

/* --- the pollset -------------------------------------------------------- */

/* Sets the events polled for e (0 removes it).  epoll has no "modify" in
 * APR's API, so a change is a remove and an add.  An add that fails (out
 * of memory) leaves e unpolled; its timer still runs. */
void ws_loop_watch(ws_loop_entry *e, apr_int16_t events)
{
    ws_loop *loop = e->loop;
    if (e->in_pollset && e->pfd.reqevents == events)
        return;
    if (e->in_pollset) {
        apr_pollset_remove(loop->pollset, &e->pfd);
        e->in_pollset = 0;
    }
    if (events) {
        apr_status_t rv;
        e->pfd.reqevents = events;
        rv = apr_pollset_add(loop->pollset, &e->pfd);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, ap_server_conf, WSLOGNO(00201)
                         "cannot add a WebSocket to the loop's pollset");
            return;
        }
        e->in_pollset = 1;
    }
}

/* --- entry lists ------------------------------------------------------- */

static void link_entry(ws_loop *loop, ws_loop_entry *e)
{
    e->all_prev = NULL;
    e->all_next = loop->all;
    if (loop->all)
        loop->all->all_prev = e;
    loop->all = e;
    loop->nentries++;
}

static void unlink_entry(ws_loop *loop, ws_loop_entry *e)
{
    if (e->all_prev)
        e->all_prev->all_next = e->all_next;
    else
        loop->all = e->all_next;
    if (e->all_next)
        e->all_next->all_prev = e->all_prev;
    e->all_prev = e->all_next = NULL;
    loop->nentries--;
}

static void unsettle(ws_loop *loop, ws_loop_entry *e)
{
    ws_loop_entry **pp;
    for (pp = &loop->settling; *pp; pp = &(*pp)->settle_next) {
        if (*pp == e) {
            *pp = e->settle_next;
            e->settle_next = NULL;
            return;
        }
    }
}

/* Under loop->mutex: takes e off the ready list if it is there.  An entry
 * in run_ready()'s detached walk is not: the walk clears its flag, and
 * reap_graveyard() waits for that. */
static void unschedule_locked(ws_loop *loop, ws_loop_entry *e)
{
    ws_loop_entry **pp, *prev = NULL;
    for (pp = &loop->ready_head; *pp; prev = *pp, pp = &(*pp)->ready_next) {
        if (*pp == e) {
            *pp = e->ready_next;
            if (loop->ready_tail == e)
                loop->ready_tail = prev;
            e->ready_next = NULL;
            e->scheduled = 0;
            return;
        }
    }
}

/* Takes e off the pollset, the timers and the loop's lists; from now on
 * no event reaches it (its owner accepts no more work from other threads
 * before it calls this).  It is destroyed once the hand-off grace is
 * over. */
void ws_loop_forget(ws_loop_entry *e)
{
    ws_loop *loop = e->loop;

    if (e->forgotten)
        return;
    e->forgotten = 1;
    apr_thread_mutex_lock(loop->mutex);
    if (e->scheduled)
        unschedule_locked(loop, e);
    apr_thread_mutex_unlock(loop->mutex);
    ws_loop_watch(e, 0);
    ws_loop_set_deadline(e, 0);
    unlink_entry(loop, e);
    if (loop->async)
        unsettle(loop, e);
    e->grave_next = loop->graveyard;
    loop->graveyard = e;
}

/* Async: settles each entry adopted at least WS_HANDOFF_GRACE ago. */
static void settle_entries(ws_loop *loop, apr_time_t now)
{
    ws_loop_entry **pp = &loop->settling;
    while (*pp) {
        ws_loop_entry *e = *pp;
        if (now - e->adopted < WS_HANDOFF_GRACE) {
            pp = &e->settle_next;
            continue;
        }
        if (e->ops->settle && !e->ops->settle(e)) {
            pp = &e->settle_next;
            continue;
        }
        *pp = e->settle_next;
        e->settle_next = NULL;
    }
}

/* Destroys forgotten entries past the grace (all: every one).  An entry
 * still on the ready list is kept until run_ready() has passed it. */
static void reap_graveyard(ws_loop *loop, apr_time_t now, int all)
{
    ws_loop_entry **pp = &loop->graveyard;
    while (*pp) {
        ws_loop_entry *e = *pp;
        int queued;
        apr_thread_mutex_lock(loop->mutex);
        queued = e->scheduled;
        apr_thread_mutex_unlock(loop->mutex);
        if (queued || e->deferred
            || (!all && now - e->adopted < WS_HANDOFF_GRACE)) {
            pp = &e->grave_next;
            continue;
        }
        *pp = e->grave_next;           /* destroy() may free e */
        if (!e->ops->destroy(e)) {
            e->grave_next = *pp;       /* not yet: keep it where it was */
            *pp = e;
            pp = &e->grave_next;
        }
    }
}

/* Under loop->mutex: puts e on the ready list.  The loop takes the whole
 * list each time it wakes, so only the push that makes the list non-empty
 * needs a wakeup, and only from another thread. */
int ws_loop_schedule_locked(ws_loop_entry *e)
{
    ws_loop *loop = e->loop;
    int first = loop->ready_head == NULL;
    if (e->scheduled)
        return 0;
    e->scheduled = 1;
    e->ready_next = NULL;
    if (loop->ready_tail)
        loop->ready_tail->ready_next = e;
    else
        loop->ready_head = e;
    loop->ready_tail = e;
    return first && !ws_loop_is_owner(loop);
}

void ws_loop_schedule(ws_loop_entry *e)
{
    int wake;
    apr_thread_mutex_lock(e->loop->mutex);
    wake = ws_loop_schedule_locked(e);
    apr_thread_mutex_unlock(e->loop->mutex);
    if (wake)
        ws_loop_wakeup(e->loop);
}

/* Runs every entry that was ready when we started.  The list is detached
 * under the lock but each entry keeps its `scheduled` flag until its
 * turn, so another thread's ws_send meanwhile finds it scheduled and
 * leaves its links alone (re-linking it would cut this walk short and
 * strand the rest of the list).  The flag is cleared, under the lock,
 * just before the entry runs: whatever is queued after that point
 * schedules it afresh on the new list, with a wakeup. */
static void run_ready(ws_loop *loop)
{
    ws_loop_entry *e, *next;

    apr_thread_mutex_lock(loop->mutex);
    e = loop->ready_head;
    loop->ready_head = loop->ready_tail = NULL;
    apr_thread_mutex_unlock(loop->mutex);

    for (; e; e = next) {
        apr_thread_mutex_lock(loop->mutex);
        next = e->ready_next;
        e->ready_next = NULL;
        e->scheduled = 0;
        apr_thread_mutex_unlock(loop->mutex);
        if (!e->forgotten)
            e->ops->proceed(e, WS_EV_WAKE);
    }
}

/* --- hand-off from the MPM's worker -------------------------------------- */

void ws_loop_handoff(ws_loop *loop, ws_loop_entry *e)
{
    int first;
    e->loop = loop;
    apr_thread_mutex_lock(loop->mutex);
    first = loop->incoming == NULL;
    e->ready_next = loop->incoming;
    loop->incoming = e;
    apr_thread_mutex_unlock(loop->mutex);
    if (first)
        ws_loop_wakeup(loop);
}

static void adopt(ws_loop *loop, ws_loop_entry *e)
{
    e->loop = loop;
    e->adopted = apr_time_now();
    link_entry(loop, e);
    if (loop->async) {
        e->settle_next = loop->settling;
        loop->settling = e;
    }
    e->ops->proceed(e, WS_EV_ADOPT | (loop->stopping ? WS_EV_STOP : 0));
}

void ws_loop_adopt_here(ws_loop *loop, ws_loop_entry *e)
{
    adopt(loop, e);
}

static void take_incoming(ws_loop *loop)
{
    ws_loop_entry *e, *next, *rev = NULL;

    apr_thread_mutex_lock(loop->mutex);
    e = loop->incoming;
    loop->incoming = NULL;
    apr_thread_mutex_unlock(loop->mutex);
    for (; e; e = next) {            /* restore hand-off order */
        next = e->ready_next;
        e->ready_next = rev;
        rev = e;
    }
    for (e = rev; e; e = next) {
        next = e->ready_next;
        e->ready_next = NULL;
        adopt(loop, e);
    }
}

/* --- deferred steps ---------------------------------------------------- */

void ws_loop_defer(ws_loop_entry *e)
{
    ws_loop *loop = e->loop;
    if (e->deferred || e->forgotten)
        return;
    e->deferred = 1;
    e->deferred_next = loop->deferred;
    loop->deferred = e;
}

static void run_deferred(ws_loop *loop)
{
    ws_loop_entry *e, *next;

    while ((e = loop->deferred) != NULL) {
        loop->deferred = NULL;
        for (; e; e = next) {
            next = e->deferred_next;
            e->deferred_next = NULL;
            e->deferred = 0;
            if (!e->forgotten)
                e->ops->proceed(e, WS_EV_WAKE);
        }
    }
}

/* --- the loop itself ------------------------------------------------------ */

static unsigned poll_events(apr_int16_t rtnevents)
{
    unsigned ev = 0;
    if (rtnevents & (APR_POLLIN | APR_POLLHUP | APR_POLLERR))
        ev |= WS_EV_READABLE;
    if (rtnevents & APR_POLLOUT)
        ev |= WS_EV_WRITABLE;
    return ev;
}

/* Sends every entry one event; each may forget itself meanwhile. */
static void tell_all(ws_loop *loop, unsigned ev)
{
    ws_loop_entry *e, *next;
    for (e = loop->all; e; e = next) {
        next = e->all_next;
        e->ops->proceed(e, ev);
    }
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
        for (i = 0; i < n; i++) {
            ws_loop_entry *e = fds[i].client_data;
            if (!e->forgotten)
                e->ops->proceed(e, poll_events(fds[i].rtnevents));
        }
        run_deferred(loop);
    }
    else if (!APR_STATUS_IS_EINTR(rv) && !APR_STATUS_IS_TIMEUP(rv)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, ap_server_conf, WSLOGNO(00202)
                     "WebSocket loop: poll failed");
    }
    take_incoming(loop);
    if (!loop->async && !loop->stopping && mpm_is_stopping())
        loop->stopping = 1;
    if (loop->stopping && !loop->stop_done) {
        loop->stop_done = 1;
        tell_all(loop, WS_EV_STOP);
    }
    run_timers(loop, apr_time_now());
    /* Last, so that whatever the steps above scheduled runs before the
     * next poll. */
    run_ready(loop);
    if (loop->async) {
        settle_entries(loop, apr_time_now());
        reap_graveyard(loop, apr_time_now(), 0);
    }
}

static void *APR_THREAD_FUNC loop_thread_main(apr_thread_t *thd, void *data)
{
    ws_loop *loop = data;
    (void)thd;
    loop->owner = apr_os_thread_current();
    while (!loop->exiting)
        iterate(loop);
    take_incoming(loop);
    tell_all(loop, WS_EV_ABORT);
    return NULL;
}

static apr_status_t loop_thread_join(void *data)
{
    ws_loop *loop = data;
    apr_status_t trv;
    ws_loop_stop(loop, 1);
    apr_thread_join(&trv, loop->thread);
    ws_loop_set_child(loop, 0);
    return APR_SUCCESS;
}

/* child: the loop of this child's WebSockets (ws_loop_for_child()); else
 * a loop of the module's own (e.g. the Redis link's). */
apr_status_t ws_loop_start_thread(ws_loop *loop, int child)
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
    if (child)
        ws_loop_set_child(loop, 1);
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

void ws_loop_run_inline(ws_loop *loop, ws_loop_entry *e)
{
    adopt(loop, e);
    while (!e->forgotten)
        iterate(loop);
    reap_graveyard(loop, 0, 1);
}
