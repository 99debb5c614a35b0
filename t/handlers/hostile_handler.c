/*
 * hostile_handler.c - a handler that sends from threads of its own, for the
 * regression tests in t/hostile/ (built into mod_websocket_test.so next to
 * test_handler.c).
 *
 * Loaded with:  WebSocketHandler .../mod_websocket_test.so hostile_handler
 *
 * This is the pattern the README recommends for slow work: on_message only
 * hands a job to a small pool of worker threads owned by the handler
 * (started lazily, HOSTILE_THREADS of them per process); the workers call
 * ws_send() and ws_close() on whatever connection their next job belongs
 * to, holding a ws_retain() reference from on_message until the job is done
 * (then ws_release()).  Jobs are served round-robin, one message per turn,
 * so several threads send to many connections at the same time while the
 * loop thread flushes them.
 *
 * on_message, text commands:
 *   "work <id> <n> close [<pad>]" -> the pool sends text "<id>:1" ..
 *                            "<id>:<n>" (each followed by a space and <pad>
 *                            bytes "x" if <pad> is given, <= 4096), then
 *                            ws_close(1000, "done <id>")
 *   "work <id> <n> done [<pad>]" -> the same, then a text "<id>:done"
 *                            instead of the close
 *   "techo <text>"        -> the pool sends "<text>" back (an echo answered
 *                            from a handler thread)
 *   anything else         -> echoed at once from on_message
 * (n <= 100000; id at most 40 bytes.)  A worker that meets WS_EFULL puts the
 * job back and tries again on a later turn; WS_ECLOSED (the peer went away)
 * ends the job.
 *
 * Only the public API is used: mod_websocket.h, the C library, POSIX threads.
 */
#define _POSIX_C_SOURCE 200809L     /* nanosleep with -std=c99 */

#include "mod_websocket.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOSTILE_THREADS 4
#define HOSTILE_MAX_N   100000L
#define HOSTILE_MAX_ID  40
#define HOSTILE_MAX_PAD 4096

struct hjob {
    struct hjob *next;
    ws_conn *c;                 /* holds a ws_retain() reference */
    long n, i;                  /* messages to send, sent so far */
    long pad;                   /* bytes "x" after each message */
    int end_close;              /* 1: ws_close at the end, 0: "<id>:done" */
    size_t echo_len;            /* "techo": the text to send back ... */
    char *echo;                 /* ... (NULL for "work") */
    char id[HOSTILE_MAX_ID + 1];
};

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  pool_cond = PTHREAD_COND_INITIALIZER;
static struct hjob *q_head, *q_tail;
static int pool_started;

/* Under pool_mutex. */
static void q_push(struct hjob *j)
{
    j->next = NULL;
    if (q_tail)
        q_tail->next = j;
    else
        q_head = j;
    q_tail = j;
}

static void job_done(struct hjob *j)
{
    ws_release(j->c);
    free(j->echo);
    free(j);
}

/* One turn of a job: sends one message.  Returns 1 if the job goes on
 * (requeue), 0 if it is finished (freed), -1 on WS_EFULL (requeue, later). */
static int job_step(struct hjob *j)
{
    char msg[HOSTILE_MAX_ID + 32 + HOSTILE_MAX_PAD];
    int len, rc;

    if (j->echo != NULL) {
        rc = ws_send_text(j->c, j->echo, j->echo_len);
        if (rc == WS_EFULL)
            return -1;
        job_done(j);
        return 0;
    }
    if (j->i < j->n) {
        len = snprintf(msg, sizeof(msg), "%s:%ld", j->id, j->i + 1);
        if (j->pad > 0) {
            msg[len++] = ' ';
            memset(msg + len, 'x', (size_t)j->pad);
            len += (int)j->pad;
        }
        rc = ws_send_text(j->c, msg, (size_t)len);
        if (rc == WS_EFULL)
            return -1;
        if (rc != WS_OK) {             /* closed: the peer went away */
            job_done(j);
            return 0;
        }
        j->i++;
        return 1;
    }
    if (j->end_close) {
        len = snprintf(msg, sizeof(msg), "done %s", j->id);
        ws_close(j->c, 1000, msg);
    }
    else {
        len = snprintf(msg, sizeof(msg), "%s:done", j->id);
        if (ws_send_text(j->c, msg, (size_t)len) == WS_EFULL)
            return -1;
    }
    job_done(j);
    return 0;
}

