/*
 * test_session_queue.c - the session's output side: shared buffers and
 * their refcounts, accounting (wire + WSP_BUF_OVERHEAD), backpressure
 * with exact byte counts, EFULL and on_drain, the control lane and the
 * bounded pending pongs, re-entrant calls from callbacks.
 */
#include "session_fx.h"

/* ---- buffers and accounting ------------------------------------------ */

static void buf_serializes_and_counts_refs(void **state)
{
    wsp_buf *b = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "Hello", 5);
    static const uint8_t wire[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
    (void)state;
    assert_non_null(b);
    assert_int_equal(wsp_buf_len(b), sizeof wire);
    assert_memory_equal(wsp_buf_data(b), wire, sizeof wire);
    assert_ptr_equal(wsp_buf_data(b), (const uint8_t *)b);   /* APR free_func */
    assert_int_equal(wsp_buf_opcode(b), WSP_OP_TEXT);
    assert_ptr_equal(wsp_buf_ref(b), b);
    assert_int_equal(wsp_buf_refs(b), 2);
    wsp_buf_unref(b);
    assert_int_equal(wsp_buf_refs(b), 1);
    wsp_buf_unref(b);
    wsp_buf_unref(NULL);
}

static void buf_lengths_16_and_64(void **state)
{
    static uint8_t big[70000];
    wsp_buf *a = wsp_buf_frame(WSP_OP_BINARY, 1, 0, big, 126);
    wsp_buf *b = wsp_buf_frame(WSP_OP_BINARY, 0, WSP_RSV1, big, sizeof big);
    size_t n;
    (void)state;
    assert_int_equal(wsp_buf_len(a), 4 + 126);
    assert_int_equal(wsp_buf_len(b), 10 + sizeof big);
    assert_int_equal(wsp_buf_data(b)[0], 0x42);              /* no FIN, RSV1 */
    payload_of(b, &n);
    assert_int_equal(n, sizeof big);
    wsp_buf_unref(a);
    wsp_buf_unref(b);
}

static void accounting_is_wire_plus_overhead(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_TEXT, "abc", 3, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_PING, NULL, 0, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_queued_bytes(&f->s), 5 + 2);
    assert_int_equal(wsp_session_queued_cost(&f->s), 5 + 2 + 2 * WSP_BUF_OVERHEAD);
    assert_int_equal(wsp_session_recount_cost(&f->s), wsp_session_queued_cost(&f->s));
    assert_int_equal(wsp_session_next_len(&f->s), 2);        /* the ping first */
    assert_int_equal(pop_write(f), WSP_OP_PING);
    assert_int_equal(wsp_session_queued_cost(&f->s), 5 + WSP_BUF_OVERHEAD);
    assert_int_equal(pop_write(f), WSP_OP_TEXT);
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    fx_free(f);
}

static void empty_frames_are_not_free(void **state)
{
    /* The old engine counted 2 bytes per empty frame: 4 MiB of "cost" was
     * ~2 million frames.  Now the bound counts what they really hold. */
    wsp_session_config c = base_cfg();
    fx *f;
    int n = 0;
    (void)state;
    c.max_pending = 100 * (2 + WSP_BUF_OVERHEAD);
    f = fx_new(&c);
    while (wsp_session_send(&f->s, WSP_OP_BINARY, NULL, 0, f->now) == WSP_SEND_OK)
        n++;
    assert_int_equal(n, 100);
    fx_free(f);
}

static void shared_buf_on_two_sessions(void **state)
{
    fx *a = fx_new(NULL), *b = fx_new(NULL);
    wsp_buf *buf = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "news", 4), *p;
    (void)state;
    assert_int_equal(wsp_session_send_buf(&a->s, buf, a->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send_buf(&b->s, buf, b->now), WSP_SEND_OK);
    assert_int_equal(wsp_buf_refs(buf), 3);
    assert_int_equal(wsp_session_queued_cost(&a->s), 6 + WSP_BUF_OVERHEAD);
    p = wsp_session_pop(&a->s);
    assert_ptr_equal(p, buf);                 /* the same bytes, no copy */
    wsp_buf_unref(p);
    assert_int_equal(wsp_buf_refs(buf), 2);
    fx_free(b);                               /* drops its reference */
    assert_int_equal(wsp_buf_refs(buf), 1);
    wsp_buf_unref(buf);
    fx_free(a);
}

