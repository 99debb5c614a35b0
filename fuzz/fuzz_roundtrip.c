/*
 * fuzz_roundtrip.c - libFuzzer target: serialize, then parse back.
 *
 * Input: [cfg][level][chunk seed][messages...].  Messages (text or binary,
 * in 1 to 4 fragments, with pings and pongs between the fragments, some
 * compressed, and maybe a close at the end) are written the way the server
 * and a client write them: wsp_frame_header_write with or without a mask
 * (the payload masked by wsp_mask, in two pieces at a random offset), or
 * wsp_buf_frame for unmasked frames.  The stream is then fed in random
 * chunks to a wsp_reader configured for that direction, which must accept
 * all of it and hand back exactly what was written: every payload byte,
 * every opcode, every message boundary (the FIN flags), every control
 * frame, in order.  Each written header is also decoded by hand.
 *
 * Compressed messages are the deflate -> inflate round trip: random data
 * through wsp_deflate_part (one call per fragment) or wsp_deflate_message
 * (its output cut into fragments), with random window, memLevel, context
 * takeover and release settings, inflated by wsp_inflate_message in the
 * reader's on_message and compared with the original; the inflate bound is
 * checked exact (max = size is OK, size - 1 is TOO_BIG).
 */
#include <string.h>

#include "fuzz_common.h"
#include "wsp_deflate.h"
#include "wsp_frame.h"
#include "wsp_session.h"

#define MAX_WIRE (1u << 22)

typedef struct bytes {
    uint8_t *p;
    size_t   len, cap;
} bytes;

static struct {
    const uint8_t *in;
    size_t   in_len, pos;
    uint32_t rng;
    int      masked, use_buf, compress, keep, release;
    int      window, mem_level, inflate_window;
    bytes    wire, want, got;
    wsp_deflater def;
    wsp_inflater inf;
} g;

static unsigned next(void)
{
    return g.pos < g.in_len ? g.in[g.pos++] : 0;
}

static uint32_t rnd(void)
{
    g.rng = g.rng * 1103515245u + 12345u;
    return g.rng >> 8;
}

