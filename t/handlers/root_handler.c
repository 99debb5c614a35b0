/*
 * root_handler.c - a handler written for WebSocketHandlerRoot: it exports
 * the conventional init function ws_handler_init, so one object serves
 * under any file name (the Makefile links it into build/t-handler-root/
 * under several).  Every text message comes back as "root <path>: <text>",
 * <path> being the URL path its instance was made for (on_location's
 * ws_config_where()), so a test sees which handler, and which instance,
 * answered.
 */
#include <stdio.h>
#include <string.h>

#include "mod_websocket.h"

const ws_handler *ws_handler_init(const ws_server *server);

static void *root_location(ws_config *cfg, int argc, const char *const *argv)
{
    const char *where = ws_config_where(cfg);
    size_t n = where ? strlen(where) : 0;
    char *copy = ws_config_alloc(cfg, n + 1);
    (void)argc; (void)argv;
    if (copy && n)
        memcpy(copy, where, n);
    return copy;
}

static void root_message(ws_conn *c, ws_message_type type, const void *data,
                         size_t len)
{
    const char *where = ws_location_ctx(c);
    char reply[512];
    int n;

    if (type != WS_TEXT)
        return;
    n = snprintf(reply, sizeof(reply), "root %s: %.*s", where ? where : "?",
                 (int)(len < 256 ? len : 256), (const char *)data);
    if (n > 0)
        ws_send_text(c, reply, (size_t)n < sizeof(reply) ? (size_t)n
                                                         : sizeof(reply) - 1);
}

static const ws_handler root_handler = {
    .abi_version = WS_HANDLER_ABI_VERSION,
    .size        = sizeof(ws_handler),
    .name        = "root",
    .on_message  = root_message,
    .on_location = root_location,
};

const ws_handler *ws_handler_init(const ws_server *server)
{
    (void)server;
    return &root_handler;
}
