/*
 * test_reader.c - the frame reader: every protocol rule with its close code,
 * fragmentation, control frames between fragments, callbacks stopping the
 * feed.  Every stream goes through expect_stream(), which also feeds it one
 * byte at a time and split at every point and requires identical results.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "wsp_frame.h"
#include "wsp_test_util.h"

#define T WSP_OP_TEXT
#define B WSP_OP_BINARY
#define C WSP_OP_CONT

static void expect_fail(const wsp_reader_config *cfg, tbuf *s, int code)
{
    expect_stream(cfg, s, WSP_FAIL, code, NULL);
    tbuf_free(s);
}

/* ---- valid traffic --------------------------------------------------- */

static void rfc_masked_hello(void **state)
{
    /* RFC 6455 section 5.7: a masked "Hello". */
    static const uint8_t bytes[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                     0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    tbuf s = { 0 };
    (void)state;
    tbuf_put(&s, bytes, sizeof bytes);
    expect_stream(&server_cfg, &s, WSP_OK, 0, "msg 1 48656c6c6f\n");
    tbuf_free(&s);
}

static void rfc_unmasked_hello_on_client(void **state)
{
    static const uint8_t bytes[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
    tbuf s = { 0 };
    (void)state;
    tbuf_put(&s, bytes, sizeof bytes);
    expect_stream(&client_cfg, &s, WSP_OK, 0, "msg 1 48656c6c6f\n");
    tbuf_free(&s);
}

static void rfc_fragmented_hello(void **state)
{
    /* RFC 6455 section 5.7: "Hel" + "lo", unmasked, on a client. */
    static const uint8_t bytes[] = { 0x01, 0x03, 0x48, 0x65, 0x6c,
                                     0x80, 0x02, 0x6c, 0x6f };
    tbuf s = { 0 };
    (void)state;
    tbuf_put(&s, bytes, sizeof bytes);
    expect_stream(&client_cfg, &s, WSP_OK, 0, "msg 1 48656c6c6f\n");
    tbuf_free(&s);
}

static void control_frames_between_fragments(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, T, "Hel", 1);
    put_sframe(&s, FIN | WSP_OP_PING, "x", 1);
    put_sframe(&s, C, "", 1);
    put_sframe(&s, FIN | WSP_OP_PONG, "yz", 1);
    put_sframe(&s, FIN | C, "lo", 1);
    put_sframe(&s, FIN | B, "\x01\x02", 1);
    put_frame(&s, FIN | WSP_OP_CLOSE, "\x03\xe8" "bye", 5, 1);
    expect_stream(&server_cfg, &s, WSP_OK, 0,
                  "ping 78\n" "pong 797a\n" "msg 1 48656c6c6f\n"
                  "msg 2 0102\n" "close 1000 627965\n");
    tbuf_free(&s);
}

static void empty_messages_and_control_frames(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, FIN | T, "", 1);
    put_sframe(&s, B, "", 1);
    put_sframe(&s, FIN | C, "", 1);
    put_sframe(&s, FIN | WSP_OP_PING, "", 1);
    put_sframe(&s, FIN | WSP_OP_PONG, "", 1);
    put_sframe(&s, FIN | WSP_OP_CLOSE, "", 1);
    expect_stream(&server_cfg, &s, WSP_OK, 0,
                  "msg 1 \n" "msg 2 \n" "ping \n" "pong \n" "close 1005 \n");
    tbuf_free(&s);
}

static void control_payload_of_125_bytes_is_unmasked(void **state)
{
    uint8_t p[125];
    tbuf s = { 0 };
    outcome o;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof p; i++)
        p[i] = (uint8_t)(i * 7 + 1);
    put_frame(&s, FIN | WSP_OP_PING, p, sizeof p, 1);
    put_frame(&s, FIN | WSP_OP_PONG, p, sizeof p, 1);
    feed_all_ways(&server_cfg, s.p, s.len, &o);
    assert_int_equal(o.status, WSP_OK);
    /* "ping " + 250 hex digits + "\n", twice; the payload bytes decoded. */
    assert_int_equal(strlen(o.log), 2 * (5 + 250 + 1));
    assert_memory_equal(o.log, "ping 0108", 9);
    assert_memory_equal(o.log + 256, "pong 0108", 9);
    outcome_free(&o);
    tbuf_free(&s);
}

static void binary_is_not_utf8_checked(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_frame(&s, FIN | B, "\xff\xc0\xed\xa0", 4, 1);
    expect_stream(&server_cfg, &s, WSP_OK, 0, "msg 2 ffc0eda0\n");
    tbuf_free(&s);
}

