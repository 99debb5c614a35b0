/*
 * mod_websocket.h - the handler API of mod_websocket (public, versioned).
 *
 * A handler is a shared object that exports one init function.  The main
 * server configuration loads it once, under a name, and locations select
 * it by that name (with arguments of their own):
 *
 *     WebSocketHandlerLoad echo modules/mod_websocket_echo.so echo
 *     <Location /echo>
 *         WebSocketHandler echo
 *     </Location>
 *
 *     const ws_handler *echo(const ws_server *server);
 *
 * The module calls the init function once per configuration cycle, in the
 * process that reads the configuration (also for `apachectl configtest`);
 * it returns a table of callbacks (static storage) whose abi_version is
 * WS_HANDLER_ABI_VERSION (or 1, see below), or NULL to refuse (the
 * configuration then fails).  on_load and on_location then check the
 * directives' arguments and build the handler's and each location's state.
 *
 * Versions.  ABI version 1 handlers (no on_load and later callbacks) keep
 * loading.  Functions added after version 1 are reached through wrappers
 * that check the module's table size: against an older module they answer
 * WS_ENOSYS (or NULL), never a call past the end of its table.
 *
 * Threading contract
 * ------------------
 * - Configuration callbacks (init, on_load, on_location) run while httpd
 *   reads its configuration, in the parent and in apachectl processes:
 *   start no threads there.  on_child_init/on_child_exit run once per
 *   location in every child process that serves WebSockets.
 * - All callbacks of one connection run one at a time, on the thread that
 *   owns the connection (its "loop thread"): under mpm_event one event-loop
 *   thread per child process serves every WebSocket of that child, so
 *   callbacks of all its connections are serialized and a callback must
 *   not block (no sleeping, no blocking network calls).  Under prefork and
 *   worker, and on HTTP/2 streams, each connection runs on a thread of its
 *   own: callbacks of different connections may then run at the same time.
 * - Callbacks run without any lock of the module held.  From a callback a
 *   handler may send to, close or defer to any connection, its own or
 *   others (ws_send() and the rest below are safe there).
 * - From any thread, at any time between on_open and the return of
 *   on_close (and later by a holder of a ws_retain() reference, then
 *   failing with WS_ECLOSED): ws_send(), ws_send_part(), ws_close(),
 *   ws_buffered_amount(), ws_retain(), ws_release(), ws_defer(), ws_log().
 * - Only in the connection's own callbacks (or a function run by
 *   ws_defer()): ws_set_timer() and the accessors (headers, query,
 *   environment, subprotocol, user data, location context).
 *   ws_select_protocol() and ws_set_header(): only in on_handshake.
 * - A ws_conn handle stays valid until on_close returns, or until the last
 *   ws_release() of a reference taken with ws_retain(), whichever is later.
 */
#ifndef MOD_WEBSOCKET_H
#define MOD_WEBSOCKET_H

#include <stddef.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: on_load, on_location, per-child and timer callbacks, and the
 * functions after log in ws_server.  Additions at the end of a struct keep
 * the version and grow its size field. */
#define WS_HANDLER_ABI_VERSION 2

typedef struct ws_conn ws_conn;       /* one WebSocket, opaque */
typedef struct ws_server ws_server;   /* the module's function table */
typedef struct ws_config ws_config;   /* a directive being read, opaque */

typedef enum ws_message_type {
    WS_TEXT   = 1,                    /* UTF-8, validated by the module */
    WS_BINARY = 2
} ws_message_type;

/* Return values of ws_send()/ws_close(). */
enum {
    WS_OK        =  0,
    WS_ECLOSED   = -1,   /* the connection is closing or closed */
    WS_EINVAL    = -2,   /* bad argument (e.g. text that is not UTF-8, bad close code) */
    WS_ENOMEM    = -3,
    WS_EFULL     = -4,   /* the outbound queue is full (backpressure) */
    WS_ENOSYS    = -5,   /* the running module is older than this header */
    WS_ESTATE    = -6    /* not allowed now (e.g. ws_set_header() after
                            on_handshake, ws_send() inside a ws_send_part()
                            message) */
};

/* Log levels for ws_log() (httpd's APLOG_* values). */
enum {
    WS_LOG_ERR = 3, WS_LOG_WARNING = 4, WS_LOG_NOTICE = 5,
    WS_LOG_INFO = 6, WS_LOG_DEBUG = 7
};

