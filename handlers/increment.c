/*
 * increment.c - a counter the server pushes on a loop timer, the example
 * of htdocs/increment.html.
 *
 *   WebSocketHandlerLoad increment modules/mod_websocket_increment.so increment
 *   <Location /increment>
 *       WebSocketHandler increment
 *   </Location>
 *
 * or increment.so in a WebSocketHandlerRoot directory (`make run`:
 * ws://localhost:9998/increment).
 *
 * Protocol: the server sends the counter as decimal text, "0" as soon as
 * the connection opens, then every 50 ms the next number ("1", "2", ...).
 * Any message from the client (text or binary, its content ignored) resets
 * the counter: the server answers "0" at once and counts on from there,
 * 50 ms later.  Each connection counts on its own.  So the client sees
 * consecutive numbers, except right after a reset: there a few numbers
 * already on the way may arrive before the "0".
 *
 * No thread: the connection's timer (ws_set_timer) fires on its loop
 * thread.  A client that does not read is not flooded: when its queue is
 * full (WS_EFULL) the timer stops, and on_drain sends the number that did
 * not fit and starts it again, so no number is skipped.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mod_websocket.h"

#define TICK_USEC 50000LL

typedef struct counter { unsigned long n; } counter;

/* Sends the current number and arms the next tick.  If it did not go
 * (WS_EFULL: on_drain takes over; WS_ECLOSED: the end), no tick. */
static void push(ws_conn *c, counter *k)
{
    char buf[24];
    int len = snprintf(buf, sizeof(buf), "%lu", k->n);
    ws_set_timer(c, ws_send_text(c, buf, (size_t)len) == WS_OK ? TICK_USEC : 0);
}

static void increment_open(ws_conn *c)
{
    counter *k = calloc(1, sizeof(*k));
    if (!k) {
        ws_close(c, 1011, "no memory");
        return;
    }
    ws_set_data(c, k);
    push(c, k);
}

static void increment_timer(ws_conn *c)
{
    counter *k = ws_get_data(c);
    k->n++;
    push(c, k);
}

/* Setting the timer again replaces the pending tick: the next number
 * comes a full interval after the "0". */
static void increment_message(ws_conn *c, ws_message_type type,
                              const void *data, size_t len)
{
    counter *k = ws_get_data(c);
    (void)type; (void)data; (void)len;
    if (!k)
        return;
    k->n = 0;
    push(c, k);
}

static void increment_drain(ws_conn *c)
{
    counter *k = ws_get_data(c);
    if (k)
        push(c, k);                    /* the number that did not fit */
}

static void increment_close(ws_conn *c, int code, const char *reason)
{
    (void)code; (void)reason;
    free(ws_get_data(c));
}

static const ws_handler increment_handler = {
    .abi_version = WS_HANDLER_ABI_VERSION, .size = sizeof(ws_handler),
    .name = "increment",
    .on_open = increment_open, .on_message = increment_message,
    .on_timer = increment_timer, .on_drain = increment_drain,
    .on_close = increment_close,
};

const ws_handler *increment(const ws_server *server)
{
    (void)server;
    return &increment_handler;
}
