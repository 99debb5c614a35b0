/*
 * wsp_test_util.c - see wsp_test_util.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp_test_util.h"

const wsp_reader_config server_cfg = { .require_mask = 1 };
const wsp_reader_config client_cfg = { .require_mask = 0 };

/* ---- byte buffer ----------------------------------------------------- */

void tbuf_put(tbuf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2 + 16;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

void tbuf_byte(tbuf *b, uint8_t c)
{
    tbuf_put(b, &c, 1);
}

void tbuf_free(tbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Written byte by byte on purpose: it must not share code with the
 * serializer and the word-wide mask it is used to test. */
void put_frame(tbuf *b, uint8_t b0, const void *payload, size_t len, int masked)
{
    static uint8_t seed = 0x37;
    const uint8_t *src = payload;
    uint8_t key[4];
    size_t i;
    int k;

    tbuf_byte(b, b0);
    if (len <= 125) {
        tbuf_byte(b, (uint8_t)((masked ? 0x80 : 0) | len));
    } else if (len <= 0xFFFF) {
        tbuf_byte(b, (uint8_t)((masked ? 0x80 : 0) | 126));
        tbuf_byte(b, (uint8_t)(len >> 8));
        tbuf_byte(b, (uint8_t)len);
    } else {
        tbuf_byte(b, (uint8_t)((masked ? 0x80 : 0) | 127));
        for (k = 7; k >= 0; k--)
            tbuf_byte(b, (uint8_t)((uint64_t)len >> (8 * k)));
    }
    for (k = 0; k < 4; k++)
        key[k] = (uint8_t)(seed += 0x5B);
    if (masked)
        tbuf_put(b, key, 4);
    for (i = 0; i < len; i++)
        tbuf_byte(b, masked ? (uint8_t)(src[i] ^ key[i % 4]) : src[i]);
}

void put_sframe(tbuf *b, uint8_t b0, const char *payload, int masked)
{
    put_frame(b, b0, payload, strlen(payload), masked);
}

/* ---- recorder -------------------------------------------------------- */

static void log_append(recorder *rec, const char *s, size_t n)
{
    if (rec->len + n + 1 > rec->cap) {
        rec->cap = (rec->len + n + 1) * 2;
        rec->log = realloc(rec->log, rec->cap);
        assert_non_null(rec->log);
    }
    memcpy(rec->log + rec->len, s, n);
    rec->len += n;
    rec->log[rec->len] = '\0';
}

static void log_event(recorder *rec, const char *head, const uint8_t *d,
                      size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char pair[2];
    size_t i;

    log_append(rec, head, strlen(head));
    for (i = 0; i < n; i++) {
        pair[0] = hex[d[i] >> 4];
        pair[1] = hex[d[i] & 15];
        log_append(rec, pair, 2);
    }
    log_append(rec, "\n", 1);
}

static int event_result(recorder *rec, int kind, const uint8_t *d, size_t n)
{
    int rc = 0;

    rec->events++;
    if (rec->hook)
        rc = rec->hook(rec, kind, d, n);
    return rc || rec->stop_all || rec->events == rec->stop_at;
}

static int rec_message(void *ud, int opcode, const uint8_t *d, size_t n)
{
    char head[32];

    assert_non_null(d);
    snprintf(head, sizeof head, "msg %d ", opcode);
    log_event(ud, head, d, n);
    return event_result(ud, opcode, d, n);
}

static int rec_ping(void *ud, const uint8_t *d, size_t n)
{
    assert_true(n <= WSP_MAX_CONTROL_PAYLOAD);
    log_event(ud, "ping ", d, n);
    return event_result(ud, WSP_OP_PING, d, n);
}

static int rec_pong(void *ud, const uint8_t *d, size_t n)
{
    assert_true(n <= WSP_MAX_CONTROL_PAYLOAD);
    log_event(ud, "pong ", d, n);
    return event_result(ud, WSP_OP_PONG, d, n);
}

static int rec_close(void *ud, int code, const char *reason, size_t n)
{
    char head[32];

    assert_non_null(reason);
    snprintf(head, sizeof head, "close %d ", code);
    log_event(ud, head, (const uint8_t *)reason, n);
    return event_result(ud, WSP_OP_CLOSE, (const uint8_t *)reason, n);
}

const wsp_reader_callbacks recorder_callbacks = {
    rec_message, rec_ping, rec_pong, rec_close
};

void recorder_reset(recorder *rec)
{
    free(rec->log);
    memset(rec, 0, sizeof(*rec));
}

void outcome_free(outcome *o)
{
    free(o->log);
    memset(o, 0, sizeof(*o));
}

/* ---- drivers --------------------------------------------------------- */

/* Feeds [*start, end), resuming after every stop like a connection would. */
static wsp_status feed_chunk(wsp_reader *r, const uint8_t *s, size_t *start,
                             size_t end, size_t *stops)
{
    for (;;) {
        size_t used = 12345;
        wsp_status st = wsp_reader_feed(r, s + *start, end - *start, &used);

        assert_true(used <= end - *start);
        *start += used;
        /* The core promise on memory: between messages, no heap. */
        if (!r->msg_opcode)
            assert_null(r->msg);
        if (st == WSP_FAIL)
            return st;
        if (st == WSP_OK) {
            assert_int_equal(*start, end);
            return st;
        }
        assert_int_equal(st, WSP_STOPPED);
        assert_true(used > 0);
        (*stops)++;
        if (*start == end)
            return WSP_OK;
    }
}

void feed_with_splits(const wsp_reader_config *cfg, const uint8_t *s,
                      size_t len, const size_t *splits, size_t nsplits,
                      int stop_all, outcome *out)
{
    recorder rec;
    wsp_reader r;
    size_t start = 0, i, used = 99;
    wsp_status st = WSP_OK;

    memset(&rec, 0, sizeof rec);
    memset(out, 0, sizeof *out);
    rec.stop_all = stop_all;
    wsp_reader_init(&r, cfg, &recorder_callbacks, &rec);
    rec.reader = &r;
    assert_int_equal(wsp_reader_feed(&r, s, 0, &used), WSP_OK);
    assert_int_equal(used, 0);
    for (i = 0; i <= nsplits && st != WSP_FAIL; i++) {
        size_t end = i < nsplits ? splits[i] : len;
        st = feed_chunk(&r, s, &start, end, &out->stops);
    }
    out->status = st;
    out->error = wsp_reader_error(&r);
    out->error_text = wsp_reader_error_text(&r);
    if (st == WSP_FAIL) {
        /* Failed stays failed: nothing more is consumed or delivered. */
        int events = rec.events;
        assert_non_null(out->error_text);
        assert_int_equal(wsp_reader_feed(&r, s, len, &used), WSP_FAIL);
        assert_int_equal(used, 0);
        assert_int_equal(rec.events, events);
        assert_int_equal(wsp_reader_buffered(&r), 0);
        assert_null(r.msg);
    } else {
        assert_int_equal(out->error, 0);
        assert_null(out->error_text);
    }
    wsp_reader_free(&r);
    out->log = rec.log ? rec.log : calloc(1, 1);
}

static void assert_same(const outcome *a, const outcome *b)
{
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->error, b->error);
    assert_ptr_equal(a->error_text, b->error_text);
    assert_string_equal(a->log, b->log);
}

static void compare_run(const wsp_reader_config *cfg, const uint8_t *s,
                        size_t len, const size_t *splits, size_t n,
                        int stop_all, const outcome *ref)
{
    outcome o;

    feed_with_splits(cfg, s, len, splits, n, stop_all, &o);
    assert_same(ref, &o);
    outcome_free(&o);
}

void feed_all_ways(const wsp_reader_config *cfg, const uint8_t *s, size_t len,
                   outcome *out)
{
    size_t *bytes = malloc((len + 1) * sizeof(size_t));
    size_t k;

    assert_non_null(bytes);
    feed_with_splits(cfg, s, len, NULL, 0, 0, out);
    compare_run(cfg, s, len, NULL, 0, 1, out);
    for (k = 1; k < len; k++) {
        bytes[k - 1] = k;
        compare_run(cfg, s, len, &k, 1, 0, out);
    }
    compare_run(cfg, s, len, bytes, len ? len - 1 : 0, 0, out);
    compare_run(cfg, s, len, bytes, len ? len - 1 : 0, 1, out);
    free(bytes);
}

void expect_stream(const wsp_reader_config *cfg, const tbuf *stream,
                   wsp_status status, int error, const char *log)
{
    outcome o;

    feed_all_ways(cfg, stream->p, stream->len, &o);
    assert_int_equal(o.status, status);
    assert_int_equal(o.error, error);
    if (log)
        assert_string_equal(o.log, log);
    outcome_free(&o);
}
