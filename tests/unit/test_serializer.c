/*
 * test_serializer.c - frame headers, masking and close payloads, checked
 * byte for byte and by round trips through the reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wsp_frame.h"
#include "wsp_internal.h"
#include "wsp_test_util.h"

static const uint64_t lengths[] = { 0, 125, 126, 65535, 65536 };
static const size_t sizes[] = { 2, 2, 4, 4, 10 };

static void header_sizes(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < 5; i++) {
        assert_int_equal(wsp_frame_header_size(lengths[i], 0), sizes[i]);
        assert_int_equal(wsp_frame_header_size(lengths[i], 1), sizes[i] + 4);
    }
    assert_int_equal(wsp_frame_header_size(UINT64_C(1) << 62, 1), 14);
}

static void header_bytes(void **state)
{
    static const uint8_t key[4] = { 1, 2, 3, 4 };
    static const uint8_t h126[] = { 0x82, 0x7E, 0x00, 0x7E };
    static const uint8_t h65536[] = { 0x02, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4 };
    static const uint8_t hping[] = { 0xC9, 0x05 };
    uint8_t out[WSP_MAX_HEADER_SIZE];
    (void)state;
    assert_int_equal(wsp_frame_header_write(out, 1, 0, WSP_OP_BINARY, 126, NULL), 4);
    assert_memory_equal(out, h126, 4);
    assert_int_equal(wsp_frame_header_write(out, 0, 0, WSP_OP_BINARY, 65536, key), 14);
    assert_memory_equal(out, h65536, 14);
    assert_int_equal(wsp_frame_header_write(out, 1, WSP_RSV1, WSP_OP_PING, 5, NULL), 2);
    assert_memory_equal(out, hping, 2);
}

/* Header from the serializer, payload masked by wsp_mask, then read back:
 * masked on a server reader, unmasked on a client reader. */
static void round_trip_through_reader(void **state)
{
    static const uint8_t key[4] = { 0xA5, 0x5A, 0xFF, 0x01 };
    size_t i;
    int masked;
    (void)state;
    for (masked = 0; masked <= 1; masked++) {
        for (i = 0; i < 5; i++) {
            size_t n = (size_t)lengths[i], used, hl, k;
            uint8_t *frame = malloc(WSP_MAX_HEADER_SIZE + n + 1);
            recorder rec = { 0 };
            wsp_reader r;
            assert_non_null(frame);
            hl = wsp_frame_header_write(frame, 1, 0, WSP_OP_BINARY, n,
                                        masked ? key : NULL);
            assert_int_equal(hl, wsp_frame_header_size(n, masked));
            for (k = 0; k < n; k++)
                frame[hl + k] = (uint8_t)(k % 251);
            if (masked)
                wsp_mask(frame + hl, n, key, 0);
            wsp_reader_init(&r, masked ? &server_cfg : &client_cfg,
                            &recorder_callbacks, &rec);
            assert_int_equal(wsp_reader_feed(&r, frame, hl + n, &used), WSP_OK);
            assert_int_equal(used, hl + n);
            assert_int_equal(rec.events, 1);
            /* "msg 2 " then the hex of 0, 1, 2, ... */
            assert_int_equal(strlen(rec.log), 6 + 2 * n + 1);
            if (n >= 2)
                assert_memory_equal(rec.log, "msg 2 0001", 10);
            if (n > 251)
                assert_memory_equal(rec.log + 6 + 2 * 251, "00", 2);
            wsp_reader_free(&r);
            recorder_reset(&rec);
            free(frame);
        }
    }
}

/* ---- mask ------------------------------------------------------------ */

static void naive_mask(uint8_t *d, size_t n, const uint8_t key[4], uint64_t off)
{
    size_t i;

    for (i = 0; i < n; i++)
        d[i] ^= key[(off + i) % 4];
}

