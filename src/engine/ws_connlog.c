/*
 * ws_connlog.c - one log line per closed WebSocket, in a format set with
 * WebSocketLogFormat, in the style of LogFormat:
 *
 *   %a  client IP            %U  request URI        %P  subprotocol or -
 *   %T  duration, seconds    %D  duration, microseconds
 *   %{in}m %{out}m  messages received / sent
 *   %{in}b %{out}b  bytes received / sent on the wire (frames included)
 *   %c  close code           %w  who closed: client, server or abnormal
 *   %E  extension in use: permessage-deflate, or -
 *   %%  a percent sign
 *
 * The format is compiled once at configuration time into a list of items.
 */
#include <string.h>

#include "ws_internal.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

typedef enum {
    LI_TEXT, LI_IP, LI_URI, LI_PROTO, LI_SECS, LI_USECS, LI_MSGS_IN,
    LI_MSGS_OUT, LI_BYTES_IN, LI_BYTES_OUT, LI_CODE, LI_WHO, LI_EXT
} ws_log_item_kind;

struct ws_log_item {
    ws_log_item_kind kind;
    const char      *text;          /* LI_TEXT */
};

#define WS_DEFAULT_LOG_FORMAT \
    "%a %U proto=%P %Ts in=%{in}m/%{in}b out=%{out}m/%{out}b close=%c by %w"

static apr_array_header_t *default_items;

/* Compiles the default format once per configuration. */
void ws_connlog_init(apr_pool_t *pconf)
{
    default_items = NULL;
    ws_connlog_compile(pconf, WS_DEFAULT_LOG_FORMAT, &default_items);
}

static const char *item_for(char c, const char *arg, ws_log_item_kind *kind)
{
    int in = arg && !strcmp(arg, "in"), out = arg && !strcmp(arg, "out");
    switch (c) {
    case 'a': *kind = LI_IP; return NULL;
    case 'U': *kind = LI_URI; return NULL;
    case 'P': *kind = LI_PROTO; return NULL;
    case 'T': *kind = LI_SECS; return NULL;
    case 'D': *kind = LI_USECS; return NULL;
    case 'c': *kind = LI_CODE; return NULL;
    case 'w': *kind = LI_WHO; return NULL;
    case 'E': *kind = LI_EXT; return NULL;
    case 'm':
        if (in || out) { *kind = in ? LI_MSGS_IN : LI_MSGS_OUT; return NULL; }
        return "%m needs {in} or {out}";
    case 'b':
        if (in || out) { *kind = in ? LI_BYTES_IN : LI_BYTES_OUT; return NULL; }
        return "%b needs {in} or {out}";
    default:
        return "unknown % directive";
    }
}

static void push_text(apr_array_header_t *items, apr_pool_t *p,
                      const char *start, apr_size_t len)
{
    ws_log_item *it;
    if (!len)
        return;
    it = apr_array_push(items);
    it->kind = LI_TEXT;
    it->text = apr_pstrmemdup(p, start, len);
}

const char *ws_connlog_compile(apr_pool_t *p, const char *fmt,
                               apr_array_header_t **out)
{
    apr_array_header_t *items = apr_array_make(p, 16, sizeof(ws_log_item));
    const char *s = fmt, *lit = fmt;

    while (*s) {
        const char *arg = NULL, *err;
        ws_log_item_kind kind;
        ws_log_item *it;

        if (*s != '%') { s++; continue; }
        push_text(items, p, lit, s - lit);
        s++;
        if (*s == '%') { lit = s++; continue; }
        if (*s == '{') {
            const char *end = strchr(s, '}');
            if (!end)
                return "WebSocketLogFormat: unterminated %{";
            arg = apr_pstrmemdup(p, s + 1, end - s - 1);
            s = end + 1;
        }
        if (!*s)
            return "WebSocketLogFormat: format ends with %";
        if ((err = item_for(*s, arg, &kind)))
            return apr_psprintf(p, "WebSocketLogFormat: %s at '%%%c'", err, *s);
        it = apr_array_push(items);
        it->kind = kind;
        it->text = NULL;
        lit = ++s;
    }
    push_text(items, p, lit, s - lit);
    *out = items;
    return NULL;
}

static const char *who_closed(const ws_conn_t *wc)
{
    switch (wsp_session_closed_by(&wc->sess)) {
    case WSP_BY_CLIENT: return "client";
    case WSP_BY_SERVER: return "server";
    default:           return "abnormal";
    }
}

static const char *render_item(apr_pool_t *p, const ws_log_item *it,
                               const ws_conn_t *wc, apr_interval_time_t age)
{
    switch (it->kind) {
    case LI_TEXT:      return it->text;
    case LI_IP:        return wc->remote_ip;
    case LI_URI:       return wc->uri;
    case LI_PROTO:     return wc->protocol ? wc->protocol : "-";
    case LI_SECS:      return apr_psprintf(p, "%" APR_TIME_T_FMT ".%03d",
                                           apr_time_sec(age),
                                           (int)(apr_time_usec(age) / 1000));
    case LI_USECS:     return apr_psprintf(p, "%" APR_TIME_T_FMT, age);
    case LI_MSGS_IN:   return apr_psprintf(p, "%" APR_UINT64_T_FMT, wc->st.msgs_in);
    case LI_MSGS_OUT:  return apr_psprintf(p, "%" APR_UINT64_T_FMT, wc->st.msgs_out);
    case LI_BYTES_IN:  return apr_psprintf(p, "%" APR_UINT64_T_FMT, wc->st.bytes_in);
    case LI_BYTES_OUT: return apr_psprintf(p, "%" APR_UINT64_T_FMT, wc->st.bytes_out);
    case LI_CODE:      return apr_itoa(p, wsp_session_close_code(&wc->sess));
    case LI_WHO:       return who_closed(wc);
    case LI_EXT:       return wc->extensions ? WSP_PMD_NAME : "-";
    }
    return "";
}

/* Writes the line for a connection that has just closed.  Off unless
 * LogLevel websocket:info or finer. */
void ws_connlog_write(ws_conn_t *wc)
{
    const apr_array_header_t *items = wc->conf->log_items;
    apr_pool_t *p;
    apr_array_header_t *parts;
    apr_interval_time_t age = apr_time_now() - wc->opened_at;
    int i;

    if (!APLOG_C_IS_LEVEL(wc->c, APLOG_INFO))
        return;
    if (!items)
        items = default_items;
    if (!items || apr_pool_create(&p, wc->c->pool) != APR_SUCCESS)
        return;
    parts = apr_array_make(p, items->nelts, sizeof(const char *));
    for (i = 0; i < items->nelts; i++)
        APR_ARRAY_PUSH(parts, const char *) =
            render_item(p, &APR_ARRAY_IDX(items, i, ws_log_item), wc, age);
    ap_log_cerror(APLOG_MARK, APLOG_INFO, 0, wc->c, WSLOGNO(00310) "%s",
                  apr_array_pstrcat(p, parts, 0));
    apr_pool_destroy(p);
}
