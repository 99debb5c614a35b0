/*
 * test_session.c - the session's life on a fake clock: every close
 * handshake path (either side first, protocol errors, timeouts, the peer
 * vanishing, EOF with output queued), keepalive and idle deadlines with
 * exact values, the send timeout.
 */
#include "session_fx.h"

/* ---- close handshake -------------------------------------------------- */

static void peer_closes_first(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    f->echo = 1;
    feed_text(f, "last");
    assert_int_equal(feed_frame(f, CLOSE, "\x03\xe8" "bye", 5), 2 + 4 + 5);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 1000);
    assert_string_equal(f->close_reason, "bye");
    assert_int_equal(f->send_rc_in_close, WSP_SEND_ECLOSED);
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_CLIENT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_WRITE);
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    expect_close_frame(f, "\x03\xe8", 2);     /* echoed code, no reason */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_SHUTDOWN);
    assert_int_equal(wsp_session_deadline(&f->s), f->now + WSP_SESSION_LINGER_TIMEOUT);
    wsp_session_eof(&f->s, 0, f->now += 1000);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_FINISH);
    assert_int_equal(wsp_session_close_code(&f->s), 1000);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void peer_close_without_code_echoes_empty(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, NULL, 0);
    assert_int_equal(f->close_code, 1005);
    assert_string_equal(f->close_reason, "");
    expect_close_frame(f, "", 0);
    fx_free(f);
}

static void input_after_peer_close_is_ignored(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    (void)state;
    put_frame(&t, CLOSE, "\x03\xe8", 2, 1);
    put_sframe(&t, TEXT, "late", 1);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 0);
    assert_int_equal(f->closes, 1);
    tbuf_free(&t);
    fx_free(f);
}

static void we_close_first(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    assert_int_equal(wsp_session_close(&f->s, 1000, "done", 4, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_READ | WSP_WANT_WRITE);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + WSP_SESSION_CLOSE_TIMEOUT);
    assert_int_equal(wsp_session_close(&f->s, 1000, NULL, 0, f->now), WSP_SEND_ECLOSED);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_TEXT, "x", 1, f->now), WSP_SEND_ECLOSED);
    expect_close_frame(f, "\x03\xe8" "done", 6);
    assert_int_equal(f->closes, 0);
    f->now += SEC;
    feed_frame(f, CLOSE, "\x03\xe8", 2);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 1000);
    assert_string_equal(f->close_reason, "done");
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_SERVER);
    /* Our close was already written: straight to LINGER. */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    wsp_session_tick(&f->s, f->now + WSP_SESSION_LINGER_TIMEOUT - 1);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    wsp_session_tick(&f->s, f->now + WSP_SESSION_LINGER_TIMEOUT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void close_timeout_when_peer_never_answers(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    wsp_session_close(&f->s, 4001, "app", 3, f->now);
    assert_int_equal(pop_write(f), WSP_OP_CLOSE);
    wsp_session_tick(&f->s, T0 + WSP_SESSION_CLOSE_TIMEOUT - 1);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    wsp_session_tick(&f->s, T0 + WSP_SESSION_CLOSE_TIMEOUT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 4001);
    assert_string_equal(f->close_reason, "app");
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    fx_free(f);
}

static void drain_timeout_when_close_cannot_be_flushed(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, "\x03\xe8", 2);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + WSP_SESSION_CLOSE_TIMEOUT);
    wsp_buf_unref(wsp_session_pop(&f->s));    /* popped, never written */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    wsp_session_tick(&f->s, T0 + WSP_SESSION_CLOSE_TIMEOUT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void going_away_closes_1001(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    wsp_session_send(&f->s, WSP_OP_TEXT, "q", 1, f->now);
    wsp_session_going_away(&f->s, f->now);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    expect_close_frame(f, "\x03\xe9" "server shutting down", 22);
    wsp_session_going_away(&f->s, f->now);    /* again: nothing */
    assert_null(wsp_session_pop(&f->s));
    fx_free(f);
}

static void protocol_error_closes_with_reader_code(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    (void)state;
    put_sframe(&t, TEXT, "ok", 1);
    put_sframe(&t, TEXT, "unmasked", 0);
    put_sframe(&t, TEXT, "never", 1);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->close_code, 1002);
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_SERVER);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 1);
    expect_close_frame(f, "\x03\xea", 2);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_LINGER);
    tbuf_free(&t);
    fx_free(f);
}

