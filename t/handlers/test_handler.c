/*
 * test_handler.c - the handler behind /test in the Apache::Test suite.
 *
 * Loaded with:  WebSocketHandler .../mod_websocket_test.so test_handler
 *
 * on_handshake:
 *   - a request header X-Test-Reject: <status> refuses the upgrade with that
 *     HTTP status (e.g. 403);
 *   - a request header X-Test-Select: <name> makes it call
 *     ws_select_protocol(name) instead (whatever the offer: the module must
 *     refuse a name the client did not offer);
 *   - otherwise selects the first subprotocol of the client's offer (in the
 *     client's order) that is "chat" or "superchat"; none if none matches.
 *
 * on_message, text commands:
 *   "protocol"             -> text: the selected subprotocol or "(none)"
 *   "close <code> <reason>" -> ws_close(code, reason)
 *   "push <n>"             -> n text messages "push 1" .. "push n"
 *   "binary <n>"           -> one binary message of n bytes, byte i = i & 0xff
 *   "header <Name>"        -> text: the request header's value or "(none)"
 *   "user"                 -> text: the authenticated user or "(none)"
 *   "buffered"             -> text: ws_buffered_amount() in decimal
 *   "binbuffered <n>"      -> like "binary <n>", then at once (same callback)
 *                             a text reply with ws_buffered_amount()
 *   "uri" / "ip"           -> text: ws_uri() / ws_remote_ip() or "(none)"
 *   "closerc <code> [reason]" -> ws_close(code, reason), then a text reply
 *                             "rc=<return value>" (only seen if the close
 *                             was refused)
 *   "sendbad"              -> ws_send_text() of invalid UTF-8, then a text
 *                             reply "rc=<return value>"
 *   "closebad"             -> ws_close(1000, <invalid UTF-8 reason>), then
 *                             "rc=<return value>" if still open
 *   "thread <n>"           -> a thread of the handler's own (holding a
 *                             ws_retain() reference) sends "thread 1" ..
 *                             "thread n", stopping at the first failure, then
 *                             ws_release()s: sends from a foreign thread
 *   "flood <bytes> [<count>]" -> from now on, binary messages of <bytes>
 *                             (>= 8): bytes 0-7 the sequence number 1, 2, ...
 *                             (big-endian), byte i >= 8 = i & 0xff.  Sent
 *                             until ws_send() answers WS_EFULL, continued
 *                             from on_drain, until <count> messages are out
 *                             (no count: until the connection closes).  A
 *                             new "flood" replaces a running one.
 *   "maxbuffered"          -> text: the largest ws_buffered_amount() seen
 *                             right after a successful send of this
 *                             connection (decimal)
 *   "floodstats"           -> text: "sent=<n> efull=<k> drains=<d>
 *                             maxbuffered=<m> flooding=<0|1>" (flood
 *                             messages sent, WS_EFULL answers met, on_drain
 *                             calls)
 *   anything else          -> echoed (binary messages are echoed as binary)
 *
 * Replies that meet WS_EFULL wait in a FIFO of the handler's own and go out
 * from on_drain, in order: nothing is dropped.
 *
 * Only the public API is used: this file includes mod_websocket.h and the C
 * library (POSIX threads for "thread"), nothing of httpd.
 */
#define _POSIX_C_SOURCE 200809L     /* nanosleep with -std=c99 */

#include "mod_websocket.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEST_MAX_PUSH   100000UL
#define TEST_MAX_BINARY (64UL * 1024 * 1024)

static const char *const wanted_protocols[] = { "chat", "superchat", NULL };

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Parses a decimal number filling all of [s, s+len); -1 on anything else. */
static long parse_decimal(const char *s, size_t len, long max)
{
    long v = 0;
    size_t i;

    if (len == 0 || len > 18) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v > max ? -1 : v;
}

