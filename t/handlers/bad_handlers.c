/*
 * bad_handlers.c - init functions that misbehave on purpose, linked into
 * the test handler object so that t/config/configtest.t can check that each
 * is a clear configuration error rather than a crash.
 */
#include <stddef.h>

#include "mod_websocket.h"

const ws_handler *null_handler(const ws_server *server);
const ws_handler *future_abi_handler(const ws_server *server);
const ws_handler *tiny_handler(const ws_server *server);

/* Refuses to initialise. */
const ws_handler *null_handler(const ws_server *server)
{
    (void)server;
    return NULL;
}

/* Built against a header from the future. */
const ws_handler *future_abi_handler(const ws_server *server)
{
    static const ws_handler h = { WS_HANDLER_ABI_VERSION + 41, sizeof(ws_handler),
                                  "future", NULL, NULL, NULL, NULL, NULL };
    (void)server;
    return &h;
}

/* Claims a table too short to hold even the version-1 callbacks. */
const ws_handler *tiny_handler(const ws_server *server)
{
    static const ws_handler h = { WS_HANDLER_ABI_VERSION, 8, "tiny",
                                  NULL, NULL, NULL, NULL, NULL };
    (void)server;
    return &h;
}
