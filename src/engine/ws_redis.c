/*
 * ws_redis.c - topics across children and machines: WebSocketPubSub.
 *
 *   WebSocketPubSub redis://127.0.0.1:6379/0 prefix=ws:
 *   WebSocketPubSub unix:/run/redis/redis.sock?db=0
 *
 * Each child holds two connections to Redis, driven by hiredis's async
 * API on a loop thread of the module's own (ws_loop, one thread per child,
 * none per topic): one SUBSCRIBEd to the channels (prefix + topic) this
 * child has local subscribers for, one to PUBLISH.  While the link is up,
 * every publication goes to Redis and comes back to each child, this one
 * included, through its subscription: one path, so each publisher's
 * messages keep their order everywhere.  While it is down, publications
 * reach this child's subscribers only, and the link is retried with a
 * growing backoff; when it is back the subscriptions are restored.
 * Delivery is at most once: what was in flight when the link broke, or
 * published before a new subscription was confirmed, may be missed.
 *
 * Only the loop thread touches hiredis.  Other threads hand it work (a
 * publication, a topic to (un)subscribe) through `ops`, under its mutex.
 *
 * On the channel a message is: type byte ('t' text, 'b' binary), the
 * origin child's 8-byte nonce, the excluded connection's 8-byte serial
 * (ws_publish_from; meaningful only in the origin child), the data.
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ws_internal.h"
#include "apr_strings.h"
#include "apr_portable.h"

APLOG_USE_MODULE(websocket);

#define HEADER_LEN   17                            /* type, nonce, serial */
#define BACKOFF_MIN  apr_time_from_msec(100)
#define BACKOFF_MAX  apr_time_from_sec(5)
#define PING_EVERY   apr_time_from_sec(1)
#define PING_GRACE   apr_time_from_sec(3)          /* no answer: link dead */
#define MAX_QUEUED   100000                        /* publications waiting */

/* ---- configuration ---------------------------------------------------------- */

typedef struct redis_conf {
    const char *host;                 /* or NULL: unix socket */
    int         port;
    const char *path;                 /* unix socket */
    int         db;
    const char *prefix;
    const char *url;                  /* for logs */
} redis_conf;

static redis_conf *conf;              /* NULL: no WebSocketPubSub */

void ws_redis_pre_config(void)
{
    conf = NULL;
}

int ws_redis_configured(void)
{
    return conf != NULL;
}

static const char *parse_db(cmd_parms *cmd, const char *s, int *db)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1000000)
        return apr_psprintf(cmd->pool, "WebSocketPubSub: bad database "
                            "number '%s'", s);
    *db = (int)v;
    return NULL;
}

static const char *parse_tcp(cmd_parms *cmd, redis_conf *c, const char *rest)
{
    char *hostport = apr_pstrdup(cmd->pool, rest), *slash, *colon, *end;
    long port = 6379;

    if ((slash = strchr(hostport, '/')) != NULL) {
        const char *err;
        *slash = '\0';
        if (slash[1] && (err = parse_db(cmd, slash + 1, &c->db)))
            return err;
    }
    if ((colon = strrchr(hostport, ':')) != NULL) {
        *colon = '\0';
        port = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 1 || port > 65535)
            return apr_psprintf(cmd->pool, "WebSocketPubSub: bad port in "
                                "'%s'", c->url);
    }
    if (!*hostport)
        return apr_psprintf(cmd->pool, "WebSocketPubSub: no host in '%s'",
                            c->url);
    c->host = hostport;
    c->port = (int)port;
    return NULL;
}

static const char *parse_unix(cmd_parms *cmd, redis_conf *c, const char *rest)
{
    char *path = apr_pstrdup(cmd->pool, rest), *q = strchr(path, '?');

    if (q) {
        const char *err;
        *q = '\0';
        if (strncmp(q + 1, "db=", 3) != 0)
            return apr_psprintf(cmd->pool, "WebSocketPubSub: unknown option "
                                "'%s' (only db=N)", q + 1);
        if ((err = parse_db(cmd, q + 4, &c->db)))
            return err;
    }
    if (*path != '/')
        return apr_psprintf(cmd->pool, "WebSocketPubSub: the socket path "
                            "must be absolute: '%s'", c->url);
    c->path = path;
    return NULL;
}

