/*
 * fuzz_pmd.c - libFuzzer target for the permessage-deflate negotiation.
 *
 * Input: [policy byte][Sec-WebSocket-Extensions value].  Whatever the
 * header, an accepted offer gives one answer that fits its buffer, names
 * permessage-deflate first, and agrees on windows zlib can use; a declined
 * one gives an empty answer.  The answer itself, offered back under the
 * default policy, is accepted (it is a valid offer).
 */
#include <string.h>

#include "fuzz_common.h"
#include "wsp_pmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char header[4096], resp[WSP_PMD_RESPONSE_MAX], again[WSP_PMD_RESPONSE_MAX];
    wsp_pmd_policy pol, dflt;
    wsp_pmd_params p, q;
    unsigned k;

    if (size < 1)
        return 0;
    k = data[0];
    pol.server_max_window_bits = 8 + (int)(k & 7);
    pol.client_max_window_bits = 8 + (int)((k >> 3) & 7);
    pol.server_no_context_takeover = (k >> 6) & 1;
    pol.client_no_context_takeover = (k >> 7) & 1;
    size -= 1;
    if (size >= sizeof header)
        size = sizeof header - 1;
    memcpy(header, data + 1, size);
    header[size] = '\0';
    if (!wsp_pmd_negotiate(header, &pol, &p, resp)) {
        FUZZ_CHECK(resp[0] == '\0');
        return 0;
    }
    FUZZ_CHECK(strlen(resp) < sizeof resp);
    FUZZ_CHECK(strncmp(resp, WSP_PMD_NAME, strlen(WSP_PMD_NAME)) == 0);
    FUZZ_CHECK(p.server_max_window_bits >= 9 && p.server_max_window_bits <= 15);
    FUZZ_CHECK(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15);
    FUZZ_CHECK(p.server_max_window_bits <= (pol.server_max_window_bits < 9 ? 9
                                            : pol.server_max_window_bits));
    FUZZ_CHECK(!pol.server_no_context_takeover || p.server_no_context_takeover);
    FUZZ_CHECK(!pol.client_no_context_takeover || p.client_no_context_takeover);
    wsp_pmd_policy_default(&dflt);
    FUZZ_CHECK(wsp_pmd_negotiate(resp, &dflt, &q, again));
    FUZZ_CHECK(q.server_no_context_takeover == p.server_no_context_takeover);
    FUZZ_CHECK(q.server_max_window_bits == p.server_max_window_bits);
    return 0;
}
