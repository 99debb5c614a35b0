/*
 * wsp_close.c - close frame payloads (RFC 6455 sections 5.5.1 and 7.4).
 */
#include <string.h>

#include "wsp_frame.h"
#include "wsp_internal.h"

#define CLOSE_REASON_MAX (WSP_MAX_CONTROL_PAYLOAD - 2)

int wsp_close_code_valid(int code)
{
    /* 1004 is reserved; 1005, 1006 and 1015 are for local reporting only
     * and must never be sent; 1016-2999 are unassigned or reserved for
     * future RFCs; 3000-3999 are IANA-registered, 4000-4999 private use. */
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1014)
        return 1;
    return code >= 3000 && code <= 4999;
}

/* Largest cut <= max that does not split a UTF-8 sequence: back off over
 * continuation bytes (10xxxxxx) so that s[cut] starts a code point. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    size_t cut;

    if (len <= max)
        return len;
    cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

size_t wsp_close_payload(uint8_t *out, int code, const char *reason,
                         size_t reason_len)
{
    size_t n;

    /* 1005 means "no status code": the way to say that on the wire is an
     * empty payload, never the code itself. */
    if (code == 0 || code == WSP_CLOSE_NO_STATUS)
        return 0;
    out[0] = (uint8_t)((unsigned)code >> 8);
    out[1] = (uint8_t)code;
    n = reason ? utf8_cut(reason, reason_len, CLOSE_REASON_MAX) : 0;
    if (n)
        memcpy(out + 2, reason, n);
    return 2 + n;
}

int wsp_close_parse(const uint8_t *p, size_t len, int *code,
                    const char **reason, size_t *reason_len, const char **err)
{
    int c;

    if (len == 0) {
        *code = WSP_CLOSE_NO_STATUS;
        *reason = "";
        *reason_len = 0;
        return 0;
    }
    if (len == 1) {
        *err = "close frame with a 1-byte payload";
        return WSP_CLOSE_PROTOCOL_ERROR;
    }
    c = (p[0] << 8) | p[1];
    if (!wsp_close_code_valid(c)) {
        *err = "invalid close code";
        return WSP_CLOSE_PROTOCOL_ERROR;
    }
    if (!wsp_utf8_valid(p + 2, len - 2)) {
        *err = "invalid UTF-8 in close reason";
        return WSP_CLOSE_INVALID_DATA;
    }
    *code = c;
    *reason = (const char *)p + 2;
    *reason_len = len - 2;
    return 0;
}
