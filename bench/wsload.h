/*
 * wsload.h - what the parts of the load generator share.
 *
 *   wsl_net.c   client WebSocket connections on one epoll set: connect
 *               (optionally from one of several 127.0.0.x source addresses),
 *               optionally TLS (OpenSSL, non-blocking),
 *               the opening handshake (101 + Sec-WebSocket-Accept checked
 *               with the core's wsp_accept_key), masked frames out
 *               (wsp_frame_header_write + wsp_mask), frames in (wsp_reader
 *               with require_mask = 0)
 *   wsl_deflate.c  permessage-deflate, the client side (zlib): the offer,
 *               the answer, compressing out and inflating in
 *   wsl_json.c  the JSON-like text messages of --json
 *   wsl_hist.c  latency histogram (log-linear, < 1% error)
 *   wsload.c    the modes (echo, handshake, churn, hold) and the report
 *   wsl_fanout.c  the fanout mode (topic subscribers and a publisher,
 *               possibly over several processes): wsl_fanout_main
 */
#ifndef WSLOAD_H
#define WSLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "wsp_frame.h"
#include "wsp_handshake.h"

/* ---- time ---------------------------------------------------------------- */

uint64_t wsl_now(void);                 /* CLOCK_MONOTONIC, nanoseconds */
#define WSL_MS(x)  ((uint64_t)(x) * 1000000ull)
#define WSL_SEC(x) ((uint64_t)((x) * 1e9))

/* ---- latency histogram ----------------------------------------------------- */

#define WSL_HIST_BUCKETS 2560
typedef struct wsl_hist {
    uint64_t count;
    uint64_t b[WSL_HIST_BUCKETS];
} wsl_hist;

void   wsl_hist_add(wsl_hist *h, uint64_t ns);
/* Value at quantile q (0..1) in nanoseconds, 0 if empty. */
double wsl_hist_quantile(const wsl_hist *h, double q);

/* ---- connections ------------------------------------------------------------ */

typedef enum {
    WSL_FREE = 0,     /* slot unused */
    WSL_CONNECTING,   /* connect() in progress */
    WSL_TLS,          /* --tls: TCP connected, TLS handshake in progress */
    WSL_UPGRADING,    /* request sent, waiting for the 101 */
    WSL_OPEN,         /* frames flow */
    WSL_CLOSING       /* we sent a close frame */
} wsl_state;

/* Why a connection ended (counted per context). */
enum {
    WSL_END_LOCAL = 0,  /* we closed it */
    WSL_END_EOF,        /* the server closed TCP */
    WSL_END_ERROR,      /* socket error / reset */
    WSL_END_PROTO,      /* bad 101, bad frame, wrong echo */
    WSL_END_KINDS
};

/* Not yet open: connecting, TLS handshake or waiting for the 101. */
#define WSL_OPENING(st) ((st) == WSL_CONNECTING || (st) == WSL_TLS || (st) == WSL_UPGRADING)

typedef struct wsl_ctx wsl_ctx;
struct wsl_pmd;
struct wsl_pmd_shared;
struct ssl_st;
struct ssl_ctx_st;

typedef struct wsl_conn {
    wsl_ctx   *ctx;
    int        fd;
    struct ssl_st *ssl;        /* --tls: the connection's SSL (else NULL) */
    int        read_wants_write;  /* SSL_read asked for EPOLLOUT */
    wsl_state  st;
    wsl_state  last_st;        /* the state wsl_end found (for on_end) */
    int        idx;            /* position in the mode's array */
    uint64_t   t_start;        /* connect() called */
    char       accept[WSP_ACCEPT_KEY_LEN + 1];  /* expected Sec-WebSocket-Accept */
    char      *hs;             /* response head being gathered (malloc) */
    size_t     hs_len;
    wsp_reader rd;
    int        rd_live;
    struct wsl_pmd *pmd;       /* permessage-deflate was agreed (else NULL) */
    uint8_t   *out;            /* bytes not yet written */
    size_t     out_off, out_len, out_cap;
    int        pollout;        /* EPOLLOUT is requested */
    int        got_close;      /* the server's close frame arrived */
    int        in_feed;        /* inside wsp_reader_feed */
    int        end_pending;    /* wsl_end asked during the feed: why + 1 */
    /* the modes' own per-connection state */
    uint64_t  *ts;             /* send times of messages in flight (ring) */
    uint32_t  *ts_msg;         /* and which message of the pool each was */
    unsigned   ts_head, ts_n, ts_cap;
    uint32_t   next_msg;       /* the pool message to send next */
    uint64_t   next_ping;
    uint64_t   deadline;
    unsigned   pings, pongs;
    int        echoed;
    uint64_t   last_seq;       /* fanout: the last message received */
} wsl_conn;

