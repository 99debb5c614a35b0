/*
 * ws_pubsub.c - topics: ws_subscribe(), ws_unsubscribe(), ws_publish().
 *
 * Subscriber sets live with the loops: each loop that has subscribers
 * keeps its own table (topic -> connections), touched only by its thread,
 * and an entry of its own in the loop (`entry`, no socket) that delivers
 * what was published.  A publication is serialized once into one frame;
 * the publisher hands a reference to each loop with subscribers (one lock
 * per loop, never one per subscriber), and each loop queues the same
 * frame, reference-counted, to every subscriber.  Where subscribers share
 * the loop's permessage-deflate compressor (shared mode) the frame is
 * compressed once per loop for all of them.
 *
 * A subscriber whose queue is full (WebSocketMaxPendingOutput) does not
 * grow: the message is dropped for it (counted), or it is closed, as its
 * location's WebSocketSlowSubscriber says.
 *
 * The child keeps the number of local subscribers per topic (under
 * child_mutex, changed on subscribe and unsubscribe only): it answers
 * ws_subscribers() and tells a publisher whether anyone here listens.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "wsp_utf8.h"

APLOG_USE_MODULE(websocket);

#define WS_TOPIC_MAX 1024            /* bytes in a topic name */
#define WS_PUBSUB_POOL_KEY "websocket_pubsub"

typedef struct ws_topic ws_topic;

/* One connection in one topic. */
struct ws_sub {
    ws_topic   *topic;
    ws_conn_t  *wc;
    apr_size_t  index;               /* in topic->subs */
    ws_sub     *next;                /* the connection's other topics */
};

struct ws_topic {
    char       *name;                /* malloc'd, the table's key */
    ws_sub    **subs;
    apr_size_t  n, cap;
};

/* One publication, shared by the loops it was handed to. */
typedef struct pub_msg {
    apr_uint32_t refs;
    apr_uint64_t exclude;            /* a connection's serial, or 0 */
    wsp_buf     *frame;              /* plain, serialized once */
    char         topic[1];           /* NUL-terminated, allocated longer */
} pub_msg;

typedef struct pub_item {
    struct pub_item *next;
    pub_msg         *msg;
} pub_item;

/* One loop's topics. */
typedef struct ws_pubsub {
    ws_loop_entry     entry;         /* first: delivers on the loop thread */
    ws_loop          *loop;
    apr_hash_t       *topics;        /* name -> ws_topic, loop thread */
    apr_uint32_t      nsubs;         /* subscriptions here */
    pub_item         *head, *tail;   /* under loop->mutex */
    struct ws_pubsub *next_state;    /* the child's list, child_mutex */
} ws_pubsub;

static apr_thread_mutex_t *child_mutex;
static apr_hash_t         *child_counts;  /* topic -> topic_count */

/* How many connections of this child subscribe to a topic; malloc'd and
 * gone at 0, so topics that come and go do not pile up. */
typedef struct topic_count {
    apr_size_t n;
    char       name[1];              /* allocated longer */
} topic_count;
static ws_pubsub          *child_states;

void ws_pubsub_child_init(apr_pool_t *pchild)
{
    child_states = NULL;
    if (apr_thread_mutex_create(&child_mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) == APR_SUCCESS)
        child_counts = apr_hash_make(pchild);
}

/* ---- publications ------------------------------------------------------- */

static void msg_release(pub_msg *m)
{
    if (apr_atomic_dec32(&m->refs) != 0)
        return;
    wsp_buf_unref(m->frame);
    free(m);
}

/* Under child_mutex: the child's count of local subscribers to a topic,
 * and its change. */
static apr_size_t local_count(const char *topic)
{
    topic_count *c = apr_hash_get(child_counts, topic, APR_HASH_KEY_STRING);
    return c ? c->n : 0;
}

static void count_change(const char *topic, int delta)
{
    topic_count *c;
    size_t len = strlen(topic);

    apr_thread_mutex_lock(child_mutex);
    c = apr_hash_get(child_counts, topic, APR_HASH_KEY_STRING);
    if (!c && delta > 0 && (c = calloc(1, sizeof(*c) + len)) != NULL) {
        memcpy(c->name, topic, len + 1);
        apr_hash_set(child_counts, c->name, APR_HASH_KEY_STRING, c);
    }
    if (c && c->n == 0 && delta > 0)
        ws_redis_topic(c->name, 1);    /* the child's first subscriber */
    if (c && (c->n += (apr_size_t)delta) == 0) {
        ws_redis_topic(c->name, 0);    /* its last */
        apr_hash_set(child_counts, c->name, APR_HASH_KEY_STRING, NULL);
        free(c);
    }
    apr_thread_mutex_unlock(child_mutex);
}

