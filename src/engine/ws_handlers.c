/*
 * ws_handlers.c - which handler serves which location: WebSocketHandlerLoad
 * (loads code, main configuration only) and WebSocketHandler (selects a
 * loaded handler, with arguments, per location; in .htaccess a name only);
 * and the loading of each file a WebSocketHandlerRoot finds (ws_root.c).
 *
 * Everything lives in the configuration pool of the cycle that read it:
 * a handler's table, its contexts and every instance.  Loading code from
 * .htaccess is never possible: there the config pool is the request's,
 * and anyone who may write a .htaccess would be choosing what every httpd
 * child runs.
 */
#include <string.h>

#include "ws_internal.h"
#include "ws_dso.h"
#include "apr_hash.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

/* The configuration being read (reset by ws_handlers_pre_config()). */
static apr_hash_t  *by_name;          /* name -> ws_handler_ref */
static apr_hash_t  *by_file;          /* path#symbol -> its ws_handler */
static ws_location *instances;        /* every instance, for child init */

/* A default instance per handler for .htaccess, or why there is none. */
typedef struct ws_loaded {
    ws_handler_ref  ref;
    ws_location    *default_loc;
    const char     *default_error;
} ws_loaded;

void ws_handlers_pre_config(void)
{
    by_name = by_file = NULL;
    instances = NULL;
}

int ws_handlers_in_use(void)
{
    return instances != NULL;
}

/* --- ws_config: what on_load and on_location see ------------------------- */

void *ws_config_alloc_fn(ws_config *cfg, size_t n)
{
    return apr_pcalloc(cfg->cmd->pool, n ? n : 1);
}

void ws_config_error_fn(ws_config *cfg, const char *msg)
{
    if (!cfg->error)
        cfg->error = apr_pstrdup(cfg->cmd->pool, msg ? msg : "refused");
}

const char *ws_config_where_fn(ws_config *cfg)
{
    return cfg->where;
}

void *ws_config_handler_ctx_fn(ws_config *cfg)
{
    return cfg->handler_ctx;
}

typedef void *(*config_cb)(ws_config *, int, const char *const *);

/* Runs on_load or on_location; NULL or the message to print. */
static const char *configure(cmd_parms *cmd, const ws_handler_ref *ref,
                             config_cb cb, const char *where, int argc,
                             char *const argv[], void **ctx)
{
    ws_config cfg;

    *ctx = NULL;
    if (!cb)
        return argc ? apr_psprintf(cmd->pool, "handler %s takes no "
                                   "arguments (it is ABI version %u or has "
                                   "no %s callback)", ref->name,
                                   ref->h->abi_version,
                                   where ? "on_location" : "on_load")
                    : NULL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.server = &ws_server_table;
    cfg.cmd = cmd;
    cfg.where = where;
    cfg.handler_ctx = ref->ctx;
    *ctx = cb(&cfg, argc, (const char *const *)argv);
    if (cfg.error)
        return apr_psprintf(cmd->pool, "handler %s: %s", ref->name, cfg.error);
    return NULL;
}

static ws_location *new_instance(cmd_parms *cmd, const ws_handler_ref *ref,
                                 const char *where, void *ctx)
{
    ws_location *loc = apr_pcalloc(cmd->pool, sizeof(*loc));
    loc->handler = ref;
    loc->where = where;
    loc->ctx = ctx;
    loc->next = instances;
    instances = loc;
    return loc;
}

/* --- loading ---------------------------------------------------------------- */

/* One init per (file, symbol) per cycle, however many names, locations or
 * handler roots use it: the init is found first (cheap, and which of
 * several conventional names a root's file exports decides the key), then
 * called only if this cycle has not called it yet. */
static const char *open_file(cmd_parms *cmd, const char *full,
                             const char *const *symbols, ws_handler_ref *ref)
{
    ws_dso_sym found;
    const char *key, *err;
    const ws_handler *h;

    if ((err = ws_dso_find(cmd->pool, full, symbols, &found)))
        return err;
    if (!by_file)
        by_file = apr_hash_make(cmd->pool);
    key = apr_pstrcat(cmd->pool, full, "#", found.symbol, NULL);
    if (!(h = apr_hash_get(by_file, key, APR_HASH_KEY_STRING))) {
        if ((err = ws_dso_init(cmd->pool, &found, &h)))
            return err;
        apr_hash_set(by_file, key, APR_HASH_KEY_STRING, h);
    }
    ref->path = full;
    ref->symbol = apr_pstrdup(cmd->pool, found.symbol);
    ref->h = h;
    return NULL;
}

