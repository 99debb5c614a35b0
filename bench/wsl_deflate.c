/*
 * wsl_deflate.c - the client side of permessage-deflate (RFC 7692) for the
 * load generator, on zlib directly (not the core's codec, so that a bug
 * there cannot cancel itself out between the two ends).
 *
 * Offer: "permessage-deflate; client_max_window_bits".  The answer must be
 * one permessage-deflate with known parameters (else the 101 is refused).
 * Out: every data message is compressed as a whole (raw deflate at
 * ctx->pmd_level, Z_SYNC_FLUSH, the 00 00 ff ff tail removed) and sent as one
 * frame with RSV1.  In: a message whose first frame had RSV1 is inflated
 * (tail put back); uncompressed ones are taken as they are.
 *
 * Context: with client_no_context_takeover in the answer, or when the mode
 * asks for none (ctx->pmd_client_context 0: the idle hold, where 10,000
 * compressors would cost the client 2.5 GiB), the client's messages are
 * compressed by one deflater of the context, reset after each message;
 * otherwise each connection has its own that keeps the context.  The same
 * for inflating: server_no_context_takeover, one shared inflater reset
 * after each message; otherwise one per connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "wsload.h"

#define MAX_MESSAGE (64ull << 20)

struct wsl_pmd {
    int      client_nct, server_nct;   /* no context takeover, each way */
    int      client_bits, server_bits;
    z_stream def, inf;                 /* this connection's, with context */
    int      def_ready, inf_ready;
};

typedef struct wsl_buf {
    uint8_t *p;
    size_t   cap;
} wsl_buf;

struct wsl_pmd_shared {
    z_stream def, inf;
    int      def_bits, def_ready, inf_ready;
    wsl_buf  dout, iout;               /* output of the last call of each */
};

const char *wsl_pmd_offer(void)
{
    return "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
}

/* ---- the answer ------------------------------------------------------------ */

static int parse_bits(const char *v, int *out)
{
    char *end;
    long n;

    if (!v)
        return -1;
    if (*v == '"') {                   /* a quoted-string value is allowed */
        size_t l = strlen(v);
        if (l < 3 || v[l - 1] != '"')
            return -1;
        n = strtol(v + 1, &end, 10);
        if (end != v + l - 1)
            return -1;
    }
    else {
        n = strtol(v, &end, 10);
        if (*end)
            return -1;
    }
    if (n < 8 || n > 15)
        return -1;
    *out = (int)n;
    return 0;
}

/* Trims spaces and tabs at both ends, in place. */
static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

int wsl_pmd_accept(wsl_conn *c, const char *answer)
{
    char buf[256], *tok, *save = NULL;
    struct wsl_pmd p;
    int first = 1, seen = 0;

    if (strlen(answer) >= sizeof(buf) || strchr(answer, ','))
        return -1;                     /* one extension, nothing else */
    memset(&p, 0, sizeof(p));
    p.client_bits = p.server_bits = 15;
    strcpy(buf, answer);
    for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(tok, '='), *name, *val = NULL;
        int bit;

        if (eq) {
            *eq = '\0';
            val = trim(eq + 1);
        }
        name = trim(tok);
        if (first) {
            if (strcasecmp(name, "permessage-deflate") != 0 || val)
                return -1;
            first = 0;
            continue;
        }
        if (!strcasecmp(name, "server_no_context_takeover") && !val)
            bit = 1, p.server_nct = 1;
        else if (!strcasecmp(name, "client_no_context_takeover") && !val)
            bit = 2, p.client_nct = 1;
        else if (!strcasecmp(name, "server_max_window_bits")
                 && parse_bits(val, &p.server_bits) == 0)
            bit = 4;
        else if (!strcasecmp(name, "client_max_window_bits")
                 && parse_bits(val, &p.client_bits) == 0)
            bit = 8;
        else
            return -1;
        if (seen & bit)
            return -1;                 /* the same parameter twice */
        seen |= bit;
    }
    if (first)
        return -1;
    /* zlib's raw deflate has no window of 8; 9 would break the promise. */
    if (p.client_bits == 8)
        return -1;
    if (!(c->pmd = malloc(sizeof(*c->pmd))))
        return -1;
    *c->pmd = p;
    if (!c->ctx->pmd_conns)            /* what was agreed, once */
        fprintf(stderr, "wsload: agreed: %s\n", answer);
    c->ctx->pmd_conns++;
    if (!c->ctx->pmd_shared && !(c->ctx->pmd_shared = calloc(1, sizeof(struct wsl_pmd_shared))))
        return -1;
    return 0;
}

void wsl_pmd_free(wsl_conn *c)
{
    if (!c->pmd)
        return;
    if (c->pmd->def_ready)
        deflateEnd(&c->pmd->def);
    if (c->pmd->inf_ready)
        inflateEnd(&c->pmd->inf);
    free(c->pmd);
    c->pmd = NULL;
}

