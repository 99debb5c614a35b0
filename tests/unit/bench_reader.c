/*
 * bench_reader.c - throughput of the hot path: wsp_reader_feed on a 1 MiB
 * masked binary message and on 32-byte masked text frames, each fed whole
 * and in 16 KiB pieces (a typical read size), plus the two kernels it is
 * built on (unmasking, UTF-8 validation).  Not a test: prints numbers.
 *
 *   make -f mk/core.mk core-bench
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsp_frame.h"
#include "wsp_utf8.h"

#define MIB (1024 * 1024)
#define READ_SIZE (16 * 1024)

static volatile uint64_t sink;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_message(void *ud, int opcode, const uint8_t *d, size_t n)
{
    (void)ud;
    sink += (uint64_t)opcode + n + (n ? d[n - 1] : 0);
    return 0;
}

static const wsp_reader_callbacks callbacks = { on_message, NULL, NULL, NULL };

/* Builds n frames of len bytes each, masked, into a new buffer. */
static uint8_t *build(int opcode, size_t len, size_t nframes, size_t *total)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    size_t hl = wsp_frame_header_size(len, 1), i, k;
    uint8_t *buf = malloc(nframes * (hl + len)), *p = buf;

    if (!buf)
        exit(1);
    for (i = 0; i < nframes; i++) {
        p += wsp_frame_header_write(p, 1, 0, opcode, len, key);
        for (k = 0; k < len; k++)
            p[k] = (uint8_t)('a' + (i + k) % 26);
        wsp_mask(p, len, key, 0);
        p += len;
    }
    *total = (size_t)(p - buf);
    return buf;
}

/* Feeds buf again and again for about a second; returns bytes/second. */
static double feed_rate(const uint8_t *buf, size_t len, size_t piece,
                        double *ns_per_feed)
{
    wsp_reader_config cfg = { .require_mask = 1 };
    wsp_reader r;
    double t0 = now(), t;
    size_t rounds = 0, off, used, feeds = 0;

    wsp_reader_init(&r, &cfg, &callbacks, NULL);
    do {
        for (off = 0; off < len; off += piece) {
            size_t n = len - off < piece ? len - off : piece;
            if (wsp_reader_feed(&r, buf + off, n, &used) != WSP_OK)
                exit(2);
            feeds++;
        }
        rounds++;
    } while ((t = now() - t0) < 1.0);
    wsp_reader_free(&r);
    *ns_per_feed = t * 1e9 / (double)feeds;
    return (double)(rounds * len) / t;
}

static void bench_feed(const char *name, const uint8_t *buf, size_t len,
                       size_t frame_size)
{
    static const size_t pieces[2] = { 0, READ_SIZE };
    double ns, rate;
    int i;

    for (i = 0; i < 2; i++) {
        size_t piece = pieces[i] ? pieces[i] : len;
        rate = feed_rate(buf, len, piece, &ns);
        printf("%-34s %-11s %8.2f GB/s  %9.3f Mframes/s\n", name,
               pieces[i] ? "16KiB feeds" : "one feed", rate / 1e9,
               rate / (double)frame_size / 1e6);
    }
}

static void bench_kernel(const char *name, int which, uint8_t *buf, size_t len)
{
    static const uint8_t key[4] = { 1, 2, 3, 4 };
    double t0 = now(), t;
    size_t rounds = 0;

    do {
        if (which == 0)
            wsp_mask(buf, len, key, rounds & 3);
        else
            sink += (uint64_t)wsp_utf8_valid(buf, len);
        rounds++;
    } while ((t = now() - t0) < 0.5);
    printf("%-34s %-10s %8.2f GB/s\n", name, "", (double)(rounds * len) / t / 1e9);
}

int main(void)
{
    size_t len, i;
    uint8_t *big = build(WSP_OP_BINARY, MIB, 1, &len);
    uint8_t *small = build(WSP_OP_TEXT, 32, 4096, &len);
    uint8_t *text = malloc(MIB);

    if (!text)
        return 1;
    len = wsp_frame_header_size(MIB, 1) + MIB;
    bench_feed("1 MiB masked binary message", big, len, len);
    len = 4096 * (wsp_frame_header_size(32, 1) + 32);
    bench_feed("32-byte masked text frames", small, len,
               wsp_frame_header_size(32, 1) + 32);

    for (i = 0; i < MIB; i++)
        text[i] = (uint8_t)('a' + i % 26);
    bench_kernel("wsp_mask, 1 MiB in place", 0, text, MIB);
    bench_kernel("wsp_utf8_valid, 1 MiB ASCII", 1, text, MIB);
    for (i = 0; i + 3 <= MIB; i += 3)
        memcpy(text + i, "\xe2\x82\xac", 3);
    bench_kernel("wsp_utf8_valid, 1 MiB 3-byte chars", 1, text, i);
    for (i = 0; i + 2 <= MIB; i += 2)
        memcpy(text + i, "\xc3\xa9", 2);
    bench_kernel("wsp_utf8_valid, 1 MiB 2-byte chars", 1, text, i);
    free(big);
    free(small);
    free(text);
    return sink == 42;
}
