/*
 * wsp_session.h - one WebSocket's protocol life, without I/O: the frame
 * reader, the closing handshake, keepalive, idle/close/linger/send
 * timeouts, input backpressure and the outbound frame queue.
 *
 * The caller owns the socket and the clock.  Every input that can depend
 * on time takes `now` (int64 microseconds, any epoch, non-decreasing; a
 * smaller value than before is treated as the previous one).  The session
 * never blocks, never reads a clock, never locks: one thread drives it.
 *
 * States
 *
 *   OPEN ----(we close: close(), idle timeout, going_away())----> CLOSING
 *     |                                                              |
 *     | peer's close (echoed) / protocol error / EOF     peer's close|
 *     v                                                              v
 *   DRAINING <-------------------------------------------------------+
 *     |  handshake over (or failed): flush what is queued, our close
 *     |  frame last; input is discarded
 *     v  everything popped AND reported written (wrote())
 *   LINGER   caller shuts down its write side, waits for the peer's EOF
 *     v  EOF, or linger_timeout
 *   FINISHED caller closes the socket; nothing is queued any more
 *
 *   Shortcuts to FINISHED: a read/write error (eof(s, 1)), close_timeout in
 *   CLOSING or DRAINING, send_timeout, and EOF when output is flushed.
 *   on_close is called exactly once, on entering DRAINING or FINISHED,
 *   whichever comes first.
 *
 * The caller's loop
 *
 *   bytes in   -> used = wsp_session_feed(); keep data[used..] for later
 *                 (it is < len only when reading paused for backpressure)
 *   EOF/error  -> wsp_session_eof()
 *   writable   -> while (wsp_session_next_len() && budget) pop + write;
 *                 report written bytes with wsp_session_wrote()
 *   timer      -> wsp_session_tick() at wsp_session_deadline()
 *   after each -> act on wsp_session_wants(): READ (poll for input),
 *                 WRITE (frames to pop), SHUTDOWN (once: shutdown(SHUT_WR),
 *                 then keep reading for EOF), FINISH (close now, drop any
 *                 bytes still unwritten)
 *
 * Output order: a control lane (at most WSP_MAX_PONGS pongs, then at
 * most one ping)
 * overtakes the data frames queued before it; frames are whole, so this
 * never splits a frame.  Our close frame goes out only after every data
 * and control frame queued before it, and nothing is ever popped after
 * it (RFC 6455 5.5.1: the close is the last frame).  Up to WSP_MAX_PONGS
 * pongs wait in order; past that the newest replaces the last one waiting
 * (5.5.3 allows answering only the latest ping), and a newer ping
 * replaces an unsent ping, so a ping flood costs O(1).
 *
 * Accounting: each queued frame costs wsp_buf_len() + WSP_BUF_OVERHEAD.
 * Data sends are refused (WSP_SEND_EFULL) while the cost is >= max_pending;
 * reading pauses right after the message or ping that brought the cost to
 * max_pending / 2, and resumes once pop() brings it to <= max_pending / 4.
 * A paused peer is not idle.  Popped frames leave the accounting; the
 * caller bounds what it holds itself (pop ~32 KiB per write pass).
 *
 * Re-entrancy: callbacks may call send, send_buf, close, going_away and
 * the queries.  feed, tick and eof called from a callback are ignored
 * (feed returns 0).
 */
#ifndef WSP_SESSION_H
#define WSP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "wsp_frame.h"
#include "wsp_rate.h"

/* ---- shareable frame buffers ----------------------------------------- */

/* One malloc block: a small header (refcount, wire length, opcode) and
 * then the serialized frame.  A wsp_buf * is the address of the first wire
 * byte, so it can be handed to apr_bucket_heap_create() as the data with
 * wsp_buf_unref as the free function: APR calls free_func(data). */
typedef struct wsp_buf wsp_buf;

/* What one queued frame really costs beyond its wire bytes, measured on
 * x86_64 glibc with APR-util 1.6:
 *    16  glibc malloc chunk header + rounding of the wsp_buf block
 *    16  the wsp_buf header
 *    16  its queue slot (an 8-byte pointer in a ring that may be half empty)
 *   160  the apr_bucket (64 bytes) from apr_bucket_alloc(): every small
 *        allocation takes one node of APR_BUCKET_ALLOC_SIZE (128) + the
 *        32-byte node header = 160 (stride of consecutive allocations)
 *   160  its apr_bucket_heap (32 bytes), same allocator, same node size
 *   ---
 *   368 */