static void send_buf_refused_keeps_callers_ref(void **state)
{
    fx *f = fx_new(NULL);
    wsp_buf *close = wsp_buf_frame(WSP_OP_CLOSE, 1, 0, NULL, 0);
    wsp_buf *text = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "x", 1);
    (void)state;
    assert_int_equal(wsp_session_send_buf(&f->s, close, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_buf_refs(close), 1);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    assert_int_equal(wsp_session_send_buf(&f->s, text, f->now), WSP_SEND_ECLOSED);
    assert_int_equal(wsp_buf_refs(text), 1);
    wsp_buf_unref(close);
    wsp_buf_unref(text);
    fx_free(f);
}

/* Queues b (a frame built by the test) and drops the test's reference. */
static int send_frame(fx *f, int opcode, int fin, const char *payload)
{
    wsp_buf *b = wsp_buf_frame(opcode, fin, 0, payload, strlen(payload));
    int rc = wsp_session_send_buf(&f->s, b, f->now);
    wsp_buf_unref(b);
    return rc;
}

/* ws_send_part(): inside a message in parts only continuations (and
 * control frames) are taken; a continuation outside one is refused. */
static void message_in_parts_keeps_other_data_out(void **state)
{
    fx *f = fx_new(NULL);
    wsp_buf *b;
    /* The ping takes the control lane, ahead of the queued parts (between
     * frames, which a message in parts allows). */
    static const int want[] = { WSP_OP_PING, WSP_OP_TEXT, WSP_OP_CONT,
                                WSP_OP_CONT, WSP_OP_BINARY };
    size_t i;
    (void)state;
    assert_int_equal(send_frame(f, WSP_OP_CONT, 1, "x"), WSP_SEND_ESTATE);
    assert_int_equal(send_frame(f, WSP_OP_TEXT, 0, "pa"), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_TEXT, "no", 2, f->now),
                     WSP_SEND_ESTATE);
    assert_int_equal(send_frame(f, WSP_OP_BINARY, 1, "no"), WSP_SEND_ESTATE);
    assert_int_equal(send_frame(f, WSP_OP_TEXT, 0, "no"), WSP_SEND_ESTATE);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_PING, "p", 1, f->now),
                     WSP_SEND_OK);
    assert_int_equal(send_frame(f, WSP_OP_CONT, 0, "rt"), WSP_SEND_OK);
    assert_int_equal(send_frame(f, WSP_OP_CONT, 1, "s!"), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, "ok", 2, f->now),
                     WSP_SEND_OK);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        b = wsp_session_pop(&f->s);
        assert_non_null(b);
        assert_int_equal(wsp_buf_opcode(b), want[i]);
        wsp_buf_unref(b);
    }
    assert_null(wsp_session_pop(&f->s));
    fx_free(f);
}

static void data_lane_grows_and_keeps_order(void **state)
{
    fx *f = fx_new(NULL);
    wsp_buf *b;
    uint8_t i;
    size_t n;
    (void)state;
    for (i = 0; i < 100; i++)
        assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, &i, 1, f->now), WSP_SEND_OK);
    for (i = 0; i < 100; i++) {
        b = wsp_session_pop(&f->s);
        assert_non_null(b);
        assert_int_equal(*payload_of(b, &n), i);
        wsp_buf_unref(b);
    }
    assert_null(wsp_session_pop(&f->s));
    assert_null(f->s.data.ring);              /* heap ring given back */
    fx_free(f);
}

static void bad_sends_are_einval(void **state)
{
    fx *f = fx_new(NULL);
    uint8_t big[126] = { 0 };
    (void)state;
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_CLOSE, NULL, 0, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_CONT, NULL, 0, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_PING, big, 126, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_close(&f->s, 1006, NULL, 0, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_close(&f->s, 1000, "\xff", 1, f->now), WSP_SEND_EINVAL);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    fx_free(f);
}

/* ---- messages --------------------------------------------------------- */