/* Callbacks a handler provides.  Any may be NULL. */
typedef struct ws_handler {
    unsigned    abi_version;          /* WS_HANDLER_ABI_VERSION */
    size_t      size;                 /* sizeof(ws_handler) */
    const char *name;                 /* for logs */

    /* During the HTTP handshake, after access control.  Inspect the request
     * (ws_header(), ws_offered_protocols(), ws_user()...), pick a subprotocol
     * with ws_select_protocol(); return 0 to accept or an HTTP status
     * (e.g. 403) to refuse the upgrade. */
    int  (*on_handshake)(ws_conn *c);
    /* The 101 has been sent; the connection is open. */
    void (*on_open)(ws_conn *c);
    /* One complete message. data is valid only during the call. */
    void (*on_message)(ws_conn *c, ws_message_type type,
                       const void *data, size_t len);
    /* The connection is closed (handshake done, or the peer vanished:
     * code 1006).  reason is NUL-terminated UTF-8.  Last callback. */
    void (*on_close)(ws_conn *c, int code, const char *reason);
    /* The outbound queue has drained below its bound after ws_send()
     * returned WS_EFULL. */
    void (*on_drain)(ws_conn *c);

    /* ---- ABI version 2 ---- */
    /* WebSocketHandlerLoad's arguments after the init function's name;
     * returns the handler's context (ws_config_handler_ctx()).  Reject
     * bad arguments with ws_config_error().  NULL callback: arguments are
     * refused. */
    void *(*on_load)(ws_config *cfg, int argc, const char *const *argv);
    /* One WebSocketHandler line (one location): its arguments after the
     * handler's name; returns that location's context, reached from every
     * callback of its connections with ws_location_ctx().  Each location is
     * an instance of its own.  NULL callback: arguments are refused. */
    void *(*on_location)(ws_config *cfg, int argc, const char *const *argv);
    /* In every child process that serves WebSockets, once per location,
     * with that location's context: start per-child work here (threads,
     * connections to other servers).  on_child_exit as the child stops. */
    void (*on_child_init)(void *location_ctx);
    void (*on_child_exit)(void *location_ctx);
    /* The time set by ws_set_timer() has come (loop thread). */
    void (*on_timer)(ws_conn *c);
} ws_handler;

typedef const ws_handler *(*ws_handler_init_fn)(const ws_server *server);

/* The module's functions.  Reach them through the inline wrappers below. */
struct ws_server {
    unsigned    abi_version;
    size_t      size;
    int         (*send)(ws_conn *c, ws_message_type type, const void *data, size_t len);
    int         (*close)(ws_conn *c, int code, const char *reason);
    size_t      (*buffered_amount)(ws_conn *c);
    void        (*retain)(ws_conn *c);
    void        (*release)(ws_conn *c);
    void        (*set_data)(ws_conn *c, void *data);
    void       *(*get_data)(ws_conn *c);
    const char *(*header)(ws_conn *c, const char *name);
    const char *(*offered_protocols)(ws_conn *c);
    int         (*select_protocol)(ws_conn *c, const char *protocol);
    const char *(*protocol)(ws_conn *c);
    const char *(*uri)(ws_conn *c);
    const char *(*user)(ws_conn *c);
    const char *(*remote_ip)(ws_conn *c);
    void        (*log)(ws_conn *c, int level, const char *fmt, va_list ap);
    /* ---- ABI version 2 ---- */
    void       *(*location_ctx)(ws_conn *c);
    const char *(*query)(ws_conn *c);
    const char *(*env)(ws_conn *c, const char *name);
    int         (*set_header)(ws_conn *c, const char *name, const char *value);
    int         (*set_timer)(ws_conn *c, long long usec);
    int         (*defer)(ws_conn *c, void (*fn)(ws_conn *c, void *arg), void *arg);
    int         (*send_part)(ws_conn *c, ws_message_type type, const void *data,
                             size_t len, int fin);
    void       *(*config_alloc)(ws_config *cfg, size_t size);
    void        (*config_error)(ws_config *cfg, const char *msg);
    const char *(*config_where)(ws_config *cfg);
    void       *(*config_handler_ctx)(ws_config *cfg);
    void        (*log_server)(int level, const char *fmt, va_list ap);
    int         (*subscribe)(ws_conn *c, const char *topic);
    int         (*unsubscribe)(ws_conn *c, const char *topic);
    int         (*publish)(const char *topic, ws_message_type type,
                           const void *data, size_t len, ws_conn *exclude);
    long        (*subscribers)(const char *topic);
};

/* Every ws_conn starts with a pointer to the module's table: that is the
 * whole of its layout that handlers may rely on. */
struct ws_conn_head { const ws_server *server; };
#define WS__SRV(c) (((const struct ws_conn_head *)(const void *)(c))->server)
/* 1 if the running module's table has the function fn (version 2 on). */
#define WS__HAS(srv, fn) \
    ((srv)->size >= offsetof(ws_server, fn) + sizeof((srv)->fn) && (srv)->fn)