void ws_pubsub_each_topic(void (*fn)(const char *topic, void *arg), void *arg)
{
    apr_hash_index_t *hi;

    if (!child_mutex)
        return;
    apr_thread_mutex_lock(child_mutex);
    for (hi = apr_hash_first(NULL, child_counts); hi; hi = apr_hash_next(hi)) {
        const void *key;
        apr_hash_this(hi, &key, NULL, NULL);
        fn(key, arg);
    }
    apr_thread_mutex_unlock(child_mutex);
}

long ws_pubsub_subscribers(const char *topic)
{
    long v;

    if (!topic || !child_mutex)
        return 0;
    apr_thread_mutex_lock(child_mutex);
    v = (long)local_count(topic);
    apr_thread_mutex_unlock(child_mutex);
    return v;
}

/* Under child_mutex: one more item for this loop; 1 if it must be woken. */
static int hand_to_loop(ws_pubsub *ps, pub_item *it)
{
    int wake;

    apr_thread_mutex_lock(ps->loop->mutex);
    if (ps->tail)
        ps->tail->next = it;
    else
        ps->head = it;
    ps->tail = it;
    wake = ws_loop_schedule_locked(&ps->entry);
    apr_thread_mutex_unlock(ps->loop->mutex);
    return wake;
}

/* Hands m to every loop with subscribers; takes the caller's reference. */
static void distribute(pub_msg *m)
{
    ws_pubsub *ps;

    apr_thread_mutex_lock(child_mutex);
    for (ps = local_count(m->topic) ? child_states : NULL; ps;
         ps = ps->next_state) {
        pub_item *it;
        if (!apr_atomic_read32(&ps->nsubs) || !(it = calloc(1, sizeof(*it))))
            continue;
        it->msg = m;
        apr_atomic_inc32(&m->refs);
        if (hand_to_loop(ps, it))
            ws_loop_wakeup(ps->loop);
    }
    apr_thread_mutex_unlock(child_mutex);
    msg_release(m);
}

static int topic_valid(const char *topic)
{
    size_t n = topic ? strlen(topic) : 0;
    return n > 0 && n <= WS_TOPIC_MAX;
}

/* To this child's subscribers (a local publication, or one that came
 * through Redis). */
int ws_pubsub_local(const char *topic, size_t tn, ws_message_type type,
                    const void *data, size_t len, apr_uint64_t exclude)
{
    pub_msg *m;

    if (!(m = calloc(1, sizeof(*m) + tn)))
        return WS_ENOMEM;
    memcpy(m->topic, topic, tn);
    m->topic[tn] = '\0';
    m->refs = 1;
    m->frame = wsp_buf_frame(type == WS_TEXT ? WSP_OP_TEXT : WSP_OP_BINARY,
                             1, 0, data, len);
    if (!m->frame) {
        free(m);
        return WS_ENOMEM;
    }
    m->exclude = exclude;
    distribute(m);
    return WS_OK;
}

int ws_pubsub_publish(const char *topic, ws_message_type type,
                      const void *data, size_t len, ws_conn_t *exclude)
{
    apr_uint64_t serial = exclude ? exclude->serial : 0;

    if (!topic_valid(topic) || (type != WS_TEXT && type != WS_BINARY)
        || (len && !data))
        return WS_EINVAL;
    if (type == WS_TEXT && !wsp_utf8_valid(data, len))
        return WS_EINVAL;
    if (!child_mutex)
        return WS_ESTATE;              /* not in a child that serves them */
    /* With Redis up every child, this one too, gets it from Redis: one
     * path, one order.  Without it (or while it is down), here only. */
    if (ws_redis_publish(topic, type, data, len, serial))
        return WS_OK;
    return ws_pubsub_local(topic, strlen(topic), type, data, len, serial);
}

/* ---- delivery, on the loop thread ---------------------------------------- */

/* The frames of one publication in one loop: plain, and compressed once
 * per shared compressor its subscribers use. */
#define WS_PUB_VARIANTS 4
typedef struct variants {
    struct { struct wsp_deflater *d; wsp_buf *z; } v[WS_PUB_VARIANTS];
    int n;
} variants;