static void reentrant_echo_from_on_message(void **state)
{
    fx *f = fx_new(NULL);
    wsp_buf *b;
    size_t n;
    (void)state;
    f->echo = 1;
    assert_int_equal(feed_text(f, "Hello"), 6 + 5);
    assert_int_equal(f->messages, 1);
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_READ | WSP_WANT_WRITE);
    b = wsp_session_pop(&f->s);
    assert_int_equal(wsp_buf_data(b)[0], 0x81);
    assert_memory_equal(payload_of(b, &n), "Hello", 5);
    wsp_buf_unref(b);
    fx_free(f);
}

static void byte_by_byte_feed(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    size_t i;
    (void)state;
    put_sframe(&t, TEXT, "split everywhere", 1);
    for (i = 0; i < t.len; i++)
        assert_int_equal(wsp_session_feed(&f->s, t.p + i, 1, f->now), 1);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->last_len, 16);
    tbuf_free(&t);
    fx_free(f);
}

static void close_from_on_message_discards_the_rest(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    char ops[16];
    (void)state;
    f->echo = 1;
    f->close_in_message = 1;
    put_sframe(&t, TEXT, "one", 1);
    put_sframe(&t, TEXT, "two", 1);
    put_sframe(&t, PING, "p", 1);
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(f->messages, 1);         /* "two" came after our close */
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_CLOSING);
    pop_all(f, ops, sizeof ops);
    assert_string_equal(ops, "18");           /* the echo, our close; no pong */
    tbuf_free(&t);
    fx_free(f);
}

/* ---- backpressure ----------------------------------------------------- */

/* max_pending 10000: an echo of 1000 bytes costs 4 + 1000 + 368 = 1372. */
static fx *echo_fx(size_t max_pending)
{
    wsp_session_config c = base_cfg();
    fx *f;
    c.max_pending = max_pending;
    c.idle_timeout = 60 * SEC;
    f = fx_new(&c);
    f->echo = 1;
    return f;
}

static void pause_and_resume_exact_bytes(void **state)
{
    fx *f = echo_fx(10000);
    uint8_t msg[1000] = { 0 };
    tbuf t = { 0 };
    int i;
    (void)state;
    for (i = 0; i < 6; i++)
        put_frame(&t, BIN, msg, sizeof msg, 1);        /* 1008 bytes each */
    /* 4 echoes: 5488 >= 5000 pauses right after the 4th message. */
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), 4 * 1008);
    assert_int_equal(f->messages, 4);
    assert_int_equal(wsp_session_queued_cost(&f->s), 4 * 1372);
    assert_true(wsp_session_paused(&f->s));
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_WRITE);
    assert_int_equal(wsp_session_feed(&f->s, t.p + 4032, t.len - 4032, f->now), 0);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 4116 */
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 2744 > 2500 */
    assert_true(wsp_session_paused(&f->s));
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 1372 <= 2500 */
    assert_false(wsp_session_paused(&f->s));
    assert_int_equal(wsp_session_wants(&f->s), WSP_WANT_READ | WSP_WANT_WRITE);
    assert_int_equal(wsp_session_feed(&f->s, t.p + 4032, t.len - 4032, f->now),
                     t.len - 4032);
    assert_int_equal(f->messages, 6);
    tbuf_free(&t);
    fx_free(f);
}

static void paused_peer_is_not_idle(void **state)
{
    fx *f = echo_fx(10000);
    uint8_t msg[1000] = { 0 };
    int i;
    (void)state;
    for (i = 0; i < 4; i++)
        feed_frame(f, BIN, msg, sizeof msg);
    assert_true(wsp_session_paused(&f->s));
    assert_int_equal(wsp_session_deadline(&f->s), 0);  /* no idle while paused */
    wsp_session_tick(&f->s, f->now = T0 + 100 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    for (i = 0; i < 3; i++)
        pop_write(f);
    assert_false(wsp_session_paused(&f->s));
    /* The idle clock restarted at the first call after the resume: the
     * wrote() at T0 + 100 s. */
    wsp_session_tick(&f->s, T0 + 101 * SEC);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 160 * SEC);
    fx_free(f);
}

