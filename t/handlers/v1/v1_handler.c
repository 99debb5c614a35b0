/*
 * v1_handler.c - a handler built against the version-1 header (a copy of
 * include/mod_websocket.h as it was at ABI version 1, kept beside it): it
 * must keep loading and running in a version-2 module (t/api/v2.t).
 * Echoes with a "v1:" prefix.
 */
#include <stdio.h>
#include <string.h>

#include "mod_websocket.h"      /* t/handlers/v1/mod_websocket.h */

#if WS_HANDLER_ABI_VERSION != 1
#error "this handler must be built against the version-1 header"
#endif

static void v1_message(ws_conn *c, ws_message_type type, const void *data,
                       size_t len)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "v1:%.*s", (int)(len < 200 ? len : 200),
                     (const char *)data);
    (void)type;
    ws_send(c, WS_TEXT, buf, (size_t)n);
}

static const ws_handler v1 = {
    WS_HANDLER_ABI_VERSION,
    sizeof(ws_handler),
    "v1",
    NULL, NULL, v1_message, NULL, NULL
};

const ws_handler *v1_handler(const ws_server *server);

const ws_handler *v1_handler(const ws_server *server)
{
    (void)server;
    return &v1;
}
