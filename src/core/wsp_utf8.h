/*
 * wsp_utf8.h - incremental UTF-8 validation (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), fed in pieces split at any byte.
 *
 * Fails fast: the call that receives the first byte that cannot start or
 * continue a valid sequence reports it.  Runs of ASCII are checked a word at
 * a time.
 */
#ifndef WSP_UTF8_H
#define WSP_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef struct wsp_utf8_state {
    uint32_t state;   /* 0 = between code points (accepting) */
} wsp_utf8_state;

#define WSP_UTF8_OK         0   /* valid so far */
#define WSP_UTF8_INVALID  (-1)  /* cannot be valid whatever follows */

static inline void wsp_utf8_init(wsp_utf8_state *s) { s->state = 0; }
int  wsp_utf8_feed(wsp_utf8_state *s, const uint8_t *p, size_t len);
/* 1 if the text fed so far ends on a code point boundary. */
static inline int wsp_utf8_complete(const wsp_utf8_state *s) { return s->state == 0; }
/* One-shot validation of a whole buffer: 1 valid, 0 not. */
int  wsp_utf8_valid(const uint8_t *p, size_t len);

#endif
