/*
 * wsp_handshake.c - opening-handshake helpers (RFC 6455 section 4.2) over
 * plain strings.  The only crypto, SHA-1, and the base64 of the accept key
 * come from apr-util / APR, as the server already links them.
 */
#include <string.h>

#include <apr_base64.h>
#include <apr_sha1.h>

#include "wsp_handshake.h"

#define WSP_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WSP_KEY_LEN 24   /* base64 of 16 bytes: 22 digits + "==" */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Narrows [*s, *s + *len) to exclude surrounding spaces and tabs. */
static void trim_ows(const char **s, size_t *len)
{
    while (*len && is_ows(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && is_ows((*s)[*len - 1]))
        (*len)--;
}

int wsp_list_next(const char **cursor, const char **tok, size_t *tok_len)
{
    const char *p = *cursor;

    if (!p)
        return 0;
    while (*p) {
        const char *start = p;
        size_t len;

        while (*p && *p != ',')
            p++;
        len = (size_t)(p - start);
        if (*p == ',')
            p++;
        trim_ows(&start, &len);
        if (len) {                 /* empty elements ("a,,b", ", a") are skipped */
            *tok = start;
            *tok_len = len;
            *cursor = p;
            return 1;
        }
    }
    *cursor = p;
    return 0;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Locale-independent: header tokens are ASCII and strncasecmp() would
 * follow LC_CTYPE. */
static int equal_nocase(const char *a, const char *b, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

int wsp_header_has_token(const char *value, const char *token)
{
    const char *cur = value, *tok;
    size_t len, want;

    if (!value || !token)
        return 0;
    want = strlen(token);
    while (wsp_list_next(&cur, &tok, &len))
        if (len == want && equal_nocase(tok, token, len))
            return 1;
    return 0;
}

int wsp_list_contains(const char *value, const char *name)
{
    const char *cur = value, *tok;
    size_t len, want;

    if (!value || !name)
        return 0;
    want = strlen(name);
    while (wsp_list_next(&cur, &tok, &len))
        if (len == want && memcmp(tok, name, len) == 0)
            return 1;
    return 0;
}

/* RFC 7230 tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int wsp_is_token(const char *name, size_t len)
{
    size_t i;

    if (!name || len == 0)
        return 0;
    for (i = 0; i < len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return 0;
    return 1;
}

static int is_base64_digit(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* 22 digits + "==" is exactly 16 bytes: 22 * 6 = 132 bits, the last 4 of
 * which are padding.  Non-zero padding bits are tolerated (every common
 * decoder drops them, and the key is only ever hashed as a string). */
int wsp_key_valid(const char *key)
{
    size_t len, i;

    if (!key)
        return 0;
    len = strlen(key);
    trim_ows(&key, &len);
    if (len != WSP_KEY_LEN || key[22] != '=' || key[23] != '=')
        return 0;
    for (i = 0; i < 22; i++)
        if (!is_base64_digit((unsigned char)key[i]))
            return 0;
    return 1;
}

void wsp_accept_key(const char *key, char out[WSP_ACCEPT_KEY_LEN + 1])
{
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;
    size_t len = strlen(key);

    /* The surrounding whitespace is not part of the header value. */
    trim_ows(&key, &len);
    apr_sha1_init(&ctx);
    apr_sha1_update_binary(&ctx, (const unsigned char *)key, (unsigned)len);
    apr_sha1_update_binary(&ctx, (const unsigned char *)WSP_GUID,
                           (unsigned)(sizeof(WSP_GUID) - 1));
    apr_sha1_final(digest, &ctx);
    /* apr_base64_encode_len(20) is 29: 28 digits and the NUL. */
    apr_base64_encode_binary(out, digest, APR_SHA1_DIGESTSIZE);
}
