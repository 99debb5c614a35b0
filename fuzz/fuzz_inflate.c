/*
 * fuzz_inflate.c - libFuzzer target for the permessage-deflate codec.
 *
 * Input: [settings byte][bytes].  The bytes are inflated as a compressed
 * message under a bound taken from the settings: whatever they are, the
 * result is OK within the bound, TOO_BIG, or BAD, never more output than
 * the bound.  Then the same bytes are compressed and inflated back, with
 * and without context: they must come back exactly.
 */
#include <string.h>

#include "fuzz_common.h"
#include "wsp_deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t bounds[] = { 0, 1, 100, 4096, 65536, 1 << 20 };
    wsp_inflater f;
    wsp_deflater d;
    uint8_t *out, *c;
    size_t n, cn, max;
    unsigned k;
    int keep, i;
    wsp_inflate_status st;

    if (size < 1)
        return 0;
    k = data[0];
    data++;
    size--;
    max = bounds[k % 6];
    keep = (k >> 3) & 1;
    wsp_inflater_init(&f, 8 + (int)((k >> 4) & 7));
    st = wsp_inflate_message(&f, data, size, max, keep, 0, &out, &n);
    FUZZ_CHECK(st == WSP_INFLATE_OK || st == WSP_INFLATE_TOO_BIG
               || st == WSP_INFLATE_BAD);
    if (st == WSP_INFLATE_OK) {
        FUZZ_CHECK(n <= max && out && out[n] == '\0');
        free(out);
    }
    else
        FUZZ_CHECK(!out);
    wsp_inflater_free(&f);

    wsp_deflater_init(&d, 9 + (int)((k >> 4) & 7) % 7, 1 + (int)(k % 9));
    wsp_inflater_init(&f, 15);
    for (i = 0; i < 2; i++) {          /* twice: the context carries over */
        FUZZ_CHECK(wsp_deflate_message(&d, data, size, keep, 0, &c, &cn) == 0);
        FUZZ_CHECK(wsp_inflate_message(&f, c, cn, size, keep, 0, &out, &n)
                   == WSP_INFLATE_OK);
        FUZZ_CHECK(n == size && memcmp(out, data, size) == 0);
        free(c);
        free(out);
    }
    wsp_deflater_free(&d);
    wsp_inflater_free(&f);
    return 0;
}
