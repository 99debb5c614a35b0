/*
 * fanout_handler.c - the mod_websocket side of bench/run's fan-out groups
 * (fanout, fanoutredis), driven by `wsload fanout` (bench/wsl_fanout.c).
 * Built by bench/build.sh into build/bench/modules/mod_websocket_fanout.so,
 * init function fanout_handler.  bench/peers/uws_pubsub.js speaks the same
 * protocol for uWebSockets.
 *
 * Text commands:
 *   "sub <topic>"                     ws_subscribe; answers "sub <rc>"
 *   "pubbench <topic> <n> <size> <seq>"
 *                                     publishes n binary messages of <size>
 *                                     bytes (at least 16) to <topic>, right
 *                                     here on the connection's loop thread:
 *                                     message i carries seq + i (u64, little
 *                                     endian) and the CLOCK_MONOTONIC time
 *                                     of its ws_publish call in ns (u64),
 *                                     then '.' padding.  Answers only on a
 *                                     failure: "pubbench <rc> <failed>".
 *
 * The publisher is a connection of its own that subscribes to nothing.
 * Only the public API is used.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mod_websocket.h"

static const ws_server *srv;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void pubbench(ws_conn *c, const char *args)
{
    static __thread unsigned char buf[65536];   /* a loop thread's own */
    char topic[1025], msg[64];
    unsigned long long seq;
    long n, size, i, failed = 0;
    int rc = WS_OK;

    if (sscanf(args, "%1024s %ld %ld %llu", topic, &n, &size, &seq) != 4
        || n < 1 || size < 16 || size > (long)sizeof(buf)) {
        ws_send_text(c, "pubbench bad", 12);
        return;
    }
    memset(buf + 16, '.', (size_t)size - 16);
    for (i = 0; i < n; i++) {
        int r;
        put_u64(buf, seq + (uint64_t)i);
        put_u64(buf + 8, now_ns());
        r = ws_publish(srv, topic, WS_BINARY, buf, (size_t)size);
        if (r != WS_OK) {
            rc = r;
            failed++;
        }
    }
    if (failed) {
        snprintf(msg, sizeof(msg), "pubbench %d %ld", rc, failed);
        ws_send_text(c, msg, strlen(msg));
    }
}

static void on_message(ws_conn *c, ws_message_type type, const void *data, size_t len)
{
    char cmd[1200], reply[32];

    if (type != WS_TEXT || len >= sizeof(cmd))
        return;
    memcpy(cmd, data, len);
    cmd[len] = '\0';
    if (!strncmp(cmd, "sub ", 4)) {
        snprintf(reply, sizeof(reply), "sub %d", ws_subscribe(c, cmd + 4));
        ws_send_text(c, reply, strlen(reply));
    }
    else if (!strncmp(cmd, "pubbench ", 9))
        pubbench(c, cmd + 9);
}

static const ws_handler handler = {
    .abi_version = WS_HANDLER_ABI_VERSION,
    .size        = sizeof(ws_handler),
    .name        = "fanout",
    .on_message  = on_message,
};

const ws_handler *fanout_handler(const ws_server *server);

const ws_handler *fanout_handler(const ws_server *server)
{
    srv = server;
    return &handler;
}
