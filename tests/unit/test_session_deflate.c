/*
 * test_session_deflate.c - compressed output in the session (RFC 7692):
 * whole data messages leave with RSV1 and inflate, as a client would, to
 * what was sent; with context takeover the client's inflater keeps its
 * window across messages, without it each message stands alone; messages
 * in parts are compressed part by part (RSV1 on the first frame only);
 * short messages, control frames and incompressible data without context
 * go out plain; a shared deflater serves several sessions; a dedicated one
 * without context holds no zlib state between messages.
 */
#include "session_fx.h"
#include "wsp_deflate.h"

static const char json[] =
    "{\"type\":\"tick\",\"symbol\":\"ACME\",\"price\":123.45,\"volume\":1000,"
    "\"bid\":123.40,\"ask\":123.50,\"exchange\":\"XNYS\",\"flags\":[]}";

static wsp_session_config deflate_cfg(int keep_context, size_t min_size)
{
    wsp_session_config c = base_cfg();
    c.deflate_window_bits = 15;
    c.deflate_mem_level = 8;
    c.deflate_keep_context = keep_context;
    c.deflate_min_size = min_size;
    return c;
}

/* Pops the next frame: its first byte, and its payload inflated by the
 * client's inflater f (NULL: the payload as is).  The caller frees *out. */
static uint8_t pop_message(fx *x, wsp_inflater *f, int keep, uint8_t **out,
                           size_t *out_n, size_t *wire_n)
{
    wsp_buf *b = wsp_session_pop(&x->s);
    const uint8_t *p;
    size_t n;
    uint8_t b0;

    assert_non_null(b);
    b0 = wsp_buf_data(b)[0];
    p = payload_of(b, &n);
    *wire_n = n;
    if (b0 & WSP_RSV1) {
        assert_non_null(f);
        assert_int_equal(wsp_inflate_message(f, p, n, 1 << 20, keep, 0, out,
                                             out_n), WSP_INFLATE_OK);
    }
    else {
        *out = malloc(n + 1);
        memcpy(*out, p, n);
        *out_n = n;
    }
    wsp_session_wrote(&x->s, wsp_buf_len(b), x->now);
    wsp_buf_unref(b);
    return b0;
}

static void expect_message(fx *x, wsp_inflater *f, int keep, uint8_t want_b0,
                           const void *msg, size_t n, size_t *wire_n)
{
    uint8_t *got;
    size_t got_n;
    assert_int_equal(pop_message(x, f, keep, &got, &got_n, wire_n), want_b0);
    assert_int_equal(got_n, n);
    assert_memory_equal(got, msg, n);
    free(got);
}

static void context_takeover_shrinks_repeats(void **state)
{
    wsp_session_config c = deflate_cfg(1, 0);
    fx *x = fx_new(&c);
    wsp_inflater f;
    size_t first, second;
    (void)state;
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_session_send(&x->s, WSP_OP_TEXT, json,
                                      sizeof json - 1, x->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&x->s, WSP_OP_TEXT, json,
                                      sizeof json - 1, x->now), WSP_SEND_OK);
    expect_message(x, &f, 1, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &first);
    expect_message(x, &f, 1, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &second);
    assert_true(first < sizeof json - 1);
    assert_true(second < first / 4);   /* a back-reference to the first */
    assert_non_null(x->s.deflater);
    assert_int_equal(x->s.deflater->ready, 1);  /* context lives on */
    wsp_inflater_free(&f);
    fx_free(x);
}

static void no_context_each_message_alone(void **state)
{
    wsp_session_config c = deflate_cfg(0, 0);
    fx *x = fx_new(&c);
    wsp_inflater f;
    size_t first, second;
    int i;
    (void)state;
    wsp_inflater_init(&f, 15);
    for (i = 0; i < 2; i++)
        assert_int_equal(wsp_session_send(&x->s, WSP_OP_BINARY, json,
                                          sizeof json - 1, x->now), WSP_SEND_OK);
    /* A client that forgets its window after each message reads both. */
    expect_message(x, &f, 0, FIN | WSP_RSV1 | WSP_OP_BINARY, json,
                   sizeof json - 1, &first);
    expect_message(x, &f, 0, FIN | WSP_RSV1 | WSP_OP_BINARY, json,
                   sizeof json - 1, &second);
    assert_int_equal(first, second);
    assert_int_equal(x->s.deflater->ready, 0);  /* no state while idle */
    wsp_inflater_free(&f);
    fx_free(x);
}

static void short_control_and_noise_go_plain(void **state)
{
    wsp_session_config c = deflate_cfg(0, 64);
    fx *x = fx_new(&c);
    uint8_t noise[256];
    size_t n, i;
    (void)state;
    for (i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)(i * 2654435761u >> 13);
    assert_int_equal(wsp_session_send(&x->s, WSP_OP_TEXT, "short", 5, x->now), 0);
    assert_int_equal(wsp_session_send(&x->s, WSP_OP_PING, json, 100, x->now), 0);
    assert_int_equal(wsp_session_send(&x->s, WSP_OP_BINARY, noise,
                                      sizeof noise, x->now), 0);
    expect_message(x, NULL, 0, FIN | WSP_OP_PING, json, 100, &n);
    expect_message(x, NULL, 0, FIN | WSP_OP_TEXT, "short", 5, &n);
    expect_message(x, NULL, 0, FIN | WSP_OP_BINARY, noise, sizeof noise, &n);
    fx_free(x);
}

