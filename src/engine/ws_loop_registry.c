/*
 * ws_loop_registry.c - which loop serves a connection, and how the child
 * reaches them all (see ws_loop.h).
 *
 * Under an async MPM the child has one loop with a thread of its own
 * (ws_loop_start_thread(loop, 1) records it here).  Under prefork/worker
 * each worker thread makes its own loop on first use and keeps it for the
 * thread's life; the registry lists them so that a graceful stop
 * (ws_loop_stop_all()) reaches every one.  The child's pool (pchild) is
 * kept for the per-thread loops' state (ws_loop_cleanup_register()).
 */
#include "httpd.h"
#include "apr_thread_mutex.h"

#include "ws_loop.h"

static ws_loop *child_loop;                 /* async MPMs */
static __thread ws_loop *thread_loop;       /* sync MPMs, one per thread */

/* Sync MPMs: every thread's loop, so that child_stopping can reach them. */
static apr_thread_mutex_t *sync_loops_mutex;
static apr_pool_t *child_pool;              /* pchild, from child_init */
static apr_array_header_t *sync_loops;

apr_pool_t *ws_loop_child_pool(void)
{
    return child_pool;
}

/* on: loop is the child's loop from now on; off: it stops being so. */
void ws_loop_set_child(ws_loop *loop, int on)
{
    if (on)
        child_loop = loop;
    else if (child_loop == loop)
        child_loop = NULL;
}

ws_loop *ws_loop_for_child(void)
{
    return child_loop;
}

void ws_loop_cleanup_register(ws_loop *loop, void *data,
                              apr_status_t (*fn)(void *))
{
    apr_pool_cleanup_register(loop->state_pool, data, fn, apr_pool_cleanup_null);
}

void ws_loop_init_child(apr_pool_t *pchild)
{
    child_pool = pchild;
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
