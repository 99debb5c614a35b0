/*
 * myhandler.c - a mod_websocket handler to start from.
 *
 * Build (libapache2-mod-websocket-dev, pkg-config and a C compiler):
 *
 *     make
 * or  cc -shared -fPIC $(pkg-config --cflags mod_websocket) -o myhandler.so myhandler.c
 *
 * Load it in the server configuration and give it a <Location>, e.g. in
 * /etc/apache2/mods-available/websocket.conf (a2enmod websocket):
 *
 *     WebSocketHandlerLoad myhandler /path/to/myhandler.so myhandler
 *     <Location /myhandler>
 *         WebSocketHandler myhandler
 *     </Location>
 *
 * It greets each new connection and answers every message with its size
 * ("myhandler: got 5 text bytes").  The callbacks and functions are documented
 * in mod_websocket.h and in the README of libapache2-mod-websocket.
 */
#include <stdio.h>

#include <mod_websocket.h>

static void my_open(ws_conn *c)
{
    ws_send_text(c, "hello from myhandler", 20);
}

static void my_message(ws_conn *c, ws_message_type type, const void *data,
                       size_t len)
{
    char out[64];
    int n;

    (void)data;                      /* valid during this call only */
    n = snprintf(out, sizeof out, "myhandler: got %zu %s bytes", len,
                 type == WS_TEXT ? "text" : "binary");
    ws_send_text(c, out, (size_t)n);
}

static const ws_handler my_handler = {
    .abi_version = WS_HANDLER_ABI_VERSION,
    .size        = sizeof(ws_handler),
    .name        = "myhandler",
    .on_open     = my_open,
    .on_message  = my_message,
};

/* The init function named in WebSocketHandlerLoad. */
const ws_handler *myhandler(const ws_server *server)
{
    (void)server;
    return &my_handler;
}
