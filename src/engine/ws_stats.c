/*
 * ws_stats.c - WebSocket counters per child, in one shared segment that
 * lives as long as the httpd parent: graceful restarts and child exits
 * keep every count.  Read by mod_status (ws_status.c) and the Prometheus
 * handler (ws_metrics.c).
 *
 * Lifetime.  The segment is made once, at the first real post_config, in
 * the process pool (s->process->pool), which outlives every configuration
 * cycle; later cycles find it as that pool's userdata.  A graceful restart
 * therefore leaves the old generation's children writing to the same
 * segment the new generation and the readers use.  Its size is fixed then:
 * the MPMs keep the first ServerLimit for the parent's whole life.
 *
 * Slots.  A child claims a free slot in child_init and adds to it with
 * relaxed atomics only.  When a child is gone (the parent's child_status
 * hook, after reaping it, crashed or not; or a new child finding a slot
 * whose pid no longer exists), its counters are folded into `retired`
 * and the slot freed; gauges (open, Redis link up) are not folded: a dead
 * child holds no connection.  So whole-server totals never go down.
 *
 * Consistency.  Folding moves a value from a slot to `retired`: a reader
 * summing meanwhile could count it twice or not at all.  Claims and folds
 * therefore run under `seq`, a sequence lock in the segment (odd while
 * one runs), and readers retry a read that overlapped one.  Counting
 * itself never takes it.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ws_internal.h"
#include "ap_mpm.h"
#include "http_main.h"
#include "apr_shm.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

#define WS_SEG_MAGIC   0x77737432u   /* "wst2" */
#define WS_LOCK_SPINS  100000        /* then its holder is taken for dead */
#define WS_READ_TRIES  1000

typedef struct ws_slot {
    volatile apr_uint32_t pid;       /* 0: free */
    apr_uint32_t          generation;
    ws_stats              st;
} ws_slot;

typedef struct ws_seg {
    apr_uint32_t magic, slot_size, nslots;
    apr_uint32_t seq;                /* odd: a claim or fold is running */
    apr_uint64_t children_retired;
    ws_stats     retired;
    ws_slot      slots[];
} ws_seg;

/* Every field of ws_stats is an apr_uint64_t: sums walk it as an array. */
#define WS_STATS_WORDS (sizeof(ws_stats) / sizeof(apr_uint64_t))
typedef char ws_stats_is_words[sizeof(ws_stats) % sizeof(apr_uint64_t)
                               ? -1 : 1];

static const int close_codes[WS_NCLOSE] = {
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1013,
    0 /* other */
};

static const char *const limit_names[WS_NLIMITS] = {
    "max_message", "pending_output", "send_timeout", "slow_subscriber",
    "pubsub_queue"
};

static ws_seg   *seg;
static ws_stats  private_stats;     /* no slot: counted, seen by no one */
static ws_stats *mine = &private_stats;

const char *ws_stats_limit_name(int i) { return limit_names[i]; }
int ws_stats_close_code(int i) { return close_codes[i]; }

/* --- the segment ----------------------------------------------------------- */

/* The key names the layout: a module built with other counters, loaded
 * by a restart, makes a segment of its own instead of misreading this. */
static const char *seg_key(apr_pool_t *p)
{
    return apr_psprintf(p, "mod_websocket/stats/%u/%u/%u",
                        (unsigned)sizeof(ws_slot), (unsigned)WS_NCLOSE,
                        (unsigned)WS_NLIMITS);
}

static ws_seg *seg_create(apr_pool_t *pool, server_rec *s)
{
    int limit = 0;
    apr_size_t n, size;
    apr_shm_t *shm;
    ws_seg *g;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    /* Four per process slot: after graceful restarts in quick succession
     * several generations may overlap. */
    n = 4 * (apr_size_t)(limit > 0 ? limit : 1);
    size = sizeof(ws_seg) + n * sizeof(ws_slot);
    rv = apr_shm_create(&shm, size, NULL, pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, WSLOGNO(00501)
                     "cannot create shared memory for WebSocket statistics; "
                     "mod_status will show only the serving child's");
        return NULL;
    }
    g = apr_shm_baseaddr_get(shm);
    memset(g, 0, size);
    g->magic = WS_SEG_MAGIC;
    g->slot_size = sizeof(ws_slot);
    g->nslots = (apr_uint32_t)n;
    return g;
}