const char *ws_redis_set(cmd_parms *cmd, void *dconf, int argc,
                         char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    redis_conf *c;
    int i;

    (void)dconf;
    if (err)
        return err;
    if (argc < 1)
        return "WebSocketPubSub takes redis://host[:port][/db] or "
               "unix:/path[?db=N], then prefix=...";
    if (conf)
        return "WebSocketPubSub may be given once";
    c = apr_pcalloc(cmd->pool, sizeof(*c));
    c->url = argv[0];
    c->prefix = "";
    if (!strncasecmp(argv[0], "redis://", 8))
        err = parse_tcp(cmd, c, argv[0] + 8);
    else if (!strncasecmp(argv[0], "unix:", 5))
        err = parse_unix(cmd, c, argv[0] + 5);
    else
        err = apr_psprintf(cmd->pool, "WebSocketPubSub: '%s' is neither "
                           "redis://host[:port][/db] nor unix:/path", argv[0]);
    for (i = 1; !err && i < argc; i++) {
        if (!strncmp(argv[i], "prefix=", 7))
            c->prefix = argv[i] + 7;
        else
            err = apr_psprintf(cmd->pool, "WebSocketPubSub: unknown "
                               "argument '%s' (only prefix=...)", argv[i]);
    }
    if (!err)
        conf = c;
    return err;
}

/* ---- the link ------------------------------------------------------------------ */

/* One hiredis connection as a loop entry watching its socket. */
typedef struct rlink {
    ws_loop_entry      entry;         /* first */
    struct ws_redis   *r;
    redisAsyncContext *ac;            /* NULL: not connected */
    apr_pool_t        *pool;          /* the apr_socket_t wrapping its fd */
    apr_int16_t        events;
    int                ready;         /* connected and SELECTed */
    int                adopted;
    const char        *name;          /* "subscribe" or "publish" */
} rlink;

typedef struct rop {                  /* work from other threads */
    struct rop *next;
    int         kind;                 /* OP_PUBLISH, OP_SUB, OP_UNSUB */
    size_t      len;                  /* of data */
    char        data[1];              /* channel, or channel + NUL + msg */
} rop;
enum { OP_PUBLISH, OP_SUB, OP_UNSUB };

typedef struct ws_redis {
    ws_loop_entry  ctl;               /* first: reconnects, pings, ops */
    ws_loop       *loop;
    server_rec    *s;
    rlink          sub, pub;
    int            up;                /* both links ready (atomic reads) */
    apr_time_t     backoff, retry_at, ping_sent, pong_at;
    int            logged_down;
    unsigned char  nonce[8];
    /* under loop->mutex */
    rop           *head, *tail;
    apr_size_t     queued;
} ws_redis;

static ws_redis *the_redis;           /* this child's, or NULL */

static void link_down(rlink *l, const char *why);
static void schedule_retry(ws_redis *r);

/* hiredis's event hooks: what to poll for on the link's socket. */
static void watch(rlink *l, apr_int16_t on, apr_int16_t off)
{
    l->events = (apr_int16_t)((l->events | on) & ~off);
    if (l->ac)
        ws_loop_watch(&l->entry, l->events);
}
static void ev_add_read(void *p)  { watch(p, APR_POLLIN, 0); }
static void ev_del_read(void *p)  { watch(p, 0, APR_POLLIN); }
static void ev_add_write(void *p) { watch(p, APR_POLLOUT, 0); }
static void ev_del_write(void *p) { watch(p, 0, APR_POLLOUT); }
static void ev_cleanup(void *p)
{
    rlink *l = p;
    ws_loop_watch(&l->entry, 0);
    l->events = 0;
}

static void link_proceed(ws_loop_entry *e, unsigned events)
{
    rlink *l = (rlink *)e;

    if (l->ac && (events & WS_EV_READABLE))
        redisAsyncHandleRead(l->ac);
    if (l->ac && (events & WS_EV_WRITABLE))
        redisAsyncHandleWrite(l->ac);
}

static int never_destroyed(ws_loop_entry *e)
{
    (void)e;
    return 1;
}

static const ws_loop_ops link_ops = { link_proceed, NULL, never_destroyed };

