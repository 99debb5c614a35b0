/*
 * ws_internal.h - what the engine files share: configuration and the
 * per-connection state (ws_conn).  The reactor is ws_loop.h; the protocol
 * is the core's wsp_session.h.
 *
 * Ownership in one paragraph: the handshake runs on an httpd worker thread.
 * After the 101 the connection belongs to a ws_loop thread: under an async
 * MPM (event) one loop thread per child serves every WebSocket of that child
 * and the request is SUSPENDED; under prefork/worker, and on an HTTP/2
 * stream, the request's own thread runs a private loop until the
 * connection ends.  Only the loop thread touches the conn_rec, its
 * filters, pools, buckets and the session; other threads reach a
 * connection only through its inbox, under loop->mutex (ws_outbox.c).
 */
#ifndef WS_INTERNAL_H
#define WS_INTERNAL_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_core.h"
#include "apr_poll.h"
#include "apr_skiplist.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"
#include "apr_atomic.h"
#include "apr_hash.h"

#include "mod_websocket.h"
#include "wsp_frame.h"
#include "wsp_session.h"
#include "wsp_pmd.h"
#include "ws_loop.h"

extern module AP_MODULE_DECLARE_DATA websocket_module;

/* Our own message IDs (httpd's AHnnnnn numbers are for httpd itself). */
#define WSLOGNO(n) "WS" #n ": "

#define WS_DEFAULT_MAX_MESSAGE (16 * 1024 * 1024)
#define WS_CLOSE_TIMEOUT       apr_time_from_sec(5)  /* wait for the peer's close */
#define WS_LINGER_TIMEOUT      apr_time_from_sec(2)  /* wait for EOF after our FIN */
#define WS_WRITE_CHUNK         (32 * 1024) /* stay under FlushMaxThreshold:
                                              the core filter never blocks */
#define WS_READ_ROUNDS         16          /* reads per readiness, for fairness */
#define WS_WRITE_TURN          (8 * WS_WRITE_CHUNK) /* bytes written per step,
                                              for fairness: then the others */
#define WS_QUIET_TIME          apr_time_from_sec(1) /* input this far apart:
                                              an idle connection, trim it */

/* A handler .so loaded by WebSocketHandlerLoad (or the deprecated
 * two-argument WebSocketHandler), in the configuration pool. */
typedef struct ws_handler_ref {
    const char       *name;
    const char       *path;
    const char       *symbol;
    const ws_handler *h;           /* copied to our size: later callbacks NULL */
    void             *ctx;         /* on_load's */
} ws_handler_ref;

/* What on_load/on_location get: a directive being read. */
struct ws_config {
    const ws_server *server;       /* first member: the handler ABI */
    cmd_parms       *cmd;
    const char      *where;        /* the location, or NULL */
    void            *handler_ctx;  /* on_load's, for on_location */
    const char      *error;        /* set by ws_config_error() */
};

/* One handler instance: a WebSocketHandler line in the main configuration,
 * or a handler's default instance (what .htaccess selects). */
typedef struct ws_location {
    const ws_handler_ref *handler;
    void             *ctx;         /* on_location's */
    const char       *where;       /* <Location> path, or NULL */
    struct ws_location *next;      /* every instance of this config cycle */
} ws_location;

typedef struct ws_log_item ws_log_item;

/* permessage-deflate settings (ws_pmd.c); -1 = unset, inherits. */
enum { WS_PMD_SHARED = 0, WS_PMD_DEDICATED = 1 };
typedef struct ws_pmd_conf {
    int         on;                   /* WebSocketDeflate */
    int         mode;                 /* WebSocketDeflateMode */
    int         window_bits;          /* WebSocketDeflateWindowBits */
    int         client_window_bits;
    int         mem_level;            /* WebSocketDeflateMemLevel */
    int         client_context;       /* WebSocketDeflateClientContext */
    apr_int64_t min_size;             /* WebSocketDeflateMinSize */
} ws_pmd_conf;