static void bad_utf8_1007_and_too_big_1009(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f = fx_new(NULL), *g;
    uint8_t big[101] = { 0 };
    (void)state;
    feed_text(f, "bad \xc0\xaf");
    assert_int_equal(f->close_code, 1007);
    expect_close_frame(f, "\x03\xef", 2);
    c.max_message_size = 100;
    g = fx_new(&c);
    feed_frame(g, BIN, big, 100);
    assert_int_equal(g->messages, 1);
    feed_frame(g, BIN, big, 101);
    assert_int_equal(g->close_code, 1009);
    expect_close_frame(g, "\x03\xf1", 2);
    fx_free(f);
    fx_free(g);
}

static void peer_vanishes_mid_frame(void **state)
{
    fx *f = fx_new(NULL);
    uint8_t big[2000] = { 0 };
    tbuf t = { 0 };
    (void)state;
    put_frame(&t, BIN, big, sizeof big, 1);
    wsp_session_feed(&f->s, t.p, 1000, f->now);
    assert_int_equal(wsp_session_reader_buffered(&f->s), 1000 - 8);
    wsp_session_eof(&f->s, 0, f->now);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_code, 1006);
    assert_int_equal(wsp_session_closed_by(&f->s), WSP_BY_NONE);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(wsp_session_reader_buffered(&f->s), 0);
    tbuf_free(&t);
    fx_free(f);
}

static void eof_flushes_queued_output_then_finishes(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    f->echo = 1;
    feed_text(f, "half-close");
    wsp_session_eof(&f->s, 0, f->now);
    assert_int_equal(f->close_code, 1006);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_DRAINING);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_WRITE);  /* no READ */
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

static void eof_after_peer_close_skips_linger(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, "\x03\xe8", 2);
    wsp_session_eof(&f->s, 0, f->now);
    assert_int_equal(wsp_session_close_code(&f->s), 1000);     /* kept */
    assert_int_equal(pop_write(f), WSP_OP_CLOSE);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    fx_free(f);
}

static void error_finishes_now_and_drops_output(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    wsp_session_send(&f->s, WSP_OP_TEXT, "lost", 4, f->now);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    wsp_session_eof(&f->s, 1, f->now);
    assert_int_equal(f->close_code, 1006);    /* the handshake never ended */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    assert_null(wsp_session_pop(&f->s));
    fx_free(f);
}

static void error_after_handshake_keeps_code(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    feed_frame(f, CLOSE, "\x0f\xa0" "app", 5);
    wsp_session_eof(&f->s, 1, f->now);
    assert_int_equal(wsp_session_close_code(&f->s), 4000);
    assert_string_equal(wsp_session_close_reason(&f->s), "app");
    assert_int_equal(f->closes, 1);
    wsp_session_eof(&f->s, 1, f->now);
    wsp_session_tick(&f->s, f->now + 100 * SEC);
    assert_int_equal(f->closes, 1);
    fx_free(f);
}

/* ---- keepalive -------------------------------------------------------- */

static void ping_deadline_exact(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    wsp_buf *b;
    (void)state;
    c.ping_interval = 30 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 30 * SEC);
    wsp_session_tick(&f->s, T0 + 30 * SEC - 1);
    assert_null(wsp_session_pop(&f->s));
    wsp_session_tick(&f->s, T0 + 30 * SEC);
    b = wsp_session_pop(&f->s);
    assert_non_null(b);
    assert_int_equal(wsp_buf_len(b), 2);
    assert_memory_equal(wsp_buf_data(b), "\x89\x00", 2);
    wsp_buf_unref(b);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 60 * SEC);
    fx_free(f);
}

static void unsent_ping_is_replaced(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.ping_interval = SEC;
    f = fx_new(&c);
    wsp_session_tick(&f->s, T0 + SEC);
    wsp_session_tick(&f->s, T0 + 2 * SEC);
    wsp_session_tick(&f->s, T0 + 3 * SEC);
    assert_int_equal(wsp_session_queued_cost(&f->s), 2 + WSP_BUF_OVERHEAD);
    fx_free(f);
}

