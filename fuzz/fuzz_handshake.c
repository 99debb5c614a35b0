/*
 * fuzz_handshake.c - libFuzzer target for the opening-handshake string
 * checks (wsp_handshake.c) and the Origin allow-list (wsp_origin.c).
 *
 * Input: fields separated by '\n' (a header value cannot hold one):
 *   [key]\n[list]\n[token]\n[origin]\n[pattern]\n[pattern]...
 * Every field is copied into a malloc block of exactly its size (plus the
 * NUL), so under ASan any read past a header value is caught.  Checks:
 *  - wsp_key_valid agrees with APR's base64 decoder: a valid key is 24
 *    digits that decode to exactly 16 bytes, and a canonical encoding of 16
 *    bytes is always valid, whatever spaces and tabs surround it;
 *  - wsp_accept_key gives 28 base64 digits decoding to 20 bytes, the same
 *    for the key with or without surrounding whitespace (and the RFC 6455
 *    sample once);
 *  - wsp_list_next yields non-empty, trimmed, comma-free tokens inside the
 *    value, exactly those a naive split finds; wsp_header_has_token and
 *    wsp_list_contains find each of them (the first in any case);
 *  - wsp_is_token agrees with a naive tchar check over unterminated bytes;
 *  - wsp_origin_allowed is the OR of the patterns one by one, ignores case,
 *    and every valid pattern admits the origin it describes.
 */
#include <string.h>

#include <apr_base64.h>

#include "fuzz_common.h"
#include "wsp_handshake.h"
#include "wsp_origin.h"

#define MAX_PATTERNS 8