static void allowed_rsv_bits_pass(void **state)
{
    wsp_reader_config cfg = server_cfg;
    tbuf s = { 0 };
    (void)state;
    cfg.allowed_rsv = WSP_RSV1;
    /* RSV1 (permessage-deflate): delivered marked compressed. */
    put_sframe(&s, FIN | WSP_RSV1 | T, "a", 1);
    expect_stream(&cfg, &s, WSP_OK, 0, "msg 257 61\n");
    put_sframe(&s, FIN | WSP_RSV2 | T, "a", 1);
    expect_fail(&cfg, &s, 1002);
}

/* RFC 7692 6: RSV1 on the first frame marks the whole message compressed;
 * its bytes are not UTF-8 until inflated, so they are not checked here.
 * RSV1 on a continuation or a control frame is a protocol error. */
static void compressed_messages_rsv1_rules(void **state)
{
    wsp_reader_config cfg = server_cfg;
    tbuf s = { 0 };
    (void)state;
    cfg.allowed_rsv = WSP_RSV1;
    put_frame(&s, FIN | WSP_RSV1 | T, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 1);
    expect_stream(&cfg, &s, WSP_OK, 0, "msg 257 f248cdc9c90700\n");
    tbuf_free(&s);
    put_frame(&s, WSP_RSV1 | B, "\xff", 1, 1);           /* fragmented */
    put_frame(&s, FIN | WSP_OP_PING, "p", 1, 1);
    put_frame(&s, FIN | WSP_OP_CONT, "\xfe", 1, 1);
    expect_stream(&cfg, &s, WSP_OK, 0, "ping 70\nmsg 258 fffe\n");
    tbuf_free(&s);
    put_frame(&s, T, "a", 1, 1);                          /* plain, in parts */
    put_frame(&s, FIN | WSP_OP_CONT, "b", 1, 1);
    expect_stream(&cfg, &s, WSP_OK, 0, "msg 1 6162\n");
    tbuf_free(&s);
    put_frame(&s, WSP_RSV1 | T, "a", 1, 1);
    put_frame(&s, FIN | WSP_RSV1 | WSP_OP_CONT, "b", 1, 1);
    expect_fail(&cfg, &s, 1002);                          /* RSV1 on a continuation */
    put_frame(&s, FIN | WSP_RSV1 | WSP_OP_PING, "p", 1, 1);
    expect_fail(&cfg, &s, 1002);                          /* compressed control */
    put_frame(&s, FIN | WSP_RSV1 | WSP_OP_CLOSE, "\x03\xe8", 2, 1);
    expect_fail(&cfg, &s, 1002);
}

/* ---- 1002: framing --------------------------------------------------- */

static void unmasked_client_frame_1002(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, FIN | T, "Hello", 0);
    expect_fail(&server_cfg, &s, 1002);
}

static void masked_server_frame_1002(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, FIN | T, "Hello", 1);
    expect_fail(&client_cfg, &s, 1002);
}

static void rsv_bits_without_extension_1002(void **state)
{
    static const uint8_t rsv[] = { WSP_RSV1, WSP_RSV2, WSP_RSV3 };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof rsv; i++) {
        tbuf s = { 0 };
        put_sframe(&s, (uint8_t)(FIN | rsv[i] | T), "a", 1);
        expect_fail(&server_cfg, &s, 1002);
        put_sframe(&s, (uint8_t)(FIN | rsv[i] | WSP_OP_PING), "", 1);
        expect_fail(&server_cfg, &s, 1002);
    }
}

static void reserved_opcodes_1002(void **state)
{
    static const uint8_t ops[] = { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof ops; i++) {
        tbuf s = { 0 };
        put_sframe(&s, (uint8_t)(FIN | ops[i]), "a", 1);
        expect_fail(&server_cfg, &s, 1002);
    }
}

static void long_control_frame_1002(void **state)
{
    static const int ops[] = { WSP_OP_CLOSE, WSP_OP_PING, WSP_OP_PONG };
    uint8_t p[126];
    size_t i;
    (void)state;
    memset(p, 'a', sizeof p);
    p[0] = 0x03, p[1] = 0xe8;
    for (i = 0; i < 3; i++) {
        tbuf s = { 0 };
        put_frame(&s, (uint8_t)(FIN | ops[i]), p, sizeof p, 1);
        expect_fail(&server_cfg, &s, 1002);
    }
}

