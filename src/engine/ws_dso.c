/*
 * ws_dso.c - opening a handler shared object and calling its init function
 * without letting a mistake in the configuration crash httpd silently.
 *
 * What can be checked is checked before the call: the file loads, the
 * symbol exists and is a function (a data symbol such as a module record
 * would be "called" and crash).  What cannot (an init that crashes) is at
 * least named: while the init runs, a fatal signal first prints which
 * function of which file was running, then takes its default course.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "ws_internal.h"
#include "ws_dso.h"
#include "apr_dso.h"
#include "apr_strings.h"

/* 1 if addr is a function symbol (or we cannot tell: not an ELF symbol
 * table we can read, in which case the call goes ahead as before). */
static int is_function(void *addr)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;

    if (!dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
        return 1;
    return ELF64_ST_TYPE(sym->st_info) == STT_FUNC
           || ELF64_ST_TYPE(sym->st_info) == STT_GNU_IFUNC;
}

/* --- the crash guard ----------------------------------------------------- */

static const int guarded_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
#define NGUARDED (sizeof(guarded_signals) / sizeof(guarded_signals[0]))

static char crash_note[512];          /* written before the call */
static size_t crash_note_len;

/* Async-signal-safe: one write(), then the default action (SA_RESETHAND)
 * when the faulting instruction runs again. */
static void on_fatal_signal(int sig)
{
    ssize_t ignored = write(STDERR_FILENO, crash_note, crash_note_len);
    (void)ignored;
    (void)sig;
}

static void guard(struct sigaction *saved)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < NGUARDED; i++)
        sigaction(guarded_signals[i], &sa, &saved[i]);
}

static void unguard(const struct sigaction *saved)
{
    size_t i;
    for (i = 0; i < NGUARDED; i++)
        sigaction(guarded_signals[i], &saved[i], NULL);
}

static const ws_handler *call_init(ws_handler_init_fn init, const char *full,
                                   const char *symbol)
{
    struct sigaction saved[NGUARDED];
    const ws_handler *h;

    apr_snprintf(crash_note, sizeof(crash_note),
                 "mod_websocket: the handler init function %s() in %s "
                 "crashed while the configuration was read\n", symbol, full);
    crash_note_len = strlen(crash_note);
    guard(saved);
    h = init(&ws_server_table);
    unguard(saved);
    return h;
}

/* --- the table ------------------------------------------------------------ */

/* Copies the handler's table into one of our size, so that a handler built
 * against an older, shorter ws_handler reads as NULL callbacks. */
static const char *check_table(apr_pool_t *p, const char *what,
                               const ws_handler *h, const ws_handler **out)
{
    ws_handler *copy;
    size_t v1_size = offsetof(ws_handler, on_drain) + sizeof(h->on_drain);

    if (!h)
        return apr_psprintf(p, "%s returned NULL (the handler refused to "
                            "initialise)", what);
    if (h->abi_version < 1 || h->abi_version > WS_HANDLER_ABI_VERSION)
        return apr_psprintf(p, "%s speaks handler ABI version %u; this "
                            "mod_websocket speaks versions 1 to %u (rebuild "
                            "the handler against this mod_websocket.h)",
                            what, h->abi_version, WS_HANDLER_ABI_VERSION);
    if (h->size < offsetof(ws_handler, on_close) + sizeof(h->on_close))
        return apr_psprintf(p, "%s returned a table of %lu bytes, too small "
                            "for ABI version %u", what,
                            (unsigned long)h->size, h->abi_version);
    copy = apr_pcalloc(p, sizeof(*copy));
    /* A version-1 table ends at on_drain, whatever its size says. */
    memcpy(copy, h, h->abi_version == 1 && h->size > v1_size ? v1_size
                    : h->size < sizeof(*copy) ? h->size : sizeof(*copy));
    copy->size = sizeof(*copy);
    *out = copy;
    return NULL;
}

/* The first of symbols (NULL-terminated) that full exports. */
static const char *find_symbol(apr_pool_t *p, apr_dso_handle_t *dso,
                               const char *full, const char *const *symbols,
                               apr_dso_handle_sym_t *sym, const char **used)
{
    const char *const *s;

    for (s = symbols; *s; s++)
        if (apr_dso_sym(sym, dso, *s) == APR_SUCCESS) {
            *used = *s;
            return NULL;
        }
    if (!symbols[1])
        return apr_psprintf(p, "%s has no symbol '%s' (name the handler's "
                            "init function)", full, symbols[0]);
    return apr_psprintf(p, "%s has neither '%s' nor '%s' (export the "
                        "handler's init function under one of these names)",
                        full, symbols[0], symbols[1]);
}

const char *ws_dso_find(apr_pool_t *p, const char *full,
                        const char *const *symbols, ws_dso_sym *out)
{
    apr_dso_handle_t *dso;
    apr_dso_handle_sym_t sym;
    char err[256];
    const char *msg;

    if (apr_dso_load(&dso, full, p) != APR_SUCCESS)
        return apr_psprintf(p, "cannot load %s: %s", full,
                            apr_dso_error(dso, err, sizeof(err)));
    if ((msg = find_symbol(p, dso, full, symbols, &sym, &out->symbol)))
        return msg;
    if (!is_function((void *)sym))
        return apr_psprintf(p, "'%s' in %s is data, not a function (name the "
                            "handler's init function, not a module record)",
                            out->symbol, full);
    out->full = full;
    out->init = (ws_handler_init_fn)sym;
    return NULL;
}

const char *ws_dso_init(apr_pool_t *p, const ws_dso_sym *found,
                        const ws_handler **out)
{
    const char *what = apr_psprintf(p, "%s() in %s", found->symbol,
                                    found->full);
    return check_table(p, what,
                       call_init(found->init, found->full, found->symbol), out);
}
