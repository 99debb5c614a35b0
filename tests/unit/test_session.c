/*
 * test_session.c - the I/O-free session: every close-handshake path,
 * keepalive and timeout deadlines on a fake clock, backpressure with exact
 * byte counts, the control lane and the single pending pong, EFULL and
 * on_drain, shared buffers.  Client frames come from put_frame() (masked).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp_session.h"
#include "wsp_test_util.h"

#define T0   INT64_C(1000000000)       /* the fake clock starts here */
#define SEC  INT64_C(1000000)
#define TEXT (FIN | WSP_OP_TEXT)
#define BIN  (FIN | WSP_OP_BINARY)
#define PING (FIN | WSP_OP_PING)
#define CLOSE (FIN | WSP_OP_CLOSE)

typedef struct fx {
    wsp_session s;
    int64_t     now;
    int         messages, closes, drains;
    int         close_code;
    char        close_reason[128];
    size_t      last_len;
    int         echo;             /* on_message sends the message back */
    int         close_in_message; /* on_message closes with 4000 */
    int         send_rc_in_close; /* what a send from on_close returned */
} fx;

static void on_message(void *ud, int opcode, const uint8_t *d, size_t n)
{
    fx *f = ud;
    f->messages++;
    f->last_len = n;
    if (f->echo)
        assert_int_equal(wsp_session_send(&f->s, opcode, d, n, f->now), WSP_SEND_OK);
    if (f->close_in_message)
        wsp_session_close(&f->s, 4000, "bye", 3, f->now);
}

static void on_close(void *ud, int code, const char *reason, size_t n)
{
    fx *f = ud;
    f->closes++;
    f->close_code = code;
    assert_true(n < sizeof f->close_reason);
    memcpy(f->close_reason, reason, n);
    f->close_reason[n] = '\0';
    f->send_rc_in_close = wsp_session_send(&f->s, WSP_OP_TEXT, "x", 1, f->now);
}

static void on_drain(void *ud)
{
    ((fx *)ud)->drains++;
}

static const wsp_session_callbacks cbs = { on_message, on_close, on_drain };

static wsp_session_config base_cfg(void)
{
    wsp_session_config c;
    memset(&c, 0, sizeof c);
    c.max_pending = 64 * 1024;
    c.close_timeout = WSP_SESSION_CLOSE_TIMEOUT;
    c.linger_timeout = WSP_SESSION_LINGER_TIMEOUT;
    return c;
}

static fx *fx_new(const wsp_session_config *cfg)
{
    fx *f = calloc(1, sizeof *f);
    wsp_session_config c = cfg ? *cfg : base_cfg();
    assert_non_null(f);
    f->now = T0;
    wsp_session_init(&f->s, &c, &cbs, f, f->now);
    return f;
}

static void fx_free(fx *f)
{
    wsp_session_free(&f->s);
    free(f);
}

/* Feeds one client frame; returns what feed() used. */
static size_t feed_frame(fx *f, uint8_t b0, const void *p, size_t n)
{
    tbuf t = { 0 };
    size_t used;
    put_frame(&t, b0, p, n, 1);
    used = wsp_session_feed(&f->s, t.p, t.len, f->now);
    tbuf_free(&t);
    return used;
}

static size_t feed_text(fx *f, const char *s)
{
    return feed_frame(f, TEXT, s, strlen(s));
}

/* Payload of an unmasked server frame. */
static const uint8_t *payload_of(const wsp_buf *b, size_t *n)
{
    const uint8_t *d = wsp_buf_data(b);
    size_t len7 = d[1] & 0x7F, hl = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
    *n = wsp_buf_len(b) - hl;
    return d + hl;
}

/* Pops one frame, "writes" it, returns its opcode (-1 if none). */
static int pop_write(fx *f)
{
    wsp_buf *b = wsp_session_pop(&f->s);
    int op;
    if (!b)
        return -1;
    op = wsp_buf_data(b)[0] & 0x0F;
    wsp_session_wrote(&f->s, wsp_buf_len(b), f->now);
    wsp_buf_unref(b);
    return op;
}

