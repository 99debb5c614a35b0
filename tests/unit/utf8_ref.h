/*
 * utf8_ref.h - a deliberately naive UTF-8 checker used as the oracle for the
 * real validator (unit tests and fuzz_utf8): decode each code point in full,
 * then check its range.  Different algorithm, same answer expected.
 */
#ifndef UTF8_REF_H
#define UTF8_REF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int ref_valid(const uint8_t *s, size_t n)
{
    size_t i = 0, k, need;
    uint32_t c, min;

    while (i < n) {
        c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            need = 1, c &= 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            need = 2, c &= 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            need = 3, c &= 0x07, min = 0x10000;
        else
            return 0;
        for (k = 1; k <= need; k++) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* A prefix is viable if some continuation makes it valid.  Continuation
 * bytes matter only by range (80-8F, 90-9F, A0-BF), so three
 * representatives, up to three of them, cover every completion. */
static int ref_viable(const uint8_t *s, size_t n)
{
    static const uint8_t rep[3] = { 0x80, 0x90, 0xA0 };
    uint8_t *buf;
    int a, b, c, ok = 0;

    if (ref_valid(s, n))
        return 1;
    buf = malloc(n + 3);
    if (!buf)
        abort();
    memcpy(buf, s, n);
    for (a = 0; a < 3 && !ok; a++) {
        buf[n] = rep[a];
        ok = ref_valid(buf, n + 1);
        for (b = 0; b < 3 && !ok; b++) {
            buf[n + 1] = rep[b];
            ok = ref_valid(buf, n + 2);
            for (c = 0; c < 3 && !ok; c++) {
                buf[n + 2] = rep[c];
                ok = ref_valid(buf, n + 3);
            }
        }
    }
    free(buf);
    return ok;
}

#endif
