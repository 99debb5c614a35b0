/*
 * ws_root.c - WebSocketHandlerRoot: a directory of handler shared objects
 * mapped onto URL paths, as pywebsocket's `-w dir` mapped echo_wsh.py to
 * /echo.  <dir>/a/b.so serves /a/b.
 *
 * The directory is scanned while the configuration is read, so that every
 * file is loaded and its init function called then (also by `apachectl
 * configtest`), exactly as WebSocketHandlerLoad does: a broken handler is
 * a configuration error naming its file, never a surprise at the first
 * request.  Nothing is looked at on disk per request; a handler dropped in
 * later is served after the next (graceful) restart.
 *
 * The init function of a file is, in this order:
 *   ws_handler_init   the convention for handlers written for a root: a
 *                     fixed name, so that the file can be renamed (and
 *                     the path it serves with it) without a rebuild;
 *   the file's name   without .so, any character that cannot be in a C
 *                     name as '_': what handlers written for
 *                     WebSocketHandlerLoad already export (echo.c's echo,
 *                     room.c's room), so they work unchanged; and one
 *                     object holding several handlers can be linked in
 *                     under each init function's name.
 *
 * Precedence: a request inside a WebSocketHandler location (or directory,
 * or .htaccess) is that location's; only the others are looked up here.
 * The merged per-directory configuration of the request applies as to any
 * location, so a <Location /chat> with only settings (WebSocketProtocol,
 * WebSocketMaxMessageSize, ...) configures the root's /chat.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "apr_file_info.h"
#include "apr_lib.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "wsp_handshake.h"

APLOG_USE_MODULE(websocket);

#define ROOT_MAX_DEPTH 16      /* bounds a symlink loop among directories */
#define ROOT_INIT_SYMBOL "ws_handler_init"

/* Every handler the roots of this configuration found, for the log lines
 * (reset by ws_root_pre_config()). */
typedef struct root_found {
    server_rec        *s;
    const char        *root;
    const ws_location *loc;
} root_found;
static apr_array_header_t *found;

typedef struct scan_ctx {
    cmd_parms      *cmd;
    ws_server_conf *sc;
    const char     *root;      /* absolute, as written after ServerRoot */
} scan_ctx;

void ws_root_pre_config(void)
{
    found = NULL;
}

/* --- per-server configuration ---------------------------------------------- */

void *ws_root_create_server_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(ws_server_conf));
}

/* A virtual host with roots of its own serves those only; one without
 * inherits the main server's, like the <Location>s it inherits. */
void *ws_root_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    ws_server_conf *base = basev, *add = addv;
    ws_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->paths = add->paths ? add->paths : base->paths;
    return conf;
}

/* --- scanning ------------------------------------------------------------- */

/* The file name without .so, as a C identifier: the fallback init name. */
static const char *basename_symbol(apr_pool_t *p, const char *stem)
{
    char *sym = apr_pstrdup(p, stem), *c;
    for (c = sym; *c; c++)
        if (!apr_isalnum(*c) && *c != '_')
            *c = '_';
    return sym;
}

static const char *add_file(scan_ctx *x, const char *full, const char *uri,
                            const char *stem)
{
    cmd_parms *cmd = x->cmd;
    const char *symbols[3];
    const ws_location *loc;
    root_found *f;
    const char *err;

    if ((loc = apr_hash_get(x->sc->paths, uri, APR_HASH_KEY_STRING)))
        return apr_psprintf(cmd->pool, "both %s and %s would serve %s",
                            loc->handler->path, full, uri);
    full = apr_pstrdup(cmd->pool, full);      /* kept by the instance */
    uri = apr_pstrdup(cmd->pool, uri);
    symbols[0] = ROOT_INIT_SYMBOL;
    symbols[1] = basename_symbol(cmd->temp_pool, stem);
    symbols[2] = NULL;
    if ((err = ws_handlers_load_root_file(cmd, full, symbols, uri, &loc)))
        return apr_psprintf(cmd->pool, "%s (for %s): %s", full, uri, err);
    apr_hash_set(x->sc->paths, uri, APR_HASH_KEY_STRING, loc);
    if (!found)
        found = apr_array_make(cmd->pool, 8, sizeof(root_found));
    f = apr_array_push(found);
    f->s = cmd->server;
    f->root = x->root;
    f->loc = loc;
    return NULL;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in dir, sorted (so that loading and logging follow one order
 * on every machine), without hidden ones: ., .., editors' and version
 * control's files. */
static const char *list_dir(apr_pool_t *p, const char *dir,
                            apr_array_header_t **out)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_status_t rv;
    char msg[120];

    if ((rv = apr_dir_open(&d, dir, p)) != APR_SUCCESS)
        return apr_psprintf(p, "cannot read the directory %s: %s", dir,
                            apr_strerror(rv, msg, sizeof(msg)));
    *out = apr_array_make(p, 16, sizeof(const char *));
    while (apr_dir_read(&fi, APR_FINFO_NAME, d) == APR_SUCCESS)
        if (fi.name[0] != '.')
            APR_ARRAY_PUSH(*out, const char *) = apr_pstrdup(p, fi.name);
    apr_dir_close(d);
    qsort((*out)->elts, (size_t)(*out)->nelts, sizeof(const char *),
          compare_names);
    return NULL;
}