static const char *open_handler(cmd_parms *cmd, const char *path,
                                const char *symbol, ws_handler_ref *ref)
{
    const char *full = ap_server_root_relative(cmd->pool, path);
    const char *symbols[2];

    if (!full)
        return apr_psprintf(cmd->pool, "invalid path '%s'", path);
    symbols[0] = symbol;
    symbols[1] = NULL;
    return open_file(cmd, full, symbols, ref);
}

static int valid_name(const char *name)
{
    return *name && strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
                    == strlen(name);
}

/* WebSocketHandlerLoad name path init-function [args...] */
const char *ws_handlers_load(cmd_parms *cmd, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    ws_loaded *l;
    void *ctx;

    if (err)
        return err;
    if (argc < 3)
        return "WebSocketHandlerLoad takes a name, the path of a handler "
               "shared object and its init function, then the handler's "
               "own arguments";
    if (!valid_name(argv[0]))
        return apr_psprintf(cmd->pool, "WebSocketHandlerLoad: '%s' is not a "
                            "handler name (letters, digits, '_', '-', '.')",
                            argv[0]);
    if (by_name && apr_hash_get(by_name, argv[0], APR_HASH_KEY_STRING))
        return apr_psprintf(cmd->pool, "WebSocketHandlerLoad: a handler "
                            "named %s is already loaded", argv[0]);
    l = apr_pcalloc(cmd->pool, sizeof(*l));
    l->ref.name = apr_pstrdup(cmd->pool, argv[0]);
    if ((err = open_handler(cmd, argv[1], argv[2], &l->ref))
        || (err = configure(cmd, &l->ref, l->ref.h->on_load, NULL,
                            argc - 3, argv + 3, &l->ref.ctx)))
        return apr_pstrcat(cmd->pool, "WebSocketHandlerLoad: ", err, NULL);
    /* What `WebSocketHandler name` in .htaccess selects: built here,
     * where the config pool outlives requests. */
    if ((err = configure(cmd, &l->ref, l->ref.h->on_location, NULL, 0, NULL,
                         &ctx)))
        l->default_error = err;
    else
        l->default_loc = new_instance(cmd, &l->ref, NULL, ctx);
    if (!by_name)
        by_name = apr_hash_make(cmd->pool);
    apr_hash_set(by_name, l->ref.name, APR_HASH_KEY_STRING, l);
    return NULL;
}

/* --- selecting ------------------------------------------------------------- */

static int looks_like_path(const char *arg)
{
    size_t n = strlen(arg);
    return strchr(arg, '/') || (n > 3 && strcmp(arg + n - 3, ".so") == 0);
}

/* The two-argument form of version 1: WebSocketHandler path init-function.
 * Main configuration only, for one more release. */
static const char *select_old_form(cmd_parms *cmd, int in_htaccess,
                                   char *const argv[], const ws_location **out)
{
    ws_handler_ref *ref;
    const char *err;
    void *ctx;

    if (in_htaccess)
        return apr_psprintf(cmd->pool, "WebSocketHandler %s %s: loading a "
                            "handler is not allowed in .htaccess; load it in "
                            "the server configuration (WebSocketHandlerLoad "
                            "name %s %s) and write WebSocketHandler name here",
                            argv[0], argv[1], argv[0], argv[1]);
    ref = apr_pcalloc(cmd->pool, sizeof(*ref));
    ref->name = apr_pstrdup(cmd->pool, argv[1]);
    if ((err = open_handler(cmd, argv[0], argv[1], ref))
        || (err = configure(cmd, ref, ref->h->on_location, cmd->path, 0, NULL,
                            &ctx)))
        return apr_pstrcat(cmd->pool, "WebSocketHandler: ", err, NULL);
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server, WSLOGNO(00002)
                 "%s:%d: WebSocketHandler with a path is deprecated and will "
                 "be removed: write WebSocketHandlerLoad %s %s %s in the "
                 "server configuration and WebSocketHandler %s here",
                 cmd->directive->filename, cmd->directive->line_num,
                 argv[1], argv[0], argv[1], argv[1]);
    *out = new_instance(cmd, ref, cmd->path, ctx);
    return NULL;
}