/* Per-directory settings; an unset value (-1, NULL) inherits. */
typedef struct ws_dir_conf {
    const ws_location    *location;       /* NULL: not a WebSocket location */
    apr_array_header_t   *protocols;      /* WebSocketProtocol (char *) */
    apr_array_header_t   *origins;        /* WebSocketOrigin (char *) */
    apr_int64_t           max_message;    /* WebSocketMaxMessageSize */
    apr_int64_t           max_pending;    /* WebSocketMaxPendingOutput */
    apr_interval_time_t   ping_interval;  /* WebSocketPingInterval, 0 = off */
    apr_interval_time_t   idle_timeout;   /* WebSocketIdleTimeout, 0 = off */
    apr_interval_time_t   send_timeout;   /* WebSocketSendTimeout, 0 = off */
    apr_array_header_t   *log_items;      /* WebSocketLogFormat, compiled */
    ws_pmd_conf           pmd;            /* WebSocketDeflate* */
    int                   slow_close;     /* WebSocketSlowSubscriber: 0 drop,
                                             else the close code; -1 unset */
    apr_int64_t           rate, burst;    /* WebSocketMessageRate, -1 unset */
    apr_int64_t           max_fragments;  /* WebSocketMaxFragments, -1 unset */
} ws_dir_conf;

/* Per-server settings (ws_root.c). */
typedef struct ws_server_conf {
    apr_hash_t *paths;     /* WebSocketHandlerRoot: URL path -> ws_location;
                              NULL: this server has no root */
} ws_server_conf;

#define WS_DEFAULT_MAX_PENDING (4 * 1024 * 1024)
#define WS_DEFAULT_MAX_FRAGMENTS 4096   /* no client needs more */
#define WS_DEFAULT_SEND_TIMEOUT apr_time_from_sec(60)

/* Counters of one child (shared memory, see ws_stats.c) or of one
 * connection (for its log line). */
typedef struct ws_counters {
    apr_uint64_t open, opened;
    apr_uint64_t msgs_in, msgs_out;
    apr_uint64_t bytes_in, bytes_out;
    apr_uint64_t pub_dropped;       /* publications a full queue refused */
    apr_uint64_t mem_shed;          /* WebSockets shed at WebSocketMaxMemory */
    apr_uint64_t redis_up;          /* 1 while the Redis link is up */
    apr_uint64_t redis_connects;    /* times it came up */
    apr_uint64_t redis_out, redis_in; /* publications sent, received */
} ws_counters;
#define WS_COUNT(ctr, field, n) \
    __atomic_fetch_add(&(ctr)->field, (apr_uint64_t)(n), __ATOMIC_RELAXED)

/* Closes counted by code (ws_stats.c, ws_stats_close_codes): these, then
 * one bucket for every other code. */
#define WS_NCLOSE 13

/* Limits whose hits are counted, each under a name (ws_stats.c's
 * limit_names, the Prometheus `limit` label): a new one is an entry
 * here and a name there. */
typedef enum ws_limit {
    WS_LIMIT_MAX_MESSAGE,       /* WebSocketMaxMessageSize: closed 1009 */
    WS_LIMIT_PENDING_OUTPUT,    /* WebSocketMaxPendingOutput: WS_EFULL */
    WS_LIMIT_SEND_TIMEOUT,      /* WebSocketSendTimeout: dropped */
    WS_LIMIT_SLOW_SUBSCRIBER,   /* a publication a full queue refused */
    WS_LIMIT_PUBSUB_QUEUE,      /* one the Redis link's queue refused */
    WS_NLIMITS
} ws_limit;

/* What a child counts: its slot of the shared segment, and the sums. */
typedef struct ws_stats {
    ws_counters  c;
    apr_uint64_t closes[WS_NCLOSE];
    apr_uint64_t limits[WS_NLIMITS];
} ws_stats;

