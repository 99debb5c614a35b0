/*
 * wsl_hist.c - a log-linear latency histogram: exact below 128 ns, then 64
 * sub-buckets per power of two (relative error under 1%), values capped at
 * 2^40 ns (~18 minutes).  Fixed size, no allocation.
 */
#include "wsload.h"

#define SUB_BITS 6
#define SUB      (1u << SUB_BITS)          /* 64 */
#define LINEAR   (2u * SUB)                /* 128: exact below */
#define MAX_NS   ((1ull << 40) - 1)

static unsigned bucket_of(uint64_t v)
{
    unsigned msb, shift;

    if (v < LINEAR)
        return (unsigned)v;
    if (v > MAX_NS)
        v = MAX_NS;
    msb = 63u - (unsigned)__builtin_clzll(v);          /* >= 7 */
    shift = msb - SUB_BITS;
    return LINEAR + (msb - SUB_BITS - 1) * SUB + (unsigned)((v >> shift) - SUB);
}

/* Middle of bucket i, in ns. */
static double bucket_mid(unsigned i)
{
    unsigned k, shift;
    uint64_t top;

    if (i < LINEAR)
        return i;
    k = i - LINEAR;
    shift = k / SUB + 1;
    top = SUB + k % SUB;
    return (double)(top << shift) + (double)(1ull << shift) / 2.0;
}

void wsl_hist_add(wsl_hist *h, uint64_t ns)
{
    unsigned i = bucket_of(ns);

    if (i >= WSL_HIST_BUCKETS)
        i = WSL_HIST_BUCKETS - 1;
    h->b[i]++;
    h->count++;
}

double wsl_hist_quantile(const wsl_hist *h, double q)
{
    uint64_t want, seen = 0;
    unsigned i;

    if (!h->count)
        return 0;
    want = (uint64_t)(q * (double)h->count);
    if (want >= h->count)
        want = h->count - 1;
    for (i = 0; i < WSL_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want)
            return bucket_mid(i);
    }
    return bucket_mid(WSL_HIST_BUCKETS - 1);
}
