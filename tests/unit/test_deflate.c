/*
 * test_deflate.c - the permessage-deflate codec: RFC 7692's examples, round
 * trips with and without context takeover, a shared compressor, bounded
 * inflation of a bomb, corrupt streams, state released between
 * messages, and context kept across a final block.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wsp_deflate.h"

static void rfc7692_examples_inflate(void **state)
{
    /* 7.2.3.1: "Hello" in one compressed block; 7.2.3.3: the same with no
     * compression (a stored block); 7.2.3.6: an empty message. */
    static const uint8_t hello[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
    static const uint8_t stored[] = { 0x00, 0x05, 0x00, 0xfa, 0xff,
                                      'H', 'e', 'l', 'l', 'o', 0x00 };
    static const uint8_t empty[] = { 0x00 };
    wsp_inflater f;
    uint8_t *out;
    size_t n;
    (void)state;
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_inflate_message(&f, hello, sizeof hello, 100, 1, 0, &out, &n),
                     WSP_INFLATE_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "Hello", 5);
    free(out);
    /* 7.2.3.2: the second "Hello" with context takeover is shorter. */
    {
        static const uint8_t again[] = { 0xf2, 0x00, 0x11, 0x00, 0x00 };
        assert_int_equal(wsp_inflate_message(&f, again, sizeof again, 100, 1, 0, &out, &n),
                         WSP_INFLATE_OK);
        assert_int_equal(n, 5);
        assert_memory_equal(out, "Hello", 5);
        free(out);
    }
    wsp_inflater_free(&f);
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_inflate_message(&f, stored, sizeof stored, 100, 0, 0, &out, &n),
                     WSP_INFLATE_OK);
    assert_memory_equal(out, "Hello", 5);
    free(out);
    assert_int_equal(wsp_inflate_message(&f, empty, sizeof empty, 100, 0, 1, &out, &n),
                     WSP_INFLATE_OK);
    assert_int_equal(n, 0);
    free(out);
    assert_int_equal(f.ready, 0);            /* released */
}

static uint8_t *json_like(size_t n)
{
    uint8_t *p = malloc(n);
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)("{\"user\":\"alice\",\"score\":1234,\"tags\":[\"a\",\"b\"]}"[i % 46]);
    return p;
}

static void round_trip(wsp_deflater *d, wsp_inflater *f, const uint8_t *msg,
                       size_t len, int keep, size_t *compressed)
{
    uint8_t *c, *out;
    size_t cn, n;
    assert_int_equal(wsp_deflate_message(d, msg, len, keep, 0, &c, &cn), 0);
    assert_int_equal(wsp_inflate_message(f, c, cn, len, keep, 0, &out, &n),
                     WSP_INFLATE_OK);
    assert_int_equal(n, len);
    assert_memory_equal(out, msg, len);
    if (compressed)
        *compressed = cn;
    free(c);
    free(out);
}

static void round_trips_with_and_without_context(void **state)
{
    static const size_t sizes[] = { 0, 1, 125, 4096, 70000, 1 << 20 };
    wsp_deflater d;
    wsp_inflater f;
    size_t i, first, second;
    uint8_t *m = json_like(1 << 20);
    (void)state;
    wsp_deflater_init(&d, 15, 8);
    wsp_inflater_init(&f, 15);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        round_trip(&d, &f, m, sizes[i], 1, NULL);
    wsp_deflater_free(&d);
    wsp_inflater_free(&f);
    /* With context the same (incompressible) message again costs almost
     * nothing: it is a back-reference into the window. */
    {
        uint8_t noise[4096];
        uint32_t x = 12345;
        for (i = 0; i < sizeof noise; i++) {
            x = x * 1103515245u + 12345u;
            noise[i] = (uint8_t)(x >> 16);
        }
        wsp_deflater_init(&d, 15, 8);
        wsp_inflater_init(&f, 15);
        round_trip(&d, &f, noise, sizeof noise, 1, &first);
        round_trip(&d, &f, noise, sizeof noise, 1, &second);
        assert_true(first > 4000);
        assert_true(second < 100);
        wsp_deflater_free(&d);
        wsp_inflater_free(&f);
    }
    /* Without: each message stands alone, any inflater reads it. */
    wsp_deflater_init(&d, 11, 3);
    for (i = 0; i < 3; i++) {
        wsp_inflater fresh;
        wsp_inflater_init(&fresh, 11);
        round_trip(&d, &fresh, m, 4096, 0, NULL);
        wsp_inflater_free(&fresh);
    }
    wsp_deflater_free(&d);
    free(m);
}

/* One compressor for many connections (no context takeover): messages
 * for different peers interleave and each decodes on its own. */
static void shared_compressor(void **state)
{
    wsp_deflater shared;
    wsp_inflater a, b;
    uint8_t *m = json_like(3000);
    (void)state;
    wsp_deflater_init(&shared, 15, 8);
    wsp_inflater_init(&a, 15);
    wsp_inflater_init(&b, 15);
    round_trip(&shared, &a, m, 3000, 0, NULL);
    round_trip(&shared, &b, m + 7, 2000, 0, NULL);
    round_trip(&shared, &a, m + 3, 1000, 0, NULL);
    wsp_deflater_free(&shared);
    wsp_inflater_free(&a);
    wsp_inflater_free(&b);
    free(m);
}

/* 64 MiB of zeros compress to a few KiB; inflating with a bound of 1 MiB
 * stops right after the bound. */
