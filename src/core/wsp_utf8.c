/*
 * wsp_utf8.c - incremental UTF-8 validation (RFC 3629).
 *
 * Design: every byte falls into one of 12 classes that say what it can be
 * (ASCII, one of three continuation ranges, a lead byte and which ranges
 * its first continuation may take, or never valid).  A 9-state automaton
 * then walks the classes.  The special lead bytes (E0, ED, F0, F4) get
 * their own states because they narrow the range of the *next* byte: that
 * is how overlongs (E0 80, F0 80), surrogates (ED A0..BF) and code points
 * above U+10FFFF (F4 90) are refused at the very byte that makes them so.
 *
 * States are stored premultiplied by the number of classes so that a
 * transition is one table load: next = trans[state + class].
 *
 * Runs of ASCII, the common case for protocols, skip the automaton and are
 * checked 16 bytes at a time by looking for any high bit.
 */
#include <string.h>

#include "wsp_utf8.h"

/* Byte classes. */
enum {
    C_ASC,   /* 00..7F */
    C_CLO,   /* 80..8F  continuation, low */
    C_CMI,   /* 90..9F  continuation, middle */
    C_CHI,   /* A0..BF  continuation, high */
    C_BAD,   /* C0 C1 F5..FF: never valid */
    C_L2,    /* C2..DF  lead of 2 */
    C_E0,    /* E0      lead of 3, next A0..BF (no overlong) */
    C_L3,    /* E1..EC EE EF  lead of 3 */
    C_ED,    /* ED      lead of 3, next 80..9F (no surrogate) */
    C_F0,    /* F0      lead of 4, next 90..BF (no overlong) */
    C_L4,    /* F1..F3  lead of 4 */
    C_F4,    /* F4      lead of 4, next 80..8F (<= U+10FFFF) */
    NCLASS
};

/* States, premultiplied by NCLASS.  S_ACC must be 0: wsp_utf8_complete()
 * and wsp_utf8_init() in the header rely on it. */
enum {
    S_ACC = 0 * NCLASS,  /* between code points */
    S_N1  = 1 * NCLASS,  /* one continuation (80..BF) to go */
    S_N2  = 2 * NCLASS,  /* two to go */
    S_E0  = 3 * NCLASS,  /* after E0: A0..BF, then one */
    S_ED  = 4 * NCLASS,  /* after ED: 80..9F, then one */
    S_N3  = 5 * NCLASS,  /* three to go */
    S_F0  = 6 * NCLASS,  /* after F0: 90..BF, then two */
    S_F4  = 7 * NCLASS,  /* after F4: 80..8F, then two */
    S_REJ = 8 * NCLASS   /* invalid; sticky */
};

#define R_ S_REJ
#define ROW(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x

static const uint8_t byte_class[256] = {
    ROW(C_ASC), ROW(C_ASC), ROW(C_ASC), ROW(C_ASC),   /* 00..3F */
    ROW(C_ASC), ROW(C_ASC), ROW(C_ASC), ROW(C_ASC),   /* 40..7F */
    ROW(C_CLO),                                       /* 80..8F */
    ROW(C_CMI),                                       /* 90..9F */
    ROW(C_CHI), ROW(C_CHI),                           /* A0..BF */
    C_BAD, C_BAD, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, /* C0..C7 */
    C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2,   /* C8..CF */
    ROW(C_L2),                                        /* D0..DF */
    C_E0, C_L3, C_L3, C_L3, C_L3, C_L3, C_L3, C_L3,   /* E0..E7 */
    C_L3, C_L3, C_L3, C_L3, C_L3, C_ED, C_L3, C_L3,   /* E8..EF */
    C_F0, C_L4, C_L4, C_L4, C_F4, C_BAD, C_BAD, C_BAD,/* F0..F7 */
    C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD /* F8..FF */
};

static const uint8_t transition[9 * NCLASS] = {
    /*         ASC    CLO   CMI   CHI   BAD  L2    E0    L3    ED    F0    L4    F4 */
    /* ACC */ S_ACC, R_,   R_,   R_,   R_,  S_N1, S_E0, S_N2, S_ED, S_F0, S_N3, S_F4,
    /* N1  */ R_,    S_ACC, S_ACC, S_ACC, R_, R_, R_,   R_,   R_,   R_,   R_,   R_,
    /* N2  */ R_,    S_N1, S_N1, S_N1, R_,  R_,   R_,   R_,   R_,   R_,   R_,   R_,
    /* E0  */ R_,    R_,   R_,   S_N1, R_,  R_,   R_,   R_,   R_,   R_,   R_,   R_,
    /* ED  */ R_,    S_N1, S_N1, R_,   R_,  R_,   R_,   R_,   R_,   R_,   R_,   R_,
    /* N3  */ R_,    S_N2, S_N2, S_N2, R_,  R_,   R_,   R_,   R_,   R_,   R_,   R_,
    /* F0  */ R_,    R_,   S_N2, S_N2, R_,  R_,   R_,   R_,   R_,   R_,   R_,   R_,
    /* F4  */ R_,    S_N2, R_,   R_,   R_,  R_,   R_,   R_,   R_,   R_,   R_,   R_,
    /* REJ */ R_,    R_,   R_,   R_,   R_,  R_,   R_,   R_,   R_,   R_,   R_,   R_
};

#define HIGH_BITS UINT64_C(0x8080808080808080)

/* Returns the index of the first byte at or after i that is not ASCII (or
 * len).  Word-wide: 16 bytes per step while the text is plain ASCII. */
static size_t skip_ascii(const uint8_t *p, size_t i, size_t len)
{
    uint64_t a, b;

    while (len - i >= 16) {
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        if ((a | b) & HIGH_BITS)
            break;
        i += 16;
    }
    if (len - i >= 8) {
        memcpy(&a, p + i, 8);
        if (!(a & HIGH_BITS))
            i += 8;
    }
    while (i < len && p[i] < 0x80)
        i++;
    return i;
}

int wsp_utf8_feed(wsp_utf8_state *s, const uint8_t *p, size_t len)
{
    uint32_t st = s->state;
    size_t i = 0;

    if (st == S_REJ)
        return WSP_UTF8_INVALID;
    while (i < len) {
        /* Only an ASCII byte at a code point boundary is worth a try of
         * the word-wide path; in non-Latin text most bytes are not. */
        if (p[i] < 0x80 && st == S_ACC) {
            i = skip_ascii(p, i, len);
            continue;
        }
        st = transition[st + byte_class[p[i++]]];
        if (st == S_REJ) {
            s->state = st;
            return WSP_UTF8_INVALID;
        }
    }
    s->state = st;
    return WSP_UTF8_OK;
}

int wsp_utf8_valid(const uint8_t *p, size_t len)
{
    wsp_utf8_state s;

    wsp_utf8_init(&s);
    return wsp_utf8_feed(&s, p, len) == WSP_UTF8_OK && wsp_utf8_complete(&s);
}