static void put(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        FUZZ_CHECK(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* An event as both sides record it: [kind][opcode][len, 8 bytes][data]. */
static void event(bytes *b, int kind, int opcode, const void *d, size_t n)
{
    uint8_t h[10];
    uint64_t l = n;
    int i;

    h[0] = (uint8_t)kind;
    h[1] = (uint8_t)opcode;
    for (i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)(l >> (8 * i));
    put(b, h, sizeof h);
    put(b, d, n);
}

/* ---- the writer side ------------------------------------------------------ */

FUZZ_NO_COVERAGE
static void write_frame(int fin, uint8_t rsv, int opcode, const uint8_t *p,
                        size_t n)
{
    uint8_t hdr[WSP_MAX_HEADER_SIZE], key[4], *m;
    size_t hl, cut, i;
    uint64_t got_len;

    if (!g.masked && g.use_buf) {
        wsp_buf *b = wsp_buf_frame(opcode, fin, rsv, p, n);
        FUZZ_CHECK(b && wsp_buf_len(b) == wsp_frame_header_size(n, 0) + n);
        FUZZ_CHECK(wsp_buf_opcode(b) == opcode && wsp_buf_refs(b) == 1);
        FUZZ_CHECK(n == 0 || memcmp(wsp_buf_data(b) + wsp_buf_len(b) - n, p, n) == 0);
        put(&g.wire, wsp_buf_data(b), wsp_buf_len(b));
        wsp_buf_unref(b);
        return;
    }
    for (i = 0; i < 4; i++)
        key[i] = (uint8_t)rnd();
    hl = wsp_frame_header_write(hdr, fin, rsv, opcode, n, g.masked ? key : NULL);
    FUZZ_CHECK(hl == wsp_frame_header_size(n, g.masked));
    /* Decode the header by hand: FIN, RSV, opcode, mask bit, length. */
    FUZZ_CHECK((hdr[0] >> 7) == !!fin && (hdr[0] & 0x70) == rsv
               && (hdr[0] & 0x0F) == opcode && (hdr[1] >> 7) == g.masked);
    if ((hdr[1] & 0x7F) < 126) {
        got_len = hdr[1] & 0x7F;
        FUZZ_CHECK(hl == 2 + 4u * g.masked);
    } else if ((hdr[1] & 0x7F) == 126) {
        got_len = (uint64_t)hdr[2] << 8 | hdr[3];
        FUZZ_CHECK(hl == 4 + 4u * g.masked && got_len >= 126);
    } else {
        for (got_len = 0, i = 0; i < 8; i++)
            got_len = got_len << 8 | hdr[2 + i];
        FUZZ_CHECK(hl == 10 + 4u * g.masked && got_len > 0xFFFF);
    }
    FUZZ_CHECK(got_len == n);
    if (g.masked)
        FUZZ_CHECK(memcmp(hdr + hl - 4, key, 4) == 0);
    put(&g.wire, hdr, hl);
    if (!n)
        return;
    m = malloc(n);
    FUZZ_CHECK(m);
    memcpy(m, p, n);
    if (g.masked) {                    /* in two pieces, as a stream would */
        cut = rnd() % (n + 1);
        wsp_mask(m, cut, key, 0);
        wsp_mask(m + cut, n - cut, key, cut);
        for (i = 0; i < n; i++)
            FUZZ_CHECK((m[i] ^ key[i % 4]) == p[i]);
    }
    put(&g.wire, m, n);
    free(m);
}

/* Payload bytes: from the input while it lasts, then pseudo-random. */
FUZZ_NO_COVERAGE
static size_t payload(uint8_t *p, size_t max_len, int text)
{
    unsigned l = next();
    size_t n, i;

    if (l < 224)                       /* the 7-bit form, mostly */
        n = l % 200;
    else if (l < 252)                  /* the 16-bit form */
        n = 126 + (size_t)next() * 4;
    else if (l < 255)                  /* either side of 64 KiB */
        n = 65536 - 128 + next();
    else                               /* the 64-bit form, rarely */
        n = 65536 + ((size_t)next() << 8);
    if (n > max_len)
        n = max_len;
    for (i = 0; i < n; i++) {
        uint8_t c = g.pos < g.in_len ? (uint8_t)next() : (uint8_t)rnd();
        p[i] = text ? c & 0x7F : c;
    }
    return n;
}

static void control_frame(unsigned k)
{
    uint8_t p[WSP_MAX_CONTROL_PAYLOAD];
    int op = k & 1 ? WSP_OP_PONG : WSP_OP_PING;
    size_t n = payload(p, sizeof p, 0);

    write_frame(1, 0, op, p, n);
    event(&g.want, op, op, p, n);
}

/* A compressed message: parts deflated one by one, or the whole message
 * deflated and its output cut into nfrag pieces. */
static void compressed_message(int op, unsigned nfrag, unsigned h,
                               const uint8_t *msg, const size_t *cut)
{
    uint8_t *c;
    size_t cn, f;

    if (h & 0x80) {
        for (f = 0; f < nfrag; f++) {
            FUZZ_CHECK(wsp_deflate_part(&g.def, msg + cut[f], cut[f + 1] - cut[f],
                                        f + 1 == nfrag, g.keep, g.release,
                                        &c, &cn) == 0);
            write_frame(f + 1 == nfrag, f ? 0 : WSP_RSV1, f ? WSP_OP_CONT : op,
                        c, cn);
            free(c);
            if (h & 0x40 && f + 1 < nfrag)
                control_frame(rnd());
        }
        return;
    }
    FUZZ_CHECK(wsp_deflate_message(&g.def, msg, cut[nfrag], g.keep, g.release,
                                   &c, &cn) == 0);
    for (f = 0; f < nfrag; f++) {
        size_t a = cn * f / nfrag, b = cn * (f + 1) / nfrag;
        write_frame(f + 1 == nfrag, f ? 0 : WSP_RSV1, f ? WSP_OP_CONT : op,
                    c + a, b - a);
        if (h & 0x40 && f + 1 < nfrag)
            control_frame(rnd());
    }
    free(c);
}

static void message(void)
{
    static uint8_t msg[4 * (65536 + 65536)];
    unsigned h = next(), nfrag = 1 + ((h >> 1) & 3), f;
    int op = h & 1 ? WSP_OP_BINARY : WSP_OP_TEXT;
    int compressed = g.compress && (h & 8);
    size_t cut[5];

    cut[0] = 0;
    for (f = 0; f < nfrag; f++)
        cut[f + 1] = cut[f] + payload(msg + cut[f], 65536 + 65535, op == WSP_OP_TEXT);
    if (compressed)
        compressed_message(op, nfrag, h, msg, cut);
    else
        for (f = 0; f < nfrag; f++) {
            write_frame(f + 1 == nfrag, 0, f ? WSP_OP_CONT : op, msg + cut[f],
                        cut[f + 1] - cut[f]);
            if (h & 0x40 && f + 1 < nfrag)
                control_frame(h >> 4);
        }
    event(&g.want, 'm', op | (compressed ? WSP_MSG_COMPRESSED : 0), msg,
          cut[nfrag]);
}

static void close_frame(void)
{
    static const int codes[] = { 1000, 1001, 1003, 1011, 3000, 4999 };
    uint8_t p[WSP_MAX_CONTROL_PAYLOAD];
    char reason[123];
    unsigned k = next();
    size_t rn = next() % sizeof reason, i, n;
    int code = codes[k % 6];

    for (i = 0; i < rn; i++)
        reason[i] = (char)(' ' + next() % 95);
    if (k & 8) {                       /* no status at all */
        write_frame(1, 0, WSP_OP_CLOSE, p, 0);
        event(&g.want, WSP_OP_CLOSE, 0, NULL, 0);
        return;
    }
    n = wsp_close_payload(p, code, reason, rn);
    FUZZ_CHECK(n == 2 + rn && (p[0] << 8 | p[1]) == code);
    write_frame(1, 0, WSP_OP_CLOSE, p, n);
    event(&g.want, WSP_OP_CLOSE, code & 0xFF, reason, rn);
}

/* ---- the reader side ------------------------------------------------------ */

static int on_message(void *ud, int opcode, const uint8_t *d, size_t n)
{
    (void)ud;
    if (opcode & WSP_MSG_COMPRESSED) {
        uint8_t *out;
        size_t on;
        size_t max = (size_t)1 << 20;

        FUZZ_CHECK(wsp_inflate_message(&g.inf, d, n, max, g.keep, g.release,
                                       &out, &on) == WSP_INFLATE_OK);
        if (!g.keep && on > 0) {       /* the bound is exact */
            wsp_inflater f;
            uint8_t *o2;
            size_t n2;
            wsp_inflater_init(&f, g.inflate_window);
            FUZZ_CHECK(wsp_inflate_message(&f, d, n, on - 1, 0, 0, &o2, &n2)
                       == WSP_INFLATE_TOO_BIG && !o2);
            FUZZ_CHECK(wsp_inflate_message(&f, d, n, on, 0, 1, &o2, &n2)
                       == WSP_INFLATE_OK && n2 == on && memcmp(o2, out, on) == 0);
            free(o2);
            wsp_inflater_free(&f);
        }
        event(&g.got, 'm', opcode, out, on);
        free(out);
        return 0;
    }
    event(&g.got, 'm', opcode, d, n);
    return 0;
}

static int on_ping(void *ud, const uint8_t *d, size_t n)
{
    (void)ud;
    event(&g.got, WSP_OP_PING, WSP_OP_PING, d, n);
    return 0;
}

static int on_pong(void *ud, const uint8_t *d, size_t n)
{
    (void)ud;
    event(&g.got, WSP_OP_PONG, WSP_OP_PONG, d, n);
    return 0;
}

static int on_close(void *ud, int code, const char *r, size_t n)
{
    (void)ud;
    if (code == WSP_CLOSE_NO_STATUS)
        event(&g.got, WSP_OP_CLOSE, 0, NULL, 0);
    else
        event(&g.got, WSP_OP_CLOSE, code & 0xFF, r, n);
    return 0;
}

static const wsp_reader_callbacks cbs = { on_message, on_ping, on_pong, on_close };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsp_reader_config rc;
    wsp_reader r;
    unsigned cfg, lvl;
    size_t pos, used;

    memset(&g, 0, sizeof g);
    g.in = data;
    g.in_len = size;
    cfg = next();
    lvl = next();
    g.rng = next() | 0x10000u;
    g.masked = cfg & 1;
    g.use_buf = !!(cfg & 2);
    g.compress = !!(cfg & 4);
    g.window = 9 + (int)((cfg >> 3) & 7) % 7;
    g.mem_level = 1 + (int)(lvl % 9);
    g.keep = !!(lvl & 0x10);
    g.release = !!(lvl & 0x20);
    /* The inflater's window is at least the deflater's (what the offer
     * agreed), sometimes larger. */
    g.inflate_window = lvl & 0x40 ? 15 : g.window;
    wsp_deflater_init(&g.def, g.window, g.mem_level);
    wsp_inflater_init(&g.inf, g.inflate_window);

    while (g.pos < g.in_len && g.wire.len < MAX_WIRE) {
        unsigned k = next();
        if (k < 200)
            message();
        else if (k < 250)
            control_frame(k);
        else {
            close_frame();
            break;
        }
    }

    memset(&rc, 0, sizeof rc);
    rc.require_mask = g.masked;
    rc.allowed_rsv = g.compress ? WSP_RSV1 : 0;
    wsp_reader_init(&r, &rc, &cbs, NULL);
    for (pos = 0; pos < g.wire.len; pos += used) {
        size_t k = rnd() % 4 == 0 ? g.wire.len - pos : 1 + rnd() % 300;
        if (k > g.wire.len - pos)
            k = g.wire.len - pos;
        FUZZ_CHECK(wsp_reader_feed(&r, g.wire.p + pos, k, &used) == WSP_OK);
        FUZZ_CHECK(used == k);
    }
    FUZZ_CHECK(wsp_reader_error(&r) == 0 && !wsp_reader_error_text(&r));
    FUZZ_CHECK(g.got.len == g.want.len);
    FUZZ_CHECK(g.want.len == 0 || memcmp(g.got.p, g.want.p, g.want.len) == 0);
    wsp_reader_free(&r);
    wsp_deflater_free(&g.def);
    wsp_inflater_free(&g.inf);
    free(g.wire.p);
    free(g.want.p);
    free(g.got.p);
    return 0;
}