static int is_so_name(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static const char *scan_dir(scan_ctx *x, const char *dir, const char *uri,
                            int depth);

/* One directory entry: recurse, load, or leave alone (not a .so).
 * apr_stat follows symbolic links: a root may be a tree of links to
 * objects built elsewhere. */
static const char *scan_entry(scan_ctx *x, const char *dir, const char *uri,
                              const char *name, int depth)
{
    apr_pool_t *tmp = x->cmd->temp_pool;
    const char *full = apr_pstrcat(tmp, dir, "/", name, NULL);
    const char *sub = apr_pstrcat(tmp, uri, "/", name, NULL);
    apr_finfo_t fi;

    if (apr_stat(&fi, full, APR_FINFO_TYPE, tmp) != APR_SUCCESS)
        return is_so_name(name)
               ? apr_psprintf(x->cmd->pool, "%s: cannot stat it (a "
                              "dangling symbolic link?)", full)
               : NULL;
    if (fi.filetype == APR_DIR)
        return scan_dir(x, full, sub, depth + 1);
    if (fi.filetype != APR_REG || !is_so_name(name))
        return NULL;
    return add_file(x, full, apr_pstrndup(tmp, sub, strlen(sub) - 3),
                    apr_pstrndup(tmp, name, strlen(name) - 3));
}

static const char *scan_dir(scan_ctx *x, const char *dir, const char *uri,
                            int depth)
{
    apr_array_header_t *names = NULL;
    const char *err;
    int i;

    if (depth > ROOT_MAX_DEPTH)
        return apr_psprintf(x->cmd->pool, "%s: more than %d directories "
                            "deep (a loop of symbolic links?)", dir,
                            ROOT_MAX_DEPTH);
    if ((err = list_dir(x->cmd->temp_pool, dir, &names)))
        return err;
    for (i = 0; i < names->nelts; i++)
        if ((err = scan_entry(x, dir, uri,
                              APR_ARRAY_IDX(names, i, const char *), depth)))
            return err;
    return NULL;
}

/* WebSocketHandlerRoot dir (server config, virtual host; RSRC_CONF keeps
 * it out of .htaccess: it loads code). */
const char *ws_root_set(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    scan_ctx x;
    apr_finfo_t fi;
    (void)dconf;

    if (err)
        return err;
    x.cmd = cmd;
    x.sc = ap_get_module_config(cmd->server->module_config, &websocket_module);
    if (!(x.root = ap_server_root_relative(cmd->pool, arg)))
        return apr_psprintf(cmd->pool, "WebSocketHandlerRoot: invalid path "
                            "'%s'", arg);
    if (apr_stat(&fi, x.root, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || fi.filetype != APR_DIR)
        return apr_psprintf(cmd->pool, "WebSocketHandlerRoot: %s is not a "
                            "directory", x.root);
    if (!x.sc->paths)
        x.sc->paths = apr_hash_make(cmd->pool);
    if ((err = scan_dir(&x, x.root, "", 0)))
        return apr_pstrcat(cmd->pool, "WebSocketHandlerRoot ", x.root, ": ",
                           err, NULL);
    return NULL;
}

/* One line per handler, once the configuration is final (post_config of
 * the real pass, or configtest): not while reading it, when the error log
 * and LogLevel are not yet in place and startup reads it twice. */
void ws_root_log_found(void)
{
    int i;

    for (i = 0; found && i < found->nelts; i++) {
        const root_found *f = &APR_ARRAY_IDX(found, i, root_found);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, f->s, WSLOGNO(00006)
                     "WebSocketHandlerRoot %s: %s serves %s (init function "
                     "%s)", f->root, f->loc->handler->path, f->loc->where,
                     f->loc->handler->symbol);
    }
}

/* --- requests ------------------------------------------------------------- */

static int is_upgrade(request_rec *r)
{
    const char *upgrade = apr_table_get(r->headers_in, "Upgrade");
    return upgrade && wsp_header_has_token(upgrade, "websocket");
}

/* For a request in no WebSocketHandler location: a path a root serves is
 * marked as ours (the handler instance in request_config, for
 * ws_root_dir_conf); a WebSocket handshake for any other path, which no
 * module has taken, is 404, as pywebsocket answered.  An internal redirect
 * is left alone: its path was chosen by the server (an ErrorDocument,
 * say), and a second 404 would hide the first. */
int ws_root_fixups(request_rec *r, const char *handler_name)
{
    const ws_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                    &websocket_module);
    const ws_location *loc;

    if (!sc->paths || !r->uri)
        return DECLINED;
    if ((loc = apr_hash_get(sc->paths, r->uri, APR_HASH_KEY_STRING))) {
        ap_set_module_config(r->request_config, &websocket_module,
                             (void *)loc);
        r->handler = handler_name;
        return DECLINED;
    }
    if (r->prev || r->handler || !is_upgrade(r))
        return DECLINED;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WSLOGNO(00110)
                  "no WebSocket handler for %s under WebSocketHandlerRoot: "
                  "404", r->uri);
    return HTTP_NOT_FOUND;
}

/* The request's configuration with the root's handler instance as its
 * location, or NULL if no root marked the request. */
const ws_dir_conf *ws_root_dir_conf(request_rec *r, const ws_dir_conf *conf)
{
    const ws_location *loc = ap_get_module_config(r->request_config,
                                                  &websocket_module);
    ws_dir_conf *copy;

    if (!loc)
        return NULL;
    copy = apr_pmemdup(r->pool, conf, sizeof(*copy));
    copy->location = loc;
    return copy;
}
