/*
 * wsp_frame.h - RFC 6455 frame layer: an incremental reader that turns bytes
 * into messages and control frames, and a serializer for frame headers.
 *
 * Part of the protocol core: plain C over byte buffers, no I/O, no httpd
 * includes.  The caller feeds whatever bytes it has (chopped at any boundary)
 * and receives callbacks; on a protocol violation the reader stops and says
 * which close code the peer has earned (1002, 1007, 1009).
 */
#ifndef WSP_FRAME_H
#define WSP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "wsp_utf8.h"

enum wsp_opcode {
    WSP_OP_CONT   = 0x0,
    WSP_OP_TEXT   = 0x1,
    WSP_OP_BINARY = 0x2,
    WSP_OP_CLOSE  = 0x8,
    WSP_OP_PING   = 0x9,
    WSP_OP_PONG   = 0xA
};

/* Close codes the core produces or inspects (RFC 6455 section 7.4.1). */
enum wsp_close_code {
    WSP_CLOSE_NORMAL          = 1000,
    WSP_CLOSE_GOING_AWAY      = 1001,
    WSP_CLOSE_PROTOCOL_ERROR  = 1002,
    WSP_CLOSE_UNSUPPORTED     = 1003,
    WSP_CLOSE_NO_STATUS       = 1005, /* never on the wire */
    WSP_CLOSE_ABNORMAL        = 1006, /* never on the wire */
    WSP_CLOSE_INVALID_DATA    = 1007,
    WSP_CLOSE_POLICY          = 1008,
    WSP_CLOSE_TOO_BIG         = 1009,
    WSP_CLOSE_EXTENSION       = 1010,
    WSP_CLOSE_INTERNAL_ERROR  = 1011,
    WSP_CLOSE_TRY_AGAIN_LATER = 1013
};

#define WSP_RSV1 0x40
#define WSP_RSV2 0x20
#define WSP_RSV3 0x10

#define WSP_MSG_COMPRESSED 0x100  /* or'ed into on_message's opcode */

#define WSP_MAX_CONTROL_PAYLOAD 125
#define WSP_MAX_HEADER_SIZE     14   /* 2 + 8 (64-bit length) + 4 (mask) */

/* What the reader hands back.  Every callback returns 0 to go on; any other
 * value stops wsp_reader_feed(), which then returns WSP_STOPPED. */
typedef struct wsp_reader_callbacks {
    /* A complete data message (all fragments joined, unmasked, text already
     * validated as UTF-8).  data stays valid only during the call.  A
     * compressed message (RSV1) comes as opcode | WSP_MSG_COMPRESSED, still
     * compressed and not yet checked as UTF-8. */
    int (*on_message)(void *ud, int opcode, const uint8_t *data, size_t len);
    /* Control frames, unmasked; payload <= 125 bytes. */
    int (*on_ping)(void *ud, const uint8_t *data, size_t len);
    int (*on_pong)(void *ud, const uint8_t *data, size_t len);
    /* A valid close frame: code is WSP_CLOSE_NO_STATUS (1005) when the frame
     * had no payload; reason is UTF-8, not NUL-terminated. */
    int (*on_close)(void *ud, int code, const char *reason, size_t reason_len);
} wsp_reader_callbacks;

typedef struct wsp_reader_config {
    uint64_t max_message_size;  /* total bytes of one data message; 0 = no limit */
    int      require_mask;      /* 1 on a server (client frames must be masked),
                                   0 on a client (server frames must not be) */
    uint8_t  allowed_rsv;       /* RSV bits a negotiated extension allows (0 for none);
                                   WSP_RSV1 is permessage-deflate's "compressed"
                                   bit (RFC 7692 6): first frame of a data
                                   message only */
    uint32_t max_fragments;     /* frames in one data message; 0 = no limit.
                                   Past it: 1008 (a million empty fragments
                                   cost a callback each and no bytes) */
} wsp_reader_config;