apr_status_t ws_stats_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    const char *key = seg_key(pconf);
    void *found = NULL;

    apr_pool_userdata_get(&found, key, pp);
    if (found) {                       /* a restart: keep counting */
        seg = found;
        return APR_SUCCESS;
    }
    seg = seg_create(pp, s);
    if (seg)                           /* the key is copied into pp */
        apr_pool_userdata_set(seg, key, apr_pool_cleanup_null, pp);
    return APR_SUCCESS;
}

static void seg_lock(void)
{
    apr_uint32_t s = __atomic_load_n(&seg->seq, __ATOMIC_RELAXED), stuck = s;
    int spins = 0;

    for (;;) {
        if (!(s & 1) && __atomic_compare_exchange_n(&seg->seq, &s, s + 1, 0,
                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        /* A section is a few hundred stores and at most one kill(pid, 0):
         * one that lasts this long belongs to a process killed inside. */
        if (s != stuck) {
            stuck = s;
            spins = 0;
        }
        else if (++spins > WS_LOCK_SPINS
                 && __atomic_compare_exchange_n(&seg->seq, &s, s + 2, 0,
                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return;
        }
        sched_yield();
        s = __atomic_load_n(&seg->seq, __ATOMIC_RELAXED);
    }
}

static void seg_unlock(void)
{
    __atomic_add_fetch(&seg->seq, 1, __ATOMIC_RELEASE);
}

static void load_stats(ws_stats *out, const ws_stats *in)
{
    const apr_uint64_t *a = (const apr_uint64_t *)in;
    apr_uint64_t *b = (apr_uint64_t *)out;
    apr_size_t i;

    for (i = 0; i < WS_STATS_WORDS; i++)
        b[i] = __atomic_load_n(&a[i], __ATOMIC_RELAXED);
}

static void add_stats(ws_stats *total, const ws_stats *in)
{
    const apr_uint64_t *a = (const apr_uint64_t *)in;
    apr_uint64_t *b = (apr_uint64_t *)total;
    apr_size_t i;

    for (i = 0; i < WS_STATS_WORDS; i++)
        b[i] += a[i];
}

/* The slot of closes[] that counts a close code. */
static int close_bucket(int code)
{
    int i;

    for (i = 0; i < WS_NCLOSE - 1; i++)
        if (close_codes[i] == code)
            return i;
    return WS_NCLOSE - 1;
}

/* Under the lock: a dead child's counts join `retired`, its slot is free. */
static void fold_locked(ws_slot *slot)
{
    ws_stats st;
    apr_uint64_t *a = (apr_uint64_t *)&st, *b = (apr_uint64_t *)&seg->retired;
    apr_size_t i;

    load_stats(&st, &slot->st);
    /* WebSockets still open in a child that is gone (killed, crashed)
     * ended without a close: they count as 1006, so that every WebSocket
     * ever opened is open or counted under a close code. */
    st.closes[close_bucket(WSP_CLOSE_ABNORMAL)] += st.c.open;
    st.c.open = st.c.redis_up = 0;      /* gauges die with the child */
    for (i = 0; i < WS_STATS_WORDS; i++)
        __atomic_fetch_add(&b[i], a[i], __ATOMIC_RELAXED);
    seg->children_retired++;
    memset(&slot->st, 0, sizeof(slot->st));
    slot->generation = 0;
    __atomic_store_n(&slot->pid, 0, __ATOMIC_RELEASE);
}

/* EPERM is a live process (another user's: not ours, but a reader that
 * is wrong here only keeps a slot, never loses a live child's counts). */
static int pid_gone(apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/* Folds the slot of pid, if it still has one; if_gone: only if that pid
 * is (still) no process, for a caller that is not the reaping parent (the
 * pid may have been reaped and reused by a new child since it looked). */
static void fold_pid(apr_uint32_t pid, int if_gone)
{
    apr_uint32_t i;

    seg_lock();
    for (i = 0; i < seg->nslots; i++) {
        if (seg->slots[i].pid == pid) {
            if (!if_gone || pid_gone(pid))
                fold_locked(&seg->slots[i]);
            break;
        }
    }
    seg_unlock();
}

/* --- children ---------------------------------------------------------------- */

/* The parent reaped a child (any generation, crashed or not). */
static void child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                         int slot, mpm_child_status state)
{
    (void)s; (void)gen; (void)slot;
    if (seg && state == MPM_CHILD_EXITED && pid > 0)
        fold_pid((apr_uint32_t)pid, 0);
}

/* Belt and braces: slots of children whose end no child_status hook
 * reported (httpd -X has no parent; an MPM may not run the hook). */
static void fold_dead(void)
{
    apr_uint32_t i, pid;

    for (i = 0; i < seg->nslots; i++) {
        pid = __atomic_load_n(&seg->slots[i].pid, __ATOMIC_ACQUIRE);
        if (pid && pid_gone(pid))
            fold_pid(pid, 1);
    }
}

static ws_slot *claim(apr_uint32_t me, int generation)
{
    ws_slot *got = NULL;
    apr_uint32_t i;

    seg_lock();
    for (i = 0; i < seg->nslots && !got; i++) {
        if (seg->slots[i].pid == 0) {
            got = &seg->slots[i];
            memset(&got->st, 0, sizeof(got->st));
            got->generation = (apr_uint32_t)generation;
            __atomic_store_n(&got->pid, me, __ATOMIC_RELEASE);
        }
    }
    seg_unlock();
    return got;
}

void ws_stats_child_init(apr_pool_t *pchild)
{
    int generation = 0;
    ws_slot *slot;

    (void)pchild;
    if (!seg)
        return;
    ap_mpm_query(AP_MPMQ_GENERATION, &generation);
    fold_dead();
    slot = claim((apr_uint32_t)getpid(), generation);
    if (slot)
        mine = &slot->st;
    else
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     WSLOGNO(00502) "no free WebSocket statistics slot "
                     "(%u in use): this child's counters will not be shown",
                     (unsigned)seg->nslots);
    /* The slot stays claimed after this child exits: the parent folds
     * it once the child is reaped, when nothing can write to it. */
}

/* --- counting ------------------------------------------------------------------ */

ws_counters *ws_stats_mine(void)
{
    return &mine->c;
}

void ws_stats_limit(ws_limit which)
{
    if ((unsigned)which < WS_NLIMITS)
        WS_COUNT(mine, limits[which], 1);
}

/* A WebSocket ended: its close code (the peer's if its close came first,
 * ours otherwise, 1006 if it vanished), and the limit that ended it. */
void ws_stats_closed(const wsp_session *sess)
{
    int code = wsp_session_close_code(sess);
    int by_us = wsp_session_closed_by(sess) == WSP_BY_SERVER;

    WS_COUNT(mine, closes[close_bucket(code)], 1);
    if (by_us && code == WSP_CLOSE_TOO_BIG)
        ws_stats_limit(WS_LIMIT_MAX_MESSAGE);
    /* The core records its send-timeout failure as 1008 with this reason
     * (wsp_session.c, fail_send_timeout). */
    if (by_us && code == WSP_CLOSE_POLICY
        && !strcmp(wsp_session_close_reason(sess), "send timeout"))
        ws_stats_limit(WS_LIMIT_SEND_TIMEOUT);
}

/* --- reading ------------------------------------------------------------------- */

static int read_once(ws_stats_view *v, apr_uint32_t cap)
{
    apr_uint32_t s1 = __atomic_load_n(&seg->seq, __ATOMIC_ACQUIRE), i;

    if (s1 & 1)
        return 0;
    memset(&v->total, 0, sizeof(v->total));
    v->nchildren = 0;
    load_stats(&v->retired, &seg->retired);
    v->children_retired = __atomic_load_n(&seg->children_retired,
                                          __ATOMIC_RELAXED);
    for (i = 0; i < seg->nslots && (apr_uint32_t)v->nchildren < cap; i++) {
        ws_stats_child *ch = &v->child[v->nchildren];
        ch->pid = __atomic_load_n(&seg->slots[i].pid, __ATOMIC_ACQUIRE);
        if (!ch->pid)
            continue;
        ch->generation = (int)seg->slots[i].generation;
        load_stats(&ch->st, &seg->slots[i].st);
        add_stats(&v->total, &ch->st);
        v->nchildren++;
    }
    add_stats(&v->total, &v->retired);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&seg->seq, __ATOMIC_RELAXED) == s1;
}

/* The whole server and each child, consistent with one another: no fold
 * ran while they were read (or, after WS_READ_TRIES overlaps, the last
 * attempt; a count may then show in a child and in retired at once). */
void ws_stats_snapshot(apr_pool_t *p, ws_stats_view *v)
{
    int tries;

    memset(v, 0, sizeof(*v));
    if (!seg) {
        load_stats(&v->total, mine);
        return;
    }
    v->child = apr_pcalloc(p, seg->nslots * sizeof(*v->child));
    for (tries = 0; tries < WS_READ_TRIES; tries++) {
        if (read_once(v, seg->nslots))
            return;
        sched_yield();
    }
}

void ws_stats_register_hooks(void)
{
    ap_hook_child_status(child_status, NULL, NULL, APR_HOOK_MIDDLE);
    ws_status_register_hooks();
    ws_metrics_register_hooks();
}
