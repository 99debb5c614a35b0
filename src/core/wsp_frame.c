/*
 * wsp_frame.c - the incremental frame reader (RFC 6455 section 5).
 *
 * Bytes arrive in arbitrary pieces.  The reader alternates between two
 * phases: gathering a header (2 to 14 bytes, copied into r->hdr so a header
 * split across feeds is handled like any other), and consuming a payload
 * straight from the caller's buffer.  Every rule is checked at the earliest
 * byte that can break it, so a hostile peer is cut off before we buffer
 * anything it should not have sent.
 *
 * Memory: data payloads are unmasked straight from the input into the
 * message buffer (one pass, no intermediate copy).  A message that is a
 * single frame of at most 125 bytes - the common chat-sized case - is
 * assembled in r->ctl and needs no heap at all (no control frame can arrive
 * in the middle of a frame, so ctl is free then).  The heap buffer grows
 * geometrically, is reused for the next message within the same feed call,
 * and is released when a feed call ends with no message open (and at once
 * after delivering a message over WSP_MSG_KEEP_MAX) so idle connections hold
 * no heap memory.
 */
#include <stdlib.h>
#include <string.h>

#include "wsp_frame.h"
#include "wsp_internal.h"

#define WSP_MSG_MIN_CAP   1024
#define WSP_MSG_KEEP_MAX  (1024 * 1024)
/* Text is unmasked and validated in slices of this size so the validator
 * reads bytes the unmasking has just left in L1/L2. */
#define WSP_TEXT_SLICE    (16 * 1024)

void wsp_reader_init(wsp_reader *r, const wsp_reader_config *cfg,
                     const wsp_reader_callbacks *cb, void *ud)
{
    memset(r, 0, sizeof(*r));
    if (cfg)
        r->cfg = *cfg;
    if (cb)
        r->cb = *cb;
    r->ud = ud;
    r->hdr_need = 2;
}

static void release_buffer(wsp_reader *r)
{
    free(r->msg);
    r->msg = NULL;
    r->msg_cap = 0;
}

void wsp_reader_trim(wsp_reader *r)
{
    if (!r->msg_opcode && !r->msg_len)
        release_buffer(r);
}

void wsp_reader_free(wsp_reader *r)
{
    release_buffer(r);
    r->msg_len = 0;
    r->msg_opcode = 0;
}

int wsp_reader_error(const wsp_reader *r)
{
    return r->error_code;
}

const char *wsp_reader_error_text(const wsp_reader *r)
{
    return r->error_text;
}

size_t wsp_reader_buffered(const wsp_reader *r)
{
    return r->msg_len;
}

static wsp_status fail(wsp_reader *r, int code, const char *text)
{
    r->error_code = code;
    r->error_text = text;
    return WSP_FAIL;
}

static int is_control(int opcode)
{
    return opcode >= WSP_OP_CLOSE;
}

static int is_known_opcode(int opcode)
{
    return opcode <= WSP_OP_BINARY
        || (opcode >= WSP_OP_CLOSE && opcode <= WSP_OP_PONG);
}

/* Bytes of extended payload length announced by the second header byte. */
static unsigned ext_len_size(uint8_t b1)
{
    unsigned len7 = b1 & 0x7F;

    return len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
}

/* A whole data message in one frame of <= 125 bytes: assembled in r->ctl. */
static int is_small_message(const wsp_reader *r)
{
    return r->fin && r->opcode != WSP_OP_CONT
        && r->payload_len <= WSP_MAX_CONTROL_PAYLOAD;
}

/* ---- header ---------------------------------------------------------- */