/* WebSocketHandler name [args...] */
const char *ws_handlers_select(cmd_parms *cmd, int argc, char *const argv[],
                               const ws_location **out)
{
    int in_htaccess = ap_check_cmd_context(cmd, NOT_IN_HTACCESS) != NULL;
    ws_loaded *l;
    const char *err;
    void *ctx;

    if (argc < 1)
        return "WebSocketHandler takes the name of a handler loaded with "
               "WebSocketHandlerLoad, then arguments for this location";
    if (!in_htaccess && !cmd->path)
        return "WebSocketHandler belongs inside <Location>, <Directory> or "
               "<Files> (or .htaccess): at server or virtual host level it "
               "would make every URL a WebSocket endpoint";
    l = by_name ? apr_hash_get(by_name, argv[0], APR_HASH_KEY_STRING) : NULL;
    if (!l && argc == 2 && looks_like_path(argv[0]))
        return select_old_form(cmd, in_htaccess, argv, out);
    if (!l)
        return apr_psprintf(cmd->pool, "WebSocketHandler: no handler named "
                            "'%s' (load it first with WebSocketHandlerLoad "
                            "in the server configuration)", argv[0]);
    if (in_htaccess) {
        if (argc > 1)
            return "WebSocketHandler in .htaccess takes only a handler's "
                   "name; its arguments belong in the server configuration";
        if (!l->default_loc)
            return apr_pstrcat(cmd->pool, "WebSocketHandler: ",
                               l->default_error, NULL);
        *out = l->default_loc;
        return NULL;
    }
    if ((err = configure(cmd, &l->ref, l->ref.h->on_location, cmd->path,
                         argc - 1, argv + 1, &ctx)))
        return apr_pstrcat(cmd->pool, "WebSocketHandler: ", err, NULL);
    *out = new_instance(cmd, &l->ref, cmd->path, ctx);
    return NULL;
}

/* --- handler roots ---------------------------------------------------------- */

/* One file of a WebSocketHandlerRoot (ws_root.c): loaded like
 * WebSocketHandlerLoad with no arguments, named after the path it serves,
 * and one instance for that path, as if a <Location> said WebSocketHandler
 * with no arguments.  NULL or the message to print. */
const char *ws_handlers_load_root_file(cmd_parms *cmd, const char *full,
                                       const char *const *symbols,
                                       const char *where,
                                       const ws_location **out)
{
    ws_handler_ref *ref = apr_pcalloc(cmd->pool, sizeof(*ref));
    const char *err;
    void *ctx;

    ref->name = where;
    if ((err = open_file(cmd, full, symbols, ref))
        || (err = configure(cmd, ref, ref->h->on_load, NULL, 0, NULL,
                            &ref->ctx))
        || (err = configure(cmd, ref, ref->h->on_location, where, 0, NULL,
                            &ctx)))
        return err;
    *out = new_instance(cmd, ref, where, ctx);
    return NULL;
}

/* --- per child ------------------------------------------------------------- */

static apr_status_t child_exit(void *data)
{
    const ws_location *loc;
    (void)data;
    for (loc = instances; loc; loc = loc->next)
        if (loc->handler->h->on_child_exit)
            loc->handler->h->on_child_exit(loc->ctx);
    return APR_SUCCESS;
}

/* Registered after the loop's pool exists: child pools run their
 * cleanups after destroying sub-pools, so every loop has stopped when
 * on_child_exit runs. */
void ws_handlers_child_init(apr_pool_t *pchild)
{
    const ws_location *loc;
    for (loc = instances; loc; loc = loc->next)
        if (loc->handler->h->on_child_init)
            loc->handler->h->on_child_init(loc->ctx);
    apr_pool_cleanup_register(pchild, NULL, child_exit, apr_pool_cleanup_null);
}
