/*
 * fuzz_session.c - libFuzzer target for the I/O-free session.
 *
 * Input: [cfg a][cfg b][cfg c][script...].  The cfg bytes pick max_pending,
 * the message limit, which timeouts are on, permessage-deflate in and out
 * (own, shared or context-keeping codec), the peer's message rate and the
 * fragment limit; the script is a list of operations, one opcode byte each followed
 * by its arguments: feed raw bytes, feed a masked client frame, send,
 * close, tick forward, pop and write (wholly or partly), EOF, going away,
 * queue a shared buffer, send a message in parts, trim.  Input the session did not consume stays pending
 * and is fed again, as a connection would.  After every step the
 * invariants below are checked; every popped frame also goes through a
 * client-side reader, which must accept the whole output stream.
 */
#include <string.h>

#include "fuzz_common.h"
#include "wsp_session.h"
#include "wsp_deflate.h"

#define SEC INT64_C(1000000)

typedef struct world {
    wsp_session s;
    int64_t     now;
    const uint8_t *in;
    size_t      in_len, pos;
    uint8_t     pending[8192];     /* fed but not consumed */
    size_t      pending_len;
    int         closes, drains, echo, send_in_drain;
    int         close_popped, peer_closed;
    size_t      popped_bytes, written_bytes;
    size_t      max_message;       /* largest message echoed */
    wsp_reader  peer;              /* reads what we send */
    wsp_inflater peer_inflater;    /* and inflates it, when we deflate */
    wsp_deflater shared_deflater;  /* a loop thread's, for shared mode */
    wsp_inflater shared_inflater;  /* likewise for input */
    wsp_buf    *shared;
} world;

static world w;

static unsigned next(void)
{
    return w.pos < w.in_len ? w.in[w.pos++] : 0;
}

/* ---- the handler -------------------------------------------------------- */

static void on_message(void *ud, int opcode, const uint8_t *d, size_t n)
{
    (void)ud;
    FUZZ_CHECK(w.s.state == WSP_SESSION_OPEN);
    FUZZ_CHECK(!w.s.cfg.max_message_size || n <= w.s.cfg.max_message_size);
    if (n > w.max_message)
        w.max_message = n;
    if (w.echo)
        wsp_session_send(&w.s, opcode, d, n, w.now);
}

static void on_close(void *ud, int code, const char *reason, size_t n)
{
    (void)ud;
    FUZZ_CHECK(w.closes == 0);
    FUZZ_CHECK(code >= 1000 && code <= 4999);
    FUZZ_CHECK(n <= WSP_CLOSE_REASON_MAX && reason[n] == '\0');
    FUZZ_CHECK(w.s.state >= WSP_SESSION_DRAINING);
    w.closes++;
    FUZZ_CHECK(wsp_session_send(&w.s, WSP_OP_TEXT, "x", 1, w.now)
               == WSP_SEND_ECLOSED);
}

static void on_drain(void *ud)
{
    (void)ud;
    FUZZ_CHECK(w.s.state == WSP_SESSION_OPEN);
    FUZZ_CHECK(w.s.cost + w.s.unwritten < w.s.cfg.max_pending / 2);
    w.drains++;
    if (w.send_in_drain)
        wsp_session_send(&w.s, WSP_OP_BINARY, "d", 1, w.now);
}

static const wsp_session_callbacks cbs = { on_message, on_close, on_drain };

/* The peer's view of our output: must be a valid server stream. */
static int peer_close(void *ud, int code, const char *r, size_t n)
{
    (void)ud; (void)r; (void)n;
    FUZZ_CHECK(wsp_close_code_valid(code) || code == WSP_CLOSE_NO_STATUS);
    w.peer_closed = 1;
    return 0;
}

/* Compressed output must inflate, with the context both sides agreed. */
static int peer_message(void *ud, int opcode, const uint8_t *d, size_t n)
{
    uint8_t *out;
    size_t out_n;
    (void)ud;
    if (!(opcode & WSP_MSG_COMPRESSED))
        return 0;
    FUZZ_CHECK(w.s.cfg.deflate_window_bits);
    FUZZ_CHECK(wsp_inflate_message(&w.peer_inflater, d, n, (size_t)1 << 24,
                                   w.s.cfg.deflate_keep_context, 0, &out,
                                   &out_n) == WSP_INFLATE_OK);
    free(out);
    return 0;
}

static const wsp_reader_callbacks peer_cbs = { peer_message, NULL, NULL,
                                               peer_close };

/* ---- invariants --------------------------------------------------------- */

