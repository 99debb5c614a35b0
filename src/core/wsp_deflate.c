/*
 * wsp_deflate.c - the permessage-deflate codec (see wsp_deflate.h).
 */
#include <stdlib.h>
#include <string.h>

#include "wsp_deflate.h"

static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };

#define INFLATE_FIRST_CHUNK 4096

/* ---- deflate -------------------------------------------------------- */

void wsp_deflater_init(wsp_deflater *d, int window_bits, int mem_level)
{
    memset(d, 0, sizeof(*d));
    /* zlib's raw deflate cannot use a window of 8 (it would use 9 and
     * produce a stream a peer that agreed to 8 may not read). */
    d->window_bits = window_bits < 9 ? 9 : window_bits > 15 ? 15 : window_bits;
    d->mem_level = mem_level < 1 ? 1 : mem_level > 9 ? 9 : mem_level;
}

void wsp_deflater_free(wsp_deflater *d)
{
    if (d->ready)
        deflateEnd(&d->z);
    d->ready = 0;
}

static int deflater_ready(wsp_deflater *d)
{
    if (d->ready)
        return 1;
    memset(&d->z, 0, sizeof(d->z));
    if (deflateInit2(&d->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -d->window_bits,
                     d->mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    d->ready = 1;
    return 1;
}

/* After a message: forget the context, free the state, or neither. */
static void deflater_after(wsp_deflater *d, int keep_context, int release)
{
    if (release)
        wsp_deflater_free(d);
    else if (!keep_context)
        deflateReset(&d->z);
}

int wsp_deflate_part(wsp_deflater *d, const void *in, size_t n, int final,
                     int keep_context, int release,
                     uint8_t **out, size_t *out_len)
{
    size_t cap, produced;
    uint8_t *buf;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (!deflater_ready(d))
        return -1;
    /* deflateBound plus the sync flush's empty stored block (5 bytes)
     * and a little slack: one call always has room for everything. */
    cap = deflateBound(&d->z, (uLong)n) + 16;
    if (!(buf = malloc(cap))) {
        deflater_after(d, 0, 1);
        return -1;
    }
    d->z.next_in = (Bytef *)(uintptr_t)in;
    d->z.avail_in = (uInt)n;
    d->z.next_out = buf;
    d->z.avail_out = (uInt)cap;
    rc = deflate(&d->z, Z_SYNC_FLUSH);
    produced = cap - d->z.avail_out;
    if (produced == 0 && rc == Z_BUF_ERROR && n == 0) {
        /* Nothing since the last flush: zlib writes no second marker.  An
         * empty stored block's first byte stands for the message (RFC 7692
         * 7.2.3.6), the rest being the tail the peer adds; a part in the
         * middle adds nothing. */
        buf[0] = 0x00;
        produced = final ? 1 + sizeof(tail) : 0;
    }
    else if ((rc != Z_OK && rc != Z_BUF_ERROR) || d->z.avail_in != 0
             || produced < sizeof(tail)
             || memcmp(buf + produced - sizeof(tail), tail, sizeof(tail))) {
        free(buf);
        deflater_after(d, 0, 1);
        return -1;
    }
    /* The message's tail goes; a part's stays, it is inside the stream. */
    *out_len = final ? produced - sizeof(tail) : produced;
    *out = buf;
    if (final)
        deflater_after(d, keep_context, release);
    return 0;
}

int wsp_deflate_message(wsp_deflater *d, const void *in, size_t n,
                        int keep_context, int release,
                        uint8_t **out, size_t *out_len)
{
    return wsp_deflate_part(d, in, n, 1, keep_context, release, out, out_len);
}

/* Ends a message whose parts were compressed, with nothing more to add. */
void wsp_deflate_abandon(wsp_deflater *d)
{
    deflater_after(d, 0, 1);
}

/* ---- inflate -------------------------------------------------------- */

void wsp_inflater_init(wsp_inflater *f, int window_bits)
{
    memset(f, 0, sizeof(*f));
    f->window_bits = window_bits < 8 ? 8 : window_bits > 15 ? 15 : window_bits;
}

void wsp_inflater_free(wsp_inflater *f)
{
    if (f->ready)
        inflateEnd(&f->z);
    f->ready = 0;
}

static int inflater_ready(wsp_inflater *f)
{
    if (f->ready)
        return 1;
    memset(&f->z, 0, sizeof(f->z));
    /* A window of 8 is accepted by raw inflate; 15 would read anything but
     * cost 32 KiB where the peer agreed to less. */
    if (inflateInit2(&f->z, -f->window_bits) != Z_OK)
        return 0;
    f->ready = 1;
    return 1;
}

static void inflater_after(wsp_inflater *f, int keep_context, int release)
{
    if (release)
        wsp_inflater_free(f);
    else if (!keep_context)
        inflateReset(&f->z);
}

/* After the end of a stream: a fresh stream whose window is the old one's
 * (for raw inflate a dictionary may be set at any time). */
static int restart_with_window(wsp_inflater *f)
{
    uInt n = (uInt)1 << 15;
    Bytef *w = malloc(n);
    int rc = w && inflateGetDictionary(&f->z, w, &n) == Z_OK
             && inflateReset(&f->z) == Z_OK
             && (n == 0 || inflateSetDictionary(&f->z, w, n) == Z_OK) ? 0 : -1;

    free(w);
    return rc;
}

/* Room for more output, within max + 1 (the byte that proves "too big"). */
static int grow(uint8_t **buf, size_t *cap, size_t used, size_t max)
{
    size_t want = *cap ? *cap * 2 : INFLATE_FIRST_CHUNK;
    uint8_t *p;

    if (want > max + 1)
        want = max + 1;
    if (want <= used)
        return 0;
    if (!(p = realloc(*buf, want + 1)))   /* + the NUL */
        return -1;
    *buf = p;
    *cap = want;
    return 1;
}

/* Feeds one input piece and takes all the output it gives; OK once the
 * piece is used up and zlib holds no more output. */
static wsp_inflate_status run(wsp_inflater *f, const uint8_t *in, size_t n,
                              size_t max, uint8_t **buf, size_t *cap,
                              size_t *used, int *ended)
{
    f->z.next_in = (Bytef *)(uintptr_t)in;
    f->z.avail_in = (uInt)n;
    do {
        int rc, g;

        if (*used == *cap) {
            if ((g = grow(buf, cap, *used, max)) < 0)
                return WSP_INFLATE_NOMEM;
            if (g == 0)
                return WSP_INFLATE_TOO_BIG;
        }
        f->z.next_out = *buf + *used;
        f->z.avail_out = (uInt)(*cap - *used);
        rc = inflate(&f->z, Z_SYNC_FLUSH);
        *used = *cap - f->z.avail_out;
        if (*used > max)
            return WSP_INFLATE_TOO_BIG;
        if (rc == Z_STREAM_END)
            *ended = 1;                /* a final block: the rest is ignored */
        else if (rc == Z_MEM_ERROR)
            return WSP_INFLATE_NOMEM;
        else if (rc == Z_BUF_ERROR) {
            if (f->z.avail_out)        /* no progress possible: all taken */
                break;
        }
        else if (rc != Z_OK)
            return WSP_INFLATE_BAD;
    } while (!*ended && (f->z.avail_in || !f->z.avail_out));
    return WSP_INFLATE_OK;
}

wsp_inflate_status wsp_inflate_message(wsp_inflater *f, const uint8_t *in,
                                       size_t n, size_t max,
                                       int keep_context, int release,
                                       uint8_t **out, size_t *out_len)
{
    uint8_t *buf = NULL;
    size_t cap = 0, used = 0;
    int ended = 0;
    wsp_inflate_status st;

    *out = NULL;
    *out_len = 0;
    if (!inflater_ready(f))
        return WSP_INFLATE_NOMEM;
    st = run(f, in, n, max, &buf, &cap, &used, &ended);
    if (st == WSP_INFLATE_OK && !ended)
        st = run(f, tail, sizeof(tail), max, &buf, &cap, &used, &ended);
    if (st != WSP_INFLATE_OK) {
        free(buf);
        inflater_after(f, 0, 1);       /* the stream is unusable now */
        return st;
    }
    if (!buf && !(buf = malloc(1))) {
        inflater_after(f, 0, 1);
        return WSP_INFLATE_NOMEM;
    }
    buf[used] = '\0';
    if (ended && keep_context && !release) {
        /* A final block ended the stream (RFC 7692 7.2.3.4 allows it), but
         * with context takeover the next message is still inflated with
         * this one's window (7.2.2): the new stream starts from it. */
        if (restart_with_window(f) != 0) {
            free(buf);
            inflater_after(f, 0, 1);
            return WSP_INFLATE_NOMEM;
        }
    }
    else
        inflater_after(f, ended ? 0 : keep_context, release);
    /* Published only now: on every failure *out stays NULL, as promised,
     * never a pointer to the buffer just freed. */
    *out = buf;
    *out_len = used;
    return WSP_INFLATE_OK;
}
