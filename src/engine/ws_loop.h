/*
 * ws_loop.h - a plain reactor for long-lived connections: one pollset, one
 * timer structure, a wakeup, an inbox of hand-offs from other threads and
 * a ready list.  It knows nothing of WebSockets: each connection embeds a
 * ws_loop_entry and the loop calls entry->ops->proceed() with what
 * happened (WS_EV_*).  The connection decides everything else.
 *
 * Threads: only the loop's own thread touches an entry, except
 * ws_loop_schedule() (any thread, under loop->mutex, see
 * ws_loop_schedule_locked()) and ws_loop_handoff().
 */
#ifndef WS_LOOP_H
#define WS_LOOP_H

#include "apr_portable.h"   /* apr_os_thread_t */
#include "apr_poll.h"
#include "apr_thread_mutex.h"
#include "apr_time.h"

typedef struct ws_loop ws_loop;
typedef struct ws_loop_entry ws_loop_entry;

/* What proceed() is told; several may come at once. */
enum {
    WS_EV_READABLE = 1,     /* POLLIN, POLLHUP or POLLERR */
    WS_EV_WRITABLE = 2,     /* POLLOUT */
    WS_EV_WAKE     = 4,     /* scheduled: another thread queued something,
                               or the entry asked to run again */
    WS_EV_TIMER    = 8,     /* the entry's deadline passed */
    WS_EV_ADOPT    = 16,    /* first call, on the loop thread */
    WS_EV_STOP     = 32,    /* the server is stopping: close politely */
    WS_EV_ABORT    = 64     /* the loop is exiting: finish now */
};

typedef struct ws_loop_ops {
    /* Runs the entry; it must call ws_loop_forget() when it is done. */
    void (*proceed)(ws_loop_entry *e, unsigned events);
    /* Async loops: the MPM has surely finished handing the connection
     * over (WS_HANDOFF_GRACE after adoption).  Returns 0 to be asked again
     * later (the owner can see the MPM is not done yet).  Optional. */
    int  (*settle)(ws_loop_entry *e);
    /* Forgotten and past the grace period: release everything.  Returns 0
     * to be asked again later, as settle. */
    int  (*destroy)(ws_loop_entry *e);
} ws_loop_ops;

struct ws_loop_entry {
    const ws_loop_ops *ops;
    ws_loop          *loop;
    apr_pollfd_t      pfd;           /* desc and client_data set by owner */
    int               in_pollset;
    int               forgotten;
    int               deferred;      /* on loop->deferred */
    ws_loop_entry    *deferred_next;
    apr_time_t        deadline;      /* 0: none */
    apr_time_t        adopted;
    ws_loop_entry    *all_prev, *all_next, *settle_next, *grave_next;
    /* Under loop->mutex: */
    int               scheduled;
    ws_loop_entry    *ready_next;
};

struct ws_loop {
    apr_pool_t         *pool;
    apr_pollset_t      *pollset;
    apr_thread_mutex_t *mutex;
    struct apr_skiplist *timers;     /* entries by deadline */
    apr_thread_t       *thread;      /* async: the loop's own thread */
    apr_os_thread_t     owner;       /* the thread that runs the loop */
    int                 async;
    ws_loop_entry      *all;         /* every adopted entry */
    apr_uint32_t        nentries;
    ws_loop_entry      *graveyard;   /* forgotten, not yet destroyed */
    ws_loop_entry      *settling;    /* adopted, not yet settled */
    ws_loop_entry      *deferred;    /* to run again after this poll round */
    /* Under mutex: */
    ws_loop_entry      *incoming;    /* handed off, not adopted yet */
    ws_loop_entry      *ready_head, *ready_tail;
    volatile int        stopping;    /* WS_EV_STOP to everything */
    volatile int        exiting;     /* WS_EV_ABORT and leave */
    int                 stop_done;
    void               *scratch;     /* ws_loop_scratch(), malloc'd */
    apr_pool_t         *state_pool;  /* see ws_loop_cleanup_register() */
};

apr_status_t ws_loop_create(ws_loop **out, int async, apr_pool_t *parent);
/* ws_loop_registry.c: the child's loop (async MPMs) and the child's pool,
 * for ws_loop.c. */
void         ws_loop_set_child(ws_loop *loop, int on);
apr_pool_t  *ws_loop_child_pool(void);
/* Module code to run when the loop's state (scratch, tables in its pool's
 * userdata) goes.  Never a cleanup of a per-thread loop's own pool: that
 * pool lives in APR's global pool, which exit() destroys after httpd may
 * have unloaded this module (httpd -X: SIGSEGV at exit).  Those run with
 * the child's pool (pchild) instead, once the threads that own the loops
 * are gone. */
void         ws_loop_cleanup_register(ws_loop *loop, void *data,
                                      apr_status_t (*fn)(void *));
apr_status_t ws_loop_start_thread(ws_loop *loop, int child);
void         ws_loop_stop(ws_loop *loop, int now);
int          ws_loop_is_owner(const ws_loop *loop);
void         ws_loop_wakeup(ws_loop *loop);

/* Process-wide: the child's loop (async MPMs), this thread's own loop
 * (everything else, made on first use), and stopping them all. */
ws_loop     *ws_loop_for_child(void);
ws_loop     *ws_loop_for_this_thread(void);
void         ws_loop_init_child(apr_pool_t *pchild);
void         ws_loop_stop_all(int now);

/* From a worker: give e to the loop's thread (WS_EV_ADOPT comes there). */
void         ws_loop_handoff(ws_loop *loop, ws_loop_entry *e);
/* Sync MPMs and HTTP/2 streams: adopt e and run the loop on this thread
 * until e is forgotten, then destroy it. */
void         ws_loop_run_inline(ws_loop *loop, ws_loop_entry *e);

/* Loop thread only. */
/* Adopts e at once (WS_EV_ADOPT comes now): an entry of the loop's own,
 * e.g. one that only runs when scheduled and watches no socket. */
void         ws_loop_adopt_here(ws_loop *loop, ws_loop_entry *e);
void         ws_loop_watch(ws_loop_entry *e, apr_int16_t events); /* 0: none */
void         ws_loop_set_deadline(ws_loop_entry *e, apr_time_t when); /* 0: none */
void         ws_loop_forget(ws_loop_entry *e);
/* Runs e again (WS_EV_WAKE) once every event of the current poll round
 * has been dispatched: a connection that has just read can write its
 * answers after the others have read theirs, so the answers of one round
 * leave together.  No lock: loop thread only. */
void         ws_loop_defer(ws_loop_entry *e);
/* A buffer of WS_LOOP_SCRATCH bytes for the loop thread, valid until its
 * next proceed() (one read buffer for all connections, not one each). */
#define WS_LOOP_SCRATCH 65536
void        *ws_loop_scratch(ws_loop *loop);
/* Any thread.  Returns 1 if the caller must wake the loop (the list was
 * empty and the caller is not the loop thread); _locked: the caller holds
 * loop->mutex. */
int          ws_loop_schedule_locked(ws_loop_entry *e);
void         ws_loop_schedule(ws_loop_entry *e);

#endif
