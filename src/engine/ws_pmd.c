/*
 * ws_pmd.c - permessage-deflate (RFC 7692) for the module: its
 * directives, the answer to a client's Sec-WebSocket-Extensions, and what
 * the protocol session is told.  The negotiation rules are the core's
 * (wsp_pmd.c), the codec too (wsp_deflate.c, wsp_session_pmd.c).
 *
 * Two memory modes (WebSocketDeflateMode):
 *   shared     one compressor per loop thread, used by every WebSocket of
 *              that thread and reset after each message; we always answer
 *              server_no_context_takeover.  An idle WebSocket holds no
 *              compressor state.
 *   dedicated  a compressor per WebSocket that keeps its context (better
 *              ratios on similar messages) and its memory while the
 *              WebSocket lives: about 2^(bits+2) + 2^(memlevel+9) bytes.
 * Input: unless WebSocketDeflateClientContext is On we ask the client for
 * client_no_context_takeover, so that no inflate state lives between
 * messages either.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "apr_strings.h"
#include "wsp_deflate.h"

APLOG_USE_MODULE(websocket);

#define WS_PMD_MIN_SIZE_DEFAULT 64   /* shorter messages gain nothing */
#define WS_PMD_POOL_KEY "websocket_pmd_shared"

/* ---- configuration -------------------------------------------------------- */

void ws_pmd_conf_init(ws_pmd_conf *pc)
{
    pc->on = pc->mode = pc->window_bits = pc->client_window_bits = -1;
    pc->mem_level = pc->client_context = -1;
    pc->min_size = -1;
}

#define PMD_MERGE(f) out->f = add->f != -1 ? add->f : base->f

void ws_pmd_conf_merge(ws_pmd_conf *out, const ws_pmd_conf *base,
                       const ws_pmd_conf *add)
{
    PMD_MERGE(on);
    PMD_MERGE(mode);
    PMD_MERGE(window_bits);
    PMD_MERGE(client_window_bits);
    PMD_MERGE(mem_level);
    PMD_MERGE(min_size);
    PMD_MERGE(client_context);
}

static ws_pmd_conf *pmd_of(void *dconf)
{
    return &((ws_dir_conf *)dconf)->pmd;
}

const char *ws_pmd_set_on(cmd_parms *cmd, void *dconf, int on)
{
    (void)cmd;
    pmd_of(dconf)->on = on;
    return NULL;
}

const char *ws_pmd_set_mode(cmd_parms *cmd, void *dconf, const char *arg)
{
    if (!strcasecmp(arg, "shared"))
        pmd_of(dconf)->mode = WS_PMD_SHARED;
    else if (!strcasecmp(arg, "dedicated"))
        pmd_of(dconf)->mode = WS_PMD_DEDICATED;
    else
        return apr_psprintf(cmd->pool, "WebSocketDeflateMode must be shared "
                            "or dedicated, not '%s'", arg);
    return NULL;
}

static const char *parse_int(cmd_parms *cmd, const char *what, const char *arg,
                             int min, int max, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end || v < min || v > max)
        return apr_psprintf(cmd->pool, "%s: %s must be a whole number from "
                            "%d to %d, not '%s'", cmd->directive->directive,
                            what, min, max, arg);
    *out = (int)v;
    return NULL;
}

/* zlib's raw deflate cannot compress with a window of 8, so ours is 9 at
 * least; the client's may be 8. */
const char *ws_pmd_set_window_bits(cmd_parms *cmd, void *dconf,
                                   const char *server, const char *client)
{
    ws_pmd_conf *pc = pmd_of(dconf);
    const char *err = parse_int(cmd, "the server's window", server, 9, 15,
                                &pc->window_bits);
    if (!err && client)
        err = parse_int(cmd, "the client's window", client, 8, 15,
                        &pc->client_window_bits);
    return err;
}

const char *ws_pmd_set_mem_level(cmd_parms *cmd, void *dconf, const char *arg)
{
    return parse_int(cmd, "the memory level", arg, 1, 9,
                     &pmd_of(dconf)->mem_level);
}

const char *ws_pmd_set_min_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    int n = 0;
    const char *err = parse_int(cmd, "the size", arg, 0, 1 << 30, &n);
    if (!err)
        pmd_of(dconf)->min_size = n;
    return err;
}

const char *ws_pmd_set_client_context(cmd_parms *cmd, void *dconf, int on)
{
    (void)cmd;
    pmd_of(dconf)->client_context = on;
    return NULL;
}

/* ---- the effective settings ---------------------------------------------- */

static int dedicated(const ws_pmd_conf *pc)
{
    return pc->mode == WS_PMD_DEDICATED;
}

/* Defaults by mode: a shared compressor exists once per thread and may be
 * large; a dedicated one exists per WebSocket and must be small. */
static int window_bits(const ws_pmd_conf *pc)
{
    return pc->window_bits != -1 ? pc->window_bits : dedicated(pc) ? 11 : 15;
}