static void efull_and_on_drain(void **state)
{
    fx *f = echo_fx(3000);
    uint8_t msg[1000] = { 0 };
    (void)state;
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1000, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1000, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1000, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_queued_cost(&f->s), 3 * 1372);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1, f->now), WSP_SEND_EFULL);
    /* Control frames always get in. */
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_PING, "p", 1, f->now), WSP_SEND_OK);
    assert_int_equal(pop_write(f), WSP_OP_PING);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 2744 */
    assert_int_equal(f->drains, 0);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);     /* 1372 < 1500 */
    assert_int_equal(f->drains, 1);
    assert_int_equal(pop_write(f), WSP_OP_BINARY);
    assert_int_equal(f->drains, 1);                    /* once per EFULL */
    fx_free(f);
}

/* A frame popped but not yet written (the engine writes a large frame a
 * chunk at a time) is still memory: it counts against the bound until
 * wrote() says it is out, and only then may a blocked sender go on. */
static void popped_unwritten_counts_until_written(void **state)
{
    fx *f = echo_fx(3000);
    uint8_t msg[2000] = { 0 };
    wsp_buf *b;
    (void)state;
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 2000, f->now), WSP_SEND_OK);
    b = wsp_session_pop(&f->s);
    assert_non_null(b);
    assert_int_equal(wsp_session_queued_cost(&f->s), 0);
    assert_int_equal(wsp_session_unwritten(&f->s), 2004);
    /* 2004 unwritten + 1372 queued >= 3000: the next send is refused. */
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1000, f->now), WSP_SEND_OK);
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1, f->now), WSP_SEND_EFULL);
    wsp_session_wrote(&f->s, 1000, f->now);
    assert_int_equal(f->drains, 0);                    /* 1004 + 1372 >= 1500 */
    wsp_session_wrote(&f->s, 1004, f->now);
    assert_int_equal(f->drains, 1);                    /* 1372 < 1500 */
    assert_int_equal(wsp_session_send(&f->s, WSP_OP_BINARY, msg, 1, f->now), WSP_SEND_OK);
    wsp_buf_unref(b);
    fx_free(f);
}

static void handler_that_only_answers_never_meets_efull(void **state)
{
    fx *f = echo_fx(10000);
    uint8_t msg[1000] = { 0 };
    tbuf t = { 0 };
    size_t off = 0;
    int i;
    (void)state;
    for (i = 0; i < 50; i++)
        put_frame(&t, BIN, msg, sizeof msg, 1);
    while (off < t.len) {
        off += wsp_session_feed(&f->s, t.p + off, t.len - off, f->now);
        assert_true(wsp_session_queued_cost(&f->s) < 10000);
        while (wsp_session_paused(&f->s))
            pop_write(f);
    }
    assert_int_equal(f->messages, 50);        /* echo asserts WSP_SEND_OK */
    tbuf_free(&t);
    fx_free(f);
}

/* ---- the control lane ------------------------------------------------- */

static void control_frames_overtake_a_large_message(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    uint8_t *big = calloc(1, 1 << 20);
    char ops[16];
    (void)state;
    c.max_pending = 4 << 20;
    f = fx_new(&c);
    wsp_session_send(&f->s, WSP_OP_BINARY, big, 1 << 20, f->now);
    wsp_session_send(&f->s, WSP_OP_TEXT, "after", 5, f->now);
    feed_frame(f, PING, "are you there", 13);
    wsp_session_send(&f->s, WSP_OP_PING, NULL, 0, f->now);
    assert_int_equal(wsp_session_next_len(&f->s), 2 + 13);
    pop_all(f, ops, sizeof ops);
    assert_string_equal(ops, "a921");
    free(big);
    fx_free(f);
}

static void close_goes_after_queued_data(void **state)
{
    fx *f = fx_new(NULL);
    char ops[16];
    (void)state;
    wsp_session_send(&f->s, WSP_OP_TEXT, "a", 1, f->now);
    wsp_session_send(&f->s, WSP_OP_TEXT, "b", 1, f->now);
    feed_frame(f, PING, "x", 1);
    wsp_session_close(&f->s, 1000, NULL, 0, f->now);
    feed_frame(f, PING, "y", 1);              /* after our close: no pong */
    pop_all(f, ops, sizeof ops);
    assert_string_equal(ops, "a118");
    assert_null(wsp_session_pop(&f->s));
    assert_int_equal(wsp_session_next_len(&f->s), 0);
    fx_free(f);
}

/* Pings are answered in order up to WSP_MAX_PONGS waiting pongs; past it
 * the newest pong replaces the last one waiting: a flood of 20,000 costs 8
 * pongs, and the latest ping is answered last. */