static void check_invariants(void)
{
    const wsp_session *s = &w.s;
    unsigned want = wsp_session_wants(s);
    int64_t d = wsp_session_deadline(s);
    size_t slack = 3 * (2 + WSP_MAX_CONTROL_PAYLOAD + WSP_BUF_OVERHEAD);

    FUZZ_CHECK(wsp_session_recount_cost(s) == s->cost);
    FUZZ_CHECK(s->cost >= s->bytes);
    /* Data gets in only below the bound; control slots are bounded (the
     * pong lane holds up to WSP_MAX_PONGS). */
    FUZZ_CHECK(s->cost < s->cfg.max_pending + 4010 + w.max_message
                         + (WSP_MAX_PONGS - 1)
                           * (WSP_MAX_CONTROL_PAYLOAD + 2 + WSP_BUF_OVERHEAD)
                         + WSP_BUF_OVERHEAD + slack);
    FUZZ_CHECK(w.closes == (s->state >= WSP_SESSION_DRAINING));
    FUZZ_CHECK(!!(want & WSP_WANT_FINISH) == (s->state == WSP_SESSION_FINISHED));
    FUZZ_CHECK(!!(want & WSP_WANT_SHUTDOWN) == (s->state == WSP_SESSION_LINGER));
    if (s->state != WSP_SESSION_FINISHED) {
        FUZZ_CHECK(!!(want & WSP_WANT_WRITE) == (s->cost > 0));
        FUZZ_CHECK(!!(want & WSP_WANT_READ)
                   == ((s->state <= WSP_SESSION_CLOSING) && !s->paused && !s->eof));
    } else {
        FUZZ_CHECK(s->cost == 0 && d == 0 && !wsp_session_pop(&w.s));
    }
    if (s->state == WSP_SESSION_LINGER)
        FUZZ_CHECK(s->cost == 0 && s->unwritten == 0);
    if (s->close)                          /* nothing can queue behind it */
        FUZZ_CHECK(s->state != WSP_SESSION_OPEN);
    FUZZ_CHECK(s->unwritten == w.popped_bytes - w.written_bytes
               || s->state == WSP_SESSION_FINISHED);
    FUZZ_CHECK(d == 0 || d > INT64_C(0));
}

/* ---- operations --------------------------------------------------------- */

static void feed_pending(void)
{
    size_t used;

    if (!w.pending_len)
        return;
    used = wsp_session_feed(&w.s, w.pending, w.pending_len, w.now);
    FUZZ_CHECK(used <= w.pending_len);
    if (used < w.pending_len)
        FUZZ_CHECK(w.s.paused || w.pending_len == 0);
    memmove(w.pending, w.pending + used, w.pending_len - used);
    w.pending_len -= used;
}

static void add_pending(const uint8_t *p, size_t n)
{
    if (n > sizeof w.pending - w.pending_len)
        n = sizeof w.pending - w.pending_len;
    memcpy(w.pending + w.pending_len, p, n);
    w.pending_len += n;
}

static void op_feed_raw(void)
{
    size_t n = next() + 1;

    if (n > w.in_len - w.pos)
        n = w.in_len - w.pos;
    add_pending(w.in + w.pos, n);
    w.pos += n;
    feed_pending();
}

/* A masked client frame: [b0][len][payload from the input]. */
static void op_feed_frame(void)
{
    static const uint8_t ops[] = { 0x81, 0x82, 0x01, 0x00, 0x80, 0x89,
                                   0x8A, 0x88, 0x02, 0xC1, 0xC2, 0x41 };
    uint8_t frame[2 + 2 + 4 + 400];
    uint8_t b0 = ops[next() % sizeof ops], key[4] = { 1, 2, 3, 4 };
    size_t n = next(), i, h;

    if (b0 >= 0x88 && n > 125)
        n %= 126;
    frame[0] = b0;
    if (n > 125) {
        n += next();                   /* up to 510: a 16-bit length */
        if (n > 400)
            n = 400;
        frame[1] = 0x80 | 126;
        frame[2] = (uint8_t)(n >> 8);
        frame[3] = (uint8_t)n;
        h = 4;
    } else {
        frame[1] = (uint8_t)(0x80 | n);
        h = 2;
    }
    memcpy(frame + h, key, 4);
    h += 4;
    for (i = 0; i < n; i++) {
        uint8_t c = (uint8_t)next();
        frame[h + i] = (b0 & 0x0F) == 1 || b0 == 0x88 ? (c & 0x7F) : c;
        frame[h + i] ^= key[i % 4];
    }
    if (b0 == 0x88 && n >= 2) {        /* a valid code, mostly */
        frame[h] = 0x03 ^ key[0];
        frame[h + 1] = 0xE8 ^ key[1];
    }
    add_pending(frame, h + n);
    feed_pending();
}

