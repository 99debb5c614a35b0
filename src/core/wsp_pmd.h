/*
 * wsp_pmd.h - permessage-deflate negotiation (RFC 7692 sections 5 to 7)
 * over plain strings: reads a client's Sec-WebSocket-Extensions offers,
 * picks the first one this server can accept under its policy, and writes
 * the one answer.  No zlib here: the codec is another file.
 *
 * An offer is declined (and the next one tried) when it has an unknown
 * parameter, the same parameter twice, a value where none is allowed, a
 * window size outside 8..15, or asks for something the policy cannot give
 * (a server window of 8: zlib's raw deflate cannot produce one).  Other
 * extensions in the header are skipped.
 */
#ifndef WSP_PMD_H
#define WSP_PMD_H

#include <stddef.h>

#define WSP_PMD_NAME "permessage-deflate"
#define WSP_PMD_RESPONSE_MAX 160  /* the longest answer, with its NUL */

/* What this server is willing to do. */
typedef struct wsp_pmd_policy {
    /* Our compressor's window, at most (9..15: zlib cannot deflate with 8). */
    int server_max_window_bits;
    /* The client's compressor window we ask for, when the client offered
     * client_max_window_bits (8..15; 15 asks nothing). */
    int client_max_window_bits;
    /* 1: we never keep compressor state between messages (answer
     * server_no_context_takeover whether offered or not). */
    int server_no_context_takeover;
    /* 1: ask the client not to keep its state (answer
     * client_no_context_takeover whether offered or not), so that no
     * inflate state needs to live between messages. */
    int client_no_context_takeover;
} wsp_pmd_policy;

/* What was agreed: the parameters both sides use from now on. */
typedef struct wsp_pmd_params {
    int server_no_context_takeover;
    int client_no_context_takeover;
    int server_max_window_bits;   /* our deflate window (9..15) */
    int client_max_window_bits;   /* the client's deflate window (8..15):
                                     our inflate window */
} wsp_pmd_params;

/* The defaults of RFC 7692 with no parameter: windows of 15, context
 * takeover on both sides; a policy that asks for nothing. */
void wsp_pmd_policy_default(wsp_pmd_policy *p);

/* header: the Sec-WebSocket-Extensions value (several header lines joined
 * with ", "), or NULL.  Returns 1 and fills *out and response (the whole
 * Sec-WebSocket-Extensions value to answer, NUL-terminated) if an offer
 * was accepted, 0 if none was (then answer no extension). */
int wsp_pmd_negotiate(const char *header, const wsp_pmd_policy *policy,
                      wsp_pmd_params *out,
                      char response[WSP_PMD_RESPONSE_MAX]);

#endif