/* Pops everything; the opcodes as hex digits, e.g. "a21" (pong text close). */
static void pop_all(fx *f, char *ops, size_t cap)
{
    size_t i = 0;
    int op;
    while ((op = pop_write(f)) >= 0) {
        assert_true(i + 1 < cap);
        ops[i++] = "0123456789abcdef"[op];
    }
    ops[i] = '\0';
}

static void expect_close_frame(fx *f, const char *payload, size_t n)
{
    wsp_buf *b = wsp_session_pop(&f->s);
    const uint8_t *p;
    size_t len;
    assert_non_null(b);
    assert_int_equal(wsp_buf_data(b)[0], 0x88);
    p = payload_of(b, &len);
    assert_int_equal(len, n);
    assert_memory_equal(p, payload, n);
    wsp_session_wrote(&f->s, wsp_buf_len(b), f->now);
    wsp_buf_unref(b);
}

/* ---- buffers and accounting ------------------------------------------ */

static void buf_serializes_and_counts_refs(void **state)
{
    wsp_buf *b = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "Hello", 5);
    static const uint8_t wire[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
    (void)state;
    assert_non_null(b);
    assert_int_equal(wsp_buf_len(b), sizeof wire);
    assert_memory_equal(wsp_buf_data(b), wire, sizeof wire);
    assert_ptr_equal(wsp_buf_data(b), (const uint8_t *)b);   /* APR free_func */
    assert_int_equal(wsp_buf_opcode(b), WSP_OP_TEXT);
    assert_ptr_equal(wsp_buf_ref(b), b);
    assert_int_equal(wsp_buf_refs(b), 2);
    wsp_buf_unref(b);
    assert_int_equal(wsp_buf_refs(b), 1);
    wsp_buf_unref(b);
    wsp_buf_unref(NULL);
}

static void buf_lengths_16_and_64(void **state)
{
    static uint8_t big[70000];
    wsp_buf *a = wsp_buf_frame(WSP_OP_BINARY, 1, 0, big, 126);
    wsp_buf *b = wsp_buf_frame(WSP_OP_BINARY, 0, WSP_RSV1, big, sizeof big);
    size_t n;
    (void)state;
    assert_int_equal(wsp_buf_len(a), 4 + 126);
    assert_int_equal(wsp_buf_len(b), 10 + sizeof big);
    assert_int_equal(wsp_buf_data(b)[0], 0x42);              /* no FIN, RSV1 */
    payload_of(b, &n);
    assert_int_equal(n, sizeof big);
    wsp_buf_unref(a);
    wsp_buf_unref(b);
}

static void accounting_is_wire_plus_overhead(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_TEXT, "abc", 3, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_PING, NULL, 0, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_queued_bytes(&f->s), 5 + 2);
    assert_int_equal(wsp_session_queued_cost(&f->s), 5 + 2 + 2 * WSP_BUF_OVERHEAD);
    assert_int_equal(wsp_session_recount_cost(&f->s), wsp_session_queued_cost(&f->s));
    assert_int_equal(wsp_session_next_len(&f->s), 2);        /* the ping first */
    assert_int_equal(pop_write(f), WSP_OP_PING);
    assert_int_equal(wsp_session_queued_cost(&f->s), 5 + WSP_BUF_OVERHEAD);
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    fx_free(f);
}

static void empty_frames_are_not_free(void **state)
{
    /* The old engine counted 2 bytes per empty frame: 4 MiB of "cost" was
     * ~2 million frames.  Now the bound counts what they really hold. */
    wsp_session_config c = base_cfg();
    fx *f;
    int n = 0;
    (void)state;
    c.max_pending = 100 * (2 + WSP_BUF_OVERHEAD);
    f = fx_new(&c);
    while (wsp_session_send(&f->s, WSP_OP_BINARY, NULL, 0, f->now) == WSP_SEND_OK)
        n++;
    assert_int_equal(n, 100);
    fx_free(f);
}