static void *pool_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct hjob *j;
        int r;

        pthread_mutex_lock(&pool_mutex);
        while (q_head == NULL)
            pthread_cond_wait(&pool_cond, &pool_mutex);
        j = q_head;
        q_head = j->next;
        if (q_head == NULL)
            q_tail = NULL;
        pthread_mutex_unlock(&pool_mutex);

        r = job_step(j);
        if (r != 0) {
            pthread_mutex_lock(&pool_mutex);
            q_push(j);
            pthread_mutex_unlock(&pool_mutex);
        }
        if (r < 0) {                   /* WS_EFULL: give the loop a moment */
            struct timespec ts = { 0, 200000L };
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* Starts the pool on first use (in this process: under prefork every child
 * has its own).  Returns 0 on success. */
static int pool_start_locked(void)
{
    pthread_attr_t attr;
    int i, started = 0;

    if (pool_started)
        return 0;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (i = 0; i < HOSTILE_THREADS; i++) {
        pthread_t tid;
        if (pthread_create(&tid, &attr, pool_main, NULL) == 0)
            started++;
    }
    pthread_attr_destroy(&attr);
    if (started == 0)
        return -1;
    pool_started = 1;
    return 0;
}

static void submit(ws_conn *c, struct hjob *j)
{
    int ok;

    j->c = c;
    ws_retain(c);
    pthread_mutex_lock(&pool_mutex);
    ok = pool_start_locked() == 0;
    if (ok) {
        q_push(j);
        pthread_cond_signal(&pool_cond);
    }
    pthread_mutex_unlock(&pool_mutex);
    if (!ok) {
        ws_send_text(c, "(no pool)", 9);
        job_done(j);
    }
}

static long parse_num(const char *s, size_t len)
{
    long v = 0;
    size_t i;

    if (len == 0 || len > 9)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "work <id> <n> close|done [<pad>]" (after "work "). */
static int do_work(ws_conn *c, const char *s, size_t len)
{
    const char *id = s, *sp1, *sp2, *sp3, *end = s + len;
    struct hjob *j;
    long n, pad = 0;

    sp1 = memchr(id, ' ', len);
    if (sp1 == NULL || sp1 == id || (size_t)(sp1 - id) > HOSTILE_MAX_ID)
        return -1;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (sp2 == NULL)
        return -1;
    n = parse_num(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    if (n < 0 || n > HOSTILE_MAX_N)
        return -1;
    sp3 = memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1));
    if (sp3 != NULL) {
        pad = parse_num(sp3 + 1, (size_t)(end - sp3 - 1));
        if (pad < 0 || pad > HOSTILE_MAX_PAD)
            return -1;
        end = sp3;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return -1;
    memcpy(j->id, id, (size_t)(sp1 - id));
    j->n = n;
    j->pad = pad;
    if ((size_t)(end - sp2 - 1) == 5 && memcmp(sp2 + 1, "close", 5) == 0)
        j->end_close = 1;
    else if (!((size_t)(end - sp2 - 1) == 4 && memcmp(sp2 + 1, "done", 4) == 0)) {
        free(j);
        return -1;
    }
    submit(c, j);
    return 0;
}

static int do_techo(ws_conn *c, const char *s, size_t len)
{
    struct hjob *j = calloc(1, sizeof(*j));

    if (j == NULL || (j->echo = malloc(len ? len : 1)) == NULL) {
        free(j);
        return -1;
    }
    memcpy(j->echo, s, len);
    j->echo_len = len;
    submit(c, j);
    return 0;
}

static void hostile_on_message(ws_conn *c, ws_message_type type,
                               const void *data, size_t len)
{
    const char *s = data;

    if (type == WS_TEXT && len > 5 && memcmp(s, "work ", 5) == 0) {
        if (do_work(c, s + 5, len - 5) != 0)
            ws_send_text(c, "(bad work)", 10);
        return;
    }
    if (type == WS_TEXT && len > 6 && memcmp(s, "techo ", 6) == 0) {
        if (do_techo(c, s + 6, len - 6) != 0)
            ws_send_text(c, "(bad techo)", 11);
        return;
    }
    ws_send(c, type, data, len);
}

/* No on_close (the jobs hold references), no on_drain (the workers
 * retry instead). */
static const ws_handler handler = {
    .abi_version = WS_HANDLER_ABI_VERSION,
    .size        = sizeof(ws_handler),
    .name        = "hostile",
    .on_message  = hostile_on_message,
};

const ws_handler *hostile_handler(const ws_server *server);

const ws_handler *hostile_handler(const ws_server *server)
{
    (void)server;
    return &handler;
}
