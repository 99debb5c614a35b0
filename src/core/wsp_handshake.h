/*
 * wsp_handshake.h - RFC 6455 section 4.2 opening-handshake checks over plain
 * strings: header token lists, the client key, the accept key, subprotocol
 * offers.  No httpd includes; the accept key uses apr-util's SHA-1 and APR's
 * base64 (apr_sha1.h, apr_base64.h), not code of our own.
 */
#ifndef WSP_HANDSHAKE_H
#define WSP_HANDSHAKE_H

#include <stddef.h>

#define WSP_ACCEPT_KEY_LEN 28   /* base64 of a 20-byte SHA-1, without NUL */

/* 1 if the comma-separated header value holds token (case-insensitive,
 * surrounding spaces and tabs ignored), e.g. Connection: keep-alive, Upgrade. */
int  wsp_header_has_token(const char *value, const char *token);
/* 1 if key is the base64 encoding of exactly 16 bytes (24 chars ending in
 * "==", canonical alphabet), after trimming surrounding spaces/tabs. */
int  wsp_key_valid(const char *key);
/* out receives the Sec-WebSocket-Accept value for key, NUL-terminated
 * (WSP_ACCEPT_KEY_LEN + 1 bytes). */
void wsp_accept_key(const char *key, char out[WSP_ACCEPT_KEY_LEN + 1]);

/* Iterates the tokens of a comma-separated list (e.g. Sec-WebSocket-Protocol):
 * returns 1 and sets *tok and *tok_len to the next non-empty trimmed token,
 * advancing *cursor; 0 at the end.  Start with *cursor = value. */
int  wsp_list_next(const char **cursor, const char **tok, size_t *tok_len);
/* 1 if the list value offers exactly name (case-sensitive, as subprotocol
 * names are compared). */
int  wsp_list_contains(const char *value, const char *name);
/* 1 if name is a valid RFC 7230 token (the syntax of a subprotocol name). */
int  wsp_is_token(const char *name, size_t len);

#endif