static void shared_buf_on_two_sessions(void **state)
{
    fx *a = fx_new(NULL), *b = fx_new(NULL);
    wsp_buf *buf = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "news", 4), *p;
    (void)state;
    assert_int_equal(wsp_session_send_buf(&a->s, buf, a->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send_buf(&b->s, buf, b->now), WSP_SEND_OK);
    assert_int_equal(wsp_buf_refs(buf), 3);
    assert_int_equal(wsp_session_queued_cost(&a->s), 6 + WSP_BUF_OVERHEAD);
    p = wsp_session_pop(&a->s);
    assert_ptr_equal(p, buf);                 /* the same bytes, no copy */
    wsp_buf_unref(p);
    assert_int_equal(wsp_buf_refs(buf), 2);
    fx_free(b);                               /* drops its reference */
    assert_int_equal(wsp_buf_refs(buf), 1);
    wsp_buf_unref(buf);
    fx_free(a);
}

static void send_buf_refused_keeps_callers_ref(void **state)
{
    fx *f = fx_new(NULL);
    wsp_buf *close = wsp_buf_frame(WSP_OP_CLOSE, 1, 0, NULL, 0);
    wsp_buf *text = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "x", 1);
    (void)state;
    assert_int_equal(wsp_session_send_buf(&f->s, close, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_buf_refs(close), 1);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    assert_int_equal(wsp_session_send_buf(&f->s, text, f->now), WSP_SEND_ECLOSED);
    assert_int_equal(wsp_buf_refs(text), 1);
    wsp_buf_unref(close);
    wsp_buf_unref(text);
    fx_free(f);
}

static void data_lane_grows_and_keeps_order(void **state)
{
    fx *f = fx_new(NULL);
    wsp_buf *b;
    uint8_t i;
    size_t n;
    (void)state;
    for (i = 0; i < 100; i++)
        assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, &i, 1, f->now), WSP_SEND_OK);
    for (i = 0; i < 100; i++) {
        b = wsp_session_pop(&f->s);
        assert_non_null(b);
        assert_int_equal(*payload_of(b, &n), i);
        wsp_buf_unref(b);
    }
    assert_null(wsp_session_pop(&f->s));
    assert_null(f->s.data.ring);              /* heap ring given back */
    fx_free(f);
}

static void bad_sends_are_einval(void **state)
{
    fx *f = fx_new(NULL);
    uint8_t big[126] = { 0 };
    (void)state;
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_CLOSE, NULL, 0, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_CONT, NULL, 0, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_PING, big, 126, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_close(&f->s, 1006, NULL, 0, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_close(&f->s, 1000, "\xff", 1, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    fx_free(f);
}

/* ---- messages --------------------------------------------------------- */

static void reentrant_echo_from_on_message(void **state)
{
    fx *f = fx_new(NULL);
    wsp_buf *b;
    size_t n;
    (void)state;
    f->echo = 1;
    assert_int_equal(feed_text(f, "Hello"), 6 + 5);
    assert_int_equal(f->messages, 1);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_READ | WSP_WANT_WRITE);
    b = wsp_session_pop(&f->s);
    assert_int_equal(wsp_buf_data(b)[0], 0x81);
    assert_memory_equal(payload_of(b, &n), "Hello", 5);
    wsp_buf_unref(b);
    fx_free(f);
}

static void byte_by_byte_feed(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    size_t i;
    (void)state;
    put_sframe(&t, TEXT, "split everywhere", 1);
    for (i = 0; i < t.len; i++)
        assert_int_equal(wsp_session_feed(&f->s, t.p + i, 1, f->now), 1);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->last_len, 16);
    tbuf_free(&t);
    fx_free(f);
}

static void close_from_on_message_discards_the_rest(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    char ops[16];
    (void)state;
    f->echo = 1;
    f->close_in_message = 1;
    put_sframe(&t, TEXT, "one", 1);
    put_sframe(&t, TEXT, "two", 1);
    put_sframe(&t, PING, "p", 1);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 1);         /* "two" came after our close */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    pop_all(f, ops, sizeof ops);
    assert_string_equal(ops, "18");           /* the echo, our close; no pong */
    tbuf_free(&t);
    fx_free(f);
}

/* ---- close handshake -------------------------------------------------- */