static wsp_buf *frame_for(ws_conn_t *wc, const pub_msg *m, variants *vs)
{
    struct wsp_deflater *d = wc->sess.cfg.deflate_shared;
    int i;

    if (!d || wsp_buf_len(m->frame) < wc->sess.cfg.deflate_min_size + 2)
        return m->frame;               /* it compresses its own, if at all */
    for (i = 0; i < vs->n; i++)
        if (vs->v[i].d == d)
            return vs->v[i].z ? vs->v[i].z : m->frame;
    if (vs->n == WS_PUB_VARIANTS)
        return m->frame;
    i = vs->n++;
    vs->v[i].d = d;
    vs->v[i].z = wsp_buf_compress(m->frame, d);  /* NULL: did not shrink */
    return vs->v[i].z ? vs->v[i].z : m->frame;
}

static void slow_subscriber(ws_conn_t *wc, apr_time_t now)
{
    const ws_dir_conf *conf = wc->conf;

    WS_COUNT(ws_stats_mine(), pub_dropped, 1);
    ws_stats_limit(WS_LIMIT_SLOW_SUBSCRIBER);
    if (conf->slow_close <= 0)
        return;                        /* drop: this message only */
    wsp_session_close(&wc->sess, conf->slow_close, "slow subscriber", 15, now);
    ws_loop_schedule(&wc->entry);
}

static void deliver_to(ws_conn_t *wc, const pub_msg *m, variants *vs,
                       apr_time_t now)
{
    int rc;

    if (wc->state != WS_ST_OPEN)
        return;
    rc = wsp_session_send_buf(&wc->sess, frame_for(wc, m, vs), now);
    if (rc == WSP_SEND_OK) {
        WS_COUNT(&wc->st, msgs_out, 1);
        WS_COUNT(ws_stats_mine(), msgs_out, 1);
        ws_loop_schedule(&wc->entry);
    }
    else if (rc == WSP_SEND_EFULL || rc == WSP_SEND_ESTATE)
        slow_subscriber(wc, now);
}

static void deliver(ws_pubsub *ps, pub_msg *m, apr_time_t now)
{
    ws_topic *t = apr_hash_get(ps->topics, m->topic, APR_HASH_KEY_STRING);
    variants vs;
    apr_size_t i;
    int k;

    vs.n = 0;
    for (i = 0; t && i < t->n; i++)
        if (!m->exclude || t->subs[i]->wc->serial != m->exclude)
            deliver_to(t->subs[i]->wc, m, &vs, now);
    for (k = 0; k < vs.n; k++)
        wsp_buf_unref(vs.v[k].z);
}

static void pubsub_proceed(ws_loop_entry *e, unsigned events)
{
    ws_pubsub *ps = (ws_pubsub *)e;
    pub_item *it, *next;
    apr_time_t now;

    if (!(events & WS_EV_WAKE))
        return;                        /* adoption, stop: nothing to do */
    apr_thread_mutex_lock(ps->loop->mutex);
    it = ps->head;
    ps->head = ps->tail = NULL;
    apr_thread_mutex_unlock(ps->loop->mutex);
    now = apr_time_now();
    for (; it; it = next) {
        next = it->next;
        deliver(ps, it->msg, now);
        msg_release(it->msg);
        free(it);
    }
}

static int pubsub_destroy(ws_loop_entry *e)
{
    (void)e;
    return 1;                          /* lives in the loop's pool */
}

static const ws_loop_ops pubsub_ops = { pubsub_proceed, NULL, pubsub_destroy };

/* ---- the loop's table ------------------------------------------------------ */

/* The loop's pool is going: leave the child's list, drop what waits. */
static apr_status_t pubsub_cleanup(void *data)
{
    ws_pubsub *ps = data, **pp;
    pub_item *it, *next;

    if (child_mutex) {
        apr_thread_mutex_lock(child_mutex);
        for (pp = &child_states; *pp; pp = &(*pp)->next_state)
            if (*pp == ps) {
                *pp = ps->next_state;
                break;
            }
        apr_thread_mutex_unlock(child_mutex);
    }
    for (it = ps->head; it; it = next) {
        next = it->next;
        msg_release(it->msg);
        free(it);
    }
    ps->head = ps->tail = NULL;
    return APR_SUCCESS;
}

