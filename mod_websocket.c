/*
 * mod_websocket.c - httpd glue: the module record, directives and hooks.
 *
 *   LoadModule websocket_module modules/mod_websocket.so
 *   WebSocketHandlerLoad echo modules/mod_websocket_echo.so echo
 *   <Location /echo>
 *       WebSocketHandler echo
 *   </Location>
 *   WebSocketHandlerRoot handlers      (handlers/a/b.so serves /a/b)
 *
 * The work happens in src/engine (handshake, loop, connections) and
 * src/core (the RFC 6455 protocol over byte buffers).
 */
#include "ws_internal.h"
#include "wsp_handshake.h"
#include "wsp_origin.h"
#include "ap_mpm.h"
#include "http_request.h"
#include "mpm_common.h"
#include "apr_strings.h"
#include "http_main.h"
#include <errno.h>

#define WS_HANDLER_NAME "websocket-handler"

/* --- configuration ---------------------------------------------------------- */

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    ws_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));
    (void)dir;
    conf->max_message = conf->max_pending = -1;
    conf->ping_interval = conf->idle_timeout = conf->send_timeout = -1;
    ws_pmd_conf_init(&conf->pmd);
    conf->slow_close = -1;
    conf->rate = conf->burst = conf->max_fragments = -1;
    return conf;
}

#define MERGE(field, unset) \
    conf->field = add->field != (unset) ? add->field : base->field

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    ws_dir_conf *base = basev, *add = addv;
    ws_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    MERGE(location, NULL);
    MERGE(protocols, NULL);
    MERGE(origins, NULL);
    MERGE(max_message, -1);
    MERGE(max_pending, -1);
    MERGE(ping_interval, -1);
    MERGE(idle_timeout, -1);
    MERGE(send_timeout, -1);
    MERGE(log_items, NULL);
    ws_pmd_conf_merge(&conf->pmd, &base->pmd, &add->pmd);
    MERGE(slow_close, -1);
    MERGE(rate, -1);
    MERGE(burst, -1);
    MERGE(max_fragments, -1);
    return conf;
}

static const char *load_handler(cmd_parms *cmd, void *dconf, int argc,
                                char *const argv[])
{
    (void)dconf;
    return ws_handlers_load(cmd, argc, argv);
}

static const char *set_handler(cmd_parms *cmd, void *dconf, int argc,
                               char *const argv[])
{
    ws_dir_conf *conf = dconf;
    return ws_handlers_select(cmd, argc, argv, &conf->location);
}

static const char *add_protocol(cmd_parms *cmd, void *dconf, const char *arg)
{
    ws_dir_conf *conf = dconf;
    if (!wsp_is_token(arg, strlen(arg)))
        return apr_psprintf(cmd->pool, "WebSocketProtocol: '%s' is not a "
                            "valid subprotocol name (an HTTP token)", arg);
    if (!conf->protocols)
        conf->protocols = apr_array_make(cmd->pool, 2, sizeof(char *));
    APR_ARRAY_PUSH(conf->protocols, const char *) = arg;
    return NULL;
}

static const char *add_origin(cmd_parms *cmd, void *dconf, const char *arg)
{
    ws_dir_conf *conf = dconf;
    const char *err = wsp_origin_pattern_error(arg);
    if (err)
        return apr_psprintf(cmd->pool, "WebSocketOrigin: '%s': %s", arg, err);
    if (!conf->origins)
        conf->origins = apr_array_make(cmd->pool, 2, sizeof(char *));
    APR_ARRAY_PUSH(conf->origins, const char *) = arg;
    return NULL;
}

/* A whole number in [min, max], or NULL. */
static const char *parse_number(cmd_parms *cmd, const char *arg,
                                apr_int64_t min, apr_int64_t max,
                                apr_int64_t *out)
{
    char *end;
    apr_int64_t n;

    errno = 0;
    n = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || n < min || n > max)
        return apr_psprintf(cmd->pool, "%s must be a whole number from %"
                            APR_INT64_T_FMT " to %" APR_INT64_T_FMT
                            ", not '%s'", cmd->directive->directive,
                            min, max, arg);
    *out = n;
    return NULL;
}

static const char *set_max_message(cmd_parms *cmd, void *dconf, const char *arg)
{
    ws_dir_conf *conf = dconf;
    return parse_number(cmd, arg, 1, APR_INT64_C(1) << 62, &conf->max_message);
}

