/*
 * echo.c - the tutorial's echo server as a mod_websocket handler.
 *
 *   <Location /echo>
 *       WebSocketHandler modules/mod_websocket_echo.so echo
 *   </Location>
 *
 * Every text and binary message goes back unchanged; after echoing the text
 * "Goodbye" the server closes with 1000, as pywebsocket's echo_wsh.py did.
 */
#include <string.h>

#include "mod_websocket.h"

#define GOODBYE "Goodbye"

static void echo_message(ws_conn *c, ws_message_type type, const void *data,
                         size_t len)
{
    ws_send(c, type, data, len);
    if (type == WS_TEXT && len == strlen(GOODBYE)
        && memcmp(data, GOODBYE, len) == 0)
        ws_close(c, 1000, "Goodbye");
}

static const ws_handler echo_handler = {
    WS_HANDLER_ABI_VERSION,
    sizeof(ws_handler),
    "echo",
    NULL,            /* on_handshake: accept everyone, no subprotocol */
    NULL,            /* on_open */
    echo_message,
    NULL,            /* on_close */
    NULL             /* on_drain */
};

/* The init function named in WebSocketHandler. */
const ws_handler *echo(const ws_server *server)
{
    (void)server;
    return &echo_handler;
}
