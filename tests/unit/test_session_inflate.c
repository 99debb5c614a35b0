/*
 * test_session_inflate.c - compressed input in the session (RFC 7692):
 * with inflate on, an RSV1 message reaches the handler inflated, within
 * the message limit; a bomb closes with 1009, a bad stream or bad UTF-8
 * inside with 1007; with inflate off RSV1 is still 1002.
 */
#include "session_fx.h"
#include "wsp_deflate.h"

#define RSV1 WSP_RSV1

static wsp_session_config inflate_cfg(int keep_context)
{
    wsp_session_config c = base_cfg();
    c.inflate_window_bits = 15;
    c.inflate_keep_context = keep_context;
    c.max_message_size = 64 * 1024;
    return c;
}

/* Compresses msg as a client would. */
static uint8_t *deflate_as_client(wsp_deflater *d, const void *msg, size_t n,
                                  int keep, size_t *out_n)
{
    uint8_t *c;
    assert_int_equal(wsp_deflate_message(d, msg, n, keep, 0, &c, out_n), 0);
    return c;
}

static void compressed_text_reaches_the_handler(void **state)
{
    wsp_session_config c = inflate_cfg(1);
    fx *f = fx_new(&c);
    wsp_deflater d;
    uint8_t *z;
    size_t zn, n;
    wsp_buf *b;
    (void)state;
    f->echo = 1;
    wsp_deflater_init(&d, 15, 8);
    z = deflate_as_client(&d, "Hello", 5, 1, &zn);
    feed_frame(f, TEXT | RSV1, z, zn);
    free(z);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->last_len, 5);
    b = wsp_session_pop(&f->s);                 /* the echo, uncompressed */
    assert_non_null(b);
    assert_memory_equal(payload_of(b, &n), "Hello", 5);
    wsp_buf_unref(b);
    /* The same again with context: a few bytes on the wire. */
    z = deflate_as_client(&d, "Hello", 5, 1, &zn);
    assert_true(zn < 7);
    feed_frame(f, TEXT | RSV1, z, zn);
    free(z);
    assert_int_equal(f->messages, 2);
    assert_int_equal(f->last_len, 5);
    /* Uncompressed messages still pass. */
    feed_text(f, "plain");
    assert_int_equal(f->messages, 3);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    wsp_deflater_free(&d);
    fx_free(f);
}

/* client_no_context_takeover: no inflate state stays between messages. */
static void no_context_keeps_no_state(void **state)
{
    wsp_session_config c = inflate_cfg(0);
    fx *f = fx_new(&c);
    wsp_deflater d;
    uint8_t *z;
    size_t zn;
    int i;
    (void)state;
    wsp_deflater_init(&d, 15, 8);
    for (i = 0; i < 3; i++) {
        z = deflate_as_client(&d, "{\"n\":1}", 7, 0, &zn);
        feed_frame(f, BIN | RSV1, z, zn);
        free(z);
        assert_int_equal(f->messages, i + 1);
        assert_int_equal(f->s.inflater->ready, 0);
    }
    wsp_deflater_free(&d);
    fx_free(f);
}

static void bomb_closes_1009(void **state)
{
    wsp_session_config c = inflate_cfg(1);
    fx *f = fx_new(&c);
    wsp_deflater d;
    size_t big = 8 << 20, zn;
    uint8_t *zeros = calloc(1, big), *z;
    (void)state;
    wsp_deflater_init(&d, 15, 9);
    z = deflate_as_client(&d, zeros, big, 0, &zn);
    free(zeros);
    assert_true(zn < c.max_message_size);        /* small on the wire */
    feed_frame(f, BIN | RSV1, z, zn);
    free(z);
    assert_int_equal(f->messages, 0);
    assert_int_equal(f->s.close_code, WSP_CLOSE_TOO_BIG);
    assert_int_not_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    wsp_deflater_free(&d);
    fx_free(f);
}

static void bad_stream_and_bad_utf8_close_1007(void **state)
{
    wsp_session_config c = inflate_cfg(1);
    fx *f = fx_new(&c);
    wsp_deflater d;
    uint8_t *z;
    size_t zn;
    (void)state;
    feed_frame(f, BIN | RSV1, "\x07\xff\xff", 3);
    assert_int_equal(f->s.close_code, WSP_CLOSE_INVALID_DATA);
    fx_free(f);
    f = fx_new(&c);
    wsp_deflater_init(&d, 15, 8);
    z = deflate_as_client(&d, "bad \xc0\xaf utf-8", 12, 0, &zn);
    feed_frame(f, TEXT | RSV1, z, zn);
    free(z);
    assert_int_equal(f->messages, 0);
    assert_int_equal(f->s.close_code, WSP_CLOSE_INVALID_DATA);
    wsp_deflater_free(&d);
    fx_free(f);
}

static void rsv1_without_inflate_is_1002(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, TEXT | RSV1, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
    assert_int_equal(f->messages, 0);
    assert_int_equal(f->s.close_code, WSP_CLOSE_PROTOCOL_ERROR);
    assert_null(f->s.inflater);
    fx_free(f);
}

/* A quiet connection gives back the reader's buffer and, without
 * context, the inflater; the next compressed message still inflates. */
static void trim_frees_what_waits_for_the_next_message(void **state)
{
    wsp_session_config c = inflate_cfg(0);
    fx *f = fx_new(&c);
    wsp_deflater d;
    uint8_t *z;
    size_t zn;
    int i;
    (void)state;
    wsp_deflater_init(&d, 15, 8);
    for (i = 0; i < 2; i++) {
        z = deflate_as_client(&d, "{\"n\":1}", 7, 0, &zn);
        feed_frame(f, BIN | RSV1, z, zn);
        free(z);
        assert_int_equal(f->messages, i + 1);
        assert_non_null(f->s.inflater);
        wsp_session_trim(&f->s);
        assert_null(f->s.inflater);
        assert_int_equal(f->s.reader.msg_cap, 0);
    }
    wsp_deflater_free(&d);
    fx_free(f);
}

/* Shared mode: one inflater of the thread's for every session that has
 * no context to keep; the session allocates none. */
static void shared_inflater_serves_without_context(void **state)
{
    wsp_session_config c = inflate_cfg(0);
    wsp_inflater shared;
    wsp_deflater d;
    fx *a, *b;
    uint8_t *z;
    size_t zn;
    (void)state;
    wsp_inflater_init(&shared, 15);
    c.inflate_shared = &shared;
    a = fx_new(&c);
    b = fx_new(&c);
    wsp_deflater_init(&d, 15, 8);
    z = deflate_as_client(&d, "{\"a\":1}", 7, 0, &zn);
    feed_frame(a, TEXT | RSV1, z, zn);
    feed_frame(b, TEXT | RSV1, z, zn);
    free(z);
    assert_int_equal(a->messages, 1);
    assert_int_equal(b->messages, 1);
    assert_int_equal(a->last_len, 7);
    assert_null(a->s.inflater);
    assert_null(b->s.inflater);
    assert_int_equal(shared.ready, 1);           /* kept, reset */
    fx_free(a);
    fx_free(b);
    wsp_deflater_free(&d);
    wsp_inflater_free(&shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compressed_text_reaches_the_handler),
        cmocka_unit_test(no_context_keeps_no_state),
        cmocka_unit_test(bomb_closes_1009),
        cmocka_unit_test(bad_stream_and_bad_utf8_close_1007),
        cmocka_unit_test(rsv1_without_inflate_is_1002),
        cmocka_unit_test(trim_frees_what_waits_for_the_next_message),
        cmocka_unit_test(shared_inflater_serves_without_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