static int test_on_handshake(ws_conn *c)
{
    const char *reject = ws_header(c, "X-Test-Reject");
    const char *offer;
    const char *forced;
    const char *p;

    if (reject != NULL) {
        long status;
        while (is_space(*reject)) {
            reject++;
        }
        status = parse_decimal(reject, strcspn(reject, " \t"), 999);
        return (status >= 400 && status <= 599) ? (int)status : 403;
    }

    forced = ws_header(c, "X-Test-Select");
    if (forced != NULL) {
        ws_select_protocol(c, forced);     /* may fail: then none */
        return 0;
    }

    offer = ws_offered_protocols(c);
    if (offer == NULL) {
        return 0;
    }
    /* Split on commas, trim spaces and tabs, keep the client's order. */
    p = offer;
    while (*p != '\0') {
        const char *start, *end, *next;
        size_t len;
        int i;

        next = strchr(p, ',');
        end = next != NULL ? next : p + strlen(p);
        start = p;
        while (start < end && is_space(*start)) {
            start++;
        }
        while (end > start && is_space(end[-1])) {
            end--;
        }
        len = (size_t)(end - start);
        for (i = 0; wanted_protocols[i] != NULL; i++) {
            if (strlen(wanted_protocols[i]) == len
                && memcmp(wanted_protocols[i], start, len) == 0) {
                if (ws_select_protocol(c, wanted_protocols[i]) == WS_OK) {
                    return 0;
                }
            }
        }
        if (next == NULL) {
            break;
        }
        p = next + 1;
    }
    return 0;
}

/* --- sending with backpressure ------------------------------------------
 * ws_send() may answer WS_EFULL (the connection's outbound queue is at
 * WebSocketMaxPendingOutput).  Like a well-behaved handler, this one then
 * keeps its messages in a FIFO of its own (per connection, ws_set_data) and
 * sends them, in order, from on_drain.  Loop-thread only. */
struct pending {
    struct pending *next;
    ws_message_type type;
    size_t len;
    unsigned char data[];
};

struct conn_state {
    struct pending *head, *tail;
    /* "flood" */
    int           flooding;
    size_t        flood_size;
    unsigned long flood_next;     /* next sequence number, from 1 */
    unsigned long flood_count;    /* the last one; 0 = no end */
    unsigned long flood_sent, flood_efull, drains;
    size_t        max_buffered;   /* after any successful send */
};

static struct conn_state *state_of(ws_conn *c)
{
    struct conn_state *st = ws_get_data(c);
    if (st == NULL && (st = calloc(1, sizeof(*st))) != NULL) {
        ws_set_data(c, st);
    }
    return st;
}

/* Records ws_buffered_amount() after a successful send ("maxbuffered"). */
static void note_buffered(ws_conn *c, struct conn_state *st)
{
    size_t n = ws_buffered_amount(c);
    if (st != NULL && n > st->max_buffered) {
        st->max_buffered = n;
    }
}

static void send_or_queue(ws_conn *c, ws_message_type type, const void *data,
                          size_t len)
{
    struct conn_state *st = state_of(c);
    struct pending *p;

    if (st == NULL || st->head == NULL) {
        int rc = ws_send(c, type, data, len);
        if (rc == WS_OK) {
            note_buffered(c, st);
        }
        if (rc != WS_EFULL || st == NULL) {
            return;                     /* sent, or failed for good */
        }
    }
    p = malloc(sizeof(*p) + (len ? len : 1));
    if (p == NULL) {
        return;
    }
    p->next = NULL;
    p->type = type;
    p->len = len;
    if (len) {
        memcpy(p->data, data, len);
    }
    if (st->tail) {
        st->tail->next = p;
    }
    else {
        st->head = p;
    }
    st->tail = p;
}

/* "flood": sends the next messages until WS_EFULL (then on_drain calls
 * again) or the count is reached.  Loop-thread only. */
