/*
 * wsp_deflate.h - the permessage-deflate codec (RFC 7692 section 7.2) over
 * byte buffers, on zlib's raw deflate: a message is compressed as a whole
 * with a sync flush and its 4-byte tail (00 00 ff ff) removed; received,
 * the tail is put back and the message inflated with a bound on its size.
 *
 * Memory is the point of the options: zlib's state is allocated on first
 * use and, with `release`, freed again after each message, so that an
 * idle connection holds none (with no context takeover the state is not
 * needed between messages anyway).  A deflater may also serve many
 * connections (one per loop thread) when it never keeps context.
 */
#ifndef WSP_DEFLATE_H
#define WSP_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

typedef struct wsp_deflater {
    z_stream z;
    int      ready;            /* deflateInit2 done */
    int      window_bits;      /* 9..15 */
    int      mem_level;        /* 1..9 */
} wsp_deflater;

typedef struct wsp_inflater {
    z_stream z;
    int      ready;
    int      window_bits;      /* 8..15: at least the peer's window */
} wsp_inflater;

typedef enum {
    WSP_INFLATE_OK = 0,
    WSP_INFLATE_TOO_BIG,       /* more than max: close 1009 */
    WSP_INFLATE_BAD,           /* not a valid deflate stream: close 1007 */
    WSP_INFLATE_NOMEM          /* close 1011 */
} wsp_inflate_status;

/* Settings only; zlib's state comes with the first message. */
void wsp_deflater_init(wsp_deflater *d, int window_bits, int mem_level);
void wsp_deflater_free(wsp_deflater *d);
void wsp_inflater_init(wsp_inflater *f, int window_bits);
void wsp_inflater_free(wsp_inflater *f);

/* Compresses one whole message into *out (malloc'd, the caller frees),
 * the tail removed.  keep_context 0: the next message starts afresh (no
 * context takeover); release 1 frees zlib's state after this message.
 * 0 on success, -1 if out of memory. */
int wsp_deflate_message(wsp_deflater *d, const void *in, size_t n,
                        int keep_context, int release,
                        uint8_t **out, size_t *out_len);

/* Compresses one part of a message sent in parts: its output, sync-
 * flushed, in *out (may be empty for an empty part).  final 1: the last
 * part, its tail removed, then keep_context and release apply as above.
 * Between the first and the last part the deflater belongs to this
 * message alone. */
int wsp_deflate_part(wsp_deflater *d, const void *in, size_t n, int final,
                     int keep_context, int release,
                     uint8_t **out, size_t *out_len);
/* A message in parts that will not be finished: forget it, free the state. */
void wsp_deflate_abandon(wsp_deflater *d);

/* Inflates one whole compressed message (its frames' payloads joined) into
 * *out (malloc'd, NUL-terminated for convenience, the caller frees), never
 * producing more than max bytes: past that it stops with TOO_BIG.
 * keep_context and release as above. */
wsp_inflate_status wsp_inflate_message(wsp_inflater *f, const uint8_t *in,
                                       size_t n, size_t max,
                                       int keep_context, int release,
                                       uint8_t **out, size_t *out_len);

#endif
