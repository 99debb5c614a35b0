/*
 * echo.c - the tutorial's echo server as a mod_websocket handler.
 *
 *   WebSocketHandlerLoad echo modules/mod_websocket_echo.so echo
 *   <Location /echo>
 *       WebSocketHandler echo
 *       WebSocketProtocol echo-protocol
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

/* Callbacks left out are NULL: no on_handshake (accept everyone; the
 * subprotocol, if any, is the one WebSocketProtocol picks), no arguments. */
static const ws_handler echo_handler = {
    .abi_version = WS_HANDLER_ABI_VERSION,
    .size        = sizeof(ws_handler),
    .name        = "echo",
    .on_message  = echo_message,
};

/* The init function named in WebSocketHandlerLoad. */
const ws_handler *echo(const ws_server *server)
{
    (void)server;
    return &echo_handler;
}