/* First two bytes: everything but the length value and the mask key. */
static wsp_status check_first_bytes(wsp_reader *r)
{
    uint8_t b0 = r->hdr[0], b1 = r->hdr[1];

    r->fin = b0 >> 7;
    r->rsv = b0 & (WSP_RSV1 | WSP_RSV2 | WSP_RSV3);
    r->opcode = b0 & 0x0F;
    r->masked = b1 >> 7;
    if (r->cfg.require_mask && !r->masked)
        return fail(r, WSP_CLOSE_PROTOCOL_ERROR, "unmasked client frame");
    if (!r->cfg.require_mask && r->masked)
        return fail(r, WSP_CLOSE_PROTOCOL_ERROR, "masked server frame");
    if (r->rsv & ~r->cfg.allowed_rsv)
        return fail(r, WSP_CLOSE_PROTOCOL_ERROR, "reserved bits set");
    /* RFC 7692 6: RSV1 marks a compressed message on its first frame. */
    if ((r->rsv & WSP_RSV1) && (is_control(r->opcode) || r->opcode == WSP_OP_CONT))
        return fail(r, WSP_CLOSE_PROTOCOL_ERROR, is_control(r->opcode)
                    ? "compressed control frame" : "RSV1 on a continuation frame");
    if (!is_known_opcode(r->opcode))
        return fail(r, WSP_CLOSE_PROTOCOL_ERROR, "reserved opcode");
    if (is_control(r->opcode)) {
        if (!r->fin)
            return fail(r, WSP_CLOSE_PROTOCOL_ERROR, "fragmented control frame");
        if ((b1 & 0x7F) > WSP_MAX_CONTROL_PAYLOAD)
            return fail(r, WSP_CLOSE_PROTOCOL_ERROR,
                        "control frame payload over 125 bytes");
    } else if (r->opcode == WSP_OP_CONT) {
        if (!r->msg_opcode)
            return fail(r, WSP_CLOSE_PROTOCOL_ERROR,
                        "continuation frame without a message");
        if (r->cfg.max_fragments && ++r->msg_frames >= r->cfg.max_fragments)
            return fail(r, WSP_CLOSE_POLICY, "too many fragments in a message");
    } else if (r->msg_opcode) {
        return fail(r, WSP_CLOSE_PROTOCOL_ERROR,
                    "new data frame inside a fragmented message");
    }
    return WSP_OK;
}

static uint64_t read_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The length is complete: check it before a single payload byte is taken. */
static wsp_status check_length(wsp_reader *r)
{
    unsigned ext = ext_len_size(r->hdr[1]);
    uint64_t total;

    r->payload_len = ext ? read_be(r->hdr + 2, ext) : (uint64_t)(r->hdr[1] & 0x7F);
    if (r->payload_len >> 63)
        return fail(r, WSP_CLOSE_PROTOCOL_ERROR,
                    "64-bit payload length with the top bit set");
    if (is_control(r->opcode))
        return WSP_OK;
    /* Cumulative across fragments; cannot overflow, both terms < 2^63. */
    total = (r->opcode == WSP_OP_CONT ? r->msg_len : 0) + r->payload_len;
    if (r->cfg.max_message_size && total > r->cfg.max_message_size)
        return fail(r, WSP_CLOSE_TOO_BIG, "message exceeds the maximum size");
    if (total > SIZE_MAX)
        return fail(r, WSP_CLOSE_TOO_BIG, "message too big for this platform");
    return WSP_OK;
}

static void begin_payload(wsp_reader *r)
{
    if (r->masked)
        memcpy(r->mask, r->hdr + 2 + ext_len_size(r->hdr[1]), 4);
    r->in_payload = 1;
    r->payload_got = 0;
    if (r->opcode == WSP_OP_TEXT || r->opcode == WSP_OP_BINARY) {
        r->msg_opcode = r->opcode;
        r->msg_compressed = (r->rsv & WSP_RSV1) != 0;
        r->msg_len = 0;
        r->msg_frames = 0;
        wsp_utf8_init(&r->utf8);
    }
}

static wsp_status finish_frame(wsp_reader *r);

/* Called each time the header holds hdr_need bytes.  The header is checked
 * in up to three stages, each as soon as it is complete: the first two
 * bytes, the extended length, the mask key.  Sets *more when another stage
 * must be gathered first. */
static wsp_status header_stage_done(wsp_reader *r, int *more)
{
    unsigned len_end = 2 + ext_len_size(r->hdr[1]);
    wsp_status st;

    *more = 0;
    if (r->hdr_len == 2) {
        if ((st = check_first_bytes(r)) != WSP_OK)
            return st;
        r->hdr_need = len_end;
    }
    if (r->hdr_len == len_end) {
        if ((st = check_length(r)) != WSP_OK)
            return st;
        r->hdr_need = len_end + (r->masked ? 4 : 0);
    }
    if (r->hdr_len < r->hdr_need) {
        *more = 1;
        return WSP_OK;
    }
    begin_payload(r);
    return r->payload_len == 0 ? finish_frame(r) : WSP_OK;
}

