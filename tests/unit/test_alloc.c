/*
 * test_alloc.c - the core when memory runs out, and paths the other tests
 * and the fuzz corpus do not reach (found with `make coverage`).
 *
 * This program replaces malloc/calloc/realloc (zlib's allocations go
 * through them too) with glibc's own, behind a countdown: fail_in = k makes
 * the k-th allocation from now return NULL, once.  Each scenario is run
 * with k = 0, 1, 2, ... until it completes without meeting the failure:
 * every allocation site fails once.  Whatever fails, nothing may crash,
 * every status must be one the API promises, and every block allocated
 * must be freed at the end (a count of live blocks, kept by the wrappers).
 *
 * Under ASan (SANITIZE=1) the sanitizer owns malloc: the sweeps are
 * skipped there, the other tests still run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp_deflate.h"
#include "wsp_session.h"
#include "wsp_test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_WRAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_WRAP 0
#endif
#endif
#ifndef HAVE_WRAP
#define HAVE_WRAP 1
#endif

#if HAVE_WRAP
static long fail_in = -1;     /* allocations to let through; -1 never fail */
static long live;             /* blocks allocated and not freed */
static int  failed;           /* the armed failure happened */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void  __libc_free(void *);

static int should_fail(void)
{
    if (fail_in < 0)
        return 0;
    if (fail_in-- == 0) {
        failed = 1;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    void *p = should_fail() ? NULL : __libc_malloc(n);
    live += p != NULL;
    return p;
}

void *calloc(size_t a, size_t b)
{
    void *p = should_fail() ? NULL : __libc_calloc(a, b);
    live += p != NULL;
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __libc_realloc(old, n);
    live += (p != NULL) - (old != NULL);
    return p;
}

void free(void *p)
{
    live -= p != NULL;
    __libc_free(p);
}
#endif

#define T0  INT64_C(1000000000)
#define SEC INT64_C(1000000)

/* Runs scenario with the k-th allocation failing, k = 0, 1, ... until one
 * run meets no failure; each run must free everything it allocated. */
static void sweep(void (*scenario)(int k))
{
#if HAVE_WRAP
    long k;

    for (k = 0; k < 100000; k++) {
        long before = live;
        failed = 0;
        fail_in = k;
        scenario((int)k);
        fail_in = -1;
        assert_int_equal(live, before);
        if (!failed) {
            fprintf(stderr, "  %ld allocations, each failed once\n", k);
            return;
        }
    }
    fail();
#else
    (void)scenario;
    skip();
#endif
}

/* ---- the session, with permessage-deflate both ways --------------------- */

static int messages, closes;

static void s_message(void *ud, int op, const uint8_t *d, size_t n)
{
    wsp_session *s = ud;
    messages++;
    wsp_session_send(s, op, d, n, T0);      /* echo: may fail, fine */
    wsp_session_trim(s);                    /* inside a callback: no-op */
}

static void s_close(void *ud, int code, const char *r, size_t n)
{
    (void)ud; (void)r; (void)n;
    assert_true(code >= 1000 && code <= 4999);
    closes++;
}

static const wsp_session_callbacks s_cbs = { s_message, s_close, NULL };

static tbuf in;                /* built before a sweep arms the countdown */

static tbuf client_stream(void)
{
    static const uint8_t hello[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
    static char big[3000];
    tbuf t = { 0 };

    memset(big, 'a', sizeof big);
    put_frame(&t, FIN | WSP_RSV1 | WSP_OP_TEXT, hello, sizeof hello, 1);
    put_frame(&t, WSP_OP_TEXT, big, sizeof big, 1);
    put_sframe(&t, FIN | WSP_OP_PING, "p", 1);
    put_frame(&t, FIN | WSP_OP_CONT, big, sizeof big, 1);
    put_frame(&t, FIN | WSP_RSV1 | WSP_OP_BINARY, hello, sizeof hello, 1);
    return t;
}

static void session_scenario(int k)
{
    static const char text[] = "a message long enough to be compressed, "
                               "compressed, compressed, compressed";
    wsp_session_config c;
    wsp_session s;
    wsp_buf *b, *shared;
    size_t off = 0;
    int i;

    memset(&c, 0, sizeof c);
    c.max_pending = 1 << 20;
    c.inflate_window_bits = 15;
    c.inflate_keep_context = k & 1;
    c.deflate_window_bits = 15;
    c.deflate_mem_level = 8;
    c.deflate_keep_context = k & 1;
    c.idle_timeout = 10 * SEC;
    wsp_session_init(&s, &c, &s_cbs, &s, T0);
    while (off < in.len && wsp_session_get_state(&s) <= WSP_SESSION_CLOSING) {
        size_t used = wsp_session_feed(&s, in.p + off, in.len - off, T0);
        if (!used)
            break;
        off += used;
    }
    wsp_session_send(&s, WSP_OP_TEXT, text, sizeof text - 1, T0);
    shared = wsp_buf_frame(WSP_OP_BINARY, 0, 0, text, sizeof text - 1);
    if (shared) {
        wsp_session_send_buf(&s, shared, T0);            /* a first part */
        wsp_buf_unref(shared);
    }
    shared = wsp_buf_frame(WSP_OP_CONT, 1, 0, text, sizeof text - 1);
    if (shared) {
        wsp_session_send_buf(&s, shared, T0);            /* its last */
        wsp_buf_unref(shared);
    }
    for (i = 0; i < 20 && (b = wsp_session_pop(&s)) != NULL; i++) {
        wsp_session_wrote(&s, wsp_buf_len(b), T0);
        wsp_buf_unref(b);
    }
    assert_int_equal(wsp_session_recount_cost(&s), wsp_session_queued_cost(&s));
    wsp_session_trim(&s);
    if (k & 2)                         /* idle: a close 1001, or finished */
        wsp_session_tick(&s, T0 + 11 * SEC);
    wsp_session_close(&s, 1000, "bye", 3, T0 + 11 * SEC);
    while ((b = wsp_session_pop(&s)) != NULL) {
        wsp_session_wrote(&s, wsp_buf_len(b), T0);
        wsp_buf_unref(b);
    }
    wsp_session_free(&s);
}

static void session_survives_every_allocation_failure(void **state)
{
    (void)state;
    in = client_stream();
    sweep(session_scenario);
    tbuf_free(&in);
}

/* ---- the reader --------------------------------------------------------- */

static int r_message(void *ud, int op, const uint8_t *d, size_t n)
{
    (void)ud; (void)op; (void)d; (void)n;
    return 0;
}

static const wsp_reader_callbacks r_cbs = { r_message, NULL, NULL, NULL };

static void reader_scenario(int k)
{
    wsp_reader_config rc = { .require_mask = 1 };
    wsp_reader r;
    wsp_status st;

    (void)k;
    wsp_reader_init(&r, &rc, &r_cbs, NULL);
    st = wsp_reader_feed(&r, in.p, in.len, NULL);
    assert_true(st == WSP_OK || (st == WSP_FAIL
                                 && wsp_reader_error(&r) == WSP_CLOSE_INTERNAL_ERROR));
    wsp_reader_free(&r);
}

static void reader_fails_1011_when_memory_runs_out(void **state)
{
    static char part[5000];
    int i;

    (void)state;
    for (i = 0; i < 8; i++)             /* a message that keeps growing */
        put_frame(&in, (uint8_t)((i == 7 ? FIN : 0) | (i ? WSP_OP_CONT : WSP_OP_BINARY)),
                  part, (size_t)i * 600 + 1, 1);
    sweep(reader_scenario);
    tbuf_free(&in);
}

/* ---- the codec ---------------------------------------------------------- */

static void codec_scenario(int k)
{
    static uint8_t data[70000];
    wsp_deflater d;
    wsp_inflater f;
    uint8_t *z = NULL, *out = NULL, *z2 = NULL;
    size_t zn = 0, n, i, z2n = 0;
    int rc;
    wsp_inflate_status st;

    for (i = 0; i < sizeof data; i++)   /* half compressible */
        data[i] = (uint8_t)(i & 1 ? i * 7919 >> 3 : 'x');
    wsp_deflater_init(&d, 12, 4);
    wsp_inflater_init(&f, 12);
    rc = wsp_deflate_message(&d, data, sizeof data, k & 1, 0, &z, &zn);
    assert_true(rc == 0 || (rc == -1 && !z));
    if (rc == 0) {
        st = wsp_inflate_message(&f, z, zn, sizeof data, k & 1, 0, &out, &n);
        assert_true(st == WSP_INFLATE_OK || st == WSP_INFLATE_NOMEM);
        if (st == WSP_INFLATE_OK)
            assert_true(n == sizeof data && memcmp(out, data, n) == 0);
        else
            assert_null(out);
        free(out);
    }
    /* A final block with context takeover: the stream restarts with the
     * window kept (RFC 7692 7.2.3.4). */
    {
        static const uint8_t stored_final[] = { 0x01, 0x05, 0x00, 0xfa, 0xff,
                                                'H', 'e', 'l', 'l', 'o' };
        st = wsp_inflate_message(&f, stored_final, sizeof stored_final, 100,
                                 1, 0, &out, &n);
        assert_true(st == WSP_INFLATE_OK || st == WSP_INFLATE_NOMEM);
        if (st == WSP_INFLATE_OK)
            assert_true(n == 5 && memcmp(out, "Hello", 5) == 0);
        else                           /* was: freed, yet handed back */
            assert_true(!out && n == 0);
        free(out);
    }
    /* A message in parts: the first part, then abandoned. */
    rc = wsp_deflate_part(&d, data, 1000, 0, 1, 0, &z2, &z2n);
    assert_true(rc == 0 || (rc == -1 && !z2));
    free(z2);
    wsp_deflate_abandon(&d);
    free(z);
    wsp_deflater_free(&d);
    wsp_inflater_free(&f);
}

static void codec_reports_nomem(void **state)
{
    (void)state;
    sweep(codec_scenario);
}

/* ---- buffers and the queue ------------------------------------------------ */

static void outq_scenario(int k)
{
    wsp_outq q;
    wsp_buf *b;
    int i, pushed = 0;

    (void)k;
    wsp_outq_init(&q);
    for (i = 0; i < 40; i++) {
        b = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "x", 1);
        if (!b)
            continue;
        if (wsp_outq_push(&q, b) == 0)
            pushed++;
        else
            wsp_buf_unref(b);
    }
    assert_int_equal(q.count, (size_t)pushed);
    for (i = 0; i < pushed / 2; i++)
        wsp_buf_unref(wsp_outq_shift(&q));
    wsp_outq_clear(&q);
}

static void outq_survives_allocation_failure(void **state)
{
    (void)state;
    sweep(outq_scenario);
}

/* ---- paths no other test takes ---------------------------------------------- */

/* wsp_buf_compress (the pub/sub fan-out's shared compressed twin): whole
 * data frames that shrink get an RSV1 twin; the rest stay plain. */
static void buf_compress_twins_only_whole_data_frames(void **state)
{
    static char text[400];
    wsp_deflater d;
    wsp_buf *b, *z;
    wsp_inflater f;
    uint8_t *out;
    size_t n, hl;

    (void)state;
    memset(text, 'w', sizeof text);
    wsp_deflater_init(&d, 15, 8);
    b = wsp_buf_frame(WSP_OP_TEXT, 1, 0, text, sizeof text);
    z = wsp_buf_compress(b, &d);
    assert_non_null(z);
    assert_int_equal(wsp_buf_data(z)[0], 0x80 | WSP_RSV1 | WSP_OP_TEXT);
    assert_true(wsp_buf_len(z) < wsp_buf_len(b));
    hl = wsp_frame_header_size(wsp_buf_len(z) - 2, 0);
    assert_int_equal(hl, 2);
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_inflate_message(&f, wsp_buf_data(z) + 2,
                                         wsp_buf_len(z) - 2, 1000, 0, 0, &out, &n),
                     WSP_INFLATE_OK);
    assert_true(n == sizeof text && memcmp(out, text, n) == 0);
    free(out);
    wsp_inflater_free(&f);
    wsp_buf_unref(z);
    wsp_buf_unref(b);

    b = wsp_buf_frame(WSP_OP_TEXT, 0, 0, text, sizeof text);   /* no FIN */
    assert_null(wsp_buf_compress(b, &d));
    wsp_buf_unref(b);
    b = wsp_buf_frame(WSP_OP_PING, 1, 0, text, 100);           /* control */
    assert_null(wsp_buf_compress(b, &d));
    wsp_buf_unref(b);
    b = wsp_buf_frame(WSP_OP_BINARY, 1, WSP_RSV1, text, 100);  /* already */
    assert_null(wsp_buf_compress(b, &d));
    wsp_buf_unref(b);
    b = wsp_buf_frame(WSP_OP_BINARY, 1, 0, "\x8f", 1);         /* grows */
    assert_null(wsp_buf_compress(b, &d));
    wsp_buf_unref(b);
    wsp_deflater_free(&d);
}