static void mask_matches_naive_for_all_offsets_lengths_alignments(void **state)
{
    static const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    static const uint64_t offsets[] = { 0, 1, 2, 3, 4, 7, UINT64_C(0x100000003) };
    uint8_t a[64], b[64], src[64];
    size_t len, align, i, o;
    (void)state;
    for (i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 37 + 11);
    for (o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
        for (len = 0; len <= 40; len++)
            for (align = 0; align < 8; align++) {
                memcpy(a + align, src, len);
                memcpy(b, src, len);
                wsp_mask(a + align, len, key, offsets[o]);
                naive_mask(b, len, key, offsets[o]);
                assert_memory_equal(a + align, b, len);
                /* The copying form, from another alignment. */
                memset(a, 0, sizeof a);
                wsp_mask_copy(a + align, src + (7 - align), len, key, offsets[o]);
                memcpy(b, src + (7 - align), len);
                naive_mask(b, len, key, offsets[o]);
                assert_memory_equal(a + align, b, len);
            }
}

static void mask_twice_is_identity_and_split_is_seamless(void **state)
{
    static const uint8_t key[4] = { 0xDE, 0xAD, 0xBE, 0xEF };
    uint8_t a[1000], b[1000];
    size_t cut;
    (void)state;
    for (cut = 0; cut < sizeof a; cut++)
        a[cut] = (uint8_t)(cut ^ (cut >> 3));
    memcpy(b, a, sizeof a);
    wsp_mask(b, sizeof b, key, 0);
    assert_memory_not_equal(a, b, sizeof a);
    for (cut = 0; cut <= sizeof a; cut += 13) {
        uint8_t c[1000];
        memcpy(c, b, sizeof c);
        wsp_mask(c, cut, key, 0);                 /* unmask in two pieces */
        wsp_mask(c + cut, sizeof c - cut, key, cut);
        assert_memory_equal(c, a, sizeof a);
    }
}

/* ---- close ----------------------------------------------------------- */

static int expected_valid(int code)
{
    static const int ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                              1011, 1012, 1013, 1014 };
    size_t i;

    for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (code == ok[i])
            return 1;
    return code >= 3000 && code < 5000;
}

static void close_code_validity_over_all_values(void **state)
{
    int c;
    (void)state;
    for (c = -1; c <= 70000; c++)
        assert_int_equal(wsp_close_code_valid(c), expected_valid(c));
}

static void close_payload_build_and_parse(void **state)
{
    uint8_t out[WSP_MAX_CONTROL_PAYLOAD];
    const char *reason, *err = NULL;
    size_t n, rlen;
    int code;
    (void)state;
    n = wsp_close_payload(out, 1000, "bye", 3);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "\x03\xe8" "bye", 5);
    assert_int_equal(wsp_close_parse(out, n, &code, &reason, &rlen, &err), 0);
    assert_int_equal(code, 1000);
    assert_int_equal(rlen, 3);
    assert_memory_equal(reason, "bye", 3);
    assert_int_equal(wsp_close_payload(out, 4999, NULL, 0), 2);
    assert_memory_equal(out, "\x13\x87", 2);
    assert_int_equal(wsp_close_payload(out, 0, "x", 1), 0);
    assert_int_equal(wsp_close_payload(out, WSP_CLOSE_NO_STATUS, "x", 1), 0);
    assert_int_equal(wsp_close_parse(out, 0, &code, &reason, &rlen, &err), 0);
    assert_int_equal(code, 1005);
    assert_int_equal(rlen, 0);
    assert_int_equal(wsp_close_parse(out, 1, &code, &reason, &rlen, &err), 1002);
    assert_non_null(err);
    assert_int_equal(wsp_close_parse((const uint8_t *)"\x03\xed", 2, &code,
                                     &reason, &rlen, &err), 1002);
    assert_int_equal(wsp_close_parse((const uint8_t *)"\x03\xe8\xc0\xaf", 4,
                                     &code, &reason, &rlen, &err), 1007);
}

static void close_reason_cut_at_code_point_boundary(void **state)
{
    char reason[200];
    uint8_t out[WSP_MAX_CONTROL_PAYLOAD + 8];
    static const char *chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
    size_t pre, k, n;
    (void)state;
    memset(reason, 'a', sizeof reason);
    memset(out, 0xEE, sizeof out);
    assert_int_equal(wsp_close_payload(out, 1001, reason, sizeof reason), 125);
    assert_int_equal(out[125], 0xEE);                 /* nothing past 125 */
    for (k = 0; k < 3; k++) {
        size_t clen = strlen(chars[k]);
        for (pre = 118; pre <= 123; pre++) {
            const char *r2, *err = NULL;
            size_t rl;
            int code;
            memset(reason, 'a', sizeof reason);
            memcpy(reason + pre, chars[k], clen);
            n = wsp_close_payload(out, 1001, reason, pre + clen);
            /* Whole character if it fits in 123, otherwise cut before it. */
            assert_int_equal(n, 2 + (pre + clen <= 123 ? pre + clen : pre));
            assert_true(wsp_utf8_valid(out + 2, n - 2));
            assert_int_equal(wsp_close_parse(out, n, &code, &r2, &rl, &err), 0);
            assert_int_equal(code, 1001);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_sizes),
        cmocka_unit_test(header_bytes),
        cmocka_unit_test(round_trip_through_reader),
        cmocka_unit_test(mask_matches_naive_for_all_offsets_lengths_alignments),
        cmocka_unit_test(mask_twice_is_identity_and_split_is_seamless),
        cmocka_unit_test(close_code_validity_over_all_values),
        cmocka_unit_test(close_payload_build_and_parse),
        cmocka_unit_test(close_reason_cut_at_code_point_boundary),
    };
    return cmocka_run_group_tests_name("wsp_serializer", tests, NULL, NULL);
}
