/*
 * fuzz_reader.c - libFuzzer target for the frame reader.
 *
 * Input: [config][k][k chunk sizes][stream].  The stream is fed three ways -
 * whole, in chunks whose sizes come from the input (with callbacks that may
 * stop the feed, resumed like a connection would), and one byte at a time -
 * and all three must agree on the status, the close code, the error text
 * and every event delivered.  Each event is also checked against the
 * reader's promises (text is UTF-8, control payloads <= 125 bytes, close
 * codes valid, no message over the limit, no heap while idle).
 */
#include <string.h>

#include "fuzz_common.h"
#include "wsp_frame.h"
#include "wsp_utf8.h"

typedef struct trace {
    uint64_t hash;          /* FNV-1a over every event */
    unsigned events;
    int      stop_mode;     /* 0 never stop, 1 every event, 2 every 3rd */
    uint64_t max;
    uint8_t  allowed_rsv;
} trace;

typedef struct result {
    wsp_status  status;
    int         error;
    const char *text;
    uint64_t    hash;
    unsigned    events;
} result;

static void mix(trace *t, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        t->hash = (t->hash ^ b[i]) * UINT64_C(0x100000001b3);
}

static int record(trace *t, int kind, int code, const uint8_t *d, size_t n)
{
    uint64_t len = n;

    mix(t, &kind, sizeof kind);
    mix(t, &code, sizeof code);
    mix(t, &len, sizeof len);
    mix(t, d, n);
    t->events++;
    return t->stop_mode == 1 || (t->stop_mode == 2 && t->events % 3 == 0);
}

static int on_message(void *ud, int opcode, const uint8_t *d, size_t n)
{
    trace *t = ud;
    int compressed = (opcode & WSP_MSG_COMPRESSED) != 0;

    opcode &= ~WSP_MSG_COMPRESSED;
    FUZZ_CHECK(opcode == WSP_OP_TEXT || opcode == WSP_OP_BINARY);
    FUZZ_CHECK(!compressed || (t->allowed_rsv & WSP_RSV1));
    FUZZ_CHECK(d != NULL);
    /* Compressed text is deflate data: UTF-8 only once inflated. */
    FUZZ_CHECK(opcode != WSP_OP_TEXT || compressed || wsp_utf8_valid(d, n));
    FUZZ_CHECK(!t->max || n <= t->max);
    return record(t, opcode, 0, d, n);
}

static int on_ping(void *ud, const uint8_t *d, size_t n)
{
    FUZZ_CHECK(n <= WSP_MAX_CONTROL_PAYLOAD);
    return record(ud, WSP_OP_PING, 0, d, n);
}

static int on_pong(void *ud, const uint8_t *d, size_t n)
{
    FUZZ_CHECK(n <= WSP_MAX_CONTROL_PAYLOAD);
    return record(ud, WSP_OP_PONG, 0, d, n);
}

static int on_close(void *ud, int code, const char *reason, size_t n)
{
    FUZZ_CHECK(wsp_close_code_valid(code) || (code == 1005 && n == 0));
    FUZZ_CHECK(n <= WSP_MAX_CONTROL_PAYLOAD - 2);
    FUZZ_CHECK(wsp_utf8_valid((const uint8_t *)reason, n));
    return record(ud, WSP_OP_CLOSE, code, (const uint8_t *)reason, n);
}

static const wsp_reader_callbacks callbacks = {
    on_message, on_ping, on_pong, on_close
};

/* Whether the frame being read is a whole message small enough to be
 * collected in r->ctl.  Then r->msg may still hold the buffer an earlier
 * message of the same feed call left for reuse, whose capacity can be as
 * small as that message was (a fragmented one of a few bytes), and
 * msg_len counts the bytes in ctl, not in that buffer.  (Found by
 * fuzz_reader on 2026-12-02: the check below had demanded msg_len <=
 * msg_cap there; the reader itself was right.) */
static int collects_in_ctl(const wsp_reader *r)
{
    return (r->opcode == WSP_OP_TEXT || r->opcode == WSP_OP_BINARY)
        && r->fin && r->payload_len <= WSP_MAX_CONTROL_PAYLOAD;
}

