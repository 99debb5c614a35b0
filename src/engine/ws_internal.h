/*
 * ws_internal.h - what the engine files share: configuration, the
 * per-connection state (ws_conn) and the event loop (ws_loop).
 *
 * Ownership in one paragraph: the handshake runs on an httpd worker thread.
 * After the 101 the connection belongs to a ws_loop thread: under an async
 * MPM (event) one loop thread per child serves every WebSocket of that child
 * and the request is SUSPENDED; under prefork/worker the request's own
 * thread runs a private loop until the connection ends.  Only the loop
 * thread touches the conn_rec, its filters, pools and buckets; other threads
 * reach a connection only through the outbound queue, under loop->mutex.
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

#include "mod_websocket.h"
#include "wsp_frame.h"

extern module AP_MODULE_DECLARE_DATA websocket_module;

/* Our own message IDs (httpd's AHnnnnn numbers are for httpd itself). */
#define WSLOGNO(n) "WS" #n ": "

#define WS_DEFAULT_MAX_MESSAGE (16 * 1024 * 1024)
#define WS_CLOSE_TIMEOUT       apr_time_from_sec(5)  /* wait for the peer's close */
#define WS_LINGER_TIMEOUT      apr_time_from_sec(2)  /* wait for EOF after our FIN */
#define WS_WRITE_CHUNK         (32 * 1024) /* stay under FlushMaxThreshold:
                                              the core filter never blocks */
#define WS_READ_ROUNDS         16          /* reads per readiness, for fairness */

/* A handler .so loaded by WebSocketHandler. */
typedef struct ws_handler_ref {
    const char       *path;
    const char       *symbol;
    const ws_handler *h;
} ws_handler_ref;

typedef struct ws_log_item ws_log_item;

/* Per-directory settings; an unset value (-1, NULL) inherits. */
typedef struct ws_dir_conf {
    const ws_handler_ref *handler;        /* NULL: not a WebSocket location */
    apr_int64_t           max_message;    /* WebSocketMaxMessageSize */
    apr_int64_t           max_pending;    /* WebSocketMaxPendingOutput */
    apr_interval_time_t   ping_interval;  /* WebSocketPingInterval, 0 = off */
    apr_interval_time_t   idle_timeout;   /* WebSocketIdleTimeout, 0 = off */
    apr_array_header_t   *log_items;      /* WebSocketLogFormat, compiled */
} ws_dir_conf;

#define WS_DEFAULT_MAX_PENDING (4 * 1024 * 1024)

/* Counters of one child (shared memory, see ws_stats.c) or of one
 * connection (for its log line). */
typedef struct ws_counters {
    apr_uint64_t open, opened;
    apr_uint64_t msgs_in, msgs_out;
    apr_uint64_t bytes_in, bytes_out;
} ws_counters;
#define WS_COUNT(ctr, field, n) \
    __atomic_fetch_add(&(ctr)->field, (apr_uint64_t)(n), __ATOMIC_RELAXED)

typedef enum { WS_BY_NONE = 0, WS_BY_CLIENT, WS_BY_SERVER } ws_closer;

typedef enum ws_state {
    WS_ST_HANDSHAKE = 0, /* on the request thread, before the 101 */
    WS_ST_OPEN,          /* messages flow both ways */
    WS_ST_CLOSING,       /* we sent a close, waiting for the peer's */
    WS_ST_DRAINING,      /* close handshake over (or failed): flushing output */
    WS_ST_LINGER,        /* our FIN is out; reading to EOF before closing */
    WS_ST_FINISHED       /* gone from the loop; only references remain */
} ws_state;

typedef struct ws_loop ws_loop;
typedef struct ws_conn ws_conn_t;

/* One serialized frame waiting in the outbound queue.  The frame bytes
 * follow the struct in the same malloc block, which is later handed to a
 * heap bucket whole (no copy). */
typedef struct ws_outbuf {
    struct ws_outbuf *next;
    apr_size_t        len;
} ws_outbuf;
#define WS_OUTBUF_DATA(o) ((unsigned char *)((o) + 1))

struct ws_conn {
    const ws_server *server;       /* first member: the handler ABI */
    apr_uint32_t     refs;         /* the loop's own + ws_retain()s */
    ws_loop         *loop;
    conn_rec        *c;            /* NULL once finished */
    request_rec     *r;            /* NULL once finished */
    const ws_handler *h;
    const ws_dir_conf *conf;       /* = &conf_copy */
    ws_dir_conf      conf_copy;    /* the merged per-dir config lives in
                                      r->pool, which goes before we do */
    void            *user_data;
    ws_counters      st;           /* this connection's, for its log line */
    ws_closer        closed_by;
    apr_time_t       opened_at;
    apr_time_t       last_rx;      /* last input: the idle clock */
    apr_time_t       last_ping;
    int              read_paused;  /* output over the bound: not reading */
    int              input_eof;    /* the peer shut down its side */
    ws_state         state;
    int              opened;       /* on_open was called */
    int              close_notified; /* on_close was called */
    int              close_code;   /* what on_close reports */
    char             close_reason[124];
    const char      *offered;      /* Sec-WebSocket-Protocol as sent */
    const char      *protocol;     /* the one chosen, or NULL */
    /* What handlers may ask of the handshake request: r's own until the
     * request is released, then copies in c->pool; NULL once finished. */
    apr_table_t     *headers;
    const char      *uri, *user, *remote_ip;
    ws_conn_t       *settle_next;  /* loop->settling */
    wsp_reader       reader;
    apr_bucket_brigade *in_bb;     /* loop thread only */
    apr_bucket_brigade *out_bb;    /* frames taken from the queue, not yet passed */
    apr_bucket_brigade *pass_bb;
    apr_pollfd_t     pfd;          /* the socket, or an h2 stream's pipe */
    int              in_pollset;
    int              upgrade_eos_seen; /* h2: the request's EOS went by */
    int              eoc_sent;     /* output ended: EOC (TLS close_notify) or h2 EOS */
    int              read_pending; /* stopped reading for fairness */
    apr_time_t       deadline;     /* 0: no timer */
    apr_time_t       adopted;      /* when the loop took it over */
    ws_conn_t       *all_prev, *all_next;  /* loop's list of connections */
    ws_conn_t       *grave_next;

