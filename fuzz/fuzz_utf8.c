/*
 * fuzz_utf8.c - libFuzzer target for the UTF-8 validator.
 *
 * Input: [seed][text].  The text is validated whole, incrementally in
 * chunks whose sizes come from the seed, and one byte at a time; all must
 * agree with each other and with the naive reference in utf8_ref.h, and the
 * incremental feed must fail in exactly the chunk that holds the first byte
 * that no continuation could make valid (fail fast, never late or early).
 */
#include "fuzz_common.h"
#include "utf8_ref.h"
#include "wsp_utf8.h"

/* Index of the first byte whose one-byte feed reports INVALID, or -1. */
static long fail_index_bytewise(const uint8_t *s, size_t n, int *complete)
{
    wsp_utf8_state st;
    size_t i;

    wsp_utf8_init(&st);
    for (i = 0; i < n; i++)
        if (wsp_utf8_feed(&st, s + i, 1) != WSP_UTF8_OK) {
            *complete = 0;
            return (long)i;
        }
    *complete = wsp_utf8_complete(&st);
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsp_utf8_state st;
    const uint8_t *s;
    size_t n, pos = 0, chunk_start = 0;
    unsigned seed;
    long fi, chunk_fail = -1;
    int whole, complete;

    if (size < 1)
        return 0;
    seed = data[0];
    s = data + 1;
    n = size - 1;

    whole = wsp_utf8_valid(s, n);
    FUZZ_CHECK(whole == ref_valid(s, n));

    wsp_utf8_init(&st);
    while (pos < n) {
        size_t k = ((seed = seed * 1103515245u + 12345u) >> 16 & 31) + 1;
        if (k > n - pos)
            k = n - pos;
        if (wsp_utf8_feed(&st, s + pos, k) != WSP_UTF8_OK) {
            chunk_start = pos;
            chunk_fail = (long)(pos + k);
            break;
        }
        pos += k;
    }

    fi = fail_index_bytewise(s, n, &complete);
    FUZZ_CHECK(complete == whole);
    if (fi < 0) {
        FUZZ_CHECK(chunk_fail < 0);
        FUZZ_CHECK(wsp_utf8_complete(&st) == whole);
        FUZZ_CHECK(ref_viable(s, n));
    } else {
        /* The chunked feed failed in the chunk holding byte fi ... */
        FUZZ_CHECK(chunk_fail >= 0);
        FUZZ_CHECK((long)chunk_start <= fi && fi < chunk_fail);
        FUZZ_CHECK(!whole);
        /* ... and fi is the first byte that rules out every completion. */
        FUZZ_CHECK(ref_viable(s, (size_t)fi));
        FUZZ_CHECK(!ref_viable(s, (size_t)fi + 1));
    }
    return 0;
}