static const char *set_max_pending(cmd_parms *cmd, void *dconf, const char *arg)
{
    ws_dir_conf *conf = dconf;
    return parse_number(cmd, arg, 1, APR_INT64_C(1) << 40, &conf->max_pending);
}

static const char *set_seconds(cmd_parms *cmd, const char *arg,
                               apr_interval_time_t *out)
{
    apr_int64_t n;
    const char *err = parse_number(cmd, arg, 0, 86400 * 365, &n);
    if (!err)
        *out = apr_time_from_sec(n);
    return err;
}

static const char *set_ping_interval(cmd_parms *cmd, void *dconf, const char *arg)
{
    return set_seconds(cmd, arg, &((ws_dir_conf *)dconf)->ping_interval);
}

static const char *set_idle_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    return set_seconds(cmd, arg, &((ws_dir_conf *)dconf)->idle_timeout);
}

static const char *set_send_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    return set_seconds(cmd, arg, &((ws_dir_conf *)dconf)->send_timeout);
}

static const char *set_capacity_warning(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;
    return err ? err : ws_capacity_set_warning(cmd, arg);
}

static const char *set_rate(cmd_parms *cmd, void *dconf, const char *rate,
                            const char *burst)
{
    ws_dir_conf *conf = dconf;
    const char *err = parse_number(cmd, rate, 0, 1000000000, &conf->rate);
    conf->burst = 0;
    if (!err && burst)
        err = parse_number(cmd, burst, 1, 1000000000, &conf->burst);
    return err;
}

static const char *set_max_fragments(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    ws_dir_conf *conf = dconf;
    return parse_number(cmd, arg, 0, 1000000000, &conf->max_fragments);
}

/* drop, or close [1008|1013] (policy violation, try again later). */
static const char *set_slow_subscriber(cmd_parms *cmd, void *dconf,
                                       const char *what, const char *code)
{
    ws_dir_conf *conf = dconf;

    (void)cmd;
    if (!strcasecmp(what, "drop") && !code)
        conf->slow_close = 0;
    else if (!strcasecmp(what, "close")
             && (!code || !strcmp(code, "1008") || !strcmp(code, "1013")))
        conf->slow_close = code ? atoi(code) : 1008;
    else
        return "WebSocketSlowSubscriber takes drop, or close with an "
               "optional code 1008 or 1013";
    return NULL;
}

static const char *set_log_format(cmd_parms *cmd, void *dconf, const char *arg)
{
    return ws_connlog_compile(cmd->pool, arg, &((ws_dir_conf *)dconf)->log_items);
}

#define WS_CONTEXT (OR_FILEINFO | ACCESS_CONF | RSRC_CONF)

