/*
 * wsp_rate.h - a token bucket over a caller's clock: `per_sec` tokens a
 * second, at most `burst` saved up.  The session takes one per message and
 * control frame the peer sends (WebSocketMessageRate).
 */
#ifndef WSP_RATE_H
#define WSP_RATE_H

#include <stdint.h>

typedef struct wsp_rate {
    uint32_t per_sec;          /* 0: no limit */
    int64_t  cap;              /* burst, in microtokens */
    int64_t  tokens;           /* microtokens: 1000000 per message */
    int64_t  at;               /* the clock of the last refill (usec) */
} wsp_rate;

/* burst 0: the same as per_sec (one second's worth). */
void wsp_rate_init(wsp_rate *r, uint32_t per_sec, uint32_t burst, int64_t now);
/* 1 if a token was taken, 0 if the bucket is empty (over the rate). */
int  wsp_rate_take(wsp_rate *r, int64_t now);

#endif
