/*
 * wsp_session_pmd.c - permessage-deflate (RFC 7692) inside the protocol
 * session: compressed input inflated before the handler sees it, whole
 * data messages compressed on their way out.  The codec is wsp_deflate.c;
 * what was agreed comes in the session's config.
 *
 * Output is compressed when a frame joins the session's queue, so with
 * context takeover the compressor's history follows the wire order.
 * Messages sent in parts are compressed part by part.  Control frames and
 * whole messages shorter than deflate_min_size go out plain (RSV1 clear):
 * a plain message does not touch either side's compression context.
 */
#include <stdlib.h>
#include <string.h>

#include "wsp_session.h"
#include "wsp_deflate.h"
#include "wsp_internal.h"
#include "wsp_utf8.h"

static void end_parts(wsp_session *s);

/* ---- set-up ------------------------------------------------------------- */

uint8_t wsp_pmd_setup(wsp_session *s)
{
    /* The inflater comes with the first compressed message. */
    uint8_t rsv = s->cfg.inflate_window_bits ? WSP_RSV1 : 0;

    if (s->cfg.deflate_window_bits && s->cfg.deflate_shared)
        s->cfg.deflate_keep_context = 0; /* a shared one keeps none */
    return rsv;
}

/* Without context an inflater holds nothing between messages. */
void wsp_pmd_trim(wsp_session *s)
{
    if (s->inflater && !s->cfg.inflate_keep_context) {
        wsp_inflater_free(s->inflater);
        free(s->inflater);
        s->inflater = NULL;
    }
}

void wsp_pmd_teardown(wsp_session *s)
{
    if (s->inflater) {
        wsp_inflater_free(s->inflater);
        free(s->inflater);
        s->inflater = NULL;
    }
    end_parts(s);
    if (s->deflater && s->deflater != s->cfg.deflate_shared) {
        wsp_deflater_free(s->deflater);
        free(s->deflater);
    }
    s->deflater = NULL;
}

/* zlib's own figures (zconf.h): inflate 2^wbits + ~7 KiB, deflate
 * 2^(wbits+2) + 2^(memlevel+9) + ~6 KiB, once allocated. */
static size_t deflater_bytes(const wsp_deflater *d)
{
    return d && d->ready ? ((size_t)1 << (d->window_bits + 2))
                           + ((size_t)1 << (d->mem_level + 9)) + 6 * 1024
                         : 0;
}

size_t wsp_pmd_memory(const wsp_session *s)
{
    size_t n = 0;
    if (s->inflater && s->inflater->ready)
        n += ((size_t)1 << s->inflater->window_bits) + 7 * 1024;
    if (s->deflater != s->cfg.deflate_shared)      /* the thread's is not ours */
        n += deflater_bytes(s->deflater);
    if (s->parts_deflater != s->deflater)
        n += deflater_bytes(s->parts_deflater);
    return n;
}

/* ---- input -------------------------------------------------------------- */

int wsp_pmd_deliver(wsp_session *s, int opcode, const uint8_t *data,
                    size_t len)
{
    size_t max = s->cfg.max_message_size && s->cfg.max_message_size < SIZE_MAX
                 ? (size_t)s->cfg.max_message_size : SIZE_MAX - 1;
    int keep = s->cfg.inflate_keep_context;
    wsp_inflater *f;
    uint8_t *plain;
    size_t n;
    wsp_inflate_status st;

    if (!s->cfg.inflate_window_bits) {
        wsp_session_fail(s, WSP_CLOSE_PROTOCOL_ERROR);
        return 1;
    }
    if (s->cfg.inflate_shared && !keep)
        f = s->cfg.inflate_shared;     /* reset after the message, kept */
    else {
        if (!s->inflater
            && (s->inflater = malloc(sizeof(*s->inflater))) != NULL)
            wsp_inflater_init(s->inflater, s->cfg.inflate_window_bits);
        f = s->inflater;
    }
    if (!f) {
        wsp_session_fail(s, WSP_CLOSE_INTERNAL_ERROR);
        return 1;
    }
    st = wsp_inflate_message(f, data, len, max, keep,
                             !keep && f != s->cfg.inflate_shared, &plain, &n);
    if (st != WSP_INFLATE_OK) {
        wsp_session_fail(s, st == WSP_INFLATE_TOO_BIG ? WSP_CLOSE_TOO_BIG
                            : st == WSP_INFLATE_BAD ? WSP_CLOSE_INVALID_DATA
                            : WSP_CLOSE_INTERNAL_ERROR);
        return 1;
    }
    if (opcode == WSP_OP_TEXT && !wsp_utf8_valid(plain, n)) {
        free(plain);
        wsp_session_fail(s, WSP_CLOSE_INVALID_DATA);
        return 1;
    }
    wsp_session_deliver(s, opcode, plain, n);
    free(plain);
    return 0;
}

/* ---- output ------------------------------------------------------------- */

/* The deflater to use now, or NULL (off, or out of memory). */
static wsp_deflater *deflater_of(wsp_session *s)
{
    if (s->deflater)
        return s->deflater;
    if (s->cfg.deflate_shared)
        return s->deflater = s->cfg.deflate_shared;
    if ((s->deflater = malloc(sizeof(*s->deflater))) != NULL)
        wsp_deflater_init(s->deflater, s->cfg.deflate_window_bits,
                          s->cfg.deflate_mem_level);
    return s->deflater;
}