static const command_rec ws_cmds[] = {
    AP_INIT_TAKE_ARGV("WebSocketHandlerLoad", load_handler, NULL, RSRC_CONF,
                  "a name, a handler shared object, its init function, then "
                  "the handler's arguments"),
    AP_INIT_TAKE1("WebSocketHandlerRoot", ws_root_set, NULL, RSRC_CONF,
                  "a directory whose handler shared objects (*.so, searched "
                  "recursively) serve the URL paths of their names: "
                  "dir/a/b.so serves /a/b"),
    AP_INIT_TAKE_ARGV("WebSocketHandler", set_handler, NULL,
                  OR_FILEINFO | ACCESS_CONF,
                  "the name of a handler loaded with WebSocketHandlerLoad, "
                  "then this location's arguments for it"),
    AP_INIT_ITERATE("WebSocketProtocol", add_protocol, NULL, WS_CONTEXT,
                  "the subprotocols this location accepts, in order of "
                  "preference"),
    AP_INIT_ITERATE("WebSocketOrigin", add_origin, NULL, WS_CONTEXT,
                  "the Origins allowed to open a WebSocket here (exact, or "
                  "*.domain); others get 403"),
    AP_INIT_TAKE1("WebSocketMaxMessageSize", set_max_message, NULL, WS_CONTEXT,
                  "the largest message accepted, in bytes (default 16777216)"),
    AP_INIT_TAKE1("WebSocketMaxPendingOutput", set_max_pending, NULL, WS_CONTEXT,
                  "bytes queued for one WebSocket before ws_send() refuses "
                  "and reading pauses (default 4194304)"),
    AP_INIT_TAKE1("WebSocketPingInterval", set_ping_interval, NULL, WS_CONTEXT,
                  "seconds between pings to each WebSocket, 0 for none (default 0)"),
    AP_INIT_TAKE1("WebSocketIdleTimeout", set_idle_timeout, NULL, WS_CONTEXT,
                  "seconds of silence from the client before closing with "
                  "1001, 0 for never (default 0)"),
    AP_INIT_TAKE1("WebSocketSendTimeout", set_send_timeout, NULL, WS_CONTEXT,
                  "seconds a WebSocket may have output waiting without any "
                  "of it being written before it is dropped, 0 for never "
                  "(default 60)"),
    AP_INIT_TAKE1("WebSocketCapacityWarning", set_capacity_warning, NULL,
                  RSRC_CONF,
                  "warn at startup if the server can hold fewer open "
                  "WebSockets than this (default 1000, 0: never)"),
    AP_INIT_TAKE1("WebSocketLogFormat", set_log_format, NULL, WS_CONTEXT,
                  "the format of the line logged (at info) for each closed "
                  "WebSocket"),
    AP_INIT_TAKE1("WebSocketMaxMemory", ws_limits_set_memory, NULL, RSRC_CONF,
                  "memory all WebSockets of one child may hold (queued output, "
                  "partial messages, zlib state), e.g. 512M (the default); "
                  "past it the heaviest are closed with 1013"),
    AP_INIT_TAKE1("WebSocketMaxConnections", ws_limits_set, NULL, RSRC_CONF,
                  "WebSockets one child takes at most (default 0: as many as "
                  "the MPM lets it hold); more are answered 503"),
    AP_INIT_TAKE1("WebSocketMaxClientConnections", ws_limits_set, (void *)1,
                  RSRC_CONF,
                  "WebSockets one child takes from one client address "
                  "(default 0: no limit); more are answered 503"),
    AP_INIT_TAKE12("WebSocketMessageRate", set_rate, NULL, WS_CONTEXT,
                  "messages and control frames a client may send per second, "
                  "then the burst it may save up (default 0: no limit); past "
                  "it the connection is closed with 1008"),
    AP_INIT_TAKE1("WebSocketMaxFragments", set_max_fragments, NULL, WS_CONTEXT,
                  "frames one message may have (default 4096, 0: no limit); "
                  "past it the connection is closed with 1008"),
    AP_INIT_TAKE_ARGV("WebSocketPubSub", ws_redis_set, NULL, RSRC_CONF,
                  "redis://host[:port][/db] or unix:/path[?db=N], then "
                  "prefix=...: topics cross children and machines through "
                  "this Redis"),
    AP_INIT_TAKE12("WebSocketSlowSubscriber", set_slow_subscriber, NULL,
                  WS_CONTEXT,
                  "what a publication does to a subscriber whose queue is "
                  "full: drop (default: that message, for that subscriber) "
                  "or close [1008|1013]"),
    AP_INIT_FLAG("WebSocketDeflate", ws_pmd_set_on, NULL, WS_CONTEXT,
                  "On to accept a client's permessage-deflate offer "
                  "(default Off)"),
    AP_INIT_TAKE1("WebSocketDeflateMode", ws_pmd_set_mode, NULL, WS_CONTEXT,
                  "shared: one compressor per loop thread, no context kept "
                  "(default); dedicated: one per WebSocket, with context"),
    AP_INIT_TAKE12("WebSocketDeflateWindowBits", ws_pmd_set_window_bits, NULL,
                  WS_CONTEXT,
                  "the compressor's window, 9-15 (default 15 shared, 11 "
                  "dedicated), then the most asked of the client's, 8-15 "
                  "(default 15)"),
    AP_INIT_TAKE1("WebSocketDeflateMemLevel", ws_pmd_set_mem_level, NULL,
                  WS_CONTEXT,
                  "zlib's memory level for compressing, 1-9 (default 8 "
                  "shared, 4 dedicated)"),
    AP_INIT_TAKE1("WebSocketDeflateMinSize", ws_pmd_set_min_size, NULL,
                  WS_CONTEXT,
                  "messages shorter than this many bytes are sent "
                  "uncompressed (default 64)"),
    AP_INIT_FLAG("WebSocketDeflateClientContext", ws_pmd_set_client_context,
                  NULL, WS_CONTEXT,
                  "On to let the client keep its compression context, which "
                  "keeps an inflater per WebSocket (default Off)"),
    {NULL}
};

