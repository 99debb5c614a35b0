/*
 * wsp_outq.c - shareable frame buffers (wsp_buf), the data lane (a FIFO
 * ring of them) and the session's output lanes: accounting, the control
 * slots and the pop order.
 *
 * A wsp_buf is published once and may sit in the queues of connections
 * run by different threads, so its count changes with atomic builtins;
 * everything else about it is immutable after wsp_buf_frame().
 */
#include <stdlib.h>
#include <string.h>

#include "wsp_internal.h"
#include "wsp_session.h"

/* Sits just before the wire bytes; 16 bytes so they stay 16-aligned. */
typedef struct buf_hdr {
    uint32_t refs;
    uint32_t opcode;
    size_t   len;
} buf_hdr;

static buf_hdr *hdr_of(const void *b)
{
    return (buf_hdr *)b - 1;
}

wsp_buf *wsp_buf_frame(int opcode, int fin, uint8_t rsv, const void *payload,
                       size_t len)
{
    size_t hl = wsp_frame_header_size(len, 0);
    buf_hdr *h;
    uint8_t *wire;

    if (len > SIZE_MAX - hl - sizeof(*h))
        return NULL;
    h = malloc(sizeof(*h) + hl + len);
    if (!h)
        return NULL;
    h->refs = 1;
    h->opcode = (uint32_t)opcode;
    h->len = hl + len;
    wire = (uint8_t *)(h + 1);
    wsp_frame_header_write(wire, fin, rsv, opcode, len, NULL);
    if (len)
        memcpy(wire + hl, payload, len);
    return (wsp_buf *)wire;
}