static void send_part(fx *x, int opcode, int fin, const void *p, size_t n)
{
    wsp_buf *part = wsp_buf_frame(opcode, fin, 0, p, n);
    assert_int_equal(wsp_session_send_buf(&x->s, part, x->now), WSP_SEND_OK);
    wsp_buf_unref(part);
}

/* Pops a message in frames: RSV1 on the first only; the payloads joined
 * inflate to want. */
static void expect_parts(fx *x, wsp_inflater *f, int keep, int opcode,
                         int frames, const char *want)
{
    char joined[4096];
    size_t used = 0, n;
    uint8_t *out;
    int i;

    for (i = 0; i < frames; i++) {
        wsp_buf *b = wsp_session_pop(&x->s);
        const uint8_t *p;
        assert_non_null(b);
        assert_int_equal(wsp_buf_data(b)[0],
                         (i == frames - 1 ? FIN : 0) | (i ? 0 : WSP_RSV1)
                         | (i ? WSP_OP_CONT : opcode));
        p = payload_of(b, &n);
        assert_true(used + n <= sizeof joined);
        memcpy(joined + used, p, n);
        used += n;
        wsp_session_wrote(&x->s, wsp_buf_len(b), x->now);
        wsp_buf_unref(b);
    }
    assert_int_equal(wsp_inflate_message(f, (uint8_t *)joined, used, 1 << 20,
                                         keep, 0, &out, &n), WSP_INFLATE_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    free(out);
}

/* Parts, an empty one among them, compressed as they come; then a whole
 * message with the context the parts left (dedicated mode). */
static void parts_compressed_with_context(void **state)
{
    wsp_session_config c = deflate_cfg(1, 64);
    fx *x = fx_new(&c);
    wsp_inflater f;
    char both[sizeof json * 2];
    size_t n;
    (void)state;
    wsp_inflater_init(&f, 15);
    snprintf(both, sizeof both, "%s%s", json, json);
    send_part(x, WSP_OP_TEXT, 0, json, sizeof json - 1);
    send_part(x, WSP_OP_CONT, 0, "", 0);
    send_part(x, WSP_OP_CONT, 1, json, sizeof json - 1);
    expect_parts(x, &f, 1, WSP_OP_TEXT, 3, both);
    assert_int_equal(wsp_session_send(&x->s, WSP_OP_TEXT, json,
                                      sizeof json - 1, x->now), 0);
    expect_message(x, &f, 1, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &n);
    assert_true(n < 16);               /* the parts' context was kept */
    assert_null(x->s.parts_deflater);
    wsp_inflater_free(&f);
    fx_free(x);
}

/* Shared mode: a message in parts gets a deflater of its own while it is
 * open, so other sessions can use the shared one meanwhile. */
static void parts_with_shared_deflater(void **state)
{
    wsp_deflater shared;
    wsp_session_config c = deflate_cfg(0, 64);
    fx *a, *b;
    wsp_inflater fa, fb;
    size_t n;
    (void)state;
    wsp_deflater_init(&shared, 15, 8);
    c.deflate_shared = &shared;
    a = fx_new(&c);
    b = fx_new(&c);
    wsp_inflater_init(&fa, 15);
    wsp_inflater_init(&fb, 15);
    send_part(a, WSP_OP_BINARY, 0, "part one, ", 10);
    assert_non_null(a->s.parts_deflater);
    assert_ptr_not_equal(a->s.parts_deflater, &shared);
    assert_int_equal(wsp_session_send(&b->s, WSP_OP_TEXT, json,
                                      sizeof json - 1, b->now), 0);
    send_part(a, WSP_OP_CONT, 1, "part two", 8);
    assert_null(a->s.parts_deflater);
    expect_parts(a, &fa, 0, WSP_OP_BINARY, 2, "part one, part two");
    expect_message(b, &fb, 0, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &n);
    /* A part message left open is freed with its session. */
    send_part(a, WSP_OP_TEXT, 0, json, sizeof json - 1);
    fx_free(a);
    fx_free(b);
    wsp_deflater_free(&shared);
    wsp_inflater_free(&fa);
    wsp_inflater_free(&fb);
}

/* Frames serialized by other threads are compressed as they join the
 * queue; the caller's plain frame is left as it was. */
static void queued_whole_frame_is_compressed(void **state)
{
    wsp_session_config c = deflate_cfg(1, 0);
    fx *x = fx_new(&c);
    wsp_buf *plain = wsp_buf_frame(WSP_OP_TEXT, 1, 0, json, sizeof json - 1);
    wsp_inflater f;
    size_t n;
    (void)state;
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_session_send_buf(&x->s, plain, x->now), WSP_SEND_OK);
    assert_int_equal(wsp_buf_refs(plain), 1);   /* not queued itself */
    assert_int_equal(wsp_buf_data(plain)[0], FIN | WSP_OP_TEXT);
    wsp_buf_unref(plain);
    expect_message(x, &f, 1, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &n);
    assert_true(n < sizeof json - 1);
    wsp_inflater_free(&f);
    fx_free(x);
}