static void set_state(ws_redis *r, int up)
{
    if (r->up == up)
        return;
    __atomic_store_n(&r->up, up, __ATOMIC_RELEASE);
    __atomic_store_n(&ws_stats_mine()->redis_up, (apr_uint64_t)up,
                     __ATOMIC_RELAXED);
    if (up) {
        WS_COUNT(ws_stats_mine(), redis_connects, 1);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, r->s, WSLOGNO(00601)
                     "WebSocketPubSub: connected to %s: topics cross "
                     "children", conf->url);
        r->logged_down = 0;
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rlink *l = ac->data;
    (void)status;
    l->ac = NULL;                     /* hiredis frees it after this */
    l->ready = 0;
    link_down(l, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* A connect that fails after it began (refused, unreachable): hiredis
 * frees the context after this, without calling on_disconnect. */
static void on_connect(const redisAsyncContext *ac, int status)
{
    rlink *l = ac->data;
    char why[128];

    if (status == REDIS_OK)
        return;                       /* SELECT's answer says the rest */
    apr_cpystrn(why, ac->errstr, sizeof(why));
    l->ac = NULL;
    l->ready = 0;
    link_down(l, why);
}

/* The topics of this child, (re)subscribed on a fresh link. */
static void subscribe_one(const char *topic, void *arg);

static void on_selected(redisAsyncContext *ac, void *reply, void *priv)
{
    rlink *l = priv;
    redisReply *rep = reply;
    ws_redis *r = l->r;

    if (!rep)
        return;                       /* being torn down: on_disconnect says why */
    if (rep->type == REDIS_REPLY_ERROR) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, r->s, WSLOGNO(00604)
                     "WebSocketPubSub: %s refused SELECT %d: %s", conf->url,
                     conf->db, rep->str);
        redisAsyncDisconnect(ac);     /* reported by on_disconnect */
        return;
    }
    l->ready = 1;
    if (l == &r->sub)
        ws_pubsub_each_topic(subscribe_one, r);
    if (r->sub.ready && r->pub.ready) {
        r->backoff = 0;
        r->pong_at = apr_time_now();
        set_state(r, 1);
        ws_loop_schedule(&r->ctl);    /* queued work can go now */
    }
}

static apr_status_t link_attach(rlink *l)
{
    apr_socket_t *sock = NULL;
    apr_os_sock_t fd = l->ac->c.fd;

    if (l->pool)
        apr_pool_clear(l->pool);
    else if (apr_pool_create(&l->pool, l->r->loop->pool) != APR_SUCCESS)
        return APR_ENOMEM;
    if (apr_os_sock_put(&sock, &fd, l->pool) != APR_SUCCESS)
        return APR_EGENERAL;
    l->entry.pfd.desc_type = APR_POLL_SOCKET;
    l->entry.pfd.desc.s = sock;
    l->entry.pfd.client_data = &l->entry;
    l->ac->data = l;
    l->ac->ev.data = l;
    l->ac->ev.addRead = ev_add_read;
    l->ac->ev.delRead = ev_del_read;
    l->ac->ev.addWrite = ev_add_write;
    l->ac->ev.delWrite = ev_del_write;
    l->ac->ev.cleanup = ev_cleanup;
    /* Adopted before the callbacks: setting one already asks to poll. */
    if (!l->adopted) {
        l->adopted = 1;
        ws_loop_adopt_here(l->r->loop, &l->entry);
    }
    redisAsyncSetConnectCallback(l->ac, on_connect);
    redisAsyncSetDisconnectCallback(l->ac, on_disconnect);
    return APR_SUCCESS;
}

static int link_connect(rlink *l)
{
    l->ac = conf->path ? redisAsyncConnectUnix(conf->path)
                       : redisAsyncConnect(conf->host, conf->port);
    if (!l->ac || l->ac->err) {
        char why[128];
        apr_cpystrn(why, l->ac ? l->ac->errstr : "out of memory", sizeof(why));
        if (l->ac)
            redisAsyncFree(l->ac);
        l->ac = NULL;
        link_down(l, why);
        return 0;
    }
    if (link_attach(l) != APR_SUCCESS) {
        redisAsyncFree(l->ac);
        l->ac = NULL;
        link_down(l, "cannot poll its socket");
        return 0;
    }
    /* The first command also tells us when the connect completes. */
    redisAsyncCommand(l->ac, on_selected, l, "SELECT %d", conf->db);
    return 1;
}

/* A link broke: the other goes too (both or neither), retry later. */
static void link_down(rlink *l, const char *why)
{
    ws_redis *r = l->r;
    rlink *other = l == &r->sub ? &r->pub : &r->sub;

    if (r->up || !r->logged_down)
        ap_log_error(APLOG_MARK, r->up ? APLOG_ERR : APLOG_WARNING, 0, r->s,
                     WSLOGNO(00602) "WebSocketPubSub: %s link to %s down: "
                     "%s; topics stay within each child until it is back",
                     l->name, conf->url, why);
    r->logged_down = 1;
    set_state(r, 0);
    l->ready = 0;
    if (other->ac) {
        redisAsyncContext *ac = other->ac;
        other->ac = NULL;             /* our own doing: no second report */
        other->ready = 0;
        ac->onDisconnect = NULL;
        redisAsyncFree(ac);
    }
    schedule_retry(r);
}