static void peer_closes_first(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    f->echo = 1;
    feed_text(f, "last");
    assert_int_equal(feed_frame(f, CLOSE, "\x03\xe8" "bye", 5), 2 + 4 + 5);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 1000);
    assert_string_equal(f->close_reason, "bye");
    assert_int_equal(f->send_rc_in_close, WSP_SEND_ECLOSED);
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_CLIENT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_WRITE);
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    expect_close_frame(f, "\x03\xe8", 2);     /* echoed code, no reason */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_SHUTDOWN);
    assert_int_equal(wsp_session_deadline(&f->s), f->now + WSP_SESSION_LINGER_TIMEOUT);
    wsp_session_eof(&f->s, 0, f->now += 1000);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_FINISH);
    assert_int_equal(wsp_session_close_code(&f->s), 1000);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void peer_close_without_code_echoes_empty(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, NULL, 0);
    assert_int_equal(f->close_code, 1005);
    assert_string_equal(f->close_reason, "");
    expect_close_frame(f, "", 0);
    fx_free(f);
}

static void input_after_peer_close_is_ignored(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    (void)state;
    put_frame(&t, CLOSE, "\x03\xe8", 2, 1);
    put_sframe(&t, TEXT, "late", 1);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 0);
    assert_int_equal(f->closes, 1);
    tbuf_free(&t);
    fx_free(f);
}

static void we_close_first(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    assert_int_equal(wsp_session_close(&f->s, 1000, "done", 4, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_READ | WSP_WANT_WRITE);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + WSP_SESSION_CLOSE_TIMEOUT);
    assert_int_equal(wsp_session_close(&f->s, 1000, NULL, 0, f->now), WSP_SEND_ECLOSED);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_TEXT, "x", 1, f->now), WSP_SEND_ECLOSED);
    expect_close_frame(f, "\x03\xe8" "done", 6);
    assert_int_equal(f->closes, 0);
    f->now += SEC;
    feed_frame(f, CLOSE, "\x03\xe8", 2);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 1000);
    assert_string_equal(f->close_reason, "done");
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_SERVER);
    /* Our close was already written: straight to LINGER. */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    wsp_session_tick(&f->s, f->now + WSP_SESSION_LINGER_TIMEOUT - 1);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    wsp_session_tick(&f->s, f->now + WSP_SESSION_LINGER_TIMEOUT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void close_timeout_when_peer_never_answers(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    wsp_session_close(&f->s, 4001, "app", 3, f->now);
    assert_int_equal(pop_write(f), WSP_OP_CLOSE);
    wsp_session_tick(&f->s, T0 + WSP_SESSION_CLOSE_TIMEOUT - 1);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    wsp_session_tick(&f->s, T0 + WSP_SESSION_CLOSE_TIMEOUT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 4001);
    assert_string_equal(f->close_reason, "app");
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    fx_free(f);
}

static void drain_timeout_when_close_cannot_be_flushed(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, "\x03\xe8", 2);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + WSP_SESSION_CLOSE_TIMEOUT);
    wsp_buf_unref(wsp_session_pop(&f->s));    /* popped, never written */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    wsp_session_tick(&f->s, T0 + WSP_SESSION_CLOSE_TIMEOUT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void going_away_closes_1001(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    wsp_session_send(&f->s, WSP_OP_TEXT, "q", 1, f->now);
    wsp_session_going_away(&f->s, f->now);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    expect_close_frame(f, "\x03\xe9" "server shutting down", 22);
    wsp_session_going_away(&f->s, f->now);    /* again: nothing */
    assert_null(wsp_session_pop(&f->s));
    fx_free(f);
}

static void protocol_error_closes_with_reader_code(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    (void)state;
    put_sframe(&t, TEXT, "ok", 1);
    put_sframe(&t, TEXT, "unmasked", 0);
    put_sframe(&t, TEXT, "never", 1);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->close_code, 1002);
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_SERVER);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 1);
    expect_close_frame(f, "\x03\xea", 2);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    tbuf_free(&t);
    fx_free(f);
}