static void fragmented_control_frame_1002(void **state)
{
    static const int ops[] = { WSP_OP_CLOSE, WSP_OP_PING, WSP_OP_PONG };
    size_t i;
    (void)state;
    for (i = 0; i < 3; i++) {
        tbuf s = { 0 };
        put_sframe(&s, (uint8_t)ops[i], "", 1);
        expect_fail(&server_cfg, &s, 1002);
    }
}

static void continuation_without_message_1002(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, FIN | C, "a", 1);
    expect_fail(&server_cfg, &s, 1002);
    /* Also after a complete message: the message is closed by then. */
    put_sframe(&s, FIN | T, "a", 1);
    put_sframe(&s, C, "a", 1);
    expect_fail(&server_cfg, &s, 1002);
}

static void new_message_inside_fragmented_1002(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, T, "a", 1);
    put_sframe(&s, FIN | T, "b", 1);
    expect_fail(&server_cfg, &s, 1002);
    put_sframe(&s, B, "a", 1);
    put_sframe(&s, FIN | WSP_OP_PING, "p", 1);
    put_sframe(&s, B, "b", 1);
    expect_fail(&server_cfg, &s, 1002);
}

static void length_with_top_bit_1002_before_mask(void **state)
{
    static const uint8_t hdr[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5 };
    tbuf s = { 0 };
    (void)state;
    /* Only the length, no mask key yet: the length alone must fail. */
    tbuf_put(&s, hdr, sizeof hdr);
    expect_fail(&server_cfg, &s, 1002);
}

/* ---- close frames ---------------------------------------------------- */

static void close_one_byte_1002(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_frame(&s, FIN | WSP_OP_CLOSE, "\x03", 1, 1);
    expect_fail(&server_cfg, &s, 1002);
}

static void close_invalid_codes_1002(void **state)
{
    static const int bad[] = { 0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100,
                               2000, 2999, 5000, 0x7FFF, 0xFFFF };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t p[2] = { (uint8_t)(bad[i] >> 8), (uint8_t)bad[i] };
        tbuf s = { 0 };
        put_frame(&s, FIN | WSP_OP_CLOSE, p, 2, 1);
        expect_fail(&server_cfg, &s, 1002);
    }
}

static void close_valid_codes_delivered(void **state)
{
    static const int good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                4000, 4999 };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint8_t p[4] = { (uint8_t)(good[i] >> 8), (uint8_t)good[i], 'o', 'k' };
        char want[32];
        tbuf s = { 0 };
        snprintf(want, sizeof want, "close %d 6f6b\n", good[i]);
        put_frame(&s, FIN | WSP_OP_CLOSE, p, 4, 1);
        expect_stream(&server_cfg, &s, WSP_OK, 0, want);
        tbuf_free(&s);
    }
}

static void close_reason_not_utf8_1007(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_frame(&s, FIN | WSP_OP_CLOSE, "\x03\xe8" "ab\xc3", 5, 1);
    expect_fail(&server_cfg, &s, 1007);
    put_frame(&s, FIN | WSP_OP_CLOSE, "\x03\xe8\xed\xa0\x80", 5, 1);
    expect_fail(&server_cfg, &s, 1007);
}

static void close_utf8_reason_delivered(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_frame(&s, FIN | WSP_OP_CLOSE, "\x0f\xa0" "\xe2\x82\xac", 5, 1);
    expect_stream(&server_cfg, &s, WSP_OK, 0, "close 4000 e282ac\n");
    tbuf_free(&s);
}

/* ---- 1007: text ------------------------------------------------------ */

static void invalid_utf8_in_text_1007(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, FIN | T, "ab\xc0\xaf", 1);
    expect_fail(&server_cfg, &s, 1007);
    put_sframe(&s, FIN | T, "\xed\xa0\x80", 1);
    expect_fail(&server_cfg, &s, 1007);
}

static void utf8_split_across_fragments_is_valid(void **state)
{
    tbuf s = { 0 };
    (void)state;
    /* U+20AC and U+1F600 cut inside their sequences, a ping in between. */
    put_sframe(&s, T, "\xe2", 1);
    put_sframe(&s, C, "\x82", 1);
    put_sframe(&s, FIN | WSP_OP_PING, "", 1);
    put_sframe(&s, C, "\xac\xf0\x9f", 1);
    put_sframe(&s, FIN | C, "\x98\x80", 1);
    expect_stream(&server_cfg, &s, WSP_OK, 0, "ping \nmsg 1 e282acf09f9880\n");
    tbuf_free(&s);
}