/* --- hooks -------------------------------------------------------------------- */

static int ws_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog; (void)ptemp;
    ws_handlers_pre_config();
    ws_root_pre_config();
    ws_capacity_pre_config();
    ws_redis_pre_config();
    ws_limits_pre_config();
    ws_connlog_init(pconf);
    return OK;
}

static int ws_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    (void)plog; (void)ptemp;
    ws_sock_init();
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;                  /* the first, checking pass */
    ws_root_log_found();
    ws_capacity_check(s);
    ws_stats_post_config(pconf, s);
    return OK;
}

/* apachectl configtest: the same capacity warning as at startup. */
static void ws_test_config(apr_pool_t *pconf, server_rec *s)
{
    (void)pconf;
    ws_root_log_found();
    ws_capacity_check(s);
}

/* A WebSocket location belongs to us, whatever other modules guessed; a
 * request in none may be a path a WebSocketHandlerRoot serves. */
static int ws_fixups(request_rec *r)
{
    ws_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                             &websocket_module);
    if (r->main)
        return DECLINED;
    if (!conf->location)
        return ws_root_fixups(r, WS_HANDLER_NAME);
    r->handler = WS_HANDLER_NAME;
    return DECLINED;
}

static int ws_content_handler(request_rec *r)
{
    const ws_dir_conf *conf;

    if (!r->handler || strcmp(r->handler, WS_HANDLER_NAME) != 0 || r->main)
        return DECLINED;
    conf = ap_get_module_config(r->per_dir_config, &websocket_module);
    if (!conf->location && !(conf = ws_root_dir_conf(r, conf)))
        return DECLINED;
    return ws_upgrade_handler(r, conf);
}

/* The event MPM has let go of a SUSPENDED request: the connection is now
 * the loop's.  This is the last point where the MPM touches it. */
static void ws_suspend_connection(conn_rec *c, request_rec *r)
{
    ws_conn_t *wc = ap_get_module_config(c->conn_config, &websocket_module);
    (void)r;
    if (!wc)
        return;
    ap_set_module_config(c->conn_config, &websocket_module, NULL);
    ws_loop_handoff(wc->loop, &wc->entry);
}

static void ws_child_init(apr_pool_t *pchild, server_rec *s)
{
    int async = 0;
    ws_loop *loop;
    apr_status_t rv;

    if (!ws_handlers_in_use())
        return;
    ws_stats_child_init(pchild);
    ws_capacity_child_init();
    ws_loop_init_child(pchild);
    ws_pubsub_child_init(pchild);
    ws_limits_child_init(pchild);
    ws_redis_child_init(pchild, s);
    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) == APR_SUCCESS && async) {
        rv = ws_loop_create(&loop, 1, pchild);
        if (rv == APR_SUCCESS)
            rv = ws_loop_start_thread(loop, 1);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, WSLOGNO(00001)
                         "cannot start the WebSocket loop thread; WebSockets "
                         "will each hold a worker thread in this child");
    }
    ws_handlers_child_init(pchild);
}

/* Graceful or not, the child is going: close every WebSocket with 1001
 * after what was queued to it, so the child can exit promptly. */
static void ws_child_stopping(apr_pool_t *pchild, int graceful)
{
    (void)pchild; (void)graceful;
    ws_loop_stop_all(0);
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const before_dir[] = { "mod_dir.c", NULL };
    (void)p;
    ap_hook_pre_config(ws_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ws_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_test_config(ws_test_config, NULL, NULL, APR_HOOK_MIDDLE);
    ws_stats_register_hooks();
    ws_io_register_filters();
    /* Before mod_dir's fixups: its FallbackResource takes a request no
     * handler has claimed, and a WebSocket path has no file. */
    ap_hook_fixups(ws_fixups, NULL, before_dir, APR_HOOK_LAST);
    ap_hook_handler(ws_content_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_suspend_connection(ws_suspend_connection, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ws_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_stopping(ws_child_stopping, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(websocket) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    ws_root_create_server_conf,
    ws_root_merge_server_conf,
    ws_cmds,
    register_hooks
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    , AP_MODULE_FLAG_NONE
#endif
};