wsp_buf *wsp_buf_ref(wsp_buf *b)
{
    __atomic_add_fetch(&hdr_of(b)->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void wsp_buf_unref(void *b)
{
    buf_hdr *h;

    if (!b)
        return;
    h = hdr_of(b);
    /* Release our writes, acquire the others' before the free. */
    if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(h);
}

const uint8_t *wsp_buf_data(const wsp_buf *b)
{
    return (const uint8_t *)b;
}

size_t wsp_buf_len(const wsp_buf *b)
{
    return hdr_of(b)->len;
}

int wsp_buf_opcode(const wsp_buf *b)
{
    return (int)hdr_of(b)->opcode;
}

unsigned wsp_buf_refs(const wsp_buf *b)
{
    return __atomic_load_n(&hdr_of(b)->refs, __ATOMIC_RELAXED);
}

/* ---- the ring ------------------------------------------------------- */

/* ring NULL means the inline slots: no pointer into the struct itself. */
void wsp_outq_init(wsp_outq *q)
{
    memset(q, 0, sizeof(*q));
    q->cap = WSP_OUTQ_INLINE;
}

static wsp_buf **slots(const wsp_outq *q)
{
    return q->ring ? q->ring : (wsp_buf **)q->inline_ring;
}

/* Doubles the ring, unrolling it so head is 0 again. */
static int grow(wsp_outq *q)
{
    size_t i, cap = q->cap * 2;
    wsp_buf **ring;

    if (cap > SIZE_MAX / sizeof(*ring))
        return -1;
    ring = malloc(cap * sizeof(*ring));
    if (!ring)
        return -1;
    for (i = 0; i < q->count; i++)
        ring[i] = slots(q)[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* Empty again: give the heap ring back, so an idle session holds none. */
static void shrink_if_empty(wsp_outq *q)
{
    if (q->count || !q->ring)
        return;
    free(q->ring);
    q->ring = NULL;
    q->cap = WSP_OUTQ_INLINE;
    q->head = 0;
}

int wsp_outq_push(wsp_outq *q, wsp_buf *b)
{
    if (q->count == q->cap && grow(q) != 0)
        return -1;
    slots(q)[(q->head + q->count) % q->cap] = b;
    q->count++;
    return 0;
}

wsp_buf *wsp_outq_at(const wsp_outq *q, size_t i)
{
    return i < q->count ? slots(q)[(q->head + i) % q->cap] : NULL;
}

wsp_buf *wsp_outq_peek(const wsp_outq *q)
{
    return wsp_outq_at(q, 0);
}

wsp_buf *wsp_outq_shift(wsp_outq *q)
{
    wsp_buf *b;

    if (!q->count)
        return NULL;
    b = slots(q)[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    shrink_if_empty(q);
    return b;
}

void wsp_outq_clear(wsp_outq *q)
{
    wsp_buf *b;

    while ((b = wsp_outq_shift(q)) != NULL)
        wsp_buf_unref(b);
}

/* ---- the session's lanes -------------------------------------------- */

/* ---- the queues --------------------------------------------------------- */

static void account_add(wsp_session *s, const wsp_buf *b)
{
    if (!wsp_lane_has_output(s))
        s->progress_at = s->now;      /* the send-timeout clock starts */
    s->cost += WSP_BUF_COST(b);
    s->bytes += wsp_buf_len(b);
}

static void account_sub(wsp_session *s, const wsp_buf *b)
{
    s->cost -= WSP_BUF_COST(b);
    s->bytes -= wsp_buf_len(b);
}

/* A control slot holds one frame: a newer one replaces it unsent.  The new
 * frame is counted first so the send-timeout clock never restarts. */
static void put_slot(wsp_session *s, wsp_buf **slot, wsp_buf *b)
{
    wsp_buf *old = *slot;

    account_add(s, b);
    *slot = b;
    if (old) {
        account_sub(s, old);
        wsp_buf_unref(old);
    }
}

/* Takes b (one reference) into its lane. */
int wsp_lane_enqueue(wsp_session *s, wsp_buf *b)
{
    switch (wsp_buf_opcode(b)) {
    case WSP_OP_PONG:
        put_slot(s, &s->pong, b);
        return WSP_SEND_OK;
    case WSP_OP_PING:
        put_slot(s, &s->ping, b);
        return WSP_SEND_OK;
    default:
        if (wsp_outq_push(&s->data, b) != 0)
            return WSP_SEND_ENOMEM;
        account_add(s, b);
        return WSP_SEND_OK;
    }
}

int wsp_lane_queue_close(wsp_session *s, const uint8_t *p, size_t n)
{
    wsp_buf *b = wsp_buf_frame(WSP_OP_CLOSE, 1, 0, p, n);

    if (!b)
        return WSP_SEND_ENOMEM;
    s->close = b;
    account_add(s, b);
    return WSP_SEND_OK;
}

/* Pop order: pong, ping, data in order, and our close only when all else
 * is gone (nothing can be queued after it, so it is the last frame). */
static wsp_buf **next_slot(wsp_session *s)
{
    if (s->pong)
        return &s->pong;
    if (s->ping)
        return &s->ping;
    if (s->data.count)
        return NULL;
    return s->close ? &s->close : NULL;
}

static wsp_buf *take_next(wsp_session *s)
{
    wsp_buf **slot = next_slot(s), *b;

    if (!slot)
        return wsp_outq_shift(&s->data);
    b = *slot;
    *slot = NULL;
    if (b && wsp_buf_opcode(b) == WSP_OP_CLOSE)
        s->close_popped = 1;
    return b;
}

void wsp_lane_drop_all(wsp_session *s)
{
    wsp_buf_unref(s->pong);
    wsp_buf_unref(s->ping);
    wsp_buf_unref(s->close);
    s->pong = s->ping = s->close = NULL;
    wsp_outq_clear(&s->data);
    s->cost = s->bytes = s->unwritten = 0;
}

size_t wsp_session_next_len(const wsp_session *s)
{
    wsp_buf **slot = next_slot((wsp_session *)s);
    const wsp_buf *b = slot ? *slot : wsp_outq_peek(&s->data);

    return b ? wsp_buf_len(b) : 0;
}

size_t wsp_session_recount_cost(const wsp_session *s)
{
    const wsp_buf *slots[3] = { s->pong, s->ping, s->close };
    size_t i, sum = 0;

    for (i = 0; i < 3; i++)
        if (slots[i])
            sum += WSP_BUF_COST(slots[i]);
    for (i = 0; i < s->data.count; i++)
        sum += WSP_BUF_COST(wsp_outq_at(&s->data, i));
    return sum;
}

/* Pops the next frame: out of the accounting, into the unwritten count. */
wsp_buf *wsp_lane_take(wsp_session *s)
{
    wsp_buf *b = take_next(s);

    if (b) {
        account_sub(s, b);
        s->unwritten += wsp_buf_len(b);
    }
    return b;
}
