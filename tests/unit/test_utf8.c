/*
 * test_utf8.c - the incremental UTF-8 validator: class tables, fail-fast
 * positions, the ASCII fast path at every alignment, and an exhaustive
 * comparison with a naive decode-and-range-check reference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wsp_utf8.h"
#include "utf8_ref.h"

/* Index of the byte whose feed (one byte per call) first reports INVALID,
 * or -1; *complete receives the final state. */
static int fail_index_bytewise(const uint8_t *s, size_t n, int *complete)
{
    wsp_utf8_state st;
    size_t i;
    int at = -1;

    wsp_utf8_init(&st);
    for (i = 0; i < n; i++)
        if (wsp_utf8_feed(&st, s + i, 1) != WSP_UTF8_OK && at < 0)
            at = (int)i;
    *complete = wsp_utf8_complete(&st);
    return at;
}

static int ref_fail_index(const uint8_t *s, size_t n)
{
    size_t k;

    for (k = 1; k <= n; k++)
        if (!ref_viable(s, k))
            return (int)k - 1;
    return -1;
}

/* ---- tables ---------------------------------------------------------- */

typedef struct sample {
    const char *bytes;
    int         fail_at;   /* -1: never invalid while feeding */
    int         valid;     /* valid as a whole */
} sample;

static const sample samples[] = {
    /* valid classes */
    { "", -1, 1 },
    { "plain ASCII \x01\x7f", -1, 1 },
    { "\xc2\x80", -1, 1 },               /* U+0080 */
    { "\xdf\xbf", -1, 1 },               /* U+07FF */
    { "\xe0\xa0\x80", -1, 1 },           /* U+0800 */
    { "\xed\x9f\xbf", -1, 1 },           /* U+D7FF */
    { "\xee\x80\x80", -1, 1 },           /* U+E000 */
    { "\xef\xbf\xbf", -1, 1 },           /* U+FFFF */
    { "\xf0\x90\x80\x80", -1, 1 },       /* U+10000 */
    { "\xf4\x8f\xbf\xbf", -1, 1 },       /* U+10FFFF */
    { "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1, 1 },
    /* overlongs */
    { "\xc0\x80", 0, 0 },
    { "\xc1\xbf", 0, 0 },
    { "\xe0\x80\x80", 1, 0 },
    { "\xe0\x9f\xbf", 1, 0 },
    { "\xf0\x80\x80\x80", 1, 0 },
    { "\xf0\x8f\xbf\xbf", 1, 0 },
    /* surrogates */
    { "\xed\xa0\x80", 1, 0 },
    { "\xed\xbf\xbf", 1, 0 },
    { "ab\xed\xb0\x80", 3, 0 },
    /* above U+10FFFF and never-valid bytes */
    { "\xf4\x90\x80\x80", 1, 0 },
    { "\xf5\x80\x80\x80", 0, 0 },
    { "\xf8\x88\x80\x80\x80", 0, 0 },
    { "\xfe", 0, 0 },
    { "\xff", 0, 0 },
    /* lone or extra continuation bytes */
    { "\x80", 0, 0 },
    { "\xbf", 0, 0 },
    { "a\x80", 1, 0 },
    { "\xc3\xa9\xa9", 2, 0 },
    /* a lead byte followed by something that is not a continuation */
    { "\xc3\x28", 1, 0 },
    { "\xe2\x28\xa1", 1, 0 },
    { "\xf0\x28\x8c\xbc", 1, 0 },
    { "\xe2\x82" "a", 2, 0 },
    /* truncated at the end: never invalid while feeding, incomplete */
    { "\xc3", -1, 0 },
    { "ok\xe2\x82", -1, 0 },
    { "\xf0\x9f\x98", -1, 0 },
    { "\xf4", -1, 0 },
};

static void sample_table(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const uint8_t *s = (const uint8_t *)samples[i].bytes;
        size_t n = strlen(samples[i].bytes);
        wsp_utf8_state st;
        int complete, whole;

        wsp_utf8_init(&st);
        whole = wsp_utf8_feed(&st, s, n) == WSP_UTF8_OK && wsp_utf8_complete(&st);
        assert_int_equal(wsp_utf8_valid(s, n), samples[i].valid);
        assert_int_equal(whole, samples[i].valid);
        assert_int_equal(fail_index_bytewise(s, n, &complete), samples[i].fail_at);
        assert_int_equal(complete, samples[i].valid);
        assert_int_equal(ref_valid(s, n), samples[i].valid);      /* sanity */
        assert_int_equal(ref_fail_index(s, n), samples[i].fail_at);
    }
}

static void invalid_is_sticky(void **state)
{
    wsp_utf8_state st;
    (void)state;
    wsp_utf8_init(&st);
    assert_int_equal(wsp_utf8_feed(&st, (const uint8_t *)"\xff", 1), WSP_UTF8_INVALID);
    assert_int_equal(wsp_utf8_feed(&st, (const uint8_t *)"abc", 3), WSP_UTF8_INVALID);
    assert_int_equal(wsp_utf8_feed(&st, (const uint8_t *)"", 0), WSP_UTF8_INVALID);
    assert_false(wsp_utf8_complete(&st));
}