#define WSP_BUF_OVERHEAD 368

/* Serializes an unmasked (server) frame.  NULL when out of memory. */
wsp_buf       *wsp_buf_frame(int opcode, int fin, uint8_t rsv,
                             const void *payload, size_t len);
wsp_buf       *wsp_buf_ref(wsp_buf *b);        /* returns b */
void           wsp_buf_unref(void *b);         /* frees at 0; NULL is a no-op */
const uint8_t *wsp_buf_data(const wsp_buf *b);
size_t         wsp_buf_len(const wsp_buf *b);  /* wire bytes */
int            wsp_buf_opcode(const wsp_buf *b);
unsigned       wsp_buf_refs(const wsp_buf *b); /* for tests and asserts */
#define WSP_BUF_COST(b) (wsp_buf_len(b) + WSP_BUF_OVERHEAD)

/* A whole plain data frame's permessage-deflate twin (RSV1), compressed
 * with d without context (d is reset after it): one compression for every
 * receiver whose session uses d as its shared deflater.  NULL if the
 * message does not shrink, b is not a whole plain data frame, or out of
 * memory; then send b itself. */
struct wsp_deflater;
wsp_buf       *wsp_buf_compress(const wsp_buf *b, struct wsp_deflater *d);

/* ---- the data lane: a FIFO of frames ---------------------------------- */

#define WSP_OUTQ_INLINE 4   /* frames held without a heap ring */

typedef struct wsp_outq {
    wsp_buf **ring;          /* a heap array, or NULL: inline_ring */
    size_t    cap, head, count;
    wsp_buf  *inline_ring[WSP_OUTQ_INLINE];
} wsp_outq;

/* ---- the session ------------------------------------------------------ */

/* Pongs waiting to be sent, at most.  Pings that come faster than their
 * pongs can be written are each answered, in order, up to this many; past
 * it the newest pong replaces the last one waiting, so the latest ping is
 * always answered and a ping flood costs a bounded amount (RFC 6455 5.5.3
 * allows answering only the most recent ping). */
#define WSP_MAX_PONGS 8

typedef enum wsp_session_state {
    WSP_SESSION_OPEN = 1,
    WSP_SESSION_CLOSING,     /* our close is queued; waiting for the peer's */
    WSP_SESSION_DRAINING,    /* handshake over or failed: flushing */
    WSP_SESSION_LINGER,      /* flushed: shut down writing, wait for EOF */
    WSP_SESSION_FINISHED
} wsp_session_state;

typedef enum wsp_closer {
    WSP_BY_NONE = 0,         /* the peer vanished */
    WSP_BY_CLIENT,           /* the peer's close frame came first */
    WSP_BY_SERVER            /* ours did (or we failed the connection) */
} wsp_closer;

enum wsp_send_status {
    WSP_SEND_OK = 0,
    WSP_SEND_EFULL,          /* data refused: queued cost >= max_pending */
    WSP_SEND_ECLOSED,        /* not OPEN any more (a close is queued) */
    WSP_SEND_ENOMEM,
    WSP_SEND_EINVAL,         /* bad opcode, control payload > 125, bad code */
    WSP_SEND_ESTATE          /* a whole message while one sent in parts is
                                open, or a continuation with none open */
};

enum wsp_want {
    WSP_WANT_READ     = 1,   /* OPEN or CLOSING, not paused, no EOF */
    WSP_WANT_WRITE    = 2,   /* frames to pop */
    WSP_WANT_SHUTDOWN = 4,   /* LINGER: shut down the write side once */
    WSP_WANT_FINISH   = 8    /* FINISHED: close the connection now */
};

#define WSP_SESSION_MAX_PENDING    (4 * 1024 * 1024)  /* when 0 is given */
#define WSP_SESSION_CLOSE_TIMEOUT  INT64_C(5000000)   /* the engine's */
#define WSP_SESSION_LINGER_TIMEOUT INT64_C(2000000)