static void utf8_bad_continuation_in_next_fragment_1007(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, T, "ok\xe2", 1);
    put_sframe(&s, FIN | C, "A", 1);
    expect_fail(&server_cfg, &s, 1007);
}

static void utf8_truncated_at_message_end_1007(void **state)
{
    tbuf s = { 0 };
    (void)state;
    put_sframe(&s, FIN | T, "ok\xe2\x82", 1);
    expect_fail(&server_cfg, &s, 1007);
    put_sframe(&s, T, "ok", 1);
    put_sframe(&s, FIN | C, "\xf0", 1);
    expect_fail(&server_cfg, &s, 1007);
}

/* The feed holding the first bad byte fails, long before the frame (here
 * announced as 1 MiB) or the message would end. */
static void utf8_fails_fast_inside_a_frame(void **state)
{
    static const uint8_t hdr[] = { 0x01, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0,
                                   0x11, 0x22, 0x33, 0x44 };
    uint8_t body[64];
    wsp_reader r;
    recorder rec = { 0 };
    size_t used, i;
    (void)state;
    wsp_reader_init(&r, &server_cfg, &recorder_callbacks, &rec);
    assert_int_equal(wsp_reader_feed(&r, hdr, sizeof hdr, &used), WSP_OK);
    for (i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)('a' ^ hdr[10 + i % 4]);
    assert_int_equal(wsp_reader_feed(&r, body, 32, &used), WSP_OK);
    assert_int_equal(wsp_reader_buffered(&r), 32);
    body[40] = (uint8_t)(0xff ^ hdr[10 + 40 % 4]);
    assert_int_equal(wsp_reader_feed(&r, body + 32, 32, &used), WSP_FAIL);
    assert_int_equal(wsp_reader_error(&r), 1007);
    assert_string_equal(wsp_reader_error_text(&r), "invalid UTF-8 in text message");
    assert_int_equal(rec.events, 0);
    wsp_reader_free(&r);
    recorder_reset(&rec);
}

/* ---- 1009: size ------------------------------------------------------ */

static void max_size_exact_passes_one_more_fails(void **state)
{
    wsp_reader_config cfg = server_cfg;
    uint8_t p[101];
    tbuf s = { 0 };
    outcome o;
    (void)state;
    cfg.max_message_size = 100;
    memset(p, 'x', sizeof p);
    put_frame(&s, FIN | B, p, 100, 1);
    feed_all_ways(&cfg, s.p, s.len, &o);
    assert_int_equal(o.status, WSP_OK);
    assert_int_equal(strlen(o.log), 6 + 200 + 1);
    outcome_free(&o);
    tbuf_free(&s);
    put_frame(&s, FIN | B, p, 101, 1);
    expect_fail(&cfg, &s, 1009);
}

static void max_size_checked_on_header_alone(void **state)
{
    /* A 7-bit, a 16-bit and a 64-bit length header with no mask key and
     * no payload: the announced length alone must fail. */
    static const uint8_t h7[] = { 0x82, 0x80 | 101 };
    static const uint8_t h16[] = { 0x82, 0x80 | 126, 0x01, 0x00 };
    static const uint8_t h64[] = { 0x82, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0 };
    wsp_reader_config cfg = server_cfg;
    tbuf s = { 0 };
    (void)state;
    cfg.max_message_size = 100;
    tbuf_put(&s, h7, sizeof h7);
    expect_fail(&cfg, &s, 1009);
    tbuf_put(&s, h16, sizeof h16);
    expect_fail(&cfg, &s, 1009);
    tbuf_put(&s, h64, sizeof h64);
    expect_fail(&cfg, &s, 1009);
}

static void max_size_is_cumulative_over_fragments(void **state)
{
    wsp_reader_config cfg = server_cfg;
    uint8_t p[100];
    tbuf s = { 0 };
    (void)state;
    cfg.max_message_size = 100;
    memset(p, 'x', sizeof p);
    put_frame(&s, T, p, 60, 1);
    put_frame(&s, FIN | WSP_OP_PING, p, 60, 1);   /* control: not counted */
    put_frame(&s, C, p, 40, 1);
    put_frame(&s, FIN | C, p, 1, 1);
    expect_fail(&cfg, &s, 1009);
    /* 60 + 40 + 0 is exactly the limit. */
    put_frame(&s, T, p, 60, 1);
    put_frame(&s, C, p, 40, 1);
    put_frame(&s, FIN | C, p, 0, 1);
    put_frame(&s, FIN | T, p, 100, 1);  /* the next message starts at 0 */
    expect_stream(&cfg, &s, WSP_OK, 0, NULL);
    tbuf_free(&s);
}

