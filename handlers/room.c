/*
 * room.c - the README's timer and broadcast example, in full: every
 * connection gets "tick n" every second from a loop timer, and a message
 * from one connection goes to every connection of the same location.
 * One room per <Location>, no thread of its own:
 *
 *   WebSocketHandlerLoad room modules/mod_websocket_room.so room
 *   <Location /lobby>
 *       WebSocketHandler room
 *   </Location>
 *
 * A room spans one httpd child: with several children, broadcast needs a
 * shared bus.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mod_websocket.h"

typedef struct member { ws_conn *c; long ticks; struct member *next; } member;
typedef struct room_state { pthread_mutex_t lock; member *all; } room_state;

static void *room_location(ws_config *cfg, int argc, const char *const *argv)
{
    room_state *r = ws_config_alloc(cfg, sizeof(*r));     /* one per <Location> */
    (void)argc; (void)argv;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void room_open(ws_conn *c)
{
    room_state *r = ws_location_ctx(c);
    member *m = calloc(1, sizeof(*m));
    if (!m) { ws_close(c, 1011, "no memory"); return; }
    m->c = c;
    ws_set_data(c, m);
    pthread_mutex_lock(&r->lock);
    m->next = r->all; r->all = m;
    pthread_mutex_unlock(&r->lock);
    ws_set_timer(c, 1000000);                       /* on_timer in 1 s */
}

static void room_timer(ws_conn *c)
{
    member *m = ws_get_data(c);
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "tick %ld", ++m->ticks);
    ws_send_text(c, msg, (size_t)n);
    ws_set_timer(c, 1000000);                       /* and again */
}

static void room_message(ws_conn *c, ws_message_type t, const void *d, size_t n)
{
    room_state *r = ws_location_ctx(c);
    pthread_mutex_lock(&r->lock);
    for (member *m = r->all; m; m = m->next)
        ws_send(m->c, t, d, n);                     /* WS_EFULL: that one is slow */
    pthread_mutex_unlock(&r->lock);
}

static void room_close(ws_conn *c, int code, const char *reason)
{
    room_state *r = ws_location_ctx(c);
    member **pp, *m = ws_get_data(c);
    (void)code; (void)reason;
    pthread_mutex_lock(&r->lock);
    for (pp = &r->all; *pp; pp = &(*pp)->next)
        if (*pp == m) { *pp = m->next; break; }
    pthread_mutex_unlock(&r->lock);
    free(m);
}

static const ws_handler room_handler = {
    .abi_version = WS_HANDLER_ABI_VERSION, .size = sizeof(ws_handler), .name = "room",
    .on_location = room_location, .on_open = room_open, .on_timer = room_timer,
    .on_message = room_message, .on_close = room_close,
};

const ws_handler *room(const ws_server *server) { (void)server; return &room_handler; }
