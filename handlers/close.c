/*
 * close.c - the server closes with the code and reason the client asks
 * for, as pywebsocket's close_wsh.py did; the example of htdocs/close.html.
 *
 *   WebSocketHandlerLoad close modules/mod_websocket_close.so close_handler
 *   <Location /close>
 *       WebSocketHandler close
 *   </Location>
 *
 * or close.so in a WebSocketHandlerRoot directory (`make run`:
 * ws://localhost:9998/close).  The init function is not called "close":
 * that is libc's close(2), which a lookup by that name could find instead.
 * For a handler root the object exports ws_handler_init too.
 *
 * Protocol: the client sends the text "<code> <reason>" (or "<code>" for
 * an empty reason), e.g. "4000 bye"; the server starts the closing
 * handshake with that code and reason, and the client sees them in its
 * CloseEvent (code, reason, wasClean true once it answers).  Codes are
 * those a server may send: 1000-1003, 1007-1014, 3000-4999.  A request it
 * cannot honour (no number first, a code outside those ranges such as
 * 1005 or 1006, a reason over the 123 bytes a close frame holds, a binary
 * message) gets one text message "error: <why>" and the connection stays
 * open for another try: closing with 1008 instead would only tell the
 * client that something was wrong, not what.
 *
 * A close the client starts is answered with its own code, by the module
 * (pywebsocket's close_wsh echoed it too).
 */
#include <stdio.h>
#include <string.h>

#include "mod_websocket.h"

#define REASON_MAX 123                /* 125-byte control payload - code */

static void error_reply(ws_conn *c, const char *why)
{
    char buf[200];
    int n = snprintf(buf, sizeof(buf), "error: %s", why);
    if (n > 0)
        ws_send_text(c, buf, strlen(buf));
}

/* What ws_close() accepts from a server (RFC 6455 7.4; 1004-1006 and
 * 1015 are never sent on the wire). */
static int code_sendable(long code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999);
}

/* "<digits>[ <reason>]": the code, *reason and *rlen; -1 if no digits. */
static long parse_request(const char *s, size_t len, const char **reason,
                          size_t *rlen)
{
    long code = 0;
    size_t i = 0;
    while (i < len && i < 6 && s[i] >= '0' && s[i] <= '9')
        code = code * 10 + (s[i++] - '0');
    if (i == 0 || (i < len && s[i] != ' '))
        return -1;
    *reason = i < len ? s + i + 1 : s + len;
    *rlen = i < len ? len - i - 1 : 0;
    return code;
}

static void close_message(ws_conn *c, ws_message_type type, const void *data,
                          size_t len)
{
    char reason[REASON_MAX + 1], msg[120];
    const char *r;
    size_t rlen;
    long code;
    if (type != WS_TEXT) {
        error_reply(c, "send text: \"<code> <reason>\", e.g. \"4000 bye\"");
        return;
    }
    code = parse_request(data, len, &r, &rlen);
    if (code < 0) {
        error_reply(c, "expected \"<code> <reason>\" with a numeric code, e.g. \"4000 bye\"");
        return;
    }
    if (!code_sendable(code)) {
        snprintf(msg, sizeof(msg), "%ld is not a close code a server may send "
                 "(1000-1003, 1007-1014, 3000-4999)", code);
        error_reply(c, msg);
        return;
    }
    if (rlen > REASON_MAX || memchr(r, '\0', rlen)) {
        error_reply(c, "the reason must fit in 123 bytes (a close frame's room), without NUL");
        return;
    }
    memcpy(reason, r, rlen);           /* valid UTF-8: the module checked the text */
    reason[rlen] = '\0';
    if (ws_close(c, (int)code, reason) == WS_EINVAL)
        error_reply(c, "the module refused that code or reason");
}

static const ws_handler close_handler_table = {
    .abi_version = WS_HANDLER_ABI_VERSION, .size = sizeof(ws_handler),
    .name = "close", .on_message = close_message,
};

/* For WebSocketHandlerLoad. */
const ws_handler *close_handler(const ws_server *server)
{
    (void)server;
    return &close_handler_table;
}

/* For a handler root, whatever the file is called. */
const ws_handler *ws_handler_init(const ws_server *server)
{
    return close_handler(server);
}