static void flood_continue(ws_conn *c, struct conn_state *st)
{
    unsigned char *buf;
    size_t i;

    if (st == NULL || !st->flooding) {
        return;
    }
    if ((buf = malloc(st->flood_size)) == NULL) {
        st->flooding = 0;
        return;
    }
    for (i = 8; i < st->flood_size; i++) {
        buf[i] = (unsigned char)(i & 0xff);
    }
    while (st->flood_count == 0 || st->flood_next <= st->flood_count) {
        unsigned long seq = st->flood_next;
        int rc, k;

        for (k = 7; k >= 0; k--) {
            buf[k] = (unsigned char)(seq & 0xff);
            seq >>= 8;
        }
        rc = ws_send(c, WS_BINARY, buf, st->flood_size);
        if (rc == WS_EFULL) {
            st->flood_efull++;
            break;                      /* on_drain continues */
        }
        if (rc != WS_OK) {
            st->flooding = 0;           /* closing: stop for good */
            break;
        }
        note_buffered(c, st);
        st->flood_sent++;
        st->flood_next++;
    }
    if (st->flood_count != 0 && st->flood_next > st->flood_count) {
        st->flooding = 0;
    }
    free(buf);
}

static void test_on_drain(ws_conn *c)
{
    struct conn_state *st = ws_get_data(c);

    if (st != NULL) {
        st->drains++;
    }
    while (st != NULL && st->head != NULL) {
        struct pending *p = st->head;
        int rc = ws_send(c, p->type, p->data, p->len);
        if (rc == WS_EFULL) {
            return;                     /* on_drain comes again */
        }
        if (rc == WS_OK) {
            note_buffered(c, st);
        }
        st->head = p->next;
        if (st->head == NULL) {
            st->tail = NULL;
        }
        free(p);
    }
    flood_continue(c, st);             /* replies first, then the flood */
}

static void reply_text(ws_conn *c, const char *s);

/* "flood <bytes> [<count>]" */
static void do_flood(ws_conn *c, const char *arg, size_t arg_len)
{
    struct conn_state *st = state_of(c);
    size_t size_len = 0;
    long size, count = 0;

    while (size_len < arg_len && arg[size_len] != ' ') {
        size_len++;
    }
    size = parse_decimal(arg, size_len, (long)TEST_MAX_BINARY);
    if (size_len < arg_len) {
        count = parse_decimal(arg + size_len + 1, arg_len - size_len - 1,
                              1000000000L);
    }
    if (size < 8 || count < 0) {
        reply_text(c, "(bad flood)");
        return;
    }
    if (st == NULL) {
        return;
    }
    st->flooding = 1;
    st->flood_size = (size_t)size;
    st->flood_next = 1;
    st->flood_count = (unsigned long)count;
    flood_continue(c, st);
}

static void reply_text(ws_conn *c, const char *s)
{
    send_or_queue(c, WS_TEXT, s, strlen(s));
}

/* 1 if the text message is exactly cmd, or cmd followed by a space (then
 * *arg points after the space). */
static int is_command(const char *data, size_t len, const char *cmd,
                      const char **arg, size_t *arg_len)
{
    size_t n = strlen(cmd);

    if (len == n && memcmp(data, cmd, n) == 0) {
        *arg = data + n;
        *arg_len = 0;
        return 1;
    }
    if (len > n && memcmp(data, cmd, n) == 0 && data[n] == ' ') {
        *arg = data + n + 1;
        *arg_len = len - n - 1;
        return 1;
    }
    return 0;
}

/* "close <code> <reason...>": the reason is passed whole (not cut here):
 * cutting it to fit a close frame is the module's job. */
static void do_close(ws_conn *c, const char *arg, size_t arg_len)
{
    size_t code_len = 0;
    long code;
    char *reason = NULL;
    size_t rlen;

    while (code_len < arg_len && arg[code_len] != ' ') {
        code_len++;
    }
    code = parse_decimal(arg, code_len, 65535);
    if (code < 0) {
        code = 0;
    }
    rlen = code_len < arg_len ? arg_len - code_len - 1 : 0;
    if (rlen > 0) {
        reason = malloc(rlen + 1);
        if (reason == NULL) {
            return;
        }
        memcpy(reason, arg + code_len + 1, rlen);
        reason[rlen] = '\0';
    }
    ws_close(c, (int)code, reason);
    free(reason);
}

static void do_push(ws_conn *c, const char *arg, size_t arg_len)
{
    long n = parse_decimal(arg, arg_len, (long)TEST_MAX_PUSH);
    long i;
    char msg[32];

    for (i = 1; i <= n; i++) {
        int len = snprintf(msg, sizeof(msg), "push %ld", i);
        send_or_queue(c, WS_TEXT, msg, (size_t)len);
    }
}