static void one_shared_deflater_for_two_sessions(void **state)
{
    wsp_deflater shared;
    wsp_session_config c = deflate_cfg(1, 0);  /* forced to no context */
    fx *a, *b;
    wsp_inflater fa, fb;
    size_t na, nb;
    (void)state;
    wsp_deflater_init(&shared, 15, 8);
    c.deflate_shared = &shared;
    a = fx_new(&c);
    b = fx_new(&c);
    wsp_inflater_init(&fa, 15);
    wsp_inflater_init(&fb, 15);
    assert_int_equal(a->s.cfg.deflate_keep_context, 0);
    assert_int_equal(wsp_session_send(&a->s, WSP_OP_TEXT, json,
                                      sizeof json - 1, a->now), 0);
    assert_int_equal(wsp_session_send(&b->s, WSP_OP_TEXT, "x-x-x-x-x-x-x-x-",
                                      16, b->now), 0);
    assert_int_equal(wsp_session_send(&a->s, WSP_OP_TEXT, json,
                                      sizeof json - 1, a->now), 0);
    expect_message(a, &fa, 0, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &na);
    expect_message(b, &fb, 0, FIN | WSP_RSV1 | WSP_OP_TEXT,
                   "x-x-x-x-x-x-x-x-", 16, &nb);
    expect_message(a, &fa, 0, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &nb);
    assert_int_equal(na, nb);           /* no context carried over */
    fx_free(a);
    fx_free(b);
    assert_int_equal(shared.ready, 1);  /* the sessions did not free it */
    wsp_deflater_free(&shared);
    wsp_inflater_free(&fa);
    wsp_inflater_free(&fb);
}

/* Compressed both ways: an echo of a compressed message is compressed. */
static void echo_round_trip(void **state)
{
    wsp_session_config c = deflate_cfg(1, 0);
    fx *x;
    wsp_deflater client;
    wsp_inflater f;
    uint8_t *z;
    size_t zn, n;
    (void)state;
    c.inflate_window_bits = 15;
    c.inflate_keep_context = 1;
    x = fx_new(&c);
    x->echo = 1;
    wsp_deflater_init(&client, 15, 8);
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_deflate_message(&client, json, sizeof json - 1, 1, 0,
                                         &z, &zn), 0);
    feed_frame(x, TEXT | WSP_RSV1, z, zn);
    free(z);
    assert_int_equal(x->messages, 1);
    expect_message(x, &f, 1, FIN | WSP_RSV1 | WSP_OP_TEXT, json,
                   sizeof json - 1, &n);
    wsp_deflater_free(&client);
    wsp_inflater_free(&f);
    fx_free(x);
}

/* What one compressed message leaves in wsp_session_memory() once it has
 * been written: the session's figures after, less before. */
static size_t memory_left_by_one_message(const wsp_session_config *c)
{
    fx *x = fx_new(c);
    wsp_inflater f;
    size_t before, after, n;

    wsp_inflater_init(&f, 15);
    before = wsp_session_memory(&x->s);
    assert_int_equal(wsp_session_send(&x->s, WSP_OP_TEXT, json,
                                      sizeof json - 1, x->now), WSP_SEND_OK);
    expect_message(x, &f, c->deflate_keep_context,
                   FIN | WSP_RSV1 | WSP_OP_TEXT, json, sizeof json - 1, &n);
    after = wsp_session_memory(&x->s);  /* nothing queued any more */
    fx_free(x);
    wsp_inflater_free(&f);
    return after > before ? after - before : 0;
}

/* wsp_session_memory() (what WebSocketMaxMemory weighs) counts a deflater
 * the session owns, once zlib's state exists, and not the thread's shared
 * one: window 15 and memory level 8 are 2^17 + 2^17 bytes of zlib state. */
static void own_deflater_counts_in_memory(void **state)
{
    const size_t zlib_state = ((size_t)1 << 17) + ((size_t)1 << 17);
    wsp_session_config own = deflate_cfg(1, 0), shared_cfg = deflate_cfg(0, 0);
    wsp_deflater shared;
    (void)state;
    assert_true(memory_left_by_one_message(&own) >= zlib_state);
    wsp_deflater_init(&shared, 15, 8);
    shared_cfg.deflate_shared = &shared;
    assert_true(memory_left_by_one_message(&shared_cfg) < zlib_state);
    wsp_deflater_free(&shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(context_takeover_shrinks_repeats),
        cmocka_unit_test(no_context_each_message_alone),
        cmocka_unit_test(short_control_and_noise_go_plain),
        cmocka_unit_test(parts_compressed_with_context),
        cmocka_unit_test(parts_with_shared_deflater),
        cmocka_unit_test(queued_whole_frame_is_compressed),
        cmocka_unit_test(one_shared_deflater_for_two_sessions),
        cmocka_unit_test(echo_round_trip),
        cmocka_unit_test(own_deflater_counts_in_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
