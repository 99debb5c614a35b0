/*
 * session_fx.h - the fixture of the session tests (test_session.c,
 * test_session_queue.c): a session on a fake clock with a recording,
 * optionally echoing handler, and helpers to feed client frames (masked,
 * from put_frame()) and to pop and "write" what the session sends.
 * Included once per test program, so the helpers are static.
 */
#ifndef SESSION_FX_H
#define SESSION_FX_H

#pragma GCC diagnostic ignored "-Wunused-function"

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

#endif
