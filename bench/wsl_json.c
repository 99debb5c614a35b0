/*
 * wsl_json.c - the text messages of `wsload --json`: what a WebSocket API
 * typically sends (an array of event records from a feed), so that
 * permessage-deflate sees realistic, compressible, varying data rather than
 * one repeated pattern.  Each message is an array of records like
 *
 *   {"id":1048611,"ts":"2026-12-02T04:21:07.118Z","type":"trade",
 *    "symbol":"ACME","price":123.45,"qty":17,"side":"buy",
 *    "user":"u4821","venue":"XNAS","flags":["odd"],"ok":true}
 *
 * with ids counting up, times moving on and every other value drawn from a
 * generator with a fixed seed; the array is closed and padded with spaces
 * (valid JSON whitespace, at most one record's worth) to exactly the size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsload.h"

static uint64_t next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

static const char *pick(uint64_t *x, const char *const *list, unsigned n)
{
    return list[next(x) % n];
}

/* One record; its length. */
static int record(char *out, size_t room, uint64_t *x, unsigned long id, unsigned long ms)
{
    static const char *const types[] = { "trade", "quote", "cancel", "fill", "order" };
    static const char *const syms[] = { "ACME", "GLOBX", "INITECH", "UMBRL", "HOOLI",
                                        "STARK", "WAYNE", "TYRELL", "CYBRD", "SOYL" };
    static const char *const venues[] = { "XNAS", "XNYS", "BATS", "IEXG", "ARCX" };
    static const char *const flags[] = { "[]", "[\"odd\"]", "[\"iso\"]", "[\"odd\",\"late\"]",
                                         "[]", "[]" };
    unsigned long s = ms / 1000;

    return snprintf(out, room,
        "{\"id\":%lu,\"ts\":\"2026-12-02T%02lu:%02lu:%02lu.%03luZ\",\"type\":\"%s\","
        "\"symbol\":\"%s\",\"price\":%lu.%02lu,\"qty\":%lu,\"side\":\"%s\","
        "\"user\":\"u%lu\",\"venue\":\"%s\",\"flags\":%s,\"ok\":%s}",
        id, (s / 3600) % 24, (s / 60) % 60, s % 60, ms % 1000, pick(x, types, 5),
        pick(x, syms, 10), 20 + next(x) % 480, next(x) % 100, 1 + next(x) % 500,
        next(x) & 1 ? "buy" : "sell", 1000 + next(x) % 9000, pick(x, venues, 5),
        pick(x, flags, 6), next(x) % 10 ? "true" : "false");
}

uint8_t *wsl_json_pool(unsigned *countp, size_t size)
{
    /* up to 1024 messages, at most 16 MiB of them */
    unsigned count = size > (16u << 20) / 1024 ? 1 + (unsigned)((16u << 20) / (size + 1)) : 1024;
    uint8_t *pool = malloc(count * size + 1);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    unsigned long id = 1048576, ms = 4 * 3600000ul;
    unsigned m;

    *countp = count;
    if (!pool)
        return NULL;
    for (m = 0; m < count; m++) {
        char *msg = (char *)pool + m * size, rec[512];
        size_t len = 0;
        int n;

        if (size < 2) {                    /* too small for an array */
            memset(msg, ' ', size);
            continue;
        }
        msg[len++] = '[';
        for (;;) {
            n = record(rec, sizeof(rec), &x, id, ms);
            /* room for the record, a comma before it and the closing ] */
            if (n < 0 || len + (len > 1) + (size_t)n + 1 > size)
                break;
            if (len > 1)
                msg[len++] = ',';
            memcpy(msg + len, rec, (size_t)n);
            len += (size_t)n;
            id++;
            ms += next(&x) % 250;
        }
        msg[len++] = ']';
        memset(msg + len, ' ', size - len);
    }
    pool[count * size] = '\0';
    return pool;
}
