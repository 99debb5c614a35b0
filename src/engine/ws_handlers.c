/*
 * ws_handlers.c - loading handler shared objects for WebSocketHandler.
 *
 * Each (path, symbol) is loaded and initialised once per configuration
 * cycle (and so once per process: children inherit it from the parent),
 * however many Locations name it.  Every way it can go wrong is a
 * configuration error with a message that says what to fix, never a crash.
 */
#include <stddef.h>
#include <string.h>

#include "ws_internal.h"
#include "apr_dso.h"
#include "apr_hash.h"
#include "apr_strings.h"

#define WS_HANDLER_CACHE_KEY "mod_websocket_handlers"

static apr_hash_t *handler_cache(apr_pool_t *pconf)
{
    void *cache = NULL;
    apr_pool_userdata_get(&cache, WS_HANDLER_CACHE_KEY, pconf);
    if (!cache) {
        cache = apr_hash_make(pconf);
        apr_pool_userdata_set(cache, WS_HANDLER_CACHE_KEY, NULL, pconf);
    }
    return cache;
}

/* Copies the handler's table into one of our size, so that a handler built
 * against an older, shorter ws_handler reads as NULL callbacks. */
static const char *check_table(apr_pool_t *p, const char *full,
                               const char *symbol, const ws_handler *h,
                               const ws_handler **out)
{
    ws_handler *copy;

    if (!h)
        return apr_psprintf(p, "WebSocketHandler: %s() in %s returned NULL "
                            "(the handler refused to initialise)", symbol, full);
    if (h->abi_version != WS_HANDLER_ABI_VERSION)
        return apr_psprintf(p, "WebSocketHandler: %s() in %s speaks handler ABI "
                            "version %u; this mod_websocket speaks version %u "
                            "(rebuild the handler against mod_websocket.h)",
                            symbol, full, h->abi_version, WS_HANDLER_ABI_VERSION);
    if (h->size < offsetof(ws_handler, on_close) + sizeof(h->on_close))
        return apr_psprintf(p, "WebSocketHandler: %s() in %s returned a table "
                            "of %lu bytes, too small for ABI version %u",
                            symbol, full, (unsigned long)h->size,
                            WS_HANDLER_ABI_VERSION);
    copy = apr_pcalloc(p, sizeof(*copy));
    memcpy(copy, h, h->size < sizeof(*copy) ? h->size : sizeof(*copy));
    copy->size = sizeof(*copy);
    *out = copy;
    return NULL;
}

static const char *load_dso(cmd_parms *cmd, const char *full,
                            apr_dso_handle_t **dso)
{
    char err[256];
    apr_status_t rv = apr_dso_load(dso, full, cmd->pool);
    if (rv == APR_SUCCESS)
        return NULL;
    return apr_psprintf(cmd->pool, "WebSocketHandler: cannot load %s: %s",
                        full, apr_dso_error(*dso, err, sizeof(err)));
}

const char *ws_handler_load(cmd_parms *cmd, const char *path,
                            const char *symbol, const ws_handler_ref **out)
{
    apr_hash_t *cache = handler_cache(cmd->pool);
    const char *full = ap_server_root_relative(cmd->pool, path);
    const char *key, *err;
    apr_dso_handle_t *dso;
    apr_dso_handle_sym_t sym;
    ws_handler_ref *ref;
    const ws_handler *h;

    if (!full)
        return apr_psprintf(cmd->pool, "WebSocketHandler: invalid path '%s'",
                            path);
    key = apr_pstrcat(cmd->pool, full, "#", symbol, NULL);
    if ((*out = apr_hash_get(cache, key, APR_HASH_KEY_STRING)))
        return NULL;
    if ((err = load_dso(cmd, full, &dso)))
        return err;
    if (apr_dso_sym(&sym, dso, symbol) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "WebSocketHandler: %s has no symbol "
                            "'%s' (the second argument names the handler's "
                            "init function)", full, symbol);
    h = ((ws_handler_init_fn)sym)(&ws_server_table);
    ref = apr_pcalloc(cmd->pool, sizeof(*ref));
    if ((err = check_table(cmd->pool, full, symbol, h, &ref->h)))
        return err;
    ref->path = full;
    ref->symbol = apr_pstrdup(cmd->pool, symbol);
    apr_hash_set(cache, key, APR_HASH_KEY_STRING, ref);
    *out = ref;
    return NULL;
}