/* What a mode hears about (any may be NULL). */
typedef struct wsl_events {
    void (*on_open)(wsl_conn *c);
    void (*on_message)(wsl_conn *c, int opcode, const uint8_t *data, size_t len);
    void (*on_pong)(wsl_conn *c);
    void (*on_close_frame)(wsl_conn *c);
    /* The connection is gone (its fd closed, slot WSL_FREE); why: WSL_END_*.
     * wsl_end() from on_message/on_pong/on_close_frame takes effect once the
     * current read has been parsed. */
    void (*on_end)(wsl_conn *c, int why);
} wsl_events;

struct wsl_ctx {
    int                ep;
    struct sockaddr_in dst;
    char               request_head[256];  /* request line + Host, no key */
    struct in_addr     src_first;          /* source addresses to rotate over */
    unsigned           src_count;          /* 0: let the kernel choose */
    unsigned           src_next;
    wsl_events         ev;
    uint64_t           ends[WSL_END_KINDS];
    uint64_t           connect_fail;       /* socket/bind/connect refused */
    int                last_errno;         /* of the last failure, for the report */
    const char        *last_error;
    struct ssl_ctx_st *tls;                /* --tls: client context (else NULL) */
    /* permessage-deflate (--deflate): offered in every upgrade request */
    int                pmd_offer;
    int                pmd_level;          /* our zlib level */
    int                pmd_client_context; /* keep our context when allowed */
    struct wsl_pmd_shared *pmd_shared;     /* the no-context (de)compressors */
    uint64_t           pmd_conns;          /* connections that agreed to it */
    uint64_t           pmd_tx_raw, pmd_tx_wire;  /* payload bytes out: before, after */
    uint64_t           pmd_rx_raw, pmd_rx_wire;  /* compressed in: inflated, on the wire */
    uint64_t           pmd_rx_plain;       /* data messages in without RSV1 */
    uint8_t           *rbuf;               /* read buffer, shared */
    size_t             rbuf_size;
    uint64_t           rng;
};

int  wsl_ctx_init(wsl_ctx *ctx, const char *host, int port, const char *path,
                  const char *src_range, const wsl_events *ev);
void wsl_ctx_free(wsl_ctx *ctx);
/* Every connection of ctx speaks TLS (wss://): OpenSSL, non-blocking, no
 * certificate verification, TLS_AES_128_GCM_SHA256 only (so that every
 * server is measured with the same cipher).  lowmem: release the SSL
 * buffers whenever they are empty (idle hold of many connections).  0 or -1. */
int  wsl_ctx_tls(wsl_ctx *ctx, int lowmem);
/* Starts a connection in slot c (st must be WSL_FREE).  0, or -1 with errno
 * (the slot stays free; ctx->connect_fail counts it). */
int  wsl_connect(wsl_ctx *ctx, wsl_conn *c);
/* Appends one masked frame to c's output (written by wsl_flush). */
int  wsl_queue(wsl_conn *c, int opcode, const void *data, size_t len);
/* Writes what is queued; the rest waits for EPOLLOUT.  Returns 0 or -1 (the
 * connection was ended). */
int  wsl_flush(wsl_conn *c);
/* Queues a close frame with code and flushes it; state WSL_CLOSING. */
void wsl_send_close(wsl_conn *c, int code);
/* Ends the connection now (close(fd)); on_end(why) is called. */
void wsl_end(wsl_conn *c, int why);
/* One epoll_wait of at most timeout_ms, dispatching events; returns the
 * number of events. */
int  wsl_poll(wsl_ctx *ctx, int timeout_ms);
uint64_t wsl_rand(wsl_ctx *ctx);

/* ---- permessage-deflate (wsl_deflate.c) ------------------------------------ */

/* The request header line offered ("...\r\n"). */
const char *wsl_pmd_offer(void);
/* The server's Sec-WebSocket-Extensions value: 0 and c->pmd set if it is one
 * permessage-deflate we can honour, -1 otherwise (the 101 is refused). */
int  wsl_pmd_accept(wsl_conn *c, const char *answer);
/* One whole message: *out points into a buffer of the context, valid until
 * the next call of the same function.  0 or -1. */
int  wsl_pmd_deflate(wsl_conn *c, const void *in, size_t n, const uint8_t **out, size_t *out_len);
int  wsl_pmd_inflate(wsl_conn *c, const uint8_t *in, size_t n, const uint8_t **out, size_t *out_len);
void wsl_pmd_free(wsl_conn *c);
/* RESULT fields: " pmd=N tx_ratio=R rx_ratio=R rx_plain=N level=L". */
void wsl_pmd_report(const wsl_ctx *ctx);
void wsl_pmd_ctx_free(wsl_ctx *ctx);

/* ---- test messages (wsl_json.c) --------------------------------------------- */

/* Distinct JSON-like texts of exactly size bytes each (*count of them, up
 * to 1024 and 16 MiB), one after the other in one buffer (malloc'd): arrays
 * of event records, every field drawn from a fixed-seed generator, so every
 * run sends the same stream. */
uint8_t *wsl_json_pool(unsigned *count, size_t size);

/* ---- fanout mode (wsl_fanout.c) ----------------------------------------------- */

/* `wsload fanout ...` (argv[1] == "fanout"): parses its own options. */
int wsl_fanout_main(int argc, char **argv);

#endif