static void bad_utf8_1007_and_too_big_1009(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f = fx_new(NULL), *g;
    uint8_t big[101] = { 0 };
    (void)state;
    feed_text(f, "bad \xc0\xaf");
    assert_int_equal(f->close_code, 1007);
    expect_close_frame(f, "\x03\xef", 2);
    c.max_message_size = 100;
    g = fx_new(&c);
    feed_frame(g, BIN, big, 100);
    assert_int_equal(g->messages, 1);
    feed_frame(g, BIN, big, 101);
    assert_int_equal(g->close_code, 1009);
    expect_close_frame(g, "\x03\xf1", 2);
    fx_free(f);
    fx_free(g);
}

static void peer_vanishes_mid_frame(void **state)
{
    fx *f = fx_new(NULL);
    uint8_t big[2000] = { 0 };
    tbuf t = { 0 };
    (void)state;
    put_frame(&t, BIN, big, sizeof big, 1);
    wsp_session_feed(&f->s, t.p, 1000, f->now);
    assert_int_equal(wsp_session_reader_buffered(&f->s), 1000 - 8);
    wsp_session_eof(&f->s, 0, f->now);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 1006);
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_NONE);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(wsp_session_reader_buffered(&f->s), 0);
    tbuf_free(&t);
    fx_free(f);
}

static void eof_flushes_queued_output_then_finishes(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    f->echo = 1;
    feed_text(f, "half-close");
    wsp_session_eof(&f->s, 0, f->now);
    assert_int_equal(f->close_code, 1006);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_WRITE);  /* no READ */
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void eof_after_peer_close_skips_linger(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, "\x03\xe8", 2);
    wsp_session_eof(&f->s, 0, f->now);
    assert_int_equal(wsp_session_close_code(&f->s), 1000);     /* kept */
    assert_int_equal(pop_write(f), WSP_OP_CLOSE);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    fx_free(f);
}

static void error_finishes_now_and_drops_output(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    wsp_session_send(&f->s, WSP_OP_TEXT, "lost", 4, f->now);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    wsp_session_eof(&f->s, 1, f->now);
    assert_int_equal(f->close_code, 1006);    /* the handshake never ended */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    assert_null(wsp_session_pop(&f->s));
    fx_free(f);
}

static void error_after_handshake_keeps_code(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, "\x0f\xa0" "app", 5);
    wsp_session_eof(&f->s, 1, f->now);
    assert_int_equal(wsp_session_close_code(&f->s), 4000);
    assert_string_equal(wsp_session_close_reason(&f->s), "app");
    assert_int_equal(f->closes, 1);
    wsp_session_eof(&f->s, 1, f->now);
    wsp_session_tick(&f->s, f->now + 100 * SEC);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

/* ---- keepalive -------------------------------------------------------- */

static void ping_deadline_exact(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    wsp_buf *b;
    (void)state;
    c.ping_interval = 30 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 30 * SEC);
    wsp_session_tick(&f->s, T0 + 30 * SEC - 1);
    assert_null(wsp_session_pop(&f->s));
    wsp_session_tick(&f->s, T0 + 30 * SEC);
    b = wsp_session_pop(&f->s);
    assert_non_null(b);
    assert_int_equal(wsp_buf_len(b), 2);
    assert_memory_equal(wsp_buf_data(b), "\x89\x00", 2);
    wsp_buf_unref(b);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 60 * SEC);
    fx_free(f);
}

static void unsent_ping_is_replaced(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.ping_interval = SEC;
    f = fx_new(&c);
    wsp_session_tick(&f->s, T0 + SEC);
    wsp_session_tick(&f->s, T0 + 2 * SEC);
    wsp_session_tick(&f->s, T0 + 3 * SEC);
    assert_int_equal(wsp_session_queued_cost(&f->s), 2 + WSP_BUF_OVERHEAD);
    fx_free(f);
}

static void idle_deadline_exact(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.idle_timeout = 60 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 60 * SEC);
    f->now = T0 + 10 * SEC;
    feed_text(f, "alive");
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 70 * SEC);
    wsp_session_tick(&f->s, T0 + 60 * SEC);   /* early: nothing */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    wsp_session_tick(&f->s, T0 + 70 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    assert_int_equal(wsp_session_close_code(&f->s), 1001);
    assert_string_equal(wsp_session_close_reason(&f->s), "idle timeout");
    assert_int_equal(wsp_session_deadline(&f->s),
                     T0 + 70 * SEC + WSP_SESSION_CLOSE_TIMEOUT);
    expect_close_frame(f, "\x03\xe9" "idle timeout", 14);
    fx_free(f);
}

