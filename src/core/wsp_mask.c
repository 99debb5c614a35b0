/*
 * wsp_mask.c - the RFC 6455 masking XOR, 8 bytes at a time.
 *
 * The 4-byte key is rotated by the payload offset and doubled into a 64-bit
 * word; since 8 is a multiple of 4 that word lines up with every 8-byte
 * block that follows.  Loads and stores go through memcpy so unaligned
 * buffers are fine (compilers turn them into plain moves), and because the
 * key word is built from bytes in memory order the code is endian-neutral.
 */
#include <string.h>

#include "wsp_frame.h"
#include "wsp_internal.h"

static inline void xor_word(uint8_t *dst, const uint8_t *src, uint64_t key)
{
    uint64_t w;

    memcpy(&w, src, 8);
    w ^= key;
    memcpy(dst, &w, 8);
}

void wsp_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                   const uint8_t key[4], uint64_t offset)
{
    uint8_t keys[12];
    const uint8_t *rot = keys + (offset & 3);   /* rot[i] = key[(offset+i)%4] */
    uint64_t k;
    size_t i = 0;

    memcpy(keys, key, 4);
    memcpy(keys + 4, key, 4);
    memcpy(keys + 8, key, 4);
    memcpy(&k, rot, 8);
    /* Four words per iteration keeps the loads independent. */
    for (; len - i >= 32; i += 32) {
        xor_word(dst + i, src + i, k);
        xor_word(dst + i + 8, src + i + 8, k);
        xor_word(dst + i + 16, src + i + 16, k);
        xor_word(dst + i + 24, src + i + 24, k);
    }
    for (; len - i >= 8; i += 8)
        xor_word(dst + i, src + i, k);
    for (; i < len; i++)
        dst[i] = src[i] ^ rot[i & 3];
}

void wsp_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t offset)
{
    wsp_mask_copy(data, data, len, key, offset);
}
