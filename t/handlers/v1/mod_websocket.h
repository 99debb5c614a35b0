/*
 * mod_websocket.h - the handler API of mod_websocket (public, versioned).
 *
 * A handler is a shared object that exports one init function, named in the
 * WebSocketHandler directive:
 *
 *     WebSocketHandler modules/mod_websocket_echo.so echo
 *
 *     const ws_handler *echo(const ws_server *server);
 *
 * The module calls it once per process when the configuration is read; it
 * returns a table of callbacks (static storage) whose abi_version is
 * WS_HANDLER_ABI_VERSION, or NULL to refuse (configtest then fails).
 *
 * Threading contract
 * ------------------
 * - All callbacks of one connection run one at a time, on the thread that
 *   owns the connection: under mpm_event one event-loop thread per child
 *   process serves every WebSocket of that child, so a callback must not
 *   block (no sleeping, no blocking network calls); hand slow work to a
 *   thread of your own and ws_send() the result from there.
 *   Under prefork/worker the request's own thread runs the connection.
 * - ws_send(), ws_close(), ws_buffered_amount(), ws_retain() and
 *   ws_release() may be called from any thread, at any time between
 *   on_open and the return of on_close, and later too by a holder of a
 *   reference taken with ws_retain() (they then fail with WS_ECLOSED).
 * - Other accessors (headers, subprotocol, user data) are for callbacks.
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

/* Bumped when a struct below changes incompatibly.  Additions at the end of
 * a struct keep the version and grow its size field. */
#define WS_HANDLER_ABI_VERSION 1

typedef struct ws_conn ws_conn;       /* one WebSocket, opaque */
typedef struct ws_server ws_server;   /* the module's function table */

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
    WS_EFULL     = -4    /* the outbound queue is full (backpressure) */
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
};

/* Every ws_conn starts with a pointer to the module's table: that is the
 * whole of its layout that handlers may rely on. */
struct ws_conn_head { const ws_server *server; };
#define WS__SRV(c) (((const struct ws_conn_head *)(const void *)(c))->server)

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

/* Logs through httpd's error log with the module's LogLevel; level is an
 * APLOG_* value (APLOG_ERR 3 ... APLOG_DEBUG 7). */
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

#ifdef __cplusplus
}
#endif
#endif