static void deadline_is_min_of_ping_and_idle(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.ping_interval = 20 * SEC;
    c.idle_timeout = 50 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 20 * SEC);
    wsp_session_tick(&f->s, T0 + 20 * SEC);
    wsp_session_tick(&f->s, T0 + 40 * SEC);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 50 * SEC);
    wsp_session_tick(&f->s, T0 + 50 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    fx_free(f);
}

static void no_deadline_when_all_off(void **state)
{
    wsp_session_config c;
    fx *f;
    (void)state;
    memset(&c, 0, sizeof c);
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    assert_int_equal(f->s.cfg.max_pending, WSP_SESSION_MAX_PENDING);
    fx_free(f);
}

/* ---- backpressure ----------------------------------------------------- */

/* max_pending 10000: an echo of 1000 bytes costs 4 + 1000 + 368 = 1372. */
static fx *echo_fx(size_t max_pending)
{
    wsp_session_config c = base_cfg();
    fx *f;
    c.max_pending = max_pending;
    c.idle_timeout = 60 * SEC;
    f = fx_new(&c);
    f->echo = 1;
    return f;
}

static void pause_and_resume_exact_bytes(void **state)
{
    fx *f = echo_fx(10000);
    uint8_t msg[1000] = { 0 };
    tbuf t = { 0 };
    int i;
    (void)state;
    for (i = 0; i < 6; i++)
        put_frame(&t, BIN, msg, sizeof msg, 1);        /* 1008 bytes each */
    /* 4 echoes: 5488 >= 5000 pauses right after the 4th message. */
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), 4 * 1008);
    assert_int_equal(f->messages, 4);
    assert_int_equal(wsp_session_queued_cost(&f->s), 4 * 1372);
    assert_true(wsp_session_paused(&f->s));
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_WRITE);
    assert_int_equal(wsp_session_feed(&f->s, t.p + 4032, t.len - 4032, f->now), 0);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 4116 */
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 2744 > 2500 */
    assert_true(wsp_session_paused(&f->s));
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 1372 <= 2500 */
    assert_false(wsp_session_paused(&f->s));
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_READ | WSP_WANT_WRITE);
    assert_int_equal(wsp_session_feed(&f->s, t.p + 4032, t.len - 4032, f->now),
                     t.len - 4032);
    assert_int_equal(f->messages, 6);
    tbuf_free(&t);
    fx_free(f);
}

static void paused_peer_is_not_idle(void **state)
{
    fx *f = echo_fx(10000);
    uint8_t msg[1000] = { 0 };
    int i;
    (void)state;
    for (i = 0; i < 4; i++)
        feed_frame(f, BIN, msg, sizeof msg);
    assert_true(wsp_session_paused(&f->s));
    assert_int_equal(wsp_session_deadline(&f->s), 0);  /* no idle while paused */
    wsp_session_tick(&f->s, f->now = T0 + 100 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    for (i = 0; i < 3; i++)
        pop_write(f);
    assert_false(wsp_session_paused(&f->s));
    /* The idle clock restarted at the first call after the resume: the
     * wrote() at T0 + 100 s. */
    wsp_session_tick(&f->s, T0 + 101 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 160 * SEC);
    fx_free(f);
}

static void efull_and_on_drain(void **state)
{
    fx *f = echo_fx(3000);
    uint8_t msg[1000] = { 0 };
    (void)state;
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1000, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1000, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1000, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_queued_cost(&f->s), 3 * 1372);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1, f->now), WSP_SEND_EFULL);
    /* Control frames always get in. */
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_PING, "p", 1, f->now), WSP_SEND_OK);
    assert_int_equal(pop_write(f), WSP_OP_PING);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 2744 */
    assert_int_equal(f->drains, 0);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 1372 < 1500 */
    assert_int_equal(f->drains, 1);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);
    assert_int_equal(f->drains, 1);                    /* once per EFULL */
    fx_free(f);
}