static void do_binary(ws_conn *c, const char *arg, size_t arg_len)
{
    long n = parse_decimal(arg, arg_len, (long)TEST_MAX_BINARY);
    unsigned char *buf;
    long i;

    if (n < 0) {
        reply_text(c, "(bad length)");
        return;
    }
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        buf[i] = (unsigned char)(i & 0xff);
    }
    send_or_queue(c, WS_BINARY, buf, (size_t)n);
    free(buf);
}

struct thread_job {
    ws_conn *c;
    long n;
};

static void *thread_main(void *arg)
{
    struct thread_job *job = arg;
    char msg[32];
    long i;

    for (i = 1; i <= job->n; i++) {
        int len = snprintf(msg, sizeof(msg), "thread %ld", i);
        int rc;
        /* Backpressure: WS_EFULL means "try again later"; a real handler
         * would wait for on_drain, this one polls every millisecond. */
        while ((rc = ws_send_text(job->c, msg, (size_t)len)) == WS_EFULL) {
            struct timespec ms = { 0, 1000000L };
            nanosleep(&ms, NULL);
        }
        if (rc != WS_OK) {
            break;
        }
    }
    ws_release(job->c);
    free(job);
    return NULL;
}

static void do_thread(ws_conn *c, const char *arg, size_t arg_len)
{
    long n = parse_decimal(arg, arg_len, (long)TEST_MAX_PUSH);
    struct thread_job *job;
    pthread_attr_t attr;
    pthread_t tid;

    if (n < 0 || (job = malloc(sizeof(*job))) == NULL) {
        reply_text(c, "(bad count)");
        return;
    }
    job->c = c;
    job->n = n;
    ws_retain(c);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, thread_main, job) != 0) {
        ws_release(c);
        free(job);
        reply_text(c, "(no thread)");
    }
    pthread_attr_destroy(&attr);
}

/* "binbuffered <n>": what ws_buffered_amount() says right after a send. */
static void do_binbuffered(ws_conn *c, const char *arg, size_t arg_len)
{
    char num[32];

    do_binary(c, arg, arg_len);
    snprintf(num, sizeof(num), "%lu", (unsigned long)ws_buffered_amount(c));
    reply_text(c, num);
}

static void do_header(ws_conn *c, const char *arg, size_t arg_len)
{
    char name[256];
    const char *value;

    if (arg_len == 0 || arg_len >= sizeof(name)) {
        reply_text(c, "(none)");
        return;
    }
    memcpy(name, arg, arg_len);
    name[arg_len] = '\0';
    value = ws_header(c, name);
    reply_text(c, value != NULL ? value : "(none)");
}

static void reply_rc(ws_conn *c, int rc)
{
    char msg[32];
    snprintf(msg, sizeof(msg), "rc=%d", rc);
    reply_text(c, msg);
}

/* "closerc <code> [reason]": like "close" but reports ws_close's result. */
static void do_closerc(ws_conn *c, const char *arg, size_t arg_len)
{
    size_t code_len = 0;
    long code;
    char reason[256];
    size_t rlen;

    while (code_len < arg_len && arg[code_len] != ' ') {
        code_len++;
    }
    code = parse_decimal(arg, code_len, 99999);
    rlen = code_len < arg_len ? arg_len - code_len - 1 : 0;
    if (rlen > sizeof(reason) - 1) {
        rlen = sizeof(reason) - 1;
    }
    memcpy(reason, arg + code_len + (code_len < arg_len), rlen);
    reason[rlen] = '\0';
    reply_rc(c, ws_close(c, code < 0 ? -1 : (int)code, rlen ? reason : NULL));
}

