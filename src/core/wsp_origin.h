/*
 * wsp_origin.h - the Origin allow-list of WebSocketOrigin (RFC 6454
 * origins, RFC 6455 10.2), over plain strings.
 *
 * A pattern is [scheme://]host[:port], where host may begin with "*." to
 * mean any subdomain (not the domain itself).  Without a scheme both http
 * and https match; without a port only the scheme's default port (80,
 * 443) matches.  Comparison ignores case.  An origin that is not of the
 * form scheme://host[:port] (e.g. "null") matches no pattern.
 */
#ifndef WSP_ORIGIN_H
#define WSP_ORIGIN_H

#include <stddef.h>

/* NULL if pattern is valid, else why not (a static string). */
const char *wsp_origin_pattern_error(const char *pattern);
/* 1 if origin matches one of the n patterns. */
int wsp_origin_allowed(const char *origin, const char *const *patterns,
                       size_t n);

#endif