/* ---- ASCII fast path ------------------------------------------------- */

/* A bad byte at every position and every buffer alignment, fed in two
 * parts: the part that holds the bad byte is the one that fails. */
static void fast_path_fails_in_the_feed_with_the_bad_byte(void **state)
{
    /* Bytes that cannot start a sequence: invalid at that very byte. */
    static const uint8_t never[] = { 0x80, 0x9A, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF };
    uint8_t buf[8 + 100];
    size_t align, bad, cut;
    (void)state;
    for (align = 0; align < 8; align++) {
        uint8_t *s = buf + align;
        for (bad = 0; bad < 100; bad++) {
            memset(s, 'a', 100);
            s[bad] = never[(bad + align) % sizeof never];
            assert_false(wsp_utf8_valid(s, 100));
            for (cut = 0; cut <= 100; cut += 7) {
                wsp_utf8_state st;
                int first, second;
                wsp_utf8_init(&st);
                first = wsp_utf8_feed(&st, s, cut);
                second = wsp_utf8_feed(&st, s + cut, 100 - cut);
                assert_int_equal(first, bad < cut ? WSP_UTF8_INVALID : WSP_UTF8_OK);
                assert_int_equal(second, WSP_UTF8_INVALID);
            }
        }
    }
}

static void fast_path_hands_multibyte_to_the_automaton(void **state)
{
    static const char *seqs[] = { "\xc2\x80", "\xe0\xa0\x80", "\xf4\x8f\xbf\xbf" };
    uint8_t s[100];
    size_t pos, k, len;
    (void)state;
    for (k = 0; k < 3; k++) {
        len = strlen(seqs[k]);
        for (pos = 0; pos + len <= sizeof s; pos++) {
            memset(s, 'b', sizeof s);
            memcpy(s + pos, seqs[k], len);
            assert_true(wsp_utf8_valid(s, sizeof s));
            /* Truncated just before the last byte: incomplete, not invalid. */
            assert_false(wsp_utf8_valid(s, pos + len - 1));
        }
    }
}

static void long_ascii_then_bad_byte_at_the_end(void **state)
{
    size_t n = 1 << 20;
    uint8_t *s = malloc(n);
    (void)state;
    assert_non_null(s);
    memset(s, 'x', n);
    assert_true(wsp_utf8_valid(s, n));
    s[n - 1] = 0xC0;
    assert_false(wsp_utf8_valid(s, n));
    s[n - 1] = 0xC3;                       /* incomplete at the end */
    assert_false(wsp_utf8_valid(s, n));
    free(s);
}

/* ---- exhaustive comparison with the reference ----------------------- */

static void all_strings_up_to_three_bytes(void **state)
{
    uint8_t s[3];
    unsigned a, b, c;
    (void)state;
    for (a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        assert_int_equal(wsp_utf8_valid(s, 1), ref_valid(s, 1));
        for (b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            assert_int_equal(wsp_utf8_valid(s, 2), ref_valid(s, 2));
            for (c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                if (wsp_utf8_valid(s, 3) != ref_valid(s, 3))
                    fail_msg("mismatch on %02x %02x %02x", a, b, c);
            }
        }
    }
}

static void fail_fast_positions_match_reference(void **state)
{
    static const uint8_t reps[] = { 0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                    0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF4, 0xFF };
    uint8_t s[4];
    unsigned a, b, c, d;
    int complete, at;
    (void)state;
    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            s[0] = (uint8_t)a, s[1] = (uint8_t)b;
            at = fail_index_bytewise(s, 2, &complete);
            assert_int_equal(at, ref_fail_index(s, 2));
            assert_int_equal(complete, ref_valid(s, 2));
            if (a < 0xE0 || a > 0xF4)
                continue;
            for (c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                at = fail_index_bytewise(s, 3, &complete);
                if (at != ref_fail_index(s, 3))
                    fail_msg("fail index on %02x %02x %02x", a, b, c);
            }
        }
    }
    for (a = 0xF0; a <= 0xFF; a++)
        for (b = 0; b < sizeof reps; b++)
            for (c = 0; c < sizeof reps; c++)
                for (d = 0; d < sizeof reps; d++) {
                    s[0] = (uint8_t)a, s[1] = reps[b], s[2] = reps[c], s[3] = reps[d];
                    assert_int_equal(wsp_utf8_valid(s, 4), ref_valid(s, 4));
                    at = fail_index_bytewise(s, 4, &complete);
                    assert_int_equal(at, ref_fail_index(s, 4));
                    assert_int_equal(complete, ref_valid(s, 4));
                }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sample_table),
        cmocka_unit_test(invalid_is_sticky),
        cmocka_unit_test(fast_path_fails_in_the_feed_with_the_bad_byte),
        cmocka_unit_test(fast_path_hands_multibyte_to_the_automaton),
        cmocka_unit_test(long_ascii_then_bad_byte_at_the_end),
        cmocka_unit_test(all_strings_up_to_three_bytes),
        cmocka_unit_test(fail_fast_positions_match_reference),
    };
    return cmocka_run_group_tests_name("wsp_utf8", tests, NULL, NULL);
}
