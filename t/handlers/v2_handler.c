/*
 * v2_handler.c - exercises the version-2 handler API for t/api/v2.t, with
 * no thread of its own: arguments (handler-wide and per location), one
 * instance per location, per-child hooks, loop timers, deferred calls,
 * query string and environment, 101 response headers, messages in parts.
 *
 *   WebSocketHandlerLoad v2 .../mod_websocket_test.so v2_handler greeting=hi
 *   <Location /v2a>  WebSocketHandler v2 label=a tick=50  </Location>
 *
 * On open it sends "hello <label> <greeting> query=<q> env=<V2_ENV>"; with
 * tick=MS it then sends "tick <n>" every MS milliseconds (n = 1, 2, ...).
 * Messages: "broadcast <text>" sends "bcast <text>" to every connection of
 * this location in this child (through ws_defer); "count" answers
 * "count <label> <n>", the connections opened at this location in this
 * child; "defer" answers
 * "deferred" from a deferred call; "parts" sends "parts!" in three parts
 * and then "estate <rc>" with what a ws_send() between them returned.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mod_websocket.h"

static const ws_server *srv;

typedef struct member {
    ws_conn       *c;
    struct member *next;
} member;

typedef struct location {
    const char     *label;
    const char     *greeting;
    long            tick_ms;
    /* Under mpm_event every connection of a child runs on one loop thread;
     * under worker they do not, so the list takes a lock. */
    pthread_mutex_t lock;
    member         *members;
    long            opens;         /* connections opened here, this child */
} location;

typedef struct conn_state {
    location *loc;
    long      ticks;
} conn_state;

/* --- configuration ------------------------------------------------------- */

static void *v2_on_load(ws_config *cfg, int argc, const char *const *argv)
{
    const char **greeting = ws_config_alloc(cfg, sizeof(*greeting));
    int i;

    *greeting = "none";
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "greeting=", 9) == 0)
            *greeting = argv[i] + 9;
        else {
            ws_config_error(cfg, "unknown argument (expected greeting=WORD)");
            return NULL;
        }
    }
    return greeting;
}

static void *v2_on_location(ws_config *cfg, int argc, const char *const *argv)
{
    location *loc = ws_config_alloc(cfg, sizeof(*loc));
    const char *const *greeting = ws_config_handler_ctx(cfg);
    int i;

    loc->label = "default";
    loc->greeting = greeting ? *greeting : "none";
    for (i = 0; i < argc; i++) {
        char *end;
        if (strncmp(argv[i], "label=", 6) == 0)
            loc->label = argv[i] + 6;
        else if (strncmp(argv[i], "tick=", 5) == 0
                 && (loc->tick_ms = strtol(argv[i] + 5, &end, 10)) > 0
                 && !*end)
            ;
        else {
            ws_config_error(cfg, "unknown argument (expected label=NAME or "
                                 "tick=MILLISECONDS)");
            return NULL;
        }
    }
    pthread_mutex_init(&loc->lock, NULL);
    return loc;
}

static void v2_child_init(void *ctx)
{
    location *loc = ctx;
    ws_log_server(WS_LOG_NOTICE, srv, "v2 child_init label=%s pid=%ld",
                  loc ? loc->label : "-", (long)getpid());
}

static void v2_child_exit(void *ctx)
{
    location *loc = ctx;
    ws_log_server(WS_LOG_NOTICE, srv, "v2 child_exit label=%s pid=%ld",
                  loc ? loc->label : "-", (long)getpid());
}

/* --- connections ----------------------------------------------------------- */

static int v2_on_handshake(ws_conn *c)
{
    location *loc = ws_location_ctx(c);
    char cookie[64];

    snprintf(cookie, sizeof(cookie), "v2=%s; Path=/", loc->label);
    if (ws_set_header(c, "Set-Cookie", cookie) != WS_OK
        || ws_set_header(c, "Set-Cookie", "second=1; Path=/") != WS_OK)
        return 500;
    return 0;
}

static void v2_on_open(ws_conn *c)
{
    location *loc = ws_location_ctx(c);
    conn_state *st = calloc(1, sizeof(*st));
    member *m = calloc(1, sizeof(*m));
    char hello[512];
    const char *q = ws_query(c), *env = ws_env(c, "V2_ENV");

    if (!st || !m) {
        free(st);
        free(m);
        ws_close(c, 1011, "out of memory");
        return;
    }
    st->loc = loc;
    ws_set_data(c, st);
    m->c = c;
    pthread_mutex_lock(&loc->lock);
    m->next = loc->members;
    loc->members = m;
    loc->opens++;
    pthread_mutex_unlock(&loc->lock);
    snprintf(hello, sizeof(hello), "hello %s %s query=%s env=%s", loc->label,
             loc->greeting, q ? q : "-", env ? env : "-");
    ws_send_text(c, hello, strlen(hello));
    if (loc->tick_ms)
        ws_set_timer(c, loc->tick_ms * 1000LL);
}

