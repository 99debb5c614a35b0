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

/* A partial message is what the session holds; shedding frees it at once
 * and closes with the code when little output waits. */
static void shed_frees_input_and_closes(void **state)
{
    fx *f = fx_new(NULL);
    static uint8_t chunk[64 * 1024];
    int i;
    (void)state;
    memset(chunk, 'a', sizeof chunk);
    feed_frame(f, WSP_OP_BINARY, chunk, sizeof chunk);
    for (i = 0; i < 3; i++)
        feed_frame(f, WSP_OP_CONT, chunk, sizeof chunk);
    assert_true(wsp_session_memory(&f->s) >= 4 * sizeof chunk);
    wsp_session_shed(&f->s, WSP_CLOSE_TRY_AGAIN_LATER, "memory", 6, f->now);
    assert_true(wsp_session_memory(&f->s) < 1024);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, WSP_CLOSE_TRY_AGAIN_LATER);
    expect_close_frame(f, "\x03\xf5", 2);        /* 1013 on the wire */
    fx_free(f);
}

/* A peer that does not read: the queue cannot go out, so the connection
 * is dropped (finished) and everything freed. */
static void shed_drops_a_stalled_reader(void **state)
{
    wsp_session_config c = base_cfg();
    static uint8_t big[48 * 1024];
    fx *f;
    (void)state;
    c.max_pending = 1 << 20;
    f = fx_new(&c);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, big, sizeof big, f->now), 0);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, big, sizeof big, f->now), 0);
    assert_true(wsp_session_memory(&f->s) > WSP_SHED_KEEP);
    wsp_session_shed(&f->s, WSP_CLOSE_TRY_AGAIN_LATER, "memory", 6, f->now);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->close_code, WSP_CLOSE_TRY_AGAIN_LATER);
    assert_int_equal(wsp_session_memory(&f->s), 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_bursts_then_refills),
        cmocka_unit_test(message_rate_closes_1008),
        cmocka_unit_test(pongs_count_too),
        cmocka_unit_test(fragments_over_the_limit_close_1008),
        cmocka_unit_test(shed_frees_input_and_closes),
        cmocka_unit_test(shed_drops_a_stalled_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
