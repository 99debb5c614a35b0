/*
 * test_limits.c - the peer's limits in the core: the token bucket
 * (wsp_rate.c) on a fake clock, and in the session the message rate and
 * the number of fragments of a message, each closing with 1008.
 */
#include "session_fx.h"
#include "wsp_rate.h"

static void bucket_bursts_then_refills(void **state)
{
    wsp_rate r;
    int i, taken = 0;
    (void)state;
    wsp_rate_init(&r, 10, 5, T0);
    for (i = 0; i < 20; i++)
        taken += wsp_rate_take(&r, T0);
    assert_int_equal(taken, 5);                       /* the burst */
    assert_int_equal(wsp_rate_take(&r, T0 + SEC / 10), 1);   /* 1 per 100 ms */
    assert_int_equal(wsp_rate_take(&r, T0 + SEC / 10), 0);
    /* A long quiet spell fills it up to the burst, no more. */
    for (i = 0, taken = 0; i < 20; i++)
        taken += wsp_rate_take(&r, T0 + 3600 * SEC);
    assert_int_equal(taken, 5);
    wsp_rate_init(&r, 0, 0, T0);                      /* 0: no limit */
    for (i = 0; i < 1000; i++)
        assert_int_equal(wsp_rate_take(&r, T0), 1);
}

static void message_rate_closes_1008(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    int i;
    (void)state;
    c.rate_per_sec = 10;
    c.rate_burst = 10;
    f = fx_new(&c);
    for (i = 0; i < 10; i++)
        feed_text(f, "m");
    assert_int_equal(f->messages, 10);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    f->now += SEC / 2;                                /* 5 more tokens */
    for (i = 0; i < 5; i++)
        feed_frame(f, PING, "p", 1);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    feed_text(f, "one too many");
    assert_int_equal(f->messages, 10);
    assert_int_equal(f->s.close_code, WSP_CLOSE_POLICY);
    assert_int_not_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    fx_free(f);
}

static void pongs_count_too(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    int i;
    (void)state;
    c.rate_per_sec = 3;
    f = fx_new(&c);
    for (i = 0; i < 4; i++)
        feed_frame(f, FIN | WSP_OP_PONG, "", 0);
    assert_int_equal(f->s.close_code, WSP_CLOSE_POLICY);
    fx_free(f);
}

static void fragments_over_the_limit_close_1008(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.max_fragments = 3;
    f = fx_new(&c);
    feed_frame(f, WSP_OP_TEXT, "a", 1);               /* 3 frames: fine */
    feed_frame(f, WSP_OP_CONT, "b", 1);
    feed_frame(f, FIN | WSP_OP_CONT, "c", 1);
    assert_int_equal(f->messages, 1);
    feed_frame(f, WSP_OP_BINARY, "", 0);              /* 4: closed */
    feed_frame(f, WSP_OP_CONT, "", 0);
    feed_frame(f, WSP_OP_CONT, "", 0);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    feed_frame(f, WSP_OP_CONT, "", 0);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->s.close_code, WSP_CLOSE_POLICY);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_bursts_then_refills),
        cmocka_unit_test(message_rate_closes_1008),
        cmocka_unit_test(pongs_count_too),
        cmocka_unit_test(fragments_over_the_limit_close_1008),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