/* Fast path for the common case of a header that is all in the buffer:
 * the same checks in the same order, without gathering byte ranges. */
static wsp_status read_whole_header(wsp_reader *r, const uint8_t *p,
                                    size_t *pos)
{
    unsigned len_end = 2 + ext_len_size(p[1]);
    wsp_status st;

    memcpy(r->hdr, p, WSP_MAX_HEADER_SIZE);  /* fixed size: a few moves */
    r->hdr_len = 2;
    *pos += 2;
    if ((st = check_first_bytes(r)) != WSP_OK)
        return st;
    r->hdr_len = len_end;
    *pos += len_end - 2;
    if ((st = check_length(r)) != WSP_OK)
        return st;
    r->hdr_need = r->hdr_len = len_end + (r->masked ? 4 : 0);
    *pos += r->hdr_len - len_end;
    begin_payload(r);
    return r->payload_len == 0 ? finish_frame(r) : WSP_OK;
}

static wsp_status read_header(wsp_reader *r, const uint8_t *buf, size_t len,
                              size_t *pos)
{
    int more = 1;
    wsp_status st = WSP_OK;

    if (r->hdr_len == 0 && len - *pos >= WSP_MAX_HEADER_SIZE)
        return read_whole_header(r, buf + *pos, pos);
    while (more) {
        size_t want = r->hdr_need - r->hdr_len, avail = len - *pos;
        size_t take = want < avail ? want : avail;

        memcpy(r->hdr + r->hdr_len, buf + *pos, take);
        r->hdr_len += (unsigned)take;
        *pos += take;
        if (r->hdr_len < r->hdr_need)
            return WSP_OK;
        st = header_stage_done(r, &more);
        if (st != WSP_OK)
            return st;
    }
    return st;
}

/* ---- payload --------------------------------------------------------- */

static void unmask_into(wsp_reader *r, uint8_t *dst, const uint8_t *src,
                        size_t n, uint64_t offset)
{
    if (r->masked)
        wsp_mask_copy(dst, src, n, r->mask, offset);
    else
        memcpy(dst, src, n);
}

/* Makes room for need bytes.  Doubles, but never past the end of a final
 * frame, whose size is known: a single-frame message gets one exact
 * allocation when its payload arrives in one piece. */
static int reserve(wsp_reader *r, size_t need)
{
    size_t cap;
    uint8_t *p;

    if (need <= r->msg_cap)
        return 0;
    cap = r->msg_cap > SIZE_MAX / 2 ? SIZE_MAX : r->msg_cap * 2;
    if (cap < WSP_MSG_MIN_CAP)
        cap = WSP_MSG_MIN_CAP;
    if (r->fin) {
        uint64_t end = r->msg_len + (r->payload_len - r->payload_got);
        if (cap > end)
            cap = (size_t)end;
    }
    if (cap < need)
        cap = need;
    p = realloc(r->msg, cap);
    if (!p)
        return -1;
    r->msg = p;
    r->msg_cap = cap;
    return 0;
}

static wsp_status take_text(wsp_reader *r, uint8_t *dst, const uint8_t *src,
                            size_t n)
{
    size_t off, k;

    for (off = 0; off < n; off += k) {
        k = n - off < WSP_TEXT_SLICE ? n - off : WSP_TEXT_SLICE;
        unmask_into(r, dst + off, src + off, k, r->payload_got + off);
        if (wsp_utf8_feed(&r->utf8, dst + off, k) != WSP_UTF8_OK)
            return fail(r, WSP_CLOSE_INVALID_DATA,
                        "invalid UTF-8 in text message");
    }
    return WSP_OK;
}

