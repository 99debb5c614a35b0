/*
 * mod_websocket.c - httpd glue: the module record, directives and hooks.
 *
 *   LoadModule websocket_module modules/mod_websocket.so
 *   <Location /echo>
 *       WebSocketHandler modules/mod_websocket_echo.so echo
 *   </Location>
 *
 * The work happens in src/engine (handshake, loop, connections) and
 * src/core (the RFC 6455 protocol over byte buffers).
 */
#include "ws_internal.h"
#include "ap_mpm.h"
#include "http_request.h"
#include "mpm_common.h"
#include "apr_strings.h"

#define WS_HANDLER_NAME "websocket-handler"

/* Set when any WebSocketHandler is configured, so that servers without
 * WebSockets do not start a loop thread in every child. */
static int ws_in_use;

/* --- configuration ---------------------------------------------------------- */

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(ws_dir_conf));
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    ws_dir_conf *base = basev, *add = addv;
    ws_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->handler = add->handler ? add->handler : base->handler;
    conf->max_message_set = add->max_message_set || base->max_message_set;
    conf->max_message = add->max_message_set ? add->max_message
                                             : base->max_message;
    return conf;
}

static const char *set_handler(cmd_parms *cmd, void *dconf, const char *path,
                               const char *symbol)
{
    ws_dir_conf *conf = dconf;
    const char *err = ws_handler_load(cmd, path, symbol, &conf->handler);
    if (!err)
        ws_in_use = 1;
    return err;
}

static const char *set_max_message(cmd_parms *cmd, void *dconf, const char *arg)
{
    ws_dir_conf *conf = dconf;
    char *end;
    apr_int64_t n;

    if (apr_strtoff((apr_off_t *)&n, arg, &end, 10) != APR_SUCCESS
        || *end || n <= 0)
        return apr_psprintf(cmd->pool, "WebSocketMaxMessageSize must be a "
                            "positive number of bytes, not '%s'", arg);
    conf->max_message = (apr_uint64_t)n;
    conf->max_message_set = 1;
    return NULL;
}

static const command_rec ws_cmds[] = {
    AP_INIT_TAKE2("WebSocketHandler", set_handler, NULL, OR_FILEINFO | ACCESS_CONF,
                  "a handler shared object and the name of its init function"),
    AP_INIT_TAKE1("WebSocketMaxMessageSize", set_max_message, NULL,
                  OR_FILEINFO | ACCESS_CONF | RSRC_CONF,
                  "the largest message accepted, in bytes (default 16777216)"),
    {NULL}
};

/* --- hooks -------------------------------------------------------------------- */

static int ws_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)pconf; (void)plog; (void)ptemp;
    ws_in_use = 0;
    return OK;
}

/* A WebSocket location belongs to us, whatever other modules guessed. */
static int ws_fixups(request_rec *r)
{
    ws_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                             &websocket_module);
    if (conf->handler && !r->main)
        r->handler = WS_HANDLER_NAME;
    return DECLINED;
}

static int ws_content_handler(request_rec *r)
{
    ws_dir_conf *conf;

    if (!r->handler || strcmp(r->handler, WS_HANDLER_NAME) != 0 || r->main)
        return DECLINED;
    conf = ap_get_module_config(r->per_dir_config, &websocket_module);
    if (!conf->handler)
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
    ws_loop_handoff(wc->loop, wc);
}

static void ws_child_init(apr_pool_t *pchild, server_rec *s)
{
    int async = 0;
    ws_loop *loop;
    apr_status_t rv;

    if (!ws_in_use)
        return;
    ws_loop_init_child(pchild);
    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) != APR_SUCCESS || !async)
        return;
    rv = ws_loop_create(&loop, 1, pchild);
    if (rv == APR_SUCCESS)
        rv = ws_loop_start_thread(loop);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, WSLOGNO(00001)
                     "cannot start the WebSocket loop thread; WebSockets "
                     "will each hold a worker thread in this child");
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
    (void)p;
    ap_hook_pre_config(ws_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(ws_fixups, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(ws_content_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_suspend_connection(ws_suspend_connection, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ws_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_stopping(ws_child_stopping, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(websocket) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    NULL,
    NULL,
    ws_cmds,
    register_hooks
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    , AP_MODULE_FLAG_NONE
#endif
};