/* A handler without callbacks; more written than popped; a control frame
 * between the parts of a message; a close "with" 1005. */
static void session_without_callbacks(void **state)
{
    static const wsp_session_callbacks none = { NULL, NULL, NULL };
    wsp_session_config c;
    wsp_session s;
    tbuf t = { 0 };
    wsp_buf *b, *ping;
    int i;

    (void)state;
    memset(&c, 0, sizeof c);
    c.max_pending = 2000;
    wsp_session_init(&s, &c, &none, NULL, T0);
    put_sframe(&t, FIN | WSP_OP_TEXT, "nobody listens", 1);
    assert_int_equal(wsp_session_feed(&s, t.p, t.len, T0), t.len);
    tbuf_free(&t);
    for (i = 0; i < 10; i++)           /* until full: a drain is wanted */
        if (wsp_session_send(&s, WSP_OP_BINARY, "0123456789", 10, T0)
            == WSP_SEND_EFULL)
            break;
    assert_true(i < 10);
    while ((b = wsp_session_pop(&s)) != NULL)
        wsp_buf_unref(b);
    wsp_session_wrote(&s, SIZE_MAX, T0);   /* more than popped: clamped */
    assert_int_equal(wsp_session_unwritten(&s), 0);
    b = wsp_buf_frame(WSP_OP_TEXT, 0, 0, "a", 1);
    assert_int_equal(wsp_session_send_buf(&s, b, T0), WSP_SEND_OK);
    wsp_buf_unref(b);
    ping = wsp_buf_frame(WSP_OP_PING, 1, 0, "", 0);
    assert_int_equal(wsp_session_send_buf(&s, ping, T0), WSP_SEND_OK);
    wsp_buf_unref(ping);
    assert_int_equal(wsp_session_close(&s, WSP_CLOSE_NO_STATUS, NULL, 0, T0),
                     WSP_SEND_OK);
    assert_int_equal(wsp_session_close_code(&s), WSP_CLOSE_NO_STATUS);
    t.len = 0;
    put_frame(&t, FIN | WSP_OP_CLOSE, "", 0, 1);
    wsp_session_feed(&s, t.p, t.len, T0);
    tbuf_free(&t);
    wsp_session_free(&s);
}

/* Pings count against the message rate: past it, close 1008. */
static void ping_over_the_rate_closes_1008(void **state)
{
    wsp_session_config c;
    wsp_session s;
    tbuf t = { 0 };
    int i;

    (void)state;
    memset(&c, 0, sizeof c);
    c.rate_per_sec = 1;
    c.rate_burst = 1;
    wsp_session_init(&s, &c, &s_cbs, &s, T0);
    for (i = 0; i < 4; i++)
        put_sframe(&t, FIN | WSP_OP_PING, "p", 1);
    closes = 0;
    wsp_session_feed(&s, t.p, t.len, T0);
    assert_int_equal(wsp_session_close_code(&s), WSP_CLOSE_POLICY);
    tbuf_free(&t);
    wsp_session_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_survives_every_allocation_failure),
        cmocka_unit_test(reader_fails_1011_when_memory_runs_out),
        cmocka_unit_test(codec_reports_nomem),
        cmocka_unit_test(outq_survives_allocation_failure),
        cmocka_unit_test(buf_compress_twins_only_whole_data_frames),
        cmocka_unit_test(session_without_callbacks),
        cmocka_unit_test(ping_over_the_rate_closes_1008),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