/* One child as a reader sees it (ws_stats_snapshot). */
typedef struct ws_stats_child {
    apr_uint32_t pid;
    int          generation;        /* ap_mpm_query(AP_MPMQ_GENERATION) */
    ws_stats     st;
} ws_stats_child;

typedef struct ws_stats_view {
    ws_stats        total;          /* the live children + retired */
    ws_stats        retired;        /* children gone (gauges are 0) */
    apr_uint64_t    children_retired;
    int             nchildren;
    ws_stats_child *child;
} ws_stats_view;

typedef enum ws_state {
    WS_ST_HANDSHAKE = 0, /* on the request thread, before the 101 */
    WS_ST_OPEN,          /* adopted: the protocol session runs */
    WS_ST_FINISHED       /* gone from the loop; only references remain */
} ws_state;

typedef struct ws_conn ws_conn_t;
typedef struct ws_sub ws_sub;      /* one topic subscription (ws_pubsub.c) */

/* A frame queued by a thread other than the connection's loop thread,
 * waiting in the inbox until the loop hands it to the session. */
typedef struct ws_inbox_item {
    struct ws_inbox_item *next;
    void                (*fn)(ws_conn *c, void *arg);  /* ws_defer() */
    void                 *arg;
    unsigned              part : 1, first_part : 1, last_part : 1,
                          from_loop : 1;  /* queued by the loop thread */
    wsp_buf              *frame;       /* NULL (and no fn): a close */
    int                   close_code;
    apr_size_t            reason_len;
    char                  reason[WSP_MAX_CONTROL_PAYLOAD];
} ws_inbox_item;

struct ws_conn {
    const ws_server *server;       /* first member: the handler ABI */
    ws_loop_entry    entry;        /* the loop's view of us */
    apr_uint32_t     refs;         /* the engine's own + ws_retain()s */
    ws_loop         *loop;
    conn_rec        *c;            /* NULL once finished */
    request_rec     *r;            /* NULL once released or finished */
    const ws_handler *h;
    const ws_location *location;
    server_rec      *s;            /* for logs from any thread */
    char             ip[64];       /* remote_ip, for the same */
    const ws_dir_conf *conf;       /* = &conf_copy */
    ws_dir_conf      conf_copy;    /* the merged per-dir config lives in
                                      r->pool, which goes before we do */
    void            *user_data;
    ws_counters      st;           /* this connection's, for its log line */
    apr_time_t       opened_at;
    ws_state         state;
    int              opened;       /* on_open was called */
    const char      *offered;      /* Sec-WebSocket-Protocol as sent */
    const char      *protocol;     /* the one chosen, or NULL */
    const char      *extensions;   /* Sec-WebSocket-Extensions answered,
                                      or NULL: none (ws_pmd.c) */
    char            *extensions_buf; /* its text, malloc'd (freed with us):
                                      not in c->pool, whose next 8 KiB
                                      block it could cost, nor here,
                                      where most connections would carry
                                      160 unused bytes */
    wsp_pmd_params   pmd;          /* what it agreed to */
    /* What handlers may ask of the handshake request: r's own until the
     * request is released, then copies in c->pool; NULL once finished. */
    apr_table_t     *headers, *env;
    const char      *uri, *user, *remote_ip, *query;
    apr_table_t     *extra_headers; /* ws_set_header(), r->pool */