void wsl_pmd_ctx_free(wsl_ctx *ctx)
{
    struct wsl_pmd_shared *s = ctx->pmd_shared;

    if (!s)
        return;
    if (s->def_ready)
        deflateEnd(&s->def);
    if (s->inf_ready)
        inflateEnd(&s->inf);
    free(s->dout.p);
    free(s->iout.p);
    free(s);
    ctx->pmd_shared = NULL;
}

/* ---- messages ------------------------------------------------------------- */

static int grow(wsl_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 16384;
    uint8_t *nb;

    if (need <= b->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    if (!(nb = realloc(b->p, cap)))
        return -1;
    b->p = nb;
    b->cap = cap;
    return 0;
}

int wsl_pmd_deflate(wsl_conn *c, const void *in, size_t n, const uint8_t **out, size_t *out_len)
{
    struct wsl_pmd *p = c->pmd;
    struct wsl_pmd_shared *s = c->ctx->pmd_shared;
    int keep = !p->client_nct && c->ctx->pmd_client_context;
    z_stream *z = keep ? &p->def : &s->def;
    int *ready = keep ? &p->def_ready : &s->def_ready;
    wsl_buf *b = &s->dout;
    size_t len = 0;

    /* The shared deflater is remade if this connection's window differs. */
    if (!keep && s->def_ready && s->def_bits != p->client_bits) {
        deflateEnd(&s->def);
        s->def_ready = 0;
    }
    if (!*ready) {
        memset(z, 0, sizeof(*z));
        if (deflateInit2(z, c->ctx->pmd_level, Z_DEFLATED, -p->client_bits, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return -1;
        *ready = 1;
        if (!keep)
            s->def_bits = p->client_bits;
    }
    if (grow(b, deflateBound(z, n) + 64) != 0)
        return -1;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    for (;;) {
        z->next_out = b->p + len;
        z->avail_out = (uInt)(b->cap - len);
        if (deflate(z, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
            return -1;
        len = b->cap - z->avail_out;
        if (z->avail_out && !z->avail_in)
            break;
        if (grow(b, b->cap * 2) != 0)
            return -1;
    }
    if (len < 4 || memcmp(b->p + len - 4, "\x00\x00\xff\xff", 4) != 0)
        return -1;
    if (!keep)
        deflateReset(z);
    *out = b->p;
    *out_len = len - 4;
    c->ctx->pmd_tx_raw += n;
    c->ctx->pmd_tx_wire += len - 4;
    return 0;
}

int wsl_pmd_inflate(wsl_conn *c, const uint8_t *in, size_t n, const uint8_t **out, size_t *out_len)
{
    static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
    struct wsl_pmd *p = c->pmd;
    struct wsl_pmd_shared *s = c->ctx->pmd_shared;
    int keep = !p->server_nct;
    z_stream *z = keep ? &p->inf : &s->inf;
    int *ready = keep ? &p->inf_ready : &s->inf_ready, part, rc = Z_OK;
    wsl_buf *b = &s->iout;
    size_t len = 0;

    if (!*ready) {
        memset(z, 0, sizeof(*z));
        if (inflateInit2(z, -15) != Z_OK)  /* 15 takes any server window */
            return -1;
        *ready = 1;
    }
    if (grow(b, n * 4 + 4096) != 0)
        return -1;
    /* The message, then the tail; a final block (BFINAL) ends the stream
     * early: then the tail is not needed and the stream starts over. */
    for (part = 0; part < 2 && rc != Z_STREAM_END; part++) {
        z->next_in = (Bytef *)(uintptr_t)(part ? tail : in);
        z->avail_in = (uInt)(part ? 4 : n);
        do {
            if (len == b->cap && (b->cap >= MAX_MESSAGE || grow(b, b->cap * 2) != 0))
                return -1;
            z->next_out = b->p + len;
            z->avail_out = (uInt)(b->cap - len);
            rc = inflate(z, Z_SYNC_FLUSH);
            if ((rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
                || (rc == Z_BUF_ERROR && z->avail_in && z->avail_out))
                return -1;
            len = b->cap - z->avail_out;
        } while (rc != Z_STREAM_END && (z->avail_in || !z->avail_out));
    }
    if (!keep || rc == Z_STREAM_END)
        inflateReset(z);
    *out = b->p;
    *out_len = len;
    c->ctx->pmd_rx_raw += len;
    c->ctx->pmd_rx_wire += n;
    return 0;
}

void wsl_pmd_report(const wsl_ctx *x)
{
    printf(" pmd=%llu tx_ratio=%.4f rx_ratio=%.4f rx_plain=%llu level=%d",
           (unsigned long long)x->pmd_conns,
           x->pmd_tx_raw ? (double)x->pmd_tx_wire / (double)x->pmd_tx_raw : 1.0,
           x->pmd_rx_raw ? (double)x->pmd_rx_wire / (double)x->pmd_rx_raw : 1.0,
           (unsigned long long)x->pmd_rx_plain, x->pmd_level);
}
