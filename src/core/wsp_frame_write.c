/*
 * wsp_frame_write.c - frame header serializer (RFC 6455 section 5.2).
 *
 * The payload length always uses the shortest form, as the RFC requires:
 * 7 bits up to 125, 16 bits up to 65535, else 64 bits.
 */
#include <string.h>

#include "wsp_frame.h"

#define LEN16_MARK 126
#define LEN64_MARK 127

size_t wsp_frame_header_size(uint64_t len, int masked)
{
    size_t n = 2;

    if (len > 0xFFFF)
        n += 8;
    else if (len > WSP_MAX_CONTROL_PAYLOAD)
        n += 2;
    return masked ? n + 4 : n;
}

static size_t write_length(uint8_t *out, uint64_t len)
{
    int i;

    if (len <= WSP_MAX_CONTROL_PAYLOAD) {
        out[1] |= (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] |= LEN16_MARK;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] |= LEN64_MARK;
    for (i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

size_t wsp_frame_header_write(uint8_t *out, int fin, uint8_t rsv, int opcode,
                              uint64_t len, const uint8_t mask[4])
{
    size_t n;

    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv & (WSP_RSV1 | WSP_RSV2 | WSP_RSV3))
                       | (opcode & 0x0F));
    out[1] = mask ? 0x80 : 0;
    n = write_length(out, len);
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}