/* ---- callbacks stopping the feed ------------------------------------- */

static void stop_reports_bytes_through_the_frame(void **state)
{
    tbuf s = { 0 };
    recorder rec = { 0 };
    wsp_reader r;
    size_t used, f1, f2;
    (void)state;
    put_sframe(&s, FIN | T, "one", 1);
    f1 = s.len;
    put_sframe(&s, FIN | WSP_OP_PING, "", 1);
    f2 = s.len;
    put_sframe(&s, FIN | T, "three", 1);
    rec.stop_at = 1;
    wsp_reader_init(&r, &server_cfg, &recorder_callbacks, &rec);
    assert_int_equal(wsp_reader_feed(&r, s.p, s.len, &used), WSP_STOPPED);
    assert_int_equal(used, f1);
    assert_string_equal(rec.log, "msg 1 6f6e65\n");
    rec.stop_at = 2;
    assert_int_equal(wsp_reader_feed(&r, s.p + f1, s.len - f1, &used), WSP_STOPPED);
    assert_int_equal(used, f2 - f1);
    assert_int_equal(wsp_reader_feed(&r, s.p + f2, s.len - f2, &used), WSP_OK);
    assert_int_equal(used, s.len - f2);
    assert_string_equal(rec.log, "msg 1 6f6e65\nping \nmsg 1 7468726565\n");
    wsp_reader_free(&r);
    recorder_reset(&rec);
    tbuf_free(&s);
}

static void null_callbacks_are_allowed(void **state)
{
    tbuf s = { 0 };
    wsp_reader r;
    size_t used;
    (void)state;
    put_sframe(&s, FIN | T, "a", 1);
    put_sframe(&s, FIN | WSP_OP_PING, "", 1);
    put_sframe(&s, FIN | WSP_OP_PONG, "", 1);
    put_sframe(&s, FIN | WSP_OP_CLOSE, "", 1);
    wsp_reader_init(&r, &server_cfg, NULL, NULL);
    assert_int_equal(wsp_reader_feed(&r, s.p, s.len, &used), WSP_OK);
    assert_int_equal(used, s.len);
    assert_null(wsp_reader_error_text(&r));
    wsp_reader_free(&r);
    tbuf_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_masked_hello),
        cmocka_unit_test(rfc_unmasked_hello_on_client),
        cmocka_unit_test(rfc_fragmented_hello),
        cmocka_unit_test(control_frames_between_fragments),
        cmocka_unit_test(empty_messages_and_control_frames),
        cmocka_unit_test(control_payload_of_125_bytes_is_unmasked),
        cmocka_unit_test(binary_is_not_utf8_checked),
        cmocka_unit_test(allowed_rsv_bits_pass),
        cmocka_unit_test(compressed_messages_rsv1_rules),
        cmocka_unit_test(unmasked_client_frame_1002),
        cmocka_unit_test(masked_server_frame_1002),
        cmocka_unit_test(rsv_bits_without_extension_1002),
        cmocka_unit_test(reserved_opcodes_1002),
        cmocka_unit_test(long_control_frame_1002),
        cmocka_unit_test(fragmented_control_frame_1002),
        cmocka_unit_test(continuation_without_message_1002),
        cmocka_unit_test(new_message_inside_fragmented_1002),
        cmocka_unit_test(length_with_top_bit_1002_before_mask),
        cmocka_unit_test(close_one_byte_1002),
        cmocka_unit_test(close_invalid_codes_1002),
        cmocka_unit_test(close_valid_codes_delivered),
        cmocka_unit_test(close_reason_not_utf8_1007),
        cmocka_unit_test(close_utf8_reason_delivered),
        cmocka_unit_test(invalid_utf8_in_text_1007),
        cmocka_unit_test(utf8_split_across_fragments_is_valid),
        cmocka_unit_test(utf8_bad_continuation_in_next_fragment_1007),
        cmocka_unit_test(utf8_truncated_at_message_end_1007),
        cmocka_unit_test(utf8_fails_fast_inside_a_frame),
        cmocka_unit_test(max_size_exact_passes_one_more_fails),
        cmocka_unit_test(max_size_checked_on_header_alone),
        cmocka_unit_test(max_size_is_cumulative_over_fragments),
        cmocka_unit_test(stop_reports_bytes_through_the_frame),
        cmocka_unit_test(null_callbacks_are_allowed),
    };
    return cmocka_run_group_tests_name("wsp_reader", tests, NULL, NULL);
}