static void v2_on_timer(ws_conn *c)
{
    conn_state *st = ws_get_data(c);
    char msg[32];

    snprintf(msg, sizeof(msg), "tick %ld", ++st->ticks);
    ws_send_text(c, msg, strlen(msg));
    ws_set_timer(c, st->loc->tick_ms * 1000LL);
}

/* Runs on the receiving connection's loop thread. */
static void deliver(ws_conn *c, void *arg)
{
    char *text = arg;
    ws_send_text(c, text, strlen(text));
    free(text);
}

static void broadcast(ws_conn *from, const char *text, size_t len)
{
    location *loc = ((conn_state *)ws_get_data(from))->loc;
    member *m;

    pthread_mutex_lock(&loc->lock);
    for (m = loc->members; m; m = m->next) {
        char *copy = malloc(len + 7);
        if (!copy)
            continue;
        memcpy(copy, "bcast ", 6);
        memcpy(copy + 6, text, len);
        copy[len + 6] = '\0';
        if (ws_defer(m->c, deliver, copy) != WS_OK)
            free(copy);
    }
    pthread_mutex_unlock(&loc->lock);
}

static void send_parts(ws_conn *c)
{
    char msg[32];
    int between;

    ws_send_part(c, WS_TEXT, "pa", 2, 0);
    ws_send_part(c, WS_TEXT, "rt", 2, 0);
    between = ws_send_text(c, "must wait", 9);
    ws_send_part(c, WS_TEXT, "s!", 2, 1);
    snprintf(msg, sizeof(msg), "estate %d", between);
    ws_send_text(c, msg, strlen(msg));
}

/* The location's own counter: two locations on one handler count apart. */
static void send_count(ws_conn *c)
{
    location *loc = ws_location_ctx(c);
    char msg[64];
    long n;

    pthread_mutex_lock(&loc->lock);
    n = loc->opens;
    pthread_mutex_unlock(&loc->lock);
    snprintf(msg, sizeof(msg), "count %s %ld", loc->label, n);
    ws_send_text(c, msg, strlen(msg));
}

static void answer_deferred(ws_conn *c, void *arg)
{
    (void)arg;
    ws_send_text(c, "deferred", 8);
}

static void v2_on_message(ws_conn *c, ws_message_type type, const void *data,
                          size_t len)
{
    const char *s = data;

    if (type == WS_TEXT && len > 10 && memcmp(s, "broadcast ", 10) == 0)
        broadcast(c, s + 10, len - 10);
    else if (type == WS_TEXT && len == 5 && memcmp(s, "defer", 5) == 0)
        ws_defer(c, answer_deferred, NULL);
    else if (type == WS_TEXT && len == 5 && memcmp(s, "parts", 5) == 0)
        send_parts(c);
    else if (type == WS_TEXT && len == 5 && memcmp(s, "count", 5) == 0)
        send_count(c);
    else
        ws_send(c, type, data, len);
}

static void v2_on_close(ws_conn *c, int code, const char *reason)
{
    conn_state *st = ws_get_data(c);
    member **pp, *gone;

    (void)code;
    (void)reason;
    if (!st)
        return;
    pthread_mutex_lock(&st->loc->lock);
    for (pp = &st->loc->members; *pp; pp = &(*pp)->next)
        if ((*pp)->c == c) {
            gone = *pp;
            *pp = gone->next;
            free(gone);
            break;
        }
    pthread_mutex_unlock(&st->loc->lock);
    free(st);
    ws_set_data(c, NULL);
}

static const ws_handler v2 = {
    .abi_version   = WS_HANDLER_ABI_VERSION,
    .size          = sizeof(ws_handler),
    .name          = "v2",
    .on_handshake  = v2_on_handshake,
    .on_open       = v2_on_open,
    .on_message    = v2_on_message,
    .on_close      = v2_on_close,
    .on_load       = v2_on_load,
    .on_location   = v2_on_location,
    .on_child_init = v2_child_init,
    .on_child_exit = v2_child_exit,
    .on_timer      = v2_on_timer,
};

const ws_handler *v2_handler(const ws_server *server);

const ws_handler *v2_handler(const ws_server *server)
{
    srv = server;
    return &v2;
}