    /* Loop thread only.  The flags are bits of one word: every idle
     * connection holds this struct (see BENCHMARKS.md, idle memory), and
     * only the loop thread writes them, so sharing a word races nothing. */
    wsp_session      sess;         /* the protocol (src/core) */
    int              own_inbox_items; /* queued by this thread, not taken */
    apr_time_t       step_now;     /* proceed()'s clock, for sends inside it */
    apr_size_t       direct_len;   /* read into the loop's buffer, not yet
                                      consumed */
    ws_sub          *subs;         /* topics subscribed (ws_pubsub.c) */
    apr_uint64_t     serial;       /* unique in this child, never 0 */
    int              admitted;     /* counted by ws_limits.c */
    apr_size_t       mem_reported; /* in the child's memory sum */
    apr_time_t       last_input;   /* when input last arrived */
    apr_time_t       timer_at;     /* ws_set_timer(), 0: none */
    unsigned         in_step : 1,  /* inside proceed(): it writes at the end */
                     needs_flush : 1, /* a connection filter may hold output */
                     poll_sees_input : 1, /* no filter holds input back: a
                                      short read means the socket is empty */
                     write_direct : 1, /* only the core's output filter:
                                      write the socket (ws_sock.c) */
                     read_direct : 1, /* poll_sees_input and the core's
                                      buffered input is used up */
                     buffer_cached : 1, /* a read buffer went back to c's
                                      allocator since the last trim */
                     trim_due : 1, /* input came since the last trim: trim
                                      once it has been quiet a while */
                     input_eof : 1, /* the peer's side ended */
                     read_more : 1, /* stopped reading for fairness, or
                                      paused: input may wait in filters */
                     write_more : 1, /* stopped writing for fairness
                                      (WS_WRITE_TURN): more to write */
                     shut_down : 1, /* our write side is shut */
                     upgrade_eos_seen : 1, /* h2: the request's EOS went by */
                     eoc_sent : 1; /* output ended: EOC (TLS close_notify)
                                      or EOS (h2 END_STREAM) */
    apr_bucket_brigade *in_bb;     /* read, not yet used by the session */
    apr_bucket_brigade *out_bb;    /* frames popped, not yet passed */
    apr_bucket_brigade *pass_bb;   /* one pass, at most WS_WRITE_CHUNK */

    /* Shared with any thread, under loop->mutex. */
    ws_inbox_item   *inbox_head, *inbox_tail;
    apr_size_t       inbox_cost;   /* WSP_BUF_COST of the inbox's frames */
    apr_size_t       inbox_bytes;
    apr_size_t       session_cost; /* the session's, as of its last step */
    apr_size_t       session_bytes;
    int              send_closed;  /* a close is queued: no more sends */
    int              drain_wanted; /* a send from another thread got EFULL */
    int              inbox_dead;   /* finished: ws_defer() refused */
    int              parts_open;   /* ws_send_part() message lacks its fin */
    apr_size_t       max_pending;  /* WS_EFULL bound (cost, bytes) */
};

/* ws_conn.c: one WebSocket from adoption to the end */
ws_conn_t   *ws_conn_create(request_rec *r, const ws_dir_conf *conf);
void         ws_conn_release(ws_conn_t *wc);
/* ws_outbox.c: sends from any thread */
int          ws_conn_queue_frame(ws_conn_t *wc, int opcode, const void *data,
                                 apr_size_t len);
int          ws_conn_queue_close(ws_conn_t *wc, int code, const char *reason,
                                 apr_size_t reason_len);
apr_size_t   ws_conn_buffered(ws_conn_t *wc);
void         ws_outbox_drain(ws_conn_t *wc, apr_int64_t now);
void         ws_outbox_publish(ws_conn_t *wc);
int          ws_outbox_take_drain_wanted(ws_conn_t *wc);
void         ws_outbox_free(ws_conn_t *wc);
int          ws_conn_send_part(ws_conn *c, ws_message_type type,
                               const void *data, size_t len, int fin);
int          ws_conn_defer(ws_conn_t *wc, void (*fn)(ws_conn *, void *),
                           void *arg);
void         ws_outbox_finish(ws_conn_t *wc);