static void bomb_is_bounded(void **state)
{
    size_t big = (size_t)64 << 20, cn, n;
    uint8_t *zeros = calloc(1, big), *c, *out = (uint8_t *)"x";
    wsp_deflater d;
    wsp_inflater f;
    (void)state;
    assert_non_null(zeros);
    wsp_deflater_init(&d, 15, 9);
    assert_int_equal(wsp_deflate_message(&d, zeros, big, 0, 1, &c, &cn), 0);
    free(zeros);
    assert_true(cn < 100 * 1024);
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_inflate_message(&f, c, cn, 1 << 20, 1, 0, &out, &n),
                     WSP_INFLATE_TOO_BIG);
    assert_null(out);
    assert_int_equal(f.ready, 0);            /* the stream is dropped */
    free(c);
}

static void corrupt_streams(void **state)
{
    static const uint8_t bad_type[] = { 0x07, 0xff, 0xff };       /* BTYPE 11 */
    static const uint8_t bad_len[] = { 0x00, 0x05, 0x00, 0x00, 0x00, 'x' };
    wsp_inflater f;
    uint8_t *out;
    size_t n;
    (void)state;
    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_inflate_message(&f, bad_type, sizeof bad_type, 100, 1, 0, &out, &n),
                     WSP_INFLATE_BAD);
    assert_int_equal(wsp_inflate_message(&f, bad_len, sizeof bad_len, 100, 1, 0, &out, &n),
                     WSP_INFLATE_BAD);
    wsp_inflater_free(&f);
}

/* An empty message after another, context kept: zlib has nothing new to
 * flush, and the message is the one byte of an empty stored block (found
 * by fuzz_inflate). */
static void empty_messages_with_context(void **state)
{
    wsp_deflater d;
    wsp_inflater f;
    size_t i;
    (void)state;
    wsp_deflater_init(&d, 9, 1);
    wsp_inflater_init(&f, 15);
    for (i = 0; i < 3; i++)
        round_trip(&d, &f, (const uint8_t *)"", 0, 1, NULL);
    round_trip(&d, &f, (const uint8_t *)"after", 5, 1, NULL);
    round_trip(&d, &f, (const uint8_t *)"", 0, 1, NULL);
    wsp_deflater_free(&d);
    wsp_inflater_free(&f);
}

/* release frees zlib's state after each message; the next one brings it
 * back: an idle connection holds none. */
static void state_released_between_messages(void **state)
{
    wsp_deflater d;
    wsp_inflater f;
    uint8_t *m = json_like(500), *c, *out;
    size_t cn, n;
    (void)state;
    wsp_deflater_init(&d, 10, 2);
    wsp_inflater_init(&f, 10);
    assert_int_equal(wsp_deflate_message(&d, m, 500, 0, 1, &c, &cn), 0);
    assert_int_equal(d.ready, 0);
    assert_int_equal(wsp_inflate_message(&f, c, cn, 500, 0, 1, &out, &n), WSP_INFLATE_OK);
    assert_int_equal(f.ready, 0);
    assert_int_equal(n, 500);
    free(c);
    free(out);
    assert_int_equal(wsp_deflate_message(&d, m, 500, 0, 1, &c, &cn), 0);
    assert_int_equal(wsp_inflate_message(&f, c, cn, 500, 0, 1, &out, &n), WSP_INFLATE_OK);
    assert_memory_equal(out, m, 500);
    free(c);
    free(out);
    free(m);
}

/* RFC 7692 7.2.3.4 lets a sender end a message with a final block
 * (BFINAL), and 7.2.2 says that with context takeover the next message is
 * inflated with the window of the last one all the same: the next deflate
 * stream may refer back into it. */
static void context_kept_after_final_block(void **state)
{
    uint8_t *m = json_like(1000), c1[1200], c2[1200], *out;
    size_t n1, n2, n;
    z_stream z;
    wsp_inflater f;
    (void)state;
    /* message 1: one stream, ended with Z_FINISH (a final block) */
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = m; z.avail_in = 1000; z.next_out = c1; z.avail_out = sizeof c1;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    n1 = sizeof c1 - z.avail_out;
    /* message 2: a new stream whose window is message 1, sync-flushed, the
     * 00 00 ff ff tail removed */
    assert_int_equal(deflateReset(&z), Z_OK);
    assert_int_equal(deflateSetDictionary(&z, m, 1000), Z_OK);
    z.next_in = m; z.avail_in = 1000; z.next_out = c2; z.avail_out = sizeof c2;
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    n2 = sizeof c2 - z.avail_out - 4;
    deflateEnd(&z);
    assert_true(n2 < 40);                    /* a back-reference, really */

    wsp_inflater_init(&f, 15);
    assert_int_equal(wsp_inflate_message(&f, c1, n1, 2000, 1, 0, &out, &n), WSP_INFLATE_OK);
    assert_int_equal(n, 1000);
    free(out);
    assert_int_equal(wsp_inflate_message(&f, c2, n2, 2000, 1, 0, &out, &n), WSP_INFLATE_OK);
    assert_int_equal(n, 1000);
    assert_memory_equal(out, m, 1000);
    free(out);
    /* and a plain sync-flushed one after that still has the context */
    assert_int_equal(wsp_inflate_message(&f, c2, n2, 2000, 1, 0, &out, &n), WSP_INFLATE_OK);
    assert_memory_equal(out, m, 1000);
    free(out);
    wsp_inflater_free(&f);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7692_examples_inflate),
        cmocka_unit_test(round_trips_with_and_without_context),
        cmocka_unit_test(shared_compressor),
        cmocka_unit_test(bomb_is_bounded),
        cmocka_unit_test(corrupt_streams),
        cmocka_unit_test(empty_messages_with_context),
        cmocka_unit_test(state_released_between_messages),
        cmocka_unit_test(context_kept_after_final_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