static void idle_deadline_exact(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.idle_timeout = 60 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 60 * SEC);
    f->now = T0 + 10 * SEC;
    feed_text(f, "alive");
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 70 * SEC);
    wsp_session_tick(&f->s, T0 + 60 * SEC);   /* early: nothing */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    wsp_session_tick(&f->s, T0 + 70 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    assert_int_equal(wsp_session_close_code(&f->s), 1001);
    assert_string_equal(wsp_session_close_reason(&f->s), "idle timeout");
    assert_int_equal(wsp_session_deadline(&f->s),
                     T0 + 70 * SEC + WSP_SESSION_CLOSE_TIMEOUT);
    expect_close_frame(f, "\x03\xe9" "idle timeout", 14);
    fx_free(f);
}

static void deadline_is_min_of_ping_and_idle(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.ping_interval = 20 * SEC;
    c.idle_timeout = 50 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 20 * SEC);
    wsp_session_tick(&f->s, T0 + 20 * SEC);
    wsp_session_tick(&f->s, T0 + 40 * SEC);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 50 * SEC);
    wsp_session_tick(&f->s, T0 + 50 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    fx_free(f);
}

static void no_deadline_when_all_off(void **state)
{
    wsp_session_config c;
    fx *f;
    (void)state;
    memset(&c, 0, sizeof c);
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    assert_int_equal(f->s.cfg.max_pending, WSP_SESSION_MAX_PENDING);
    fx_free(f);
}

/* ---- send timeout ----------------------------------------------------- */

static void send_timeout_fails_a_stalled_peer(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    wsp_buf *b;
    (void)state;
    c.send_timeout = 10 * SEC;
    f = fx_new(&c);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    wsp_session_send(&f->s, WSP_OP_TEXT, "hello", 5, f->now);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 10 * SEC);
    b = wsp_session_pop(&f->s);               /* popped, partly written */
    wsp_session_wrote(&f->s, 3, T0 + 5 * SEC);
    assert_int_equal(wsp_session_unwritten(&f->s), 4);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 15 * SEC);
    feed_frame(f, PING, "a", 1);              /* a replaced pong restarts nothing */
    feed_frame(f, PING, "b", 1);
    wsp_session_tick(&f->s, T0 + 15 * SEC - 1);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    wsp_session_tick(&f->s, T0 + 15 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_FINISHED);
    assert_int_equal(f->close_code, 1008);
    assert_string_equal(f->close_reason, "send timeout");
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_FINISH);
    wsp_buf_unref(b);
    fx_free(f);
}

static void send_timeout_off_when_flushed(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.send_timeout = 10 * SEC;
    f = fx_new(&c);
    wsp_session_send(&f->s, WSP_OP_TEXT, "hello", 5, f->now);
    pop_write(f);
    assert_int_equal(wsp_session_deadline(&f->s), 0);
    wsp_session_tick(&f->s, T0 + 100 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    /* Queued again later: the clock starts then, not at the last write. */
    wsp_session_send(&f->s, WSP_OP_TEXT, "again", 5, T0 + 200 * SEC);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 210 * SEC);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(peer_closes_first),
        cmocka_unit_test(peer_close_without_code_echoes_empty),
        cmocka_unit_test(input_after_peer_close_is_ignored),
        cmocka_unit_test(we_close_first),
        cmocka_unit_test(close_timeout_when_peer_never_answers),
        cmocka_unit_test(drain_timeout_when_close_cannot_be_flushed),
        cmocka_unit_test(going_away_closes_1001),
        cmocka_unit_test(protocol_error_closes_with_reader_code),
        cmocka_unit_test(bad_utf8_1007_and_too_big_1009),
        cmocka_unit_test(peer_vanishes_mid_frame),
        cmocka_unit_test(eof_flushes_queued_output_then_finishes),
        cmocka_unit_test(eof_after_peer_close_skips_linger),
        cmocka_unit_test(error_finishes_now_and_drops_output),
        cmocka_unit_test(error_after_handshake_keeps_code),
        cmocka_unit_test(ping_deadline_exact),
        cmocka_unit_test(unsent_ping_is_replaced),
        cmocka_unit_test(idle_deadline_exact),
        cmocka_unit_test(deadline_is_min_of_ping_and_idle),
        cmocka_unit_test(no_deadline_when_all_off),
        cmocka_unit_test(send_timeout_fails_a_stalled_peer),
        cmocka_unit_test(send_timeout_off_when_flushed),
    };
    return cmocka_run_group_tests_name("wsp_session", tests, NULL, NULL);
}