static void test_on_message(ws_conn *c, ws_message_type type,
                            const void *data, size_t len)
{
    const char *s = data;
    const char *arg;
    size_t arg_len;

    if (type == WS_TEXT) {
        if (len == 8 && memcmp(s, "protocol", 8) == 0) {
            const char *p = ws_protocol(c);
            reply_text(c, p != NULL ? p : "(none)");
            return;
        }
        if (len == 4 && memcmp(s, "user", 4) == 0) {
            const char *u = ws_user(c);
            reply_text(c, u != NULL ? u : "(none)");
            return;
        }
        if (len == 8 && memcmp(s, "buffered", 8) == 0) {
            char num[32];
            snprintf(num, sizeof(num), "%lu",
                     (unsigned long)ws_buffered_amount(c));
            reply_text(c, num);
            return;
        }
        if (is_command(s, len, "close", &arg, &arg_len)) {
            do_close(c, arg, arg_len);
            return;
        }
        if (is_command(s, len, "push", &arg, &arg_len) && arg_len > 0) {
            do_push(c, arg, arg_len);
            return;
        }
        if (is_command(s, len, "binary", &arg, &arg_len) && arg_len > 0) {
            do_binary(c, arg, arg_len);
            return;
        }
        if (len == 3 && memcmp(s, "uri", 3) == 0) {
            const char *u = ws_uri(c);
            reply_text(c, u != NULL ? u : "(none)");
            return;
        }
        if (len == 2 && memcmp(s, "ip", 2) == 0) {
            const char *ip = ws_remote_ip(c);
            reply_text(c, ip != NULL ? ip : "(none)");
            return;
        }
        if (len == 7 && memcmp(s, "sendbad", 7) == 0) {
            reply_rc(c, ws_send_text(c, "bad \xC0\xAF", 6));
            return;
        }
        if (len == 8 && memcmp(s, "closebad", 8) == 0) {
            reply_rc(c, ws_close(c, 1000, "bad \xED\xA0\x80"));
            return;
        }
        if (is_command(s, len, "closerc", &arg, &arg_len) && arg_len > 0) {
            do_closerc(c, arg, arg_len);
            return;
        }
        if (is_command(s, len, "thread", &arg, &arg_len) && arg_len > 0) {
            do_thread(c, arg, arg_len);
            return;
        }
        if (is_command(s, len, "binbuffered", &arg, &arg_len) && arg_len > 0) {
            do_binbuffered(c, arg, arg_len);
            return;
        }
        if (is_command(s, len, "header", &arg, &arg_len)) {
            do_header(c, arg, arg_len);
            return;
        }
        if (is_command(s, len, "flood", &arg, &arg_len) && arg_len > 0) {
            do_flood(c, arg, arg_len);
            return;
        }
        if (len == 11 && memcmp(s, "maxbuffered", 11) == 0) {
            struct conn_state *st = state_of(c);
            char num[32];
            snprintf(num, sizeof(num), "%lu",
                     st != NULL ? (unsigned long)st->max_buffered : 0UL);
            reply_text(c, num);
            return;
        }
        if (len == 10 && memcmp(s, "floodstats", 10) == 0) {
            struct conn_state *st = state_of(c);
            char msg[160];
            if (st == NULL) {
                return;
            }
            snprintf(msg, sizeof(msg),
                     "sent=%lu efull=%lu drains=%lu maxbuffered=%lu flooding=%d",
                     st->flood_sent, st->flood_efull, st->drains,
                     (unsigned long)st->max_buffered, st->flooding);
            reply_text(c, msg);
            return;
        }
    }
    send_or_queue(c, type, data, len);
}

static void test_on_close(ws_conn *c, int code, const char *reason)
{
    struct conn_state *st = ws_get_data(c);

    if (st != NULL) {
        while (st->head != NULL) {
            struct pending *p = st->head;
            st->head = p->next;
            free(p);
        }
        free(st);
        ws_set_data(c, NULL);
    }
    ws_log(c, WS_LOG_DEBUG, "test handler: closed %d \"%s\"", code,
           reason != NULL ? reason : "");
}

static const ws_handler handler = {
    .abi_version  = WS_HANDLER_ABI_VERSION,
    .size         = sizeof(ws_handler),
    .name         = "test",
    .on_handshake = test_on_handshake,
    .on_message   = test_on_message,
    .on_close     = test_on_close,
    .on_drain     = test_on_drain,
};

const ws_handler *test_handler(const ws_server *server);

const ws_handler *test_handler(const ws_server *server)
{
    (void)server;
    return &handler;
}
