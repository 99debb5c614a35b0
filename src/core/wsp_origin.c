/*
 * wsp_origin.c - matching an Origin header against WebSocketOrigin's
 * patterns (see wsp_origin.h for the rules).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wsp_origin.h"

typedef struct {
    const char *scheme; size_t scheme_len;   /* 0: any of http, https */
    const char *host;   size_t host_len;
    long        port;                        /* -1: the scheme's default */
} origin_parts;

static const char scheme_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.";

static long parse_port(const char *p)
{
    size_t n = strlen(p);
    long port;

    if (!n || n > 5 || strspn(p, "0123456789") != n)
        return 0;
    port = strtol(p, NULL, 10);
    return port >= 1 && port <= 65535 ? port : 0;
}

/* Splits [scheme://]host[:port]; 0 if it is not of that form.  An Origin
 * header always has a scheme (need_scheme). */
static int split(const char *s, int need_scheme, origin_parts *o)
{
    const char *sep = strstr(s, "://"), *colon, *end;

    memset(o, 0, sizeof(*o));
    o->port = -1;
    if (sep) {
        o->scheme = s;
        o->scheme_len = (size_t)(sep - s);
        if (!o->scheme_len || strspn(s, scheme_chars) < o->scheme_len)
            return 0;
        s = sep + 3;
    }
    else if (need_scheme)
        return 0;
    end = s + strlen(s);
    if (strcspn(s, "/?#@[] \t") < (size_t)(end - s))
        return 0;                  /* a path, user info or IPv6: not ours */
    colon = strchr(s, ':');
    o->host = s;
    o->host_len = (size_t)((colon ? colon : end) - s);
    if (!o->host_len)
        return 0;
    if (colon && !(o->port = parse_port(colon + 1)))
        return 0;
    return 1;
}

static long default_port(const char *scheme, size_t len)
{
    if (len == 4 && strncasecmp(scheme, "http", 4) == 0)
        return 80;
    if (len == 5 && strncasecmp(scheme, "https", 5) == 0)
        return 443;
    return -1;
}

static int scheme_matches(const origin_parts *pat, const origin_parts *o)
{
    if (pat->scheme_len)
        return pat->scheme_len == o->scheme_len
               && strncasecmp(pat->scheme, o->scheme, o->scheme_len) == 0;
    return default_port(o->scheme, o->scheme_len) != -1;   /* http(s) */
}

static int port_matches(const origin_parts *pat, const origin_parts *o)
{
    long want = pat->port, got = o->port;
    long dflt = default_port(o->scheme, o->scheme_len);

    if (want == -1)
        want = dflt;
    if (got == -1)
        got = dflt;
    return want != -1 && want == got;
}

/* "*.example.com" matches a.example.com and a.b.example.com only. */
static int host_matches(const origin_parts *pat, const origin_parts *o)
{
    if (pat->host_len > 2 && pat->host[0] == '*' && pat->host[1] == '.') {
        size_t suffix = pat->host_len - 1;            /* ".example.com" */
        return o->host_len > suffix
               && strncasecmp(o->host + o->host_len - suffix, pat->host + 1,
                              suffix) == 0;
    }
    return pat->host_len == o->host_len
           && strncasecmp(pat->host, o->host, o->host_len) == 0;
}

const char *wsp_origin_pattern_error(const char *pattern)
{
    origin_parts p;

    if (!split(pattern, 0, &p))
        return "not of the form [scheme://]host[:port]";
    if (memchr(p.host, '*', p.host_len)
        && !(p.host_len > 2 && p.host[0] == '*' && p.host[1] == '.'
             && !memchr(p.host + 1, '*', p.host_len - 1)))
        return "a wildcard is allowed only as the first label (*.example.com)";
    if (p.port == -1 && p.scheme_len
        && default_port(p.scheme, p.scheme_len) == -1)
        return "a scheme other than http or https needs a port";
    return NULL;
}

int wsp_origin_allowed(const char *origin, const char *const *patterns,
                       size_t n)
{
    origin_parts o, p;
    size_t i;

    if (!origin || !split(origin, 1, &o) || memchr(o.host, '*', o.host_len))
        return 0;
    for (i = 0; i < n; i++)
        if (split(patterns[i], 0, &p) && scheme_matches(&p, &o)
            && host_matches(&p, &o) && port_matches(&p, &o))
            return 1;
    return 0;
}