static void handler_that_only_answers_never_meets_efull(void **state)
{
    fx *f = echo_fx(10000);
    uint8_t msg[1000] = { 0 };
    tbuf t = { 0 };
    size_t off = 0;
    int i;
    (void)state;
    for (i = 0; i < 50; i++)
        put_frame(&t, BIN, msg, sizeof msg, 1);
    while (off < t.len) {
        off += wsp_session_feed(&f->s, t.p + off, t.len - off, f->now);
        assert_true(wsp_session_queued_cost(&f->s) < 10000);
        while (wsp_session_paused(&f->s))
            pop_write(f);
    }
    assert_int_equal(f->messages, 50);        /* echo asserts WSP_SEND_OK */
    tbuf_free(&t);
    fx_free(f);
}

/* ---- the control lane ------------------------------------------------- */

static void control_frames_overtake_a_large_message(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    uint8_t *big = calloc(1, 1 << 20);
    char ops[16];
    (void)state;
    c.max_pending = 4 << 20;
    f = fx_new(&c);
    wsp_session_send(&f->s, WSP_OP_BINARY, big, 1 << 20, f->now);
    wsp_session_send(&f->s, WSP_OP_TEXT, "after", 5, f->now);
    feed_frame(f, PING, "are you there", 13);
    wsp_session_send(&f->s, WSP_OP_PING, NULL, 0, f->now);
    assert_int_equal(wsp_session_next_len(&f->s), 2 + 13);
    pop_all(f, ops, sizeof ops);
    assert_string_equal(ops, "a921");
    free(big);
    fx_free(f);
}

static void close_goes_after_queued_data(void **state)
{
    fx *f = fx_new(NULL);
    char ops[16];
    (void)state;
    wsp_session_send(&f->s, WSP_OP_TEXT, "a", 1, f->now);
    wsp_session_send(&f->s, WSP_OP_TEXT, "b", 1, f->now);
    feed_frame(f, PING, "x", 1);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    feed_frame(f, PING, "y", 1);              /* after our close: no pong */
    pop_all(f, ops, sizeof ops);
    assert_string_equal(ops, "a118");
    assert_null(wsp_session_pop(&f->s));
    assert_int_equal(wsp_session_next_len(&f->s), 0);
    fx_free(f);
}

static void ping_flood_keeps_one_pong(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    wsp_buf *b;
    char p[8];
    size_t n;
    int i;
    (void)state;
    for (i = 0; i < 20000; i++) {
        snprintf(p, sizeof p, "%05d", i);
        put_sframe(&t, PING, p, 1);
    }
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(wsp_session_queued_cost(&f->s), 2 + 5 + WSP_BUF_OVERHEAD);
    b = wsp_session_pop(&f->s);
    assert_memory_equal(payload_of(b, &n), "19999", 5);   /* the latest */
    wsp_buf_unref(b);
    assert_null(wsp_session_pop(&f->s));
    tbuf_free(&t);
    fx_free(f);
}

/* ---- send timeout ----------------------------------------------------- */

static void send_timeout_fails_a_stalled_peer(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    wsp_buf *b;
    (void)state;
    c.send_timeout = 10 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    wsp_session_send(&f->s, WSP_OP_TEXT, "hello", 5, f->now);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 10 * SEC);
    b = wsp_session_pop(&f->s);               /* popped, partly written */
    wsp_session_wrote(&f->s, 3, T0 + 5 * SEC);
    assert_int_equal(wsp_session_unwritten(&f->s), 4);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 15 * SEC);
    feed_frame(f, PING, "a", 1);              /* a replaced pong restarts nothing */
    feed_frame(f, PING, "b", 1);
    wsp_session_tick(&f->s, T0 + 15 * SEC - 1);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    wsp_session_tick(&f->s, T0 + 15 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->close_code, 1008);
    assert_string_equal(f->close_reason, "send timeout");
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_FINISH);
    wsp_buf_unref(b);
    fx_free(f);
}