static void schedule_retry(ws_redis *r)
{
    r->backoff = r->backoff ? r->backoff * 2 : BACKOFF_MIN;
    if (r->backoff > BACKOFF_MAX)
        r->backoff = BACKOFF_MAX;
    r->retry_at = apr_time_now() + r->backoff;
}

/* ---- publications and subscriptions -------------------------------------- */

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *rep = reply, *kind, *chan, *data;
    size_t plen = strlen(conf->prefix);
    apr_uint64_t exclude = 0;
    ws_redis *r = priv;

    (void)ac;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
        return;
    kind = rep->element[0], chan = rep->element[1], data = rep->element[2];
    if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "message")
        || chan->type != REDIS_REPLY_STRING || data->type != REDIS_REPLY_STRING
        || chan->len < plen || (size_t)data->len < HEADER_LEN
        || (data->str[0] != 't' && data->str[0] != 'b'))
        return;
    if (!memcmp(data->str + 1, r->nonce, 8))
        memcpy(&exclude, data->str + 9, 8);
    WS_COUNT(ws_stats_mine(), redis_in, 1);
    ws_pubsub_local(chan->str + plen, (size_t)chan->len - plen,
                    data->str[0] == 't' ? WS_TEXT : WS_BINARY,
                    data->str + HEADER_LEN, (size_t)data->len - HEADER_LEN,
                    exclude);
}

static void subscribe_one(const char *topic, void *arg)
{
    ws_redis *r = arg;
    size_t pl = strlen(conf->prefix), tl = strlen(topic);
    char *ch = malloc(pl + tl + 1);

    if (ch && r->sub.ac) {
        memcpy(ch, conf->prefix, pl);
        memcpy(ch + pl, topic, tl);
        redisAsyncCommand(r->sub.ac, on_message, r, "SUBSCRIBE %b", ch,
                          pl + tl);
    }
    free(ch);
}

/* Loop thread: one op from the queue. */
static void run_op(ws_redis *r, rop *op)
{
    if (op->kind == OP_PUBLISH) {
        size_t cl = strlen(op->data);
        if (r->pub.ready) {
            redisAsyncCommand(r->pub.ac, NULL, NULL, "PUBLISH %b %b",
                              op->data, cl, op->data + cl + 1,
                              op->len - cl - 1);
            WS_COUNT(ws_stats_mine(), redis_out, 1);
        }
        else {                        /* went down meanwhile: here only */
            const char *m = op->data + cl + 1;
            apr_uint64_t exclude;
            memcpy(&exclude, m + 9, 8);
            ws_pubsub_local(op->data + strlen(conf->prefix),
                            cl - strlen(conf->prefix),
                            m[0] == 't' ? WS_TEXT : WS_BINARY,
                            m + HEADER_LEN, op->len - cl - 1 - HEADER_LEN,
                            exclude);
        }
    }
    else if (r->sub.ready)
        redisAsyncCommand(r->sub.ac, op->kind == OP_SUB ? on_message : NULL,
                          r, op->kind == OP_SUB ? "SUBSCRIBE %b"
                                                : "UNSUBSCRIBE %b",
                          op->data, op->len);
    /* (Un)subscribing while down: the fresh link subscribes to what the
     * child has then. */
}

static void on_pong(redisAsyncContext *ac, void *reply, void *priv)
{
    ws_redis *r = priv;
    (void)ac;
    if (reply)
        r->pong_at = apr_time_now();
}

/* The link's clock: retry when down, ping when up, give up on silence. */
static void tick(ws_redis *r, apr_time_t now)
{
    if (!r->sub.ac && !r->pub.ac && now >= r->retry_at) {
        if (link_connect(&r->sub))
            link_connect(&r->pub);
    }
    if (r->up && now - r->pong_at > PING_GRACE) {
        rlink *l = &r->pub;
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        ac->onDisconnect = NULL;
        redisAsyncFree(ac);
        link_down(l, "no answer to PING");
    }
    else if (r->up && now - r->ping_sent >= PING_EVERY) {
        r->ping_sent = now;
        redisAsyncCommand(r->pub.ac, on_pong, r, "PING");
    }
    ws_loop_set_deadline(&r->ctl, r->up ? now + PING_EVERY
                                        : (r->retry_at > now ? r->retry_at
                                                             : now + BACKOFF_MIN));
}