typedef struct wsp_session_config {
    uint64_t max_message_size;  /* 0 = no limit */
    size_t   max_pending;       /* cost bound in bytes; 0 = 4 MiB */
    /* Intervals in microseconds; 0 = off. */
    int64_t  ping_interval;
    int64_t  idle_timeout;      /* no input for this long: close 1001 */
    int64_t  close_timeout;     /* CLOSING/DRAINING: give up on the peer */
    int64_t  linger_timeout;    /* LINGER: stop waiting for EOF */
    int64_t  send_timeout;      /* output pending, no write progress: fail */
    /* permessage-deflate agreed for input (RFC 7692): the client's window
     * (8..15), 0 = off.  RSV1 messages are then inflated, bounded by
     * max_message_size, before on_message sees them. */
    int      inflate_window_bits;
    int      inflate_keep_context; /* 0: client_no_context_takeover agreed:
                                      no inflate state between messages */
    /* Not NULL (and inflate_keep_context 0): inflate with this inflater,
     * the caller's, shared by the sessions of one thread and reset after
     * each message, instead of one allocated per message. */
    struct wsp_inflater *inflate_shared;
    /* permessage-deflate agreed for output: our window (9..15), 0 = off.
     * Whole data messages of at least deflate_min_size bytes go out
     * compressed (RSV1), shorter ones plain, which RFC 7692 allows; a
     * message sent in parts is compressed part by part. */
    int      deflate_window_bits;
    int      deflate_mem_level;    /* 1..9 */
    int      deflate_keep_context; /* 0: server_no_context_takeover agreed */
    size_t   deflate_min_size;
    /* Not NULL: compress with this deflater, the caller's, shared by the
     * sessions of one thread (deflate_keep_context must be 0: it is reset
     * after each message).  NULL: the session has its own, its zlib state
     * allocated on first use and, without context, freed after each
     * message. */
    struct wsp_deflater *deflate_shared;
    /* Messages and control frames the peer may send per second (token
     * bucket, burst saved up), 0 = no limit; past it: close 1008. */
    uint32_t rate_per_sec, rate_burst;
    /* Frames in one data message, 0 = no limit; past it: close 1008. */
    uint32_t max_fragments;
} wsp_session_config;

typedef struct wsp_session_callbacks {
    /* A complete TEXT or BINARY message; data valid during the call. */
    void (*on_message)(void *ud, int opcode, const uint8_t *data, size_t len);
    /* The WebSocket is over for the handler: once.  1006 = peer vanished,
     * 1005 = close without a code; reason is not NUL-terminated. */
    void (*on_close)(void *ud, int code, const char *reason, size_t len);
    /* A sender that got WSP_SEND_EFULL may send again. */
    void (*on_drain)(void *ud);
} wsp_session_callbacks;

/* The longest close reason (a control payload less the status code). */
#define WSP_CLOSE_REASON_MAX (WSP_MAX_CONTROL_PAYLOAD - 2)

typedef struct wsp_session {
    wsp_session_config    cfg;
    wsp_session_callbacks cb;
    void                 *ud;
    wsp_reader            reader;
    wsp_rate              rate;      /* the peer's messages and controls */
    struct wsp_inflater  *inflater;  /* malloc'd when inflate is on */
    struct wsp_deflater  *deflater;  /* the one used: cfg's shared one, or
                                        own, malloc'd on first use */
    struct wsp_deflater  *parts_deflater; /* a message sent in parts is
                                        being compressed with this one */
    wsp_session_state     state;
    /* output: control lane, data lane, our close */
    wsp_buf  *pongs[WSP_MAX_PONGS];  /* oldest first */
    unsigned  npongs;
    wsp_buf  *ping, *close;
    wsp_outq  data;
    size_t    cost;          /* sum of WSP_BUF_COST over queued frames */
    size_t    bytes;         /* sum of their wire lengths */
    size_t    unwritten;     /* popped wire bytes not yet reported written */
    /* flags */
    unsigned  paused : 1, eof : 1, drain_wanted : 1, close_popped : 1,
              notified : 1, rx_clock_stale : 1, feeding : 1,
              parts_open : 1;  /* a message sent in parts lacks its FIN */
    int       busy;          /* inside a user callback */
    /* clocks */
    int64_t   now;           /* latest time seen */
    int64_t   last_rx, last_ping;
    int64_t   state_since;   /* entry into CLOSING, DRAINING or LINGER */
    int64_t   progress_at;   /* output became pending, or last write */
    /* what on_close reports, and the log line */
    int        close_code;
    wsp_closer closed_by;
    size_t     close_reason_len;  /* at most WSP_CLOSE_REASON_MAX */
    char      *close_reason;  /* malloc'd when there is one (NUL-ended),
                                 NULL: "": 124 bytes of every idle
                                 connection otherwise */
} wsp_session;

