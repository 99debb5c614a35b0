/*
 * wsp_pmd.c - permessage-deflate negotiation (see wsp_pmd.h).
 *
 * The header is a list (RFC 6455 9.1): extension *( ";" param [ "=" value ] )
 * separated by commas, values tokens or quoted strings, optional spaces
 * around the separators.  One pass, no allocation: each element is read
 * into an `offer`, then judged.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wsp_pmd.h"
#include "wsp_handshake.h"

#define VALUE_MAX 16            /* longer values are never valid here */

typedef struct offer {
    int is_pmd, bad;
    int snct, cnct;             /* *_no_context_takeover seen */
    int smwb;                   /* server_max_window_bits: -1 absent */
    int cmwb;                   /* client_max_window_bits: -1 absent,
                                   0 without a value */
} offer;

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static size_t token_len(const char *s)
{
    size_t n = 0;
    while (s[n] && wsp_is_token(s + n, 1))
        n++;
    return n;
}

/* A token or quoted-string value into buf (unquoted); NULL if malformed. */
static const char *read_value(const char *s, char buf[VALUE_MAX], int *too_long)
{
    size_t n = 0;

    *too_long = 0;
    if (*s != '"') {
        size_t k = token_len(s);
        if (!k)
            return NULL;
        if (k >= VALUE_MAX)
            *too_long = 1;
        else
            memcpy(buf, s, k);
        buf[k < VALUE_MAX ? k : 0] = '\0';
        return s + k;
    }
    for (s++; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1])
            s++;
        if (n + 1 < VALUE_MAX)
            buf[n++] = *s;
        else
            *too_long = 1;
    }
    buf[n] = '\0';
    return *s == '"' ? s + 1 : NULL;
}

/* 8..15 written without leading zeros (RFC 7692 7.1.2), else -1. */
static int window_bits(const char *v)
{
    if (v[0] == '8' || v[0] == '9')
        return v[1] ? -1 : v[0] - '0';
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && !v[2])
        return 10 + (v[1] - '0');
    return -1;
}

static int is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static void apply_param(offer *o, const char *name, size_t len,
                        const char *value)
{
    int *flag = is(name, len, "server_no_context_takeover") ? &o->snct
              : is(name, len, "client_no_context_takeover") ? &o->cnct : NULL;

    if (flag) {
        if (*flag || value)
            o->bad = 1;                /* repeated, or with a value */
        *flag = 1;
    }
    else if (is(name, len, "server_max_window_bits")) {
        if (o->smwb != -1 || !value || (o->smwb = window_bits(value)) < 0)
            o->bad = 1;
    }
    else if (is(name, len, "client_max_window_bits")) {
        if (o->cmwb != -1 || (value && window_bits(value) < 0))
            o->bad = 1;
        o->cmwb = value ? window_bits(value) : 0;
    }
    else
        o->bad = 1;                    /* unknown parameter */
}

/* Skips to just after the next comma outside quotes (or to the end). */
static const char *next_element(const char *s)
{
    int quoted = 0;
    for (; *s; s++) {
        if (quoted && *s == '\\' && s[1])
            s++;
        else if (*s == '"')
            quoted = !quoted;
        else if (*s == ',' && !quoted)
            return s + 1;
    }
    return s;
}

/* One parameter after a ';'; returns where it ends, or NULL. */
static const char *read_param(const char *s, offer *o)
{
    char value[VALUE_MAX];
    const char *name = s = skip_ows(s);
    size_t len = token_len(s);
    int too_long = 0, has_value = 0;

    if (!len)
        return NULL;
    s = skip_ows(s + len);
    if (*s == '=') {
        s = read_value(skip_ows(s + 1), value, &too_long);
        if (!s)
            return NULL;
        has_value = 1;
        s = skip_ows(s);
    }
    if (o->is_pmd) {
        if (too_long)
            o->bad = 1;
        else
            apply_param(o, name, len, has_value ? value : NULL);
    }
    return s;
}

/* Reads one list element into *o; returns the start of the next one. */
static const char *read_offer(const char *s, offer *o)
{
    size_t len;

    memset(o, 0, sizeof(*o));
    o->smwb = o->cmwb = -1;
    s = skip_ows(s);
    if (!(len = token_len(s))) {
        o->bad = 1;
        return next_element(s);
    }
    o->is_pmd = is(s, len, WSP_PMD_NAME);
    s = skip_ows(s + len);
    while (*s == ';') {
        if (!(s = read_param(s + 1, o))) {
            o->bad = 1;
            return NULL;               /* unparseable: stop reading */
        }
    }
    if (*s && *s != ',')
        o->bad = 1;
    return next_element(s);
}

void wsp_pmd_policy_default(wsp_pmd_policy *p)
{
    p->server_max_window_bits = 15;
    p->client_max_window_bits = 15;
    p->server_no_context_takeover = 0;
    p->client_no_context_takeover = 0;
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Accepts o under the policy, or returns 0. */
static int accept_offer(const offer *o, const wsp_pmd_policy *pol,
                        wsp_pmd_params *out, char *resp)
{
    int sw = clamp(pol->server_max_window_bits, 9, 15);
    int cw = clamp(pol->client_max_window_bits, 8, 15);
    size_t n;

    if (o->smwb != -1) {
        if (o->smwb < 9)
            return 0;                  /* zlib deflates with 9 at least */
        if (o->smwb < sw)
            sw = o->smwb;
    }
    if (o->cmwb > 0 && o->cmwb < cw)
        cw = o->cmwb;
    out->server_no_context_takeover = o->snct || pol->server_no_context_takeover;
    out->client_no_context_takeover = o->cnct || pol->client_no_context_takeover;
    out->server_max_window_bits = sw;
    out->client_max_window_bits = o->cmwb == -1 ? 15 : cw;
    n = (size_t)snprintf(resp, WSP_PMD_RESPONSE_MAX, "%s%s%s", WSP_PMD_NAME,
                         out->server_no_context_takeover
                             ? "; server_no_context_takeover" : "",
                         out->client_no_context_takeover
                             ? "; client_no_context_takeover" : "");
    if (o->smwb != -1 || sw < 15)
        n += (size_t)snprintf(resp + n, WSP_PMD_RESPONSE_MAX - n,
                              "; server_max_window_bits=%d", sw);
    if (o->cmwb != -1)
        snprintf(resp + n, WSP_PMD_RESPONSE_MAX - n,
                 "; client_max_window_bits=%d", cw);
    return 1;
}

int wsp_pmd_negotiate(const char *header, const wsp_pmd_policy *policy,
                      wsp_pmd_params *out,
                      char response[WSP_PMD_RESPONSE_MAX])
{
    const char *s = header;

    response[0] = '\0';
    while (s && *s) {
        offer o;
        s = read_offer(s, &o);
        if (o.is_pmd && !o.bad && accept_offer(&o, policy, out, response))
            return 1;
    }
    return 0;
}