/* ws_io.c: bytes between the connection's filters and the core */
typedef enum {
    WS_IO_MORE,     /* read: data returned; flush: WS_WRITE_TURN written,
                       more to write (the next step goes on) */
    WS_IO_DONE,     /* flush: everything written */
    WS_IO_AGAIN,    /* would block */
    WS_IO_EOF,
    WS_IO_ERROR
} ws_io_status;
ws_io_status ws_io_read(ws_conn_t *wc, const char **data, apr_size_t *len);
void         ws_io_read_consume(ws_conn_t *wc, apr_size_t n);
int          ws_io_read_dry(const ws_conn_t *wc, apr_size_t len);
ws_io_status ws_io_flush(ws_conn_t *wc, apr_int64_t now);
ws_io_status ws_io_end_output(ws_conn_t *wc);
ws_io_status ws_io_discard(ws_conn_t *wc);
void         ws_io_shutdown_write(ws_conn_t *wc);
void         ws_io_trim_idle(ws_conn_t *wc);
void         ws_io_register_filters(void);
int          ws_io_is_h2_stream(const conn_rec *c);
int          ws_io_passes_through(const ap_filter_t *f);
apr_status_t ws_io_attach(ws_conn_t *wc);
void         ws_io_release_request(ws_conn_t *wc);
void         ws_io_finish_request(ws_conn_t *wc);
void         ws_io_destroy(ws_conn_t *wc);
void         ws_io_account_written(ws_conn_t *wc, apr_size_t n,
                                   apr_int64_t now);
apr_bucket  *ws_io_add_frame_bucket(ws_conn_t *wc, wsp_buf *f);

/* ws_sock.c: the plain connection's direct reads and writes. */
void         ws_sock_init(void);
int          ws_sock_plain_output(const conn_rec *c);
ws_io_status ws_sock_recv(apr_socket_t *s, char *buf, apr_size_t *n,
                          apr_status_t *rv);
ws_io_status ws_sock_read(ws_conn_t *wc, const char **data,
                          apr_size_t *len);
ws_io_status ws_sock_write(ws_conn_t *wc, apr_int64_t now);

/* ws_pmd.c */
void        ws_pmd_conf_init(ws_pmd_conf *pc);
void        ws_pmd_conf_merge(ws_pmd_conf *out, const ws_pmd_conf *base,
                              const ws_pmd_conf *add);
const char *ws_pmd_set_on(cmd_parms *cmd, void *dconf, int on);
const char *ws_pmd_set_mode(cmd_parms *cmd, void *dconf, const char *arg);
const char *ws_pmd_set_window_bits(cmd_parms *cmd, void *dconf,
                                   const char *server, const char *client);
const char *ws_pmd_set_mem_level(cmd_parms *cmd, void *dconf, const char *arg);
const char *ws_pmd_set_min_size(cmd_parms *cmd, void *dconf, const char *arg);
const char *ws_pmd_set_client_context(cmd_parms *cmd, void *dconf, int on);
void        ws_pmd_negotiate(request_rec *r, ws_conn_t *wc);
void        ws_pmd_session_config(ws_conn_t *wc, wsp_session_config *cfg);

/* ws_limits.c: WebSocketMaxConnections, WebSocketMaxClientConnections */
void        ws_limits_pre_config(void);
const char *ws_limits_set(cmd_parms *cmd, void *dconf, const char *arg);
void        ws_limits_child_init(apr_pool_t *pchild);
int         ws_limits_admit(request_rec *r, ws_conn_t *wc);  /* OK or 503 */
void        ws_limits_leave(ws_conn_t *wc);
const char *ws_limits_set_memory(cmd_parms *cmd, void *dconf, const char *arg);
apr_int64_t ws_limits_memory(void);
void        ws_limits_memory_step(ws_conn_t *wc, apr_time_t now);
void        ws_limits_memory_leave(ws_conn_t *wc);

/* ws_pubsub.c */
void        ws_pubsub_child_init(apr_pool_t *pchild);
int         ws_pubsub_subscribe(ws_conn_t *wc, const char *topic);
int         ws_pubsub_unsubscribe(ws_conn_t *wc, const char *topic);
int         ws_pubsub_publish(const char *topic, ws_message_type type,
                              const void *data, size_t len,
                              ws_conn_t *exclude);