/* Queues a message (copied).  WS_EFULL once the queue already holds
 * WebSocketMaxPendingOutput (on_drain follows when it falls below half);
 * WS_EINVAL for text that is not UTF-8. */
static inline int ws_send(ws_conn *c, ws_message_type t, const void *d, size_t n)
{ return WS__SRV(c)->send(c, t, d, n); }
static inline int ws_send_text(ws_conn *c, const char *s, size_t n)
{ return WS__SRV(c)->send(c, WS_TEXT, s, n); }
/* Starts the closing handshake; code 1000-1003, 1007-1014, 3000-4999, or 0
 * for none.  reason may be NULL; it is cut to fit 123 bytes. */
static inline int ws_close(ws_conn *c, int code, const char *reason)
{ return WS__SRV(c)->close(c, code, reason); }
/* Bytes queued by ws_send() and not yet written to the network. */
static inline size_t ws_buffered_amount(ws_conn *c)
{ return WS__SRV(c)->buffered_amount(c); }
static inline void ws_retain(ws_conn *c)  { WS__SRV(c)->retain(c); }
static inline void ws_release(ws_conn *c) { WS__SRV(c)->release(c); }
/* Per-connection data of the handler's own; the module never frees it. */
static inline void ws_set_data(ws_conn *c, void *d) { WS__SRV(c)->set_data(c, d); }
static inline void *ws_get_data(ws_conn *c) { return WS__SRV(c)->get_data(c); }
/* A request header of the handshake (e.g. "Origin", "Cookie"), or NULL. */
static inline const char *ws_header(ws_conn *c, const char *name)
{ return WS__SRV(c)->header(c, name); }
/* The client's Sec-WebSocket-Protocol offer as sent, or NULL. */
static inline const char *ws_offered_protocols(ws_conn *c)
{ return WS__SRV(c)->offered_protocols(c); }
/* In on_handshake: answer with this subprotocol.  WS_EINVAL if the client
 * did not offer it. */
static inline int ws_select_protocol(ws_conn *c, const char *p)
{ return WS__SRV(c)->select_protocol(c, p); }
/* The subprotocol chosen, or NULL. */
static inline const char *ws_protocol(ws_conn *c) { return WS__SRV(c)->protocol(c); }
static inline const char *ws_uri(ws_conn *c) { return WS__SRV(c)->uri(c); }
/* The authenticated user (r->user), or NULL. */
static inline const char *ws_user(ws_conn *c) { return WS__SRV(c)->user(c); }
static inline const char *ws_remote_ip(ws_conn *c) { return WS__SRV(c)->remote_ip(c); }

/* Logs through httpd's error log with the module's LogLevel (so
 * `LogLevel websocket:debug` shows WS_LOG_DEBUG); level is WS_LOG_*.
 * From any thread. */