static void ctl_proceed(ws_loop_entry *e, unsigned events)
{
    ws_redis *r = (ws_redis *)e;
    rop *op, *next;

    if (events & WS_EV_ABORT)
        return;
    apr_thread_mutex_lock(r->loop->mutex);
    op = r->head;
    r->head = r->tail = NULL;
    r->queued = 0;
    apr_thread_mutex_unlock(r->loop->mutex);
    for (; op; op = next) {
        next = op->next;
        run_op(r, op);
        free(op);
    }
    tick(r, apr_time_now());
}

static const ws_loop_ops ctl_ops = { ctl_proceed, NULL, never_destroyed };

/* Any thread: queues op for the loop. */
static int enqueue(ws_redis *r, rop *op)
{
    int wake, ok;

    apr_thread_mutex_lock(r->loop->mutex);
    if ((ok = op->kind != OP_PUBLISH || r->queued < MAX_QUEUED)) {
        if (r->tail)
            r->tail->next = op;
        else
            r->head = op;
        r->tail = op;
        r->queued += op->kind == OP_PUBLISH;
    }
    wake = ok && ws_loop_schedule_locked(&r->ctl);
    apr_thread_mutex_unlock(r->loop->mutex);
    if (!ok)
        free(op);
    if (wake)
        ws_loop_wakeup(r->loop);
    return ok;
}

int ws_redis_publish(const char *topic, ws_message_type type,
                     const void *data, size_t len, apr_uint64_t exclude)
{
    ws_redis *r = the_redis;
    size_t cl, tl = strlen(topic);
    rop *op;
    char *p;

    if (!r || !__atomic_load_n(&r->up, __ATOMIC_ACQUIRE))
        return 0;
    cl = strlen(conf->prefix) + tl;
    if (!(op = calloc(1, sizeof(*op) + cl + 1 + HEADER_LEN + len)))
        return 0;
    op->kind = OP_PUBLISH;
    op->len = cl + 1 + HEADER_LEN + len;
    p = op->data;
    memcpy(p, conf->prefix, cl - tl);
    memcpy(p + cl - tl, topic, tl + 1);
    p += cl + 1;
    p[0] = type == WS_TEXT ? 't' : 'b';
    memcpy(p + 1, r->nonce, 8);
    memcpy(p + 9, &exclude, 8);
    if (len)
        memcpy(p + HEADER_LEN, data, len);
    if (!enqueue(r, op)) {
        WS_COUNT(ws_stats_mine(), pub_dropped, 1);
        ws_stats_limit(WS_LIMIT_PUBSUB_QUEUE);
    }
    return 1;
}

void ws_redis_topic(const char *topic, int subscribe)
{
    ws_redis *r = the_redis;
    size_t cl;
    rop *op;

    if (!r)
        return;
    cl = strlen(conf->prefix) + strlen(topic);
    if (!(op = calloc(1, sizeof(*op) + cl)))
        return;
    op->kind = subscribe ? OP_SUB : OP_UNSUB;
    op->len = cl;
    memcpy(op->data, conf->prefix, strlen(conf->prefix));
    memcpy(op->data + strlen(conf->prefix), topic, strlen(topic));
    enqueue(r, op);
}

/* ---- the child ----------------------------------------------------------------- */

void ws_redis_child_init(apr_pool_t *pchild, server_rec *s)
{
    ws_loop *loop;
    ws_redis *r;
    apr_status_t rv;

    the_redis = NULL;
    if (!conf)
        return;
    if ((rv = ws_loop_create(&loop, 1, pchild)) != APR_SUCCESS
        || (rv = ws_loop_start_thread(loop, 0)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, WSLOGNO(00603)
                     "WebSocketPubSub: cannot start the Redis loop thread; "
                     "topics stay within this child");
        return;
    }
    r = apr_pcalloc(loop->pool, sizeof(*r));
    r->loop = loop;
    r->s = s;
    r->ctl.ops = &ctl_ops;
    r->sub.entry.ops = r->pub.entry.ops = &link_ops;
    r->sub.r = r->pub.r = r;
    r->sub.name = "subscribe";
    r->pub.name = "publish";
    apr_generate_random_bytes(r->nonce, sizeof(r->nonce));
    the_redis = r;
    ws_loop_handoff(loop, &r->ctl);   /* connects from its thread */
}