static void ping_flood_keeps_bounded_pongs(void **state)
{
    fx *f = fx_new(NULL);
    tbuf t = { 0 };
    wsp_buf *b;
    char p[8];
    size_t n;
    int i;
    (void)state;
    for (i = 0; i < 20000; i++) {
        snprintf(p, sizeof p, "%05d", i);
        put_sframe(&t, PING, p, 1);
    }
    assert_int_equal(wsp_session_feed(&f->s, t.p, t.len, f->now), t.len);
    assert_int_equal(wsp_session_queued_cost(&f->s),
                     WSP_MAX_PONGS * (2 + 5 + WSP_BUF_OVERHEAD));
    for (i = 0; i < WSP_MAX_PONGS; i++) {
        char want[8];
        snprintf(want, sizeof want, "%05d", i < WSP_MAX_PONGS - 1 ? i : 19999);
        b = wsp_session_pop(&f->s);
        assert_non_null(b);
        assert_int_equal(wsp_buf_opcode(b), WSP_OP_PONG);
        assert_memory_equal(payload_of(b, &n), want, 5);
        wsp_buf_unref(b);
    }
    assert_null(wsp_session_pop(&f->s));
    tbuf_free(&t);
    fx_free(f);
}

/* ---- re-entrancy and purity ------------------------------------------- */

static fx *nested_fx;
static size_t nested_rc;

static void feed_from_callback(void *ud, int opcode, const uint8_t *d, size_t n)
{
    (void)ud; (void)opcode;
    nested_rc = wsp_session_feed(&nested_fx->s, d, n, nested_fx->now);
    wsp_session_eof(&nested_fx->s, 1, nested_fx->now);
    wsp_session_tick(&nested_fx->s, nested_fx->now + 1000 * SEC);
}

static void feed_tick_eof_from_callback_are_ignored(void **state)
{
    fx *f = fx_new(NULL);
    (void)state;
    f->s.cb.on_message = feed_from_callback;
    nested_fx = f;
    nested_rc = 99;
    feed_text(f, "x");
    assert_int_equal(nested_rc, 0);
    assert_int_equal(wsp_session_get_state(&f->s), WSP_SESSION_OPEN);
    fx_free(f);
}

static void clock_never_runs_backwards(void **state)
{
    wsp_session_config c = base_cfg();
    fx *f;
    (void)state;
    c.ping_interval = 10 * SEC;
    f = fx_new(&c);
    wsp_session_tick(&f->s, T0 + 10 * SEC);
    wsp_session_tick(&f->s, T0);              /* an older time: ignored */
    assert_int_equal(wsp_session_deadline(&f->s), T0 + 20 * SEC);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_serializes_and_counts_refs),
        cmocka_unit_test(buf_lengths_16_and_64),
        cmocka_unit_test(accounting_is_wire_plus_overhead),
        cmocka_unit_test(empty_frames_are_not_free),
        cmocka_unit_test(shared_buf_on_two_sessions),
        cmocka_unit_test(send_buf_refused_keeps_callers_ref),
        cmocka_unit_test(message_in_parts_keeps_other_data_out),
        cmocka_unit_test(data_lane_grows_and_keeps_order),
        cmocka_unit_test(bad_sends_are_einval),
        cmocka_unit_test(reentrant_echo_from_on_message),
        cmocka_unit_test(byte_by_byte_feed),
        cmocka_unit_test(close_from_on_message_discards_the_rest),
        cmocka_unit_test(pause_and_resume_exact_bytes),
        cmocka_unit_test(paused_peer_is_not_idle),
        cmocka_unit_test(efull_and_on_drain),
        cmocka_unit_test(popped_unwritten_counts_until_written),
        cmocka_unit_test(handler_that_only_answers_never_meets_efull),
        cmocka_unit_test(control_frames_overtake_a_large_message),
        cmocka_unit_test(close_goes_after_queued_data),
        cmocka_unit_test(ping_flood_keeps_bounded_pongs),
        cmocka_unit_test(feed_tick_eof_from_callback_are_ignored),
        cmocka_unit_test(clock_never_runs_backwards),
    };
    return cmocka_run_group_tests_name("wsp_session_queue", tests, NULL, NULL);
}