static char *dup_exact(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    FUZZ_CHECK(s);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

static int b64_digit(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* ---- the key and the accept key ----------------------------------------- */

static void check_accept(const char *key)
{
    char out[WSP_ACCEPT_KEY_LEN + 1], again[WSP_ACCEPT_KEY_LEN + 1];
    char padded[64 + WSP_ACCEPT_KEY_LEN];
    unsigned char digest[32];
    int i;

    memset(out, 0x55, sizeof out);
    wsp_accept_key(key, out);
    FUZZ_CHECK(strlen(out) == WSP_ACCEPT_KEY_LEN);
    for (i = 0; i < 27; i++)
        FUZZ_CHECK(b64_digit((unsigned char)out[i]));
    FUZZ_CHECK(out[27] == '=');
    FUZZ_CHECK(apr_base64_decode_len(out) >= 20);
    FUZZ_CHECK(apr_base64_decode_binary(digest, out) == 20);
    if (strlen(key) < 40) {
        snprintf(padded, sizeof padded, " \t%s\t ", key);
        wsp_accept_key(padded, again);
        FUZZ_CHECK(strcmp(out, again) == 0);
    }
}

static void check_key(const char *key)
{
    size_t n = strlen(key);
    const char *k = key;
    int valid = wsp_key_valid(key);

    while (n && ows(*k))
        k++, n--;
    while (n && ows(k[n - 1]))
        n--;
    if (valid) {
        unsigned char bin[32];
        char canon[32], t[32];
        size_t i;

        FUZZ_CHECK(n == 24 && k[22] == '=' && k[23] == '=');
        for (i = 0; i < 22; i++)
            FUZZ_CHECK(b64_digit((unsigned char)k[i]));
        memcpy(t, k, 24);
        t[24] = '\0';
        FUZZ_CHECK(apr_base64_decode_binary(bin, t) == 16);
        /* Re-encoded: the same digits, but for the 4 padding bits. */
        apr_base64_encode_binary(canon, bin, 16);
        FUZZ_CHECK(strlen(canon) == 24 && memcmp(canon, k, 21) == 0
                   && strcmp(canon + 22, "==") == 0);
    } else if (n == 24) {
        /* Not valid: then it is not the canonical encoding of 16 bytes. */
        unsigned char bin[32];
        char canon[32], t[32];
        int all = 1, i;

        memcpy(t, k, 24);
        t[24] = '\0';
        for (i = 0; i < 24; i++)
            all &= b64_digit((unsigned char)t[i]) || t[i] == '=';
        if (all && apr_base64_decode_len(t) <= 19
            && apr_base64_decode_binary(bin, t) == 16) {
            apr_base64_encode_binary(canon, bin, 16);
            FUZZ_CHECK(strcmp(canon, t) != 0);
        }
    }
    check_accept(key);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* ---- token lists -------------------------------------------------------- */

/* The naive split: the i-th non-empty trimmed element, or 0. */
static int ref_element(const char *v, unsigned want, const char **tok,
                       size_t *len)
{
    unsigned i = 0;

    for (;;) {
        const char *start = v, *end;
        while (*v && *v != ',')
            v++;
        end = v;
        while (start < end && ows(*start))
            start++;
        while (end > start && ows(end[-1]))
            end--;
        if (end > start && i++ == want) {
            *tok = start;
            *len = (size_t)(end - start);
            return 1;
        }
        if (!*v)
            return 0;
        v++;
    }
}

static void check_list(const char *value, const char *token)
{
    const char *cur = value, *tok, *rtok;
    size_t len, rlen, vlen = strlen(value), i;
    unsigned count = 0;
    int has = 0, has_nocase = 0;

    while (wsp_list_next(&cur, &tok, &len)) {
        FUZZ_CHECK(tok >= value && len > 0 && tok + len <= value + vlen);
        FUZZ_CHECK(cur >= tok + len && cur <= value + vlen);
        FUZZ_CHECK(!ows(tok[0]) && !ows(tok[len - 1]));
        FUZZ_CHECK(!memchr(tok, ',', len));
        FUZZ_CHECK(ref_element(value, count, &rtok, &rlen));
        FUZZ_CHECK(rtok == tok && rlen == len);
        if (count == 0) {
            char *t = dup_exact((const uint8_t *)tok, len);
            for (i = 0; i < len; i++)      /* swap the case of letters */
                if ((t[i] | 0x20) >= 'a' && (t[i] | 0x20) <= 'z')
                    t[i] ^= 0x20;
            FUZZ_CHECK(wsp_header_has_token(value, t));
            free(t);
            t = dup_exact((const uint8_t *)tok, len);
            FUZZ_CHECK(wsp_list_contains(value, t));
            FUZZ_CHECK(wsp_header_has_token(value, t));
            free(t);
        }
        if (len == strlen(token)) {
            has |= memcmp(tok, token, len) == 0;
            for (i = 0; i < len; i++)
                if (lower((unsigned char)tok[i]) != lower((unsigned char)token[i]))
                    break;
            has_nocase |= i == len;
        }
        count++;
    }
    FUZZ_CHECK(*cur == '\0');
    FUZZ_CHECK(!ref_element(value, count, &rtok, &rlen));
    FUZZ_CHECK(wsp_list_contains(value, token) == has);
    FUZZ_CHECK(wsp_header_has_token(value, token) == has_nocase);
    FUZZ_CHECK(!wsp_list_next(&cur, &tok, &len));
}

static void check_is_token(const uint8_t *p, size_t n)
{
    static const char tchars[] = "!#$%&'*+-.^_`|~";
    char *t = malloc(n ? n : 1);       /* no NUL: only n bytes may be read */
    int ref = n > 0;
    size_t i;

    FUZZ_CHECK(t);
    if (n)
        memcpy(t, p, n);
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                 || (c >= '0' && c <= '9') || (c && memchr(tchars, c, 15));
        ref &= ok;
    }
    FUZZ_CHECK(wsp_is_token(t, n) == ref);
    free(t);
}

/* ---- origins ------------------------------------------------------------ */

static char *upper(const char *s)
{
    char *u = dup_exact((const uint8_t *)s, strlen(s)), *p;

    for (p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    return u;
}

/* The origin a valid pattern describes: a scheme added if it has none,
 * the wildcard label filled in. */
static void check_pattern_admits(const char *pat)
{
    size_t n = strlen(pat);
    char *o = malloc(n + 8), *star;
    const char *one[1] = { pat };

    FUZZ_CHECK(o);
    snprintf(o, n + 8, "%s%s", strstr(pat, "://") ? "" : "http://", pat);
    if ((star = strchr(o, '*')) != NULL)
        *star = 'q';
    FUZZ_CHECK(wsp_origin_allowed(o, one, 1));
    free(o);
}

static void check_origin(const char *origin, char **pats, size_t np)
{
    const char *cp[MAX_PATTERNS];
    int any = 0, all;
    size_t i;
    char *u;

    for (i = 0; i < np; i++) {
        const char *err = wsp_origin_pattern_error(pats[i]);
        cp[i] = pats[i];
        any |= wsp_origin_allowed(origin, &cp[i], 1);
        if (!err)
            check_pattern_admits(pats[i]);
    }
    all = wsp_origin_allowed(origin, cp, np);
    FUZZ_CHECK(all == any);
    FUZZ_CHECK(!wsp_origin_allowed(origin, cp, 0));
    FUZZ_CHECK(!wsp_origin_allowed(NULL, cp, np));
    u = upper(origin);
    FUZZ_CHECK(wsp_origin_allowed(u, cp, np) == all);
    free(u);
    if (np) {
        u = upper(pats[0]);
        FUZZ_CHECK(!wsp_origin_pattern_error(u) == !wsp_origin_pattern_error(pats[0]));
        cp[0] = u;
        FUZZ_CHECK(wsp_origin_allowed(origin, cp, 1)
                   == wsp_origin_allowed(origin, (const char *const *)pats, 1));
        free(u);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *field[4 + MAX_PATTERNS];
    size_t nf = 0, pos = 0, i;
    static int rfc_checked;

    if (!rfc_checked) {                /* RFC 6455 section 1.3's sample */
        char out[WSP_ACCEPT_KEY_LEN + 1];
        wsp_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
        FUZZ_CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
        FUZZ_CHECK(wsp_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
        rfc_checked = 1;
    }
    check_is_token(data, size);
    while (nf < 4 + MAX_PATTERNS && pos <= size) {
        const uint8_t *nl = pos < size ? memchr(data + pos, '\n', size - pos) : NULL;
        size_t end = nl ? (size_t)(nl - data) : size;
        /* Strings end at a NUL anyway: cut the field there too. */
        const uint8_t *z = memchr(data + pos, 0, end - pos);
        field[nf++] = dup_exact(data + pos, (z ? (size_t)(z - data) : end) - pos);
        pos = end + 1;
        if (!nl)
            break;
    }
    while (nf < 4)
        field[nf++] = dup_exact((const uint8_t *)"", 0);
    check_key(field[0]);
    check_list(field[1], field[2]);
    check_is_token((const uint8_t *)field[2], strlen(field[2]));
    check_origin(field[3], field + 4, nf - 4);
    for (i = 0; i < nf; i++)
        free(field[i]);
    return 0;
}