static wsp_status take_data(wsp_reader *r, const uint8_t *src, size_t n)
{
    uint8_t *dst;
    wsp_status st = WSP_OK;

    if (is_small_message(r)) {
        dst = r->ctl + r->msg_len;
    } else {
        if (reserve(r, r->msg_len + n) != 0)
            return fail(r, WSP_CLOSE_INTERNAL_ERROR, "out of memory");
        dst = r->msg + r->msg_len;
    }
    if (r->msg_opcode == WSP_OP_TEXT && !r->msg_compressed)
        st = take_text(r, dst, src, n);   /* compressed: checked once inflated */
    else
        unmask_into(r, dst, src, n, r->payload_got);
    r->msg_len += n;
    return st;
}

static wsp_status read_payload(wsp_reader *r, const uint8_t *buf, size_t len,
                               size_t *pos)
{
    uint64_t left = r->payload_len - r->payload_got;
    size_t n = len - *pos < left ? len - *pos : (size_t)left;
    const uint8_t *src = buf + *pos;
    wsp_status st = WSP_OK;

    if (is_control(r->opcode))
        unmask_into(r, r->ctl + r->payload_got, src, n, r->payload_got);
    else
        st = take_data(r, src, n);
    *pos += n;
    r->payload_got += n;
    if (st != WSP_OK)
        return st;
    return r->payload_got == r->payload_len ? finish_frame(r) : WSP_OK;
}

/* ---- delivery -------------------------------------------------------- */

static wsp_status stopped_if(int rc)
{
    return rc ? WSP_STOPPED : WSP_OK;
}

static wsp_status deliver_message(wsp_reader *r)
{
    const uint8_t *data = is_small_message(r) || !r->msg ? r->ctl : r->msg;
    int opcode = r->msg_opcode, rc = 0;
    size_t len = r->msg_len;

    if (r->msg_compressed)
        opcode |= WSP_MSG_COMPRESSED;
    else if (opcode == WSP_OP_TEXT && !wsp_utf8_complete(&r->utf8))
        return fail(r, WSP_CLOSE_INVALID_DATA,
                    "truncated UTF-8 sequence at end of text message");
    /* Reset first so the reader is consistent whatever the callback does;
     * the buffer itself stays alive until the callback has returned. */
    r->msg_opcode = 0;
    r->msg_len = 0;
    if (r->cb.on_message)
        rc = r->cb.on_message(r->ud, opcode, data, len);
    if (r->msg_cap > WSP_MSG_KEEP_MAX)
        release_buffer(r);
    return stopped_if(rc);
}

static wsp_status deliver_close(wsp_reader *r)
{
    const char *reason, *err = NULL;
    size_t reason_len;
    int code, bad;

    bad = wsp_close_parse(r->ctl, (size_t)r->payload_len, &code, &reason,
                          &reason_len, &err);
    if (bad)
        return fail(r, bad, err);
    if (!r->cb.on_close)
        return WSP_OK;
    return stopped_if(r->cb.on_close(r->ud, code, reason, reason_len));
}

static wsp_status finish_frame(wsp_reader *r)
{
    size_t len = (size_t)r->payload_len;

    r->in_payload = 0;
    r->hdr_len = 0;
    r->hdr_need = 2;
    switch (r->opcode) {
    case WSP_OP_CLOSE:
        return deliver_close(r);
    case WSP_OP_PING:
        return stopped_if(r->cb.on_ping ? r->cb.on_ping(r->ud, r->ctl, len) : 0);
    case WSP_OP_PONG:
        return stopped_if(r->cb.on_pong ? r->cb.on_pong(r->ud, r->ctl, len) : 0);
    default:
        return r->fin ? deliver_message(r) : WSP_OK;
    }
}

/* ---- entry point ----------------------------------------------------- */

wsp_status wsp_reader_feed(wsp_reader *r, const uint8_t *buf, size_t len,
                           size_t *consumed)
{
    size_t pos = 0;
    wsp_status st = WSP_OK;

    if (r->error_code) {
        if (consumed)
            *consumed = 0;
        return WSP_FAIL;
    }
    while (st == WSP_OK && pos < len) {
        if (r->in_payload)
            st = read_payload(r, buf, len, &pos);
        else
            st = read_header(r, buf, len, &pos);
    }
    if (st == WSP_FAIL)
        wsp_reader_free(r);         /* a failed reader never needs its data */
    else if (!r->msg_opcode)
        release_buffer(r);          /* idle between messages: no heap */
    if (consumed)
        *consumed = pos;
    return st;
}
