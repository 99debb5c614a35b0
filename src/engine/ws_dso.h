/*
 * ws_dso.h - loading one handler shared object (ws_dso.c).
 */
#ifndef WS_DSO_H
#define WS_DSO_H

#include "apr_pools.h"
#include "mod_websocket.h"

/* Loads full (an absolute path) into p, checks that symbol is a function,
 * calls it and checks the table it returns.  NULL on success (*out is a
 * copy of the table of our size), or a message that says what to fix. */
const char *ws_dso_open(apr_pool_t *p, const char *full, const char *symbol,
                        const ws_handler **out);

#endif