void wsp_session_init(wsp_session *s, const wsp_session_config *cfg,
                      const wsp_session_callbacks *cb, void *ud, int64_t now);
/* Releases the reader and every queued frame; calls nothing. */
void wsp_session_free(wsp_session *s);

/* Inputs */
size_t wsp_session_feed(wsp_session *s, const uint8_t *data, size_t len,
                        int64_t now);
int    wsp_session_send(wsp_session *s, int opcode, const void *data,
                        size_t len, int64_t now);
/* Queues a serialized frame (not a close), taking a reference on success.
 * A data frame without FIN opens a message in parts: until a continuation
 * frame with FIN, only continuations (and pings, pongs) are accepted. */
int    wsp_session_send_buf(wsp_session *s, wsp_buf *b, int64_t now);
/* code 0 or 1005: a close without a status code. */
int    wsp_session_close(wsp_session *s, int code, const char *reason,
                         size_t len, int64_t now);
void   wsp_session_going_away(wsp_session *s, int64_t now);
void   wsp_session_tick(wsp_session *s, int64_t now);
void   wsp_session_eof(wsp_session *s, int error, int64_t now);
/* Report every byte of popped frames that reached the socket: it is how
 * the session knows the output is flushed (DRAINING -> LINGER) and that
 * the peer still reads (send_timeout). */
void   wsp_session_wrote(wsp_session *s, size_t bytes, int64_t now);
/* The connection went quiet: give back what only the next message needs
 * (the reader's buffer, an inflater without context). */
void   wsp_session_trim(wsp_session *s);
/* Memory the process must take back from this connection (a limit was
 * reached): input stops and its buffers go at once; a close with code
 * (and reason) is sent if little output waits (<= WSP_SHED_KEEP), else
 * the connection is dropped (finished) with code as its close code. */
#define WSP_SHED_KEEP (64 * 1024)
void   wsp_session_shed(wsp_session *s, int code, const char *reason,
                        size_t len, int64_t now);

/* Outputs */
/* The next frame to write, one reference to the caller; NULL if none.
 * It leaves the cost accounting at once (and may resume reading or call
 * on_drain, after its own bookkeeping); its bytes count as unwritten
 * until wrote().  To pop ~32 KiB per pass: loop on next_len(). */
wsp_buf *wsp_session_pop(wsp_session *s);
size_t   wsp_session_next_len(const wsp_session *s);  /* 0 if none */
unsigned wsp_session_wants(const wsp_session *s);
int64_t  wsp_session_deadline(const wsp_session *s);  /* 0 for none */

/* Queries */
wsp_session_state wsp_session_get_state(const wsp_session *s);
size_t      wsp_session_queued_cost(const wsp_session *s);
size_t      wsp_session_queued_bytes(const wsp_session *s);
size_t      wsp_session_unwritten(const wsp_session *s);
int         wsp_session_paused(const wsp_session *s);
int         wsp_session_close_code(const wsp_session *s);
const char *wsp_session_close_reason(const wsp_session *s); /* NUL-terminated */
wsp_closer  wsp_session_closed_by(const wsp_session *s);
size_t      wsp_session_reader_buffered(const wsp_session *s);
/* What the connection holds in memory: queued and popped unwritten
 * frames (their cost), the partial message, zlib state of its own. */
size_t      wsp_session_memory(const wsp_session *s);
/* Walks every queue and sums the costs again (for tests and fuzzing). */
size_t      wsp_session_recount_cost(const wsp_session *s);

/* The data lane, used by the session (wsp_outq.c). */
void     wsp_outq_init(wsp_outq *q);
int      wsp_outq_push(wsp_outq *q, wsp_buf *b);      /* 0, or -1 no memory */
wsp_buf *wsp_outq_peek(const wsp_outq *q);
wsp_buf *wsp_outq_shift(wsp_outq *q);
wsp_buf *wsp_outq_at(const wsp_outq *q, size_t i);
void     wsp_outq_clear(wsp_outq *q);                 /* unrefs all */

#endif