wsp_buf *wsp_pmd_frame(wsp_session *s, int opcode, const void *data,
                       size_t len)
{
    int keep = s->cfg.deflate_keep_context;
    wsp_deflater *d;
    uint8_t *z;
    size_t zn;
    wsp_buf *b;

    if (!s->cfg.deflate_window_bits || len < s->cfg.deflate_min_size
        || !(d = deflater_of(s)))
        return NULL;
    /* A shared deflater keeps its zlib state for the next session; our
     * own one, without context, gives it back after each message. */
    if (wsp_deflate_message(d, data, len, keep,
                            !keep && d != s->cfg.deflate_shared, &z, &zn) != 0)
        return NULL;                   /* reset on failure: plain is safe */
    /* Without context a message that did not shrink goes out plain; with
     * context it must go as compressed, the compressor remembers it. */
    if (!keep && zn >= len) {
        free(z);
        return NULL;
    }
    b = wsp_buf_frame(opcode, 1, WSP_RSV1, z, zn);
    free(z);
    return b;
}

/* A server frame's payload: after its 2, 4 or 10 header bytes. */
static const uint8_t *payload_of(const wsp_buf *b, size_t *len)
{
    const uint8_t *p = wsp_buf_data(b);
    size_t hl = (p[1] & 0x7f) == 127 ? 10 : (p[1] & 0x7f) == 126 ? 4 : 2;

    *len = wsp_buf_len(b) - hl;
    return p + hl;
}

/* ---- messages sent in parts ----------------------------------------------
 * Each part is compressed with a sync flush as it comes, RSV1 on the first
 * frame only, the tail removed from the last.  The deflater belongs to the
 * message until then: the session's own one, or, where the session uses
 * the shared one, a deflater of its own for the message's life. */

static void end_parts(wsp_session *s)
{
    if (s->parts_deflater && s->parts_deflater != s->deflater) {
        wsp_deflater_free(s->parts_deflater);
        free(s->parts_deflater);
    }
    s->parts_deflater = NULL;
}

static wsp_deflater *parts_deflater_of(wsp_session *s)
{
    wsp_deflater *d;

    if (!s->cfg.deflate_shared)
        return deflater_of(s);
    if ((d = malloc(sizeof(*d))) != NULL)
        wsp_deflater_init(d, s->cfg.deflate_window_bits,
                          s->cfg.deflate_mem_level);
    return d;
}

/* One part compressed into a frame; NULL (and the deflater reset) if out
 * of memory. */
static wsp_buf *compress_part(wsp_session *s, const wsp_buf *b, int first,
                              int fin)
{
    int keep = s->cfg.deflate_keep_context && !s->cfg.deflate_shared;
    const uint8_t *payload;
    uint8_t *z;
    size_t len, zn;
    wsp_buf *out;

    payload = payload_of(b, &len);
    if (wsp_deflate_part(s->parts_deflater, payload, len, fin, keep, !keep,
                         &z, &zn) != 0)
        return NULL;
    out = wsp_buf_frame(first ? wsp_buf_opcode(b) : WSP_OP_CONT, fin,
                        first ? WSP_RSV1 : 0, z, zn);
    free(z);
    if (!out)
        wsp_deflate_abandon(s->parts_deflater);
    return out;
}

static wsp_buf *refit_part(wsp_session *s, const wsp_buf *b, int *failed)
{
    int first = wsp_buf_opcode(b) != WSP_OP_CONT;
    int fin = (wsp_buf_data(b)[0] & 0x80) != 0;
    wsp_buf *out;

    if (first && !(s->parts_deflater = parts_deflater_of(s)))
        return NULL;                   /* the whole message goes plain */
    if (!s->parts_deflater)
        return NULL;                   /* it began plain: it stays plain */
    out = compress_part(s, b, first, fin);
    if (!out && first) {
        end_parts(s);
        return NULL;
    }
    if (!out)
        *failed = 1;                   /* RSV1 went out: no way back */
    if (fin || !out)
        end_parts(s);
    return out;
}

wsp_buf *wsp_buf_compress(const wsp_buf *b, wsp_deflater *d)
{
    const uint8_t *p = wsp_buf_data(b), *payload;
    int opcode = wsp_buf_opcode(b);
    uint8_t *z;
    size_t len, zn;
    wsp_buf *out;

    if ((opcode != WSP_OP_TEXT && opcode != WSP_OP_BINARY)
        || !(p[0] & 0x80) || (p[0] & 0x70))
        return NULL;
    payload = payload_of(b, &len);
    if (wsp_deflate_message(d, payload, len, 0, 0, &z, &zn) != 0)
        return NULL;
    out = zn < len ? wsp_buf_frame(opcode, 1, WSP_RSV1, z, zn) : NULL;
    free(z);
    return out;
}

wsp_buf *wsp_pmd_refit(wsp_session *s, const wsp_buf *b, int *failed)
{
    const uint8_t *p = wsp_buf_data(b), *payload;
    int opcode = wsp_buf_opcode(b), fin = (p[0] & 0x80) != 0;
    size_t len;

    *failed = 0;
    if (!s->cfg.deflate_window_bits || (p[0] & 0x70))
        return NULL;                   /* off, or not a plain frame */
    if (opcode == WSP_OP_CONT || ((opcode == WSP_OP_TEXT
                                   || opcode == WSP_OP_BINARY) && !fin))
        return refit_part(s, b, failed);
    if (opcode != WSP_OP_TEXT && opcode != WSP_OP_BINARY)
        return NULL;                   /* control frames stay plain */
    payload = payload_of(b, &len);
    return wsp_pmd_frame(s, opcode, payload, len);
}