/* After every feed: what the reader promises about its own state. */
static void check_reader(const wsp_reader *r, const trace *t)
{
    if (!r->msg_opcode)
        FUZZ_CHECK(r->msg == NULL);
    FUZZ_CHECK(!t->max || wsp_reader_buffered(r) <= t->max);
    if (r->msg_opcode && collects_in_ctl(r))
        FUZZ_CHECK(r->msg_len <= sizeof r->ctl);
    else
        FUZZ_CHECK(r->msg_len <= r->msg_cap || r->msg == NULL);
}

/* Feeds s in chunks of sizes[i % nsizes] (whole when nsizes is 0). */
static result run(const wsp_reader_config *cfg, const uint8_t *s, size_t len,
                  const size_t *sizes, size_t nsizes, int stop_mode)
{
    trace t = { UINT64_C(0xcbf29ce484222325), 0, stop_mode, cfg->max_message_size,
                cfg->allowed_rsv };
    wsp_status st = WSP_OK;
    size_t pos = 0, i = 0, used;
    wsp_reader r;
    result res;

    wsp_reader_init(&r, cfg, &callbacks, &t);
    while (pos < len && st != WSP_FAIL) {
        size_t n = nsizes ? sizes[i++ % nsizes] : len;
        size_t end = len - pos < n ? len : pos + n;
        do {
            st = wsp_reader_feed(&r, s + pos, end - pos, &used);
            FUZZ_CHECK(used <= end - pos);
            FUZZ_CHECK(st != WSP_OK || used == end - pos);
            FUZZ_CHECK(st != WSP_STOPPED || used > 0);
            pos += used;
            check_reader(&r, &t);
        } while (st == WSP_STOPPED && pos < end);
    }
    if (st == WSP_FAIL) {
        FUZZ_CHECK(wsp_reader_error(&r) != 0);
        FUZZ_CHECK(wsp_reader_error_text(&r) != NULL);
        FUZZ_CHECK(wsp_reader_feed(&r, s, len, &used) == WSP_FAIL && used == 0);
    } else {
        st = WSP_OK;
        FUZZ_CHECK(wsp_reader_error(&r) == 0);
    }
    res.status = st;
    res.error = wsp_reader_error(&r);
    res.text = wsp_reader_error_text(&r);
    res.hash = t.hash;
    res.events = t.events;
    wsp_reader_free(&r);
    return res;
}

static void same(const result *a, const result *b)
{
    FUZZ_CHECK(a->status == b->status);
    FUZZ_CHECK(a->error == b->error);
    FUZZ_CHECK(a->text == b->text);
    FUZZ_CHECK(a->events == b->events);
    FUZZ_CHECK(a->hash == b->hash);
}

static void decode_config(uint8_t c, wsp_reader_config *cfg, int *stop_mode)
{
    static const uint8_t rsv[4] = { 0, WSP_RSV1, WSP_RSV1 | WSP_RSV2 | WSP_RSV3, WSP_RSV2 };
    static const uint64_t max[4] = { 0, 16, 1000, 70000 };

    memset(cfg, 0, sizeof *cfg);
    cfg->require_mask = (c & 3) != 3;       /* mostly a server */
    cfg->allowed_rsv = rsv[(c >> 2) & 3];
    cfg->max_message_size = max[(c >> 4) & 3];
    *stop_mode = (c >> 6) % 3;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t one = 1;
    wsp_reader_config cfg;
    size_t sizes[8], nsizes, i;
    int stop_mode;
    result whole, chunked, bytes;

    if (size < 2)
        return 0;
    decode_config(data[0], &cfg, &stop_mode);
    nsizes = data[1] % 8;
    if (size < 2 + nsizes)
        return 0;
    for (i = 0; i < nsizes; i++)   /* 0 stands for a large chunk */
        sizes[i] = data[2 + i] ? data[2 + i] : 4096;
    data += 2 + nsizes;
    size -= 2 + nsizes;

    whole = run(&cfg, data, size, NULL, 0, 0);
    chunked = run(&cfg, data, size, sizes, nsizes, stop_mode);
    bytes = run(&cfg, data, size, &one, 1, 0);
    same(&whole, &chunked);
    same(&whole, &bytes);
    return 0;
}
