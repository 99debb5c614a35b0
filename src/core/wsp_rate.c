/*
 * wsp_rate.c - the token bucket of wsp_rate.h.
 */
#include "wsp_rate.h"

#define UNIT INT64_C(1000000)   /* microtokens per token */

void wsp_rate_init(wsp_rate *r, uint32_t per_sec, uint32_t burst, int64_t now)
{
    r->per_sec = per_sec;
    r->cap = (int64_t)(burst ? burst : per_sec) * UNIT;
    r->tokens = r->cap;        /* a new connection may burst at once */
    r->at = now;
}

int wsp_rate_take(wsp_rate *r, int64_t now)
{
    if (!r->per_sec)
        return 1;
    if (now > r->at) {
        /* usec x tokens/s = microtokens; a long quiet spell just fills it */
        int64_t gain = (now - r->at) > r->cap / r->per_sec + 1
                       ? r->cap : (now - r->at) * (int64_t)r->per_sec;
        r->tokens = r->tokens + gain > r->cap ? r->cap : r->tokens + gain;
        r->at = now;
    }
    if (r->tokens < UNIT)
        return 0;
    r->tokens -= UNIT;
    return 1;
}
