/*
 * ws_dso.h - loading one handler shared object (ws_dso.c).
 */
#ifndef WS_DSO_H
#define WS_DSO_H

#include "apr_pools.h"
#include "mod_websocket.h"

/* An init function found in a loaded object, not yet called. */
typedef struct ws_dso_sym {
    const char         *full;     /* the object's absolute path */
    const char         *symbol;   /* which of the names asked for it was */
    ws_handler_init_fn  init;
} ws_dso_sym;

/* Loads full (an absolute path) into p and finds the first of symbols
 * (NULL-terminated: one name, or the names of a convention in order of
 * preference) that it exports; refuses a data symbol.  Loading the same
 * file again is cheap (the dynamic loader counts references), so callers
 * may find first and decide afterwards whether to call the init.  NULL on
 * success, or a message that says what to fix. */
const char *ws_dso_find(apr_pool_t *p, const char *full,
                        const char *const *symbols, ws_dso_sym *out);

/* Calls the init function under the crash guard and checks the table it
 * returns.  NULL on success (*out is a copy of the table of our size). */
const char *ws_dso_init(apr_pool_t *p, const ws_dso_sym *found,
                        const ws_handler **out);

#endif