static void op_send(void)
{
    static uint8_t data[4000];
    unsigned k = next();
    size_t n = (size_t)next() * 15 % sizeof data;
    int rc;

    if (k % 4 == 0)
        rc = wsp_session_send(&w.s, WSP_OP_TEXT, data, n, w.now);
    else if (k % 4 == 1)
        rc = wsp_session_send(&w.s, WSP_OP_BINARY, data, n, w.now);
    else
        rc = wsp_session_send(&w.s, k % 4 == 2 ? WSP_OP_PING : WSP_OP_PONG,
                              data, n % 130, w.now);
    if (w.s.state != WSP_SESSION_OPEN)
        FUZZ_CHECK(rc == WSP_SEND_ECLOSED);
    if (rc == WSP_SEND_EFULL)
        FUZZ_CHECK(w.s.cost + w.s.unwritten >= w.s.cfg.max_pending && w.s.drain_wanted);
}

static void op_close(void)
{
    static const int codes[] = { 1000, 1001, 1005, 4000, 1006, 0 };
    int rc = wsp_session_close(&w.s, codes[next() % 6], "reason", 6, w.now);

    if (rc == WSP_SEND_OK)
        FUZZ_CHECK(w.s.state == WSP_SESSION_CLOSING);
}

static void op_tick(void)
{
    static const int64_t unit[] = { 1, 1000, 100000, SEC, 5 * SEC, 30 * SEC };
    unsigned k = next();
    int64_t d;

    w.now += unit[k % 6] * (next() + 1);
    wsp_session_tick(&w.s, w.now);
    d = wsp_session_deadline(&w.s);
    FUZZ_CHECK(d == 0 || d > w.now);   /* everything due has fired */
    feed_pending();
}

static void check_popped(wsp_buf *b, int had_control, int had_data,
                         size_t cost_before, int drains_before)
{
    int op = wsp_buf_data(b)[0] & 0x0F;
    size_t used;

    FUZZ_CHECK(!w.close_popped);       /* the close is the last frame */
    if (op == WSP_OP_TEXT || op == WSP_OP_BINARY || op == WSP_OP_CONT)
        FUZZ_CHECK(!had_control);      /* control lane first */
    if (op == WSP_OP_CLOSE) {
        FUZZ_CHECK(!had_control && !had_data);
        w.close_popped = 1;
    }
    if (w.drains == drains_before)
        FUZZ_CHECK(w.s.cost == cost_before - WSP_BUF_COST(b));
    FUZZ_CHECK(wsp_reader_feed(&w.peer, wsp_buf_data(b), wsp_buf_len(b), &used)
               == WSP_OK);
    w.popped_bytes += wsp_buf_len(b);
}

static void op_pop(void)
{
    unsigned k = next() % 8 + 1, partial = next() % 2;

    while (k--) {
        int had_control = w.s.npongs || w.s.ping, had_data = w.s.data.count > 0;
        size_t cost = w.s.cost, len = wsp_session_next_len(&w.s);
        int drains = w.drains;
        wsp_buf *b = wsp_session_pop(&w.s);

        if (!b) {
            FUZZ_CHECK(len == 0);
            break;
        }
        FUZZ_CHECK(len == wsp_buf_len(b));
        check_popped(b, had_control, had_data, cost, drains);
        len = partial ? len / 2 : len;
        if (w.s.state != WSP_SESSION_FINISHED)
            w.written_bytes += len;
        wsp_session_wrote(&w.s, len, w.now);
        wsp_buf_unref(b);
        check_invariants();
    }
    feed_pending();
}

static void op_write_rest(void)
{
    size_t n = w.popped_bytes - w.written_bytes;

    if (w.s.state != WSP_SESSION_FINISHED)
        w.written_bytes += n;
    wsp_session_wrote(&w.s, n, w.now);
}

static void op_send_shared(void)
{
    int rc = wsp_session_send_buf(&w.s, w.shared, w.now);

    FUZZ_CHECK(wsp_buf_refs(w.shared) >= 1);
    if (w.s.state != WSP_SESSION_OPEN)
        FUZZ_CHECK(rc == WSP_SEND_ECLOSED);
}

/* A frame of a message in parts (ws_send_part): a first part, a
 * continuation or a last one, in any order.  The session takes only what
 * keeps the stream valid; the peer's reader (check_popped) proves the
 * output still is. */