    /* Shared with any thread, under loop->mutex. */
    ws_outbuf       *q_head, *q_tail;
    int              send_closed;  /* a close frame is queued: no more sends */
    int              scheduled;    /* on loop->ready */
    ws_conn_t       *ready_next;
    int              drain_wanted; /* a send failed with WS_EFULL */
    apr_size_t       max_pending;  /* WS_EFULL bound */
    volatile apr_size_t buffered;  /* queued + out_bb bytes */
};

struct ws_loop {
    apr_pool_t         *pool;
    apr_pollset_t      *pollset;
    apr_thread_mutex_t *mutex;
    apr_skiplist       *timers;      /* conns by deadline */
    apr_thread_t       *thread;      /* async: the loop's own thread */
    apr_os_thread_t     owner;       /* the thread that runs the loop */
    int                 async;
    ws_conn_t          *all;         /* every adopted connection */
    apr_uint32_t        nconns;
    ws_conn_t          *graveyard;   /* finished, pools not yet destroyed */
    ws_conn_t          *settling;    /* adopted, request not yet released */
    /* Under mutex: */
    ws_conn_t          *incoming;    /* handed off by workers, not adopted yet */
    ws_conn_t          *ready_head, *ready_tail;
    volatile int        stopping;    /* close everything with 1001 */
    volatile int        exiting;     /* leave now (child exit) */
    int                 stop_done;
};

/* ws_loop.c */
apr_status_t ws_loop_create(ws_loop **out, int async, apr_pool_t *parent);
apr_status_t ws_loop_start_thread(ws_loop *loop);
void         ws_loop_stop(ws_loop *loop, int now);
ws_loop     *ws_loop_for_child(void);
void         ws_loop_init_child(apr_pool_t *pchild);
void         ws_loop_stop_all(int now);
ws_loop     *ws_loop_for_this_thread(void);
void         ws_loop_handoff(ws_loop *loop, ws_conn_t *wc);
void         ws_loop_run_inline(ws_loop *loop, ws_conn_t *wc);
int          ws_loop_schedule(ws_conn_t *wc);   /* under loop->mutex */
void         ws_loop_wakeup(ws_loop *loop);
int          ws_loop_is_owner(const ws_loop *loop);
void         ws_loop_set_timer(ws_conn_t *wc, apr_time_t deadline);
void         ws_loop_watch(ws_conn_t *wc, apr_int16_t events);
void         ws_loop_forget(ws_conn_t *wc);
void         ws_loop_bury(ws_conn_t *wc);

/* ws_conn.c: protocol state of an adopted connection */
ws_conn_t   *ws_conn_create(request_rec *r, const ws_dir_conf *conf);
void         ws_conn_adopt(ws_conn_t *wc);
void         ws_conn_on_readable(ws_conn_t *wc);
void         ws_conn_on_writable(ws_conn_t *wc);
void         ws_conn_on_scheduled(ws_conn_t *wc);
void         ws_conn_on_timer(ws_conn_t *wc);
void         ws_conn_going_away(ws_conn_t *wc);
void         ws_conn_abort(ws_conn_t *wc);
int          ws_conn_queue_close(ws_conn_t *wc, int code, const char *reason,
                                 apr_size_t reason_len);
int          ws_conn_queue_frame(ws_conn_t *wc, int opcode, const void *data,
                                 apr_size_t len, int is_control);
void         ws_conn_release(ws_conn_t *wc);

/* ws_io.c: bytes between the connection's filters and the core */
typedef enum {
    WS_IO_MORE,     /* read: data returned */
    WS_IO_DONE,     /* flush: everything written */
    WS_IO_AGAIN,    /* would block */
    WS_IO_EOF,
    WS_IO_ERROR
} ws_io_status;
ws_io_status ws_io_read(ws_conn_t *wc, const char **data, apr_size_t *len);
void         ws_io_read_consume(ws_conn_t *wc, apr_size_t n);
ws_io_status ws_io_flush(ws_conn_t *wc);
ws_io_status ws_io_end_output(ws_conn_t *wc);
ws_io_status ws_io_discard(ws_conn_t *wc);
void         ws_io_shutdown_write(ws_conn_t *wc);
void         ws_io_register_filters(void);
int          ws_io_is_h2_stream(const conn_rec *c);
apr_status_t ws_io_attach(ws_conn_t *wc);
void         ws_io_release_request(ws_conn_t *wc);
void         ws_io_finish_request(ws_conn_t *wc);
void         ws_io_destroy(ws_conn_t *wc);

/* ws_stats.c */
apr_status_t ws_stats_post_config(apr_pool_t *pconf, server_rec *s);
void         ws_stats_child_init(apr_pool_t *pchild);
ws_counters *ws_stats_mine(void);
void         ws_stats_register_hooks(void);

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
const char *ws_handler_load(cmd_parms *cmd, const char *path,
                            const char *symbol, const ws_handler_ref **out);

#endif
