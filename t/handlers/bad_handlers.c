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
extern const int data_symbol[16];

/* Refuses to initialise. */
const ws_handler *null_handler(const ws_server *server)
{
    (void)server;
    return NULL;
}

/* Built against a header from the future. */
const ws_handler *future_abi_handler(const ws_server *server)
{
    static const ws_handler h = { .abi_version = WS_HANDLER_ABI_VERSION + 40,
                                  .size = sizeof(ws_handler), .name = "future" };
    (void)server;
    return &h;
}

/* Claims a table too short to hold even the version-1 callbacks. */
const ws_handler *tiny_handler(const ws_server *server)
{
    static const ws_handler h = { .abi_version = WS_HANDLER_ABI_VERSION,
                                  .size = 8, .name = "tiny" };
    (void)server;
    return &h;
}

/* Crashes: configtest must say which init function it was running. */
const ws_handler *crash_handler(const ws_server *server);
const ws_handler *crash_handler(const ws_server *server)
{
    volatile int *nowhere = NULL;
    (void)server;
    *nowhere = 1;
    return NULL;
}

/* Data, not a function (like naming a module record). */
const int data_symbol[16] = { 1 };
