/*
 * wsp_internal.h - helpers shared by the protocol core's own files (and its
 * unit tests).  Not part of the contract in wsp_frame.h; may change freely.
 */
#ifndef WSP_INTERNAL_H
#define WSP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "wsp_session.h"    /* wsp_closer */

/* dst[i] = src[i] ^ key[(offset + i) % 4], word-wide.  dst and src may be
 * the same buffer (in place) but must not otherwise overlap.  Fusing the
 * copy with the XOR lets the reader unmask straight from the input into the
 * message buffer in one pass. */
void wsp_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                   const uint8_t key[4], uint64_t offset);

/* Parses a close frame payload.  Returns 0 and sets *code (1005 for an
 * empty payload), *reason, *reason_len; or returns the close code the peer
 * has earned (1002 bad length or code, 1007 reason not UTF-8) and sets
 * *err to a static description. */
int wsp_close_parse(const uint8_t *p, size_t len, int *code,
                    const char **reason, size_t *reason_len, const char **err);

/* The session's output lanes (wsp_outq.c), used by wsp_session.c. */
/* Takes b (one reference) into its lane: pong/ping slot (replacing an
 * unsent one) or the data FIFO.  WSP_SEND_OK or WSP_SEND_ENOMEM. */
int  wsp_lane_enqueue(struct wsp_session *s, struct wsp_buf *b);
/* Queues our close frame with payload p[n]; nothing may follow it. */
int  wsp_lane_queue_close(struct wsp_session *s, const uint8_t *p, size_t n);
/* The next frame in pop order, moved from the accounting to unwritten. */
struct wsp_buf *wsp_lane_take(struct wsp_session *s);
void wsp_lane_drop_all(struct wsp_session *s);

/* Shared by wsp_session.c and its clock (wsp_session_clock.c). */
/* Advances the session's clock to now (never backwards). */
void wsp_session_sync_clock(struct wsp_session *s, int64_t now);
/* What on_close reports and the log line shows. */
void wsp_session_record_close(struct wsp_session *s, int code,
                              const char *reason, size_t len, wsp_closer by);
/* FINISHED: output dropped, on_close called if it was not. */
void wsp_session_finish(struct wsp_session *s);

/* Between the session and its permessage-deflate (wsp_session_pmd.c). */
/* Fails the connection with code (wsp_session.c). */
void wsp_session_fail(struct wsp_session *s, int code);
/* Hands a whole plain message to on_message (wsp_session.c). */
void wsp_session_deliver(struct wsp_session *s, int opcode,
                         const uint8_t *data, size_t len);
/* At init: the inflater if input is compressed; returns the RSV bits the
 * reader must allow. */
uint8_t wsp_pmd_setup(struct wsp_session *s);
void    wsp_pmd_teardown(struct wsp_session *s);
void    wsp_pmd_trim(struct wsp_session *s);
size_t  wsp_pmd_memory(const struct wsp_session *s);
/* A compressed message: inflated, checked, delivered.  1 if it failed
 * (the session is closing with the code the peer earned). */
int     wsp_pmd_deliver(struct wsp_session *s, int opcode,
                        const uint8_t *data, size_t len);
/* A whole data message as a compressed frame, or NULL: send it plain (too
 * short, deflate off, or compression failed). */
struct wsp_buf *wsp_pmd_frame(struct wsp_session *s, int opcode,
                              const void *data, size_t len);
/* The compressed twin of a serialized plain data frame (a whole message
 * or a part of one), or NULL: send it as it is.  *failed: a part of a
 * message already begun compressed could not be compressed (close 1011). */
struct wsp_buf *wsp_pmd_refit(struct wsp_session *s, const struct wsp_buf *b,
                              int *failed);

/* Output the peer has not received yet: queued, or popped and unwritten. */
#define wsp_lane_has_output(s) ((s)->cost || (s)->unwritten)

#endif