static void send_timeout_off_when_flushed(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.send_timeout = 10 * SEC;
    f = fx_new(&c);
    wsp_session_send(&f->s, WSP_OP_TEXT, "hello", 5, f->now);
    pop_write(f);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    wsp_session_tick(&f->s, T0 + 100 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    /* Queued again later: the clock starts then, not at the last write. */
    wsp_session_send(&f->s, WSP_OP_TEXT, "again", 5, T0 + 200 * SEC);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 210 * SEC);
    fx_free(f);
}

/* ---- re-entrancy and purity ------------------------------------------- */

static fx *nested_fx;
static size_t nested_rc;

static void feed_from_callback(void *ud, int opcode, const uint8_t *d, size_t n)
{
    (void)ud; (void)opcode;
    nested_rc = wsp_session_feed(&nested_fx->s, d, n, nested_fx->now);
    wsp_session_eof(&nested_fx->s, 1, nested_fx->now);
    wsp_session_tick(&nested_fx->s, nested_fx->now + 1000 * SEC);
}

static void feed_tick_eof_from_callback_are_ignored(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    f->s.cb.on_message = feed_from_callback;
    nested_fx = f;
    nested_rc = 99;
    feed_text(f, "x");
    assert_int_equal(nested_rc, 0);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    fx_free(f);
}

static void clock_never_runs_backwards(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.ping_interval = 10 * SEC;
    f = fx_new(&c);
    wsp_session_tick(&f->s, T0 + 10 * SEC);
    wsp_session_tick(&f->s, T0);              /* an older time: ignored */
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 20 * SEC);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_serializes_and_counts_refs),
        cmocka_unit_test(buf_lengths_16_and_64),
        cmocka_unit_test(accounting_is_wire_plus_overhead),
        cmocka_unit_test(empty_frames_are_not_free),
        cmocka_unit_test(shared_buf_on_two_sessions),
        cmocka_unit_test(send_buf_refused_keeps_callers_ref),
        cmocka_unit_test(data_lane_grows_and_keeps_order),
        cmocka_unit_test(bad_sends_are_einval),
        cmocka_unit_test(reentrant_echo_from_on_message),
        cmocka_unit_test(byte_by_byte_feed),
        cmocka_unit_test(close_from_on_message_discards_the_rest),
        cmocka_unit_test(peer_closes_first),
        cmocka_unit_test(peer_close_without_code_echoes_empty),
        cmocka_unit_test(input_after_peer_close_is_ignored),
        cmocka_unit_test(we_close_first),
        cmocka_unit_test(close_timeout_when_peer_never_answers),
        cmocka_unit_test(drain_timeout_when_close_cannot_be_flushed),
        cmocka_unit_test(going_away_closes_1001),
        cmocka_unit_test(protocol_error_closes_with_reader_code),
        cmocka_unit_test(bad_utf8_1007_and_too_big_1009),
        cmocka_unit_test(peer_vanishes_mid_frame),
        cmocka_unit_test(eof_flushes_queued_output_then_finishes),
        cmocka_unit_test(eof_after_peer_close_skips_linger),
        cmocka_unit_test(error_finishes_now_and_drops_output),
        cmocka_unit_test(error_after_handshake_keeps_code),
        cmocka_unit_test(ping_deadline_exact),
        cmocka_unit_test(unsent_ping_is_replaced),
        cmocka_unit_test(idle_deadline_exact),
        cmocka_unit_test(deadline_is_min_of_ping_and_idle),
        cmocka_unit_test(no_deadline_when_all_off),
        cmocka_unit_test(pause_and_resume_exact_bytes),
        cmocka_unit_test(paused_peer_is_not_idle),
        cmocka_unit_test(efull_and_on_drain),
        cmocka_unit_test(handler_that_only_answers_never_meets_efull),
        cmocka_unit_test(control_frames_overtake_a_large_message),
        cmocka_unit_test(close_goes_after_queued_data),
        cmocka_unit_test(ping_flood_keeps_one_pong),
        cmocka_unit_test(send_timeout_fails_a_stalled_peer),
        cmocka_unit_test(send_timeout_off_when_flushed),
        cmocka_unit_test(feed_tick_eof_from_callback_are_ignored),
        cmocka_unit_test(clock_never_runs_backwards),
    };
    return cmocka_run_group_tests_name("wsp_session", tests, NULL, NULL);
}
