/*
 * pubsub_handler.c - topics for t/api/pubsub.t: every text message is a
 * command.
 *
 *   "sub <topic>"            ws_subscribe; answers "sub <rc>"
 *   "unsub <topic>"          ws_unsubscribe; answers "unsub <rc>"
 *   "pub <topic> <text>"     ws_publish <text> (answers only if it failed:
 *                            "pub <rc>")
 *   "pubx <topic> <text>"    ws_publish_from, not to this connection
 *   "count <topic>"          answers "count <ws_subscribers()>"
 *   "threadpub <topic> <n> [<size>]"
 *                            a thread of the handler's publishes n texts
 *                            "<tag> <i>" (i = 1..n, padded with '.' to
 *                            <size> bytes; <tag> is this connection's
 *                            number), then sends "threadpub done <fails>"
 *                            to this connection
 *
 * Publications arrive as the messages themselves.  Only the public API is
 * used.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mod_websocket.h"

static const ws_server *srv;
static unsigned long next_tag;        /* a tag per publisher (atomic) */

typedef struct job {
    ws_conn *c;
    char     topic[256];
    long     n, size;
    unsigned long tag;
} job;

static void *publish_thread(void *arg)
{
    job *j = arg;
    char *buf = malloc((size_t)j->size + 64);
    char done[64];
    long i, fails = 0;

    for (i = 1; buf && i <= j->n; i++) {
        int len = snprintf(buf, 64, "%lu %ld", j->tag, i);
        while (len < j->size)
            buf[len++] = '.';
        if (ws_publish(srv, j->topic, WS_TEXT, buf, (size_t)len) != WS_OK)
            fails++;
    }
    snprintf(done, sizeof(done), "threadpub done %ld", buf ? fails : j->n);
    ws_send_text(j->c, done, strlen(done));
    ws_release(j->c);
    free(buf);
    free(j);
    return NULL;
}

static void start_publisher(ws_conn *c, const char *args)
{
    job *j = calloc(1, sizeof(*j));
    pthread_t t;

    if (!j || sscanf(args, "%255s %ld %ld", j->topic, &j->n, &j->size) < 2) {
        free(j);
        ws_send_text(c, "threadpub bad", 13);
        return;
    }
    j->c = c;
    j->tag = __atomic_add_fetch(&next_tag, 1, __ATOMIC_RELAXED);
    ws_retain(c);
    if (pthread_create(&t, NULL, publish_thread, j) != 0) {
        ws_release(c);
        free(j);
        ws_send_text(c, "threadpub nothread", 18);
        return;
    }
    pthread_detach(t);
}

static void reply_rc(ws_conn *c, const char *what, long rc)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "%s %ld", what, rc);
    ws_send_text(c, msg, strlen(msg));
}

/* "<topic> <text>": splits at the first space (the copy is NUL-ended). */
static const char *split(char *s, size_t *text_len)
{
    char *sp = strchr(s, ' ');
    if (!sp)
        return NULL;
    *sp = '\0';
    *text_len = strlen(sp + 1);
    return sp + 1;
}

static void on_message(ws_conn *c, ws_message_type type, const void *data,
                       size_t len)
{
    char cmd[4096];
    const char *text;
    size_t n;

    if (type != WS_TEXT || len >= sizeof(cmd))
        return;
    memcpy(cmd, data, len);
    cmd[len] = '\0';
    if (!strncmp(cmd, "sub ", 4))
        reply_rc(c, "sub", ws_subscribe(c, cmd + 4));
    else if (!strncmp(cmd, "unsub ", 6))
        reply_rc(c, "unsub", ws_unsubscribe(c, cmd + 6));
    else if (!strncmp(cmd, "count ", 6))
        reply_rc(c, "count", ws_subscribers(srv, cmd + 6));
    else if (!strncmp(cmd, "threadpub ", 10))
        start_publisher(c, cmd + 10);
    else if (!strncmp(cmd, "pub ", 4) && (text = split(cmd + 4, &n))) {
        int rc = ws_publish(srv, cmd + 4, WS_TEXT, text, n);
        if (rc != WS_OK)
            reply_rc(c, "pub", rc);
    }
    else if (!strncmp(cmd, "pubx ", 5) && (text = split(cmd + 5, &n))) {
        int rc = ws_publish_from(c, cmd + 5, WS_TEXT, text, n, 1);
        if (rc != WS_OK)
            reply_rc(c, "pubx", rc);
    }
}

static const ws_handler handler = {
    .abi_version = WS_HANDLER_ABI_VERSION,
    .size        = sizeof(ws_handler),
    .name        = "pubsub",
    .on_message  = on_message,
};

const ws_handler *pubsub_handler(const ws_server *server);

const ws_handler *pubsub_handler(const ws_server *server)
{
    srv = server;
    return &handler;
}