long        ws_pubsub_subscribers(const char *topic);
void        ws_pubsub_forget(ws_conn_t *wc);
int         ws_pubsub_local(const char *topic, size_t topic_len,
                            ws_message_type type, const void *data,
                            size_t len, apr_uint64_t exclude);
void        ws_pubsub_each_topic(void (*fn)(const char *topic, void *arg),
                                 void *arg);

/* ws_redis.c: WebSocketPubSub, topics across children and machines */
const char *ws_redis_set(cmd_parms *cmd, void *dconf, int argc,
                         char *const argv[]);
void        ws_redis_pre_config(void);
int         ws_redis_configured(void);
void        ws_redis_child_init(apr_pool_t *pchild, server_rec *s);
/* 1 if Redis took the publication (it is up), 0: deliver it locally. */
int         ws_redis_publish(const char *topic, ws_message_type type,
                             const void *data, size_t len,
                             apr_uint64_t exclude);
/* Under the pub/sub child mutex: the child's first subscriber of topic
 * came (1), or its last left (0). */
void        ws_redis_topic(const char *topic, int subscribe);

/* ws_capacity.c */
const char *ws_capacity_set_warning(cmd_parms *cmd, const char *arg);
void        ws_capacity_pre_config(void);
void        ws_capacity_check(server_rec *s);
void        ws_capacity_child_init(void);
void        ws_capacity_note_open(apr_uint64_t open);

/* ws_stats.c: the shared segment */
apr_status_t ws_stats_post_config(apr_pool_t *pconf, server_rec *s);
void         ws_stats_child_init(apr_pool_t *pchild);
ws_counters *ws_stats_mine(void);
void         ws_stats_limit(ws_limit which);
void         ws_stats_closed(const wsp_session *sess);
void         ws_stats_snapshot(apr_pool_t *p, ws_stats_view *v);
const char  *ws_stats_limit_name(int i);
int          ws_stats_close_code(int i);   /* 0: the "other" bucket */
void         ws_stats_register_hooks(void);
/* ws_status.c: the mod_status section */
void         ws_status_register_hooks(void);
/* ws_metrics.c: SetHandler websocket-metrics (Prometheus text format) */
void         ws_metrics_register_hooks(void);

/* ws_connlog.c */
void         ws_connlog_init(apr_pool_t *pconf);
const char  *ws_connlog_compile(apr_pool_t *p, const char *fmt,
                                apr_array_header_t **out);
void         ws_connlog_write(ws_conn_t *wc);

/* ws_api.c */
extern const ws_server ws_server_table;

/* ws_upgrade.c */
int ws_upgrade_handler(request_rec *r, const ws_dir_conf *conf);

/* ws_handlers.c */
const char *ws_handlers_load(cmd_parms *cmd, int argc, char *const argv[]);
const char *ws_handlers_select(cmd_parms *cmd, int argc, char *const argv[],
                               const ws_location **out);
void        ws_handlers_pre_config(void);
int         ws_handlers_in_use(void);
void        ws_handlers_child_init(apr_pool_t *pchild);
const char *ws_handlers_load_root_file(cmd_parms *cmd, const char *full,
                                       const char *const *symbols,
                                       const char *where,
                                       const ws_location **out);
void       *ws_config_alloc_fn(ws_config *cfg, size_t n);
void        ws_config_error_fn(ws_config *cfg, const char *msg);
const char *ws_config_where_fn(ws_config *cfg);
void       *ws_config_handler_ctx_fn(ws_config *cfg);

/* ws_root.c: WebSocketHandlerRoot */
void       *ws_root_create_server_conf(apr_pool_t *p, server_rec *s);
void       *ws_root_merge_server_conf(apr_pool_t *p, void *basev, void *addv);
const char *ws_root_set(cmd_parms *cmd, void *dconf, const char *arg);
void        ws_root_pre_config(void);
void        ws_root_log_found(void);
int         ws_root_fixups(request_rec *r, const char *handler_name);
const ws_dir_conf *ws_root_dir_conf(request_rec *r, const ws_dir_conf *conf);

#endif