static void op_send_part(void)
{
    static const uint8_t data[64] = "parts";
    unsigned k = next();
    int opcode = k % 3 == 0 ? WSP_OP_CONT : k % 3 == 1 ? WSP_OP_TEXT
                                                       : WSP_OP_BINARY;
    int was_open = w.s.parts_open, rc;
    wsp_buf *b = wsp_buf_frame(opcode, (k >> 2) & 1, 0, data,
                               next() % sizeof data);

    FUZZ_CHECK(b);
    rc = wsp_session_send_buf(&w.s, b, w.now);
    wsp_buf_unref(b);
    if (rc == WSP_SEND_OK)
        FUZZ_CHECK(opcode == WSP_OP_CONT ? was_open : !was_open);
    if (w.s.state != WSP_SESSION_OPEN)
        FUZZ_CHECK(rc == WSP_SEND_ECLOSED);
}

static void configure(unsigned a, unsigned b, unsigned k)
{
    static const size_t pending[] = { 800, 3000, 10000, 65536 };
    wsp_session_config c;
    wsp_reader_config pc = { .require_mask = 0 };

    memset(&c, 0, sizeof c);
    c.max_pending = pending[a & 3];
    c.max_message_size = a & 4 ? 300 : 0;
    c.ping_interval = b & 1 ? 10 * SEC : 0;
    c.idle_timeout = b & 2 ? 30 * SEC : 0;
    c.close_timeout = b & 4 ? WSP_SESSION_CLOSE_TIMEOUT : 0;
    c.linger_timeout = b & 8 ? WSP_SESSION_LINGER_TIMEOUT : 0;
    c.send_timeout = b & 16 ? 20 * SEC : 0;
    /* permessage-deflate input: RSV1 frames are inflated (random bytes:
     * mostly a 1007), bounded by the message limit. */
    c.inflate_window_bits = a & 32 ? 8 + (int)(b >> 5) % 8 : 0;
    c.inflate_keep_context = !!(a & 64);
    /* permessage-deflate output: every message the session sends (echoes,
     * parts, the shared frame) must reach the peer as a valid stream. */
    if (a & 128) {
        c.deflate_window_bits = 9 + (int)(b >> 5) % 7;
        c.deflate_mem_level = 1 + (int)(b >> 5) % 9;
        c.deflate_keep_context = !!(a & 64);
        c.deflate_min_size = b & 1 ? 0 : 16;
        wsp_deflater_init(&w.shared_deflater, c.deflate_window_bits,
                          c.deflate_mem_level);
        if (!(a & 64) && (b & 32))
            c.deflate_shared = &w.shared_deflater;
        pc.allowed_rsv = WSP_RSV1;
    }
    wsp_inflater_init(&w.peer_inflater, 15);
    /* Input limits (WebSocketMessageRate, WebSocketMaxFragments). */
    {
        static const uint32_t rates[] = { 0, 1, 5, 100 };
        static const uint32_t frags[] = { 0, 1, 2, 4 };
        c.rate_per_sec = rates[k & 3];
        c.rate_burst = ((k >> 2) & 3) * 4;
        c.max_fragments = frags[(k >> 4) & 3];
    }
    wsp_inflater_init(&w.shared_inflater, 15);
    if (c.inflate_window_bits && !c.inflate_keep_context && (k & 64))
        c.inflate_shared = &w.shared_inflater;
    w.echo = !!(a & 8);
    w.send_in_drain = !!(a & 16);
    w.now = INT64_C(1) << 40;
    wsp_session_init(&w.s, &c, &cbs, NULL, w.now);
    wsp_reader_init(&w.peer, &pc, &peer_cbs, NULL);
    w.shared = wsp_buf_frame(WSP_OP_TEXT, 1, 0, "shared news", 11);
    FUZZ_CHECK(w.shared);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned a, b, k, steps = 0;

    memset(&w, 0, sizeof w);
    w.in = data;
    w.in_len = size;
    a = next();
    b = next();
    k = next();
    configure(a, b, k);
    while (w.pos < w.in_len && steps++ < 2000) {
        switch (next() % 12) {
        case 0: op_feed_raw(); break;
        case 1: op_feed_frame(); break;
        case 2: op_send(); break;
        case 3: op_close(); break;
        case 4: op_tick(); break;
        case 5: op_pop(); break;
        case 6: wsp_session_eof(&w.s, next() & 1, w.now); break;
        case 7: wsp_session_going_away(&w.s, w.now); break;
        case 8: op_send_shared(); break;
        case 9: op_send_part(); break;
        case 11: wsp_session_trim(&w.s); break;
        default: op_write_rest(); break;
        }
        check_invariants();
    }
    wsp_session_free(&w.s);
    FUZZ_CHECK(wsp_buf_refs(w.shared) == 1);   /* every reference returned */
    wsp_buf_unref(w.shared);
    wsp_reader_free(&w.peer);
    wsp_inflater_free(&w.peer_inflater);
    wsp_deflater_free(&w.shared_deflater);
    wsp_inflater_free(&w.shared_inflater);
    return 0;
}