static ws_pubsub *pubsub_of(ws_loop *loop)
{
    ws_pubsub *ps = NULL;

    apr_pool_userdata_get((void **)&ps, WS_PUBSUB_POOL_KEY, loop->pool);
    if (ps || !child_mutex)
        return ps;
    ps = apr_pcalloc(loop->pool, sizeof(*ps));
    ps->loop = loop;
    ps->topics = apr_hash_make(loop->pool);
    ps->entry.ops = &pubsub_ops;
    apr_pool_userdata_setn(ps, WS_PUBSUB_POOL_KEY, apr_pool_cleanup_null, loop->pool);
    ws_loop_cleanup_register(loop, ps, pubsub_cleanup);
    ws_loop_adopt_here(loop, &ps->entry);
    apr_thread_mutex_lock(child_mutex);
    ps->next_state = child_states;
    child_states = ps;
    apr_thread_mutex_unlock(child_mutex);
    return ps;
}

static ws_topic *topic_get(ws_pubsub *ps, const char *name)
{
    ws_topic *t = apr_hash_get(ps->topics, name, APR_HASH_KEY_STRING);

    if (t || !(t = calloc(1, sizeof(*t))))
        return t;
    if (!(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    apr_hash_set(ps->topics, t->name, APR_HASH_KEY_STRING, t);
    return t;
}

static int topic_add(ws_topic *t, ws_sub *sub)
{
    if (t->n == t->cap) {
        apr_size_t cap = t->cap ? t->cap * 2 : 4;
        ws_sub **subs = realloc(t->subs, cap * sizeof(*subs));
        if (!subs)
            return WS_ENOMEM;
        t->subs = subs;
        t->cap = cap;
    }
    sub->index = t->n;
    t->subs[t->n++] = sub;
    return WS_OK;
}

/* Takes sub out of its topic (the last one fills its place); frees the
 * topic once empty. */
static void topic_remove(ws_pubsub *ps, ws_sub *sub)
{
    ws_topic *t = sub->topic;

    t->subs[sub->index] = t->subs[--t->n];
    t->subs[sub->index]->index = sub->index;
    if (t->n)
        return;
    apr_hash_set(ps->topics, t->name, APR_HASH_KEY_STRING, NULL);
    free(t->subs);
    free(t->name);
    free(t);
}

/* ---- what handlers call ------------------------------------------------------ */

static int check_owner(const ws_conn_t *wc, const char *topic)
{
    if (!topic_valid(topic))
        return WS_EINVAL;
    if (wc->state != WS_ST_OPEN)
        return wc->state == WS_ST_FINISHED ? WS_ECLOSED : WS_ESTATE;
    return ws_loop_is_owner(wc->loop) ? WS_OK : WS_ESTATE;
}

static ws_sub **find_sub(ws_conn_t *wc, const char *topic)
{
    ws_sub **pp;
    for (pp = &wc->subs; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->topic->name, topic) == 0)
            return pp;
    return NULL;
}

int ws_pubsub_subscribe(ws_conn_t *wc, const char *topic)
{
    int rc = check_owner(wc, topic);
    ws_pubsub *ps;
    ws_topic *t;
    ws_sub *sub;

    if (rc != WS_OK || find_sub(wc, topic))
        return rc;                     /* subscribed already: fine */
    if (!(ps = pubsub_of(wc->loop)) || !(t = topic_get(ps, topic)))
        return WS_ENOMEM;
    if (!(sub = calloc(1, sizeof(*sub))) || topic_add(t, sub) != WS_OK) {
        free(sub);
        if (!t->n) {
            apr_hash_set(ps->topics, t->name, APR_HASH_KEY_STRING, NULL);
            free(t->name);
            free(t);
        }
        return WS_ENOMEM;
    }
    sub->topic = t;
    sub->wc = wc;
    sub->next = wc->subs;
    wc->subs = sub;
    apr_atomic_inc32(&ps->nsubs);
    count_change(topic, 1);
    return WS_OK;
}

static void drop_sub(ws_conn_t *wc, ws_sub **pp)
{
    ws_sub *sub = *pp;
    ws_pubsub *ps = pubsub_of(wc->loop);

    *pp = sub->next;
    count_change(sub->topic->name, -1);
    apr_atomic_dec32(&ps->nsubs);
    topic_remove(ps, sub);
    free(sub);
}

int ws_pubsub_unsubscribe(ws_conn_t *wc, const char *topic)
{
    int rc = check_owner(wc, topic);
    ws_sub **pp;

    if (rc != WS_OK)
        return rc;
    if ((pp = find_sub(wc, topic)) != NULL)
        drop_sub(wc, pp);
    return WS_OK;
}

/* The connection is finishing (loop thread): out of every topic. */
void ws_pubsub_forget(ws_conn_t *wc)
{
    while (wc->subs)
        drop_sub(wc, &wc->subs);
}