static int mem_level(const ws_pmd_conf *pc)
{
    return pc->mem_level != -1 ? pc->mem_level : dedicated(pc) ? 4 : 8;
}

static void policy_of(const ws_pmd_conf *pc, wsp_pmd_policy *pol)
{
    wsp_pmd_policy_default(pol);
    pol->server_max_window_bits = window_bits(pc);
    pol->client_max_window_bits = pc->client_window_bits != -1
                                  ? pc->client_window_bits : 15;
    pol->server_no_context_takeover = !dedicated(pc);
    pol->client_no_context_takeover = pc->client_context != 1;
}

/* ---- the handshake -------------------------------------------------------- */

void ws_pmd_negotiate(request_rec *r, ws_conn_t *wc)
{
    const ws_pmd_conf *pc = &wc->conf->pmd;
    const char *offer = apr_table_get(r->headers_in, "Sec-WebSocket-Extensions");
    char answer[WSP_PMD_RESPONSE_MAX];
    wsp_pmd_policy pol;

    wc->extensions = NULL;
    if (pc->on != 1 || !offer)
        return;
    policy_of(pc, &pol);
    if (!wsp_pmd_negotiate(offer, &pol, &wc->pmd, answer)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, WSLOGNO(00108)
                      "no acceptable permessage-deflate offer in '%s'", offer);
        return;
    }
    free(wc->extensions_buf);
    if (!(wc->extensions_buf = strdup(answer)))
        return;                        /* out of memory: decline */
    wc->extensions = wc->extensions_buf;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, WSLOGNO(00109)
                  "offered '%s', answered '%s'", offer, answer);
}

/* ---- the session ----------------------------------------------------------- */

/* The shared compressors of one loop, by (window bits, memory level): in
 * the loop's pool, used by its thread only, freed with the loop's state
 * (ws_loop_cleanup_register). */
typedef struct shared_table {
    wsp_deflater *d[7][9];             /* [bits - 9][level - 1] */
    wsp_inflater *inflater;            /* window 15: reads any client's */
} shared_table;

static apr_status_t free_shared(void *data)
{
    shared_table *t = data;
    int i, j;

    for (i = 0; i < 7; i++)
        for (j = 0; j < 9; j++)
            if (t->d[i][j]) {
                wsp_deflater_free(t->d[i][j]);
                t->d[i][j] = NULL;
            }
    if (t->inflater) {
        wsp_inflater_free(t->inflater);
        t->inflater = NULL;
    }
    return APR_SUCCESS;
}

static shared_table *shared_of(ws_loop *loop)
{
    shared_table *t = NULL;

    apr_pool_userdata_get((void **)&t, WS_PMD_POOL_KEY, loop->pool);
    if (!t) {
        t = apr_pcalloc(loop->pool, sizeof(*t));
        apr_pool_userdata_setn(t, WS_PMD_POOL_KEY, apr_pool_cleanup_null, loop->pool);
        ws_loop_cleanup_register(loop, t, free_shared);
    }
    return t;
}

/* Messages the client compressed without context: one inflater per loop,
 * reset after each message, rather than zlib's 40 KiB allocated and freed
 * per message (which also scatters the heap). */
static wsp_inflater *shared_inflater(ws_loop *loop)
{
    shared_table *t = shared_of(loop);

    if (!t->inflater) {
        t->inflater = apr_palloc(loop->pool, sizeof(*t->inflater));
        wsp_inflater_init(t->inflater, 15);
    }
    return t->inflater;
}

static wsp_deflater *shared_deflater(ws_loop *loop, int bits, int level)
{
    shared_table *t = shared_of(loop);
    wsp_deflater **slot;

    slot = &t->d[bits - 9][level - 1];
    if (!*slot) {
        *slot = apr_palloc(loop->pool, sizeof(**slot));
        wsp_deflater_init(*slot, bits, level);
    }
    return *slot;
}

/* On the loop thread, as the session starts. */
void ws_pmd_session_config(ws_conn_t *wc, wsp_session_config *cfg)
{
    const ws_pmd_conf *pc = &wc->conf->pmd;
    const wsp_pmd_params *p = &wc->pmd;

    if (!wc->extensions)
        return;
    cfg->inflate_window_bits = p->client_max_window_bits;
    cfg->inflate_keep_context = !p->client_no_context_takeover;
    if (p->client_no_context_takeover)
        cfg->inflate_shared = shared_inflater(wc->loop);
    cfg->deflate_window_bits = p->server_max_window_bits;
    cfg->deflate_mem_level = mem_level(pc);
    cfg->deflate_keep_context = !p->server_no_context_takeover;
    cfg->deflate_min_size = pc->min_size != -1 ? (size_t)pc->min_size
                                               : WS_PMD_MIN_SIZE_DEFAULT;
    if (!dedicated(pc))
        cfg->deflate_shared = shared_deflater(wc->loop,
                                              p->server_max_window_bits,
                                              cfg->deflate_mem_level);
}