typedef enum wsp_status {
    WSP_OK = 0,        /* all input consumed (a frame may be incomplete) */
    WSP_STOPPED,       /* a callback returned non-zero; *consumed says where */
    WSP_FAIL           /* protocol violation: see wsp_reader_error() */
} wsp_status;

/* Opaque in spirit; declared here so callers can embed it without malloc. */
typedef struct wsp_reader {
    wsp_reader_config   cfg;
    wsp_reader_callbacks cb;
    void               *ud;
    /* header parsing */
    uint8_t   hdr[WSP_MAX_HEADER_SIZE];
    unsigned  hdr_len;        /* bytes of the current header gathered so far */
    unsigned  hdr_need;       /* bytes the current header needs in total */
    int       in_payload;
    int       fin;
    int       opcode;
    uint8_t   rsv;
    int       masked;
    uint8_t   mask[4];
    uint64_t  payload_len;
    uint64_t  payload_got;
    /* message assembly */
    int       msg_opcode;     /* WSP_OP_TEXT/BINARY while a message is open, else 0 */
    int       msg_compressed; /* its first frame had RSV1 (permessage-deflate) */
    uint8_t  *msg;            /* malloc'd buffer of the message being assembled */
    size_t    msg_len;
    size_t    msg_cap;
    uint32_t  msg_frames;     /* frames of the open message so far */
    wsp_utf8_state utf8;      /* incremental validation of the open text message */
    /* control frame payload (at most 125 bytes) */
    uint8_t   ctl[WSP_MAX_CONTROL_PAYLOAD];
    /* failure */
    int         error_code;   /* close code earned by the peer, 0 if none */
    const char *error_text;   /* static string for the log */
} wsp_reader;

void wsp_reader_init(wsp_reader *r, const wsp_reader_config *cfg,
                     const wsp_reader_callbacks *cb, void *ud);
/* Between messages: gives back the message buffer kept for the next one
 * (an idle connection needs none). */
void wsp_reader_trim(wsp_reader *r);
/* Frees the message buffer; the reader may be re-initialised afterwards. */
void wsp_reader_free(wsp_reader *r);
/* Feeds len bytes.  *consumed (may be NULL) receives how many bytes were
 * used; it is len unless the call stopped or failed. */
wsp_status wsp_reader_feed(wsp_reader *r, const uint8_t *buf, size_t len,
                           size_t *consumed);
int         wsp_reader_error(const wsp_reader *r);      /* close code or 0 */
const char *wsp_reader_error_text(const wsp_reader *r); /* NULL if none */
/* Bytes buffered for the message being assembled (for memory accounting). */
size_t      wsp_reader_buffered(const wsp_reader *r);

/* Serializer --------------------------------------------------------- */

/* Size of a frame header for a payload of len bytes. */
size_t wsp_frame_header_size(uint64_t len, int masked);
/* Writes a header into out (>= WSP_MAX_HEADER_SIZE bytes) and returns its
 * size.  first_byte_flags: WSP_RSV1..3 bits to set; mask NULL for none. */
size_t wsp_frame_header_write(uint8_t *out, int fin, uint8_t rsv, int opcode,
                              uint64_t len, const uint8_t mask[4]);
/* XORs data with the 4-byte key, as if data started at byte offset of the
 * payload.  Word-wide; used both to unmask and to mask. */
void   wsp_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t offset);

/* Close frames ------------------------------------------------------- */

/* 1 if code may appear in a close frame on the wire (1000-1003, 1007-1014,
 * 3000-4999), else 0. */
int    wsp_close_code_valid(int code);
/* Builds a close payload (2-byte code + reason cut to fit 125 bytes at a
 * UTF-8 boundary) into out[125]; returns its length (0 if code is 0). */
size_t wsp_close_payload(uint8_t *out, int code, const char *reason,
                         size_t reason_len);

#endif