static inline void ws_log(ws_conn *c, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline void ws_log(ws_conn *c, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    WS__SRV(c)->log(c, level, fmt, ap);
    va_end(ap);
}

/* ---- ABI version 2 ---------------------------------------------------- */

/* The context on_location returned for this connection's location. */
static inline void *ws_location_ctx(ws_conn *c)
{ return WS__HAS(WS__SRV(c), location_ctx) ? WS__SRV(c)->location_ctx(c) : NULL; }
/* The handshake's query string (without '?'), or NULL. */
static inline const char *ws_query(ws_conn *c)
{ return WS__HAS(WS__SRV(c), query) ? WS__SRV(c)->query(c) : NULL; }
/* A variable of the request's environment (what SetEnv, mod_rewrite's
 * E= flag, mod_setenvif or an auth module set), or NULL. */
static inline const char *ws_env(ws_conn *c, const char *name)
{ return WS__HAS(WS__SRV(c), env) ? WS__SRV(c)->env(c, name) : NULL; }
/* In on_handshake: adds a header to the 101 response (e.g. Set-Cookie).
 * The WebSocket headers themselves cannot be set (WS_EINVAL). */
static inline int ws_set_header(ws_conn *c, const char *name, const char *value)
{ return WS__HAS(WS__SRV(c), set_header) ? WS__SRV(c)->set_header(c, name, value)
                                         : WS_ENOSYS; }
/* on_timer runs once, usec microseconds from now, on the connection's loop
 * thread; setting it again replaces the time, 0 cancels.  One timer per
 * connection.  In the connection's callbacks only. */
static inline int ws_set_timer(ws_conn *c, long long usec)
{ return WS__HAS(WS__SRV(c), set_timer) ? WS__SRV(c)->set_timer(c, usec) : WS_ENOSYS; }
/* From any thread: runs fn(c, arg) on the connection's loop thread, after
 * the sends queued before it.  On WS_OK fn runs exactly once, even if the
 * connection closes first (then after on_close, with sends answering
 * WS_ECLOSED), so it may free arg. */
static inline int ws_defer(ws_conn *c, void (*fn)(ws_conn *c, void *arg), void *arg)
{ return WS__HAS(WS__SRV(c), defer) ? WS__SRV(c)->defer(c, fn, arg) : WS_ENOSYS; }
/* Sends a message in parts: each call one frame, fin=1 on the last.  Pings
 * and pongs may go out between the parts; other messages of this
 * connection wait (ws_send() answers WS_ESTATE) until fin.  The type of
 * every part is that of the first.  Text: each part must be UTF-8 on its
 * own (no character split across parts). */
static inline int ws_send_part(ws_conn *c, ws_message_type t, const void *d,
                               size_t n, int fin)
{ return WS__HAS(WS__SRV(c), send_part) ? WS__SRV(c)->send_part(c, t, d, n, fin)
                                        : WS_ENOSYS; }

/* Configuration callbacks (on_load, on_location).  A ws_config starts with
 * the module's table, as a ws_conn does. */
/* Memory that lives as long as this configuration (freed at restart). */
static inline void *ws_config_alloc(ws_config *cfg, size_t n)
{ return WS__SRV(cfg)->config_alloc(cfg, n); }
/* Rejects the directive; httpd prints msg (copied) and fails configtest. */
static inline void ws_config_error(ws_config *cfg, const char *msg)
{ WS__SRV(cfg)->config_error(cfg, msg); }
/* The <Location>/<Directory> of a WebSocketHandler line, or NULL. */
static inline const char *ws_config_where(ws_config *cfg)
{ return WS__SRV(cfg)->config_where(cfg); }
/* In on_location: the context on_load returned. */
static inline void *ws_config_handler_ctx(ws_config *cfg)
{ return WS__SRV(cfg)->config_handler_ctx(cfg); }

/* Logs without a connection (on_child_init, a thread of the handler's). */
static inline void ws_log_server(int level, const ws_server *srv,
                                 const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline void ws_log_server(int level, const ws_server *srv,
                                 const char *fmt, ...)
{
    va_list ap;
    if (!WS__HAS(srv, log_server))
        return;
    va_start(ap, fmt);
    srv->log_server(level, fmt, ap);
    va_end(ap);
}

/* ---- topics (publish/subscribe) --------------------------------------
 * A topic is any non-empty name up to 1024 bytes, the same for every
 * location of the server: prefix names with your own (e.g. "chat/lobby")
 * to keep handlers apart.  Delivery is at most once, in publish order per
 * publisher.  Without WebSocketPubSub a topic reaches the subscribers of
 * this child process only (see the README). */

/* In the connection's own callbacks (or a ws_defer() function): from now
 * on c receives every message published to topic.  Subscribing twice is
 * one subscription.  Closing unsubscribes from everything. */
static inline int ws_subscribe(ws_conn *c, const char *topic)
{ return WS__HAS(WS__SRV(c), subscribe) ? WS__SRV(c)->subscribe(c, topic) : WS_ENOSYS; }
static inline int ws_unsubscribe(ws_conn *c, const char *topic)
{ return WS__HAS(WS__SRV(c), unsubscribe) ? WS__SRV(c)->unsubscribe(c, topic) : WS_ENOSYS; }
/* From any thread: queues one message (copied once, shared by every
 * subscriber) to the topic's subscribers.  A subscriber whose queue is
 * full misses it, or is closed (WebSocketSlowSubscriber). */
static inline int ws_publish(const ws_server *srv, const char *topic,
                             ws_message_type t, const void *d, size_t n)
{ return WS__HAS(srv, publish) ? srv->publish(topic, t, d, n, NULL) : WS_ENOSYS; }
/* The same from a connection; exclude_self: not to c itself. */
static inline int ws_publish_from(ws_conn *c, const char *topic,
                                  ws_message_type t, const void *d, size_t n,
                                  int exclude_self)
{ return WS__HAS(WS__SRV(c), publish)
         ? WS__SRV(c)->publish(topic, t, d, n, exclude_self ? c : NULL) : WS_ENOSYS; }
/* Subscribers of topic in this child process (any thread). */
static inline long ws_subscribers(const ws_server *srv, const char *topic)
{ return WS__HAS(srv, subscribers) ? srv->subscribers(topic) : 0; }

#ifdef __cplusplus
}
#endif
#endif
