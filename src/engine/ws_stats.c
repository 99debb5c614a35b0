/*
 * ws_stats.c - WebSocket counters per child, in shared memory, and their
 * section of mod_status (HTML and ?auto).
 *
 * mod_status cannot see suspended connections, and the page is rendered by
 * whichever child serves it, so each child keeps its counters in a slot of
 * an anonymous shared segment made by the parent.  A child claims a slot by
 * compare-and-swap on its pid (slots of children that died are reclaimed);
 * only atomic adds touch the counters.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ws_internal.h"
#include "ap_mpm.h"
#include "http_protocol.h"
#include "mod_status.h"
#include "apr_shm.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

typedef struct ws_slot {
    volatile apr_uint32_t pid;      /* 0: free */
    ws_counters           c;
} ws_slot;

static apr_shm_t *stats_shm;
static ws_slot   *slots;
static int        nslots;
static ws_counters private_counters;   /* when there is no shared segment */
static ws_counters *my_counters = &private_counters;

apr_status_t ws_stats_post_config(apr_pool_t *pconf, server_rec *s)
{
    int limit = 0;
    apr_size_t size;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    if (limit < 1)
        limit = 1;
    /* Twice: during a graceful restart old and new children overlap. */
    nslots = 2 * limit;
    size = nslots * sizeof(ws_slot);
    rv = apr_shm_create(&stats_shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, WSLOGNO(00002)
                     "cannot create shared memory for WebSocket statistics; "
                     "mod_status will show only the serving child's");
        slots = NULL;
        return APR_SUCCESS;
    }
    slots = apr_shm_baseaddr_get(stats_shm);
    memset(slots, 0, size);
    return APR_SUCCESS;
}

static int pid_alive(apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) == 0;
}

static apr_status_t release_slot(void *data)
{
    ws_slot *slot = data;
    slot->pid = 0;
    return APR_SUCCESS;
}

void ws_stats_child_init(apr_pool_t *pchild)
{
    apr_uint32_t me = (apr_uint32_t)getpid();
    int i;

    if (!slots)
        return;
    for (i = 0; i < nslots; i++) {
        apr_uint32_t old = slots[i].pid;
        if (old && pid_alive(old))
            continue;
        if (apr_atomic_cas32(&slots[i].pid, me, old) == old) {
            memset(&slots[i].c, 0, sizeof(slots[i].c));
            my_counters = &slots[i].c;
            apr_pool_cleanup_register(pchild, &slots[i], release_slot,
                                      apr_pool_cleanup_null);
            return;
        }
    }
}

ws_counters *ws_stats_mine(void)
{
    return my_counters;
}

/* --- mod_status ---------------------------------------------------------- */

static void sum_counters(ws_counters *total, const ws_counters *c)
{
    total->open += c->open;
    total->opened += c->opened;
    total->msgs_in += c->msgs_in;
    total->msgs_out += c->msgs_out;
    total->bytes_in += c->bytes_in;
    total->bytes_out += c->bytes_out;
    total->pub_dropped += c->pub_dropped;
    total->mem_shed += c->mem_shed;
    total->redis_up += c->redis_up;
    total->redis_connects += c->redis_connects;
    total->redis_out += c->redis_out;
    total->redis_in += c->redis_in;
}

static void print_auto(request_rec *r, const char *prefix, const ws_counters *c)
{
    ap_rprintf(r, "%sWebSocketsOpen: %" APR_UINT64_T_FMT "\n"
               "%sWebSocketsTotal: %" APR_UINT64_T_FMT "\n"
               "%sWebSocketMessagesIn: %" APR_UINT64_T_FMT "\n"
               "%sWebSocketMessagesOut: %" APR_UINT64_T_FMT "\n"
               "%sWebSocketBytesIn: %" APR_UINT64_T_FMT "\n"
               "%sWebSocketBytesOut: %" APR_UINT64_T_FMT "\n"
               "%sWebSocketPublicationsDropped: %" APR_UINT64_T_FMT "\n"
               "%sWebSocketsShedForMemory: %" APR_UINT64_T_FMT "\n",
               prefix, c->open, prefix, c->opened, prefix, c->msgs_in,
               prefix, c->msgs_out, prefix, c->bytes_in, prefix, c->bytes_out,
               prefix, c->pub_dropped, prefix, c->mem_shed);
    if (ws_redis_configured())
        ap_rprintf(r, "%sWebSocketPubSubLinksUp: %" APR_UINT64_T_FMT "\n"
                   "%sWebSocketPubSubConnects: %" APR_UINT64_T_FMT "\n"
                   "%sWebSocketPubSubSent: %" APR_UINT64_T_FMT "\n"
                   "%sWebSocketPubSubReceived: %" APR_UINT64_T_FMT "\n",
                   prefix, c->redis_up, prefix, c->redis_connects,
                   prefix, c->redis_out, prefix, c->redis_in);
}

static void print_row(request_rec *r, const char *who, const ws_counters *c)
{
    ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT "</td><td>%"
               APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT "</td><td>%"
               APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT "</td><td>%"
               APR_UINT64_T_FMT "</td></tr>\n", who, c->open, c->opened,
               c->msgs_in, c->msgs_out, c->bytes_in, c->bytes_out);
}

static int status_hook(request_rec *r, int flags)
{
    ws_counters total = {0};
    int i;
    int is_auto = flags & AP_STATUS_SHORT;

    if (!slots) {
        total = *my_counters;
    }
    for (i = 0; slots && i < nslots; i++)
        if (slots[i].pid)
            sum_counters(&total, &slots[i].c);
    if (is_auto) {
        print_auto(r, "", &total);
        for (i = 0; slots && i < nslots; i++) {
            if (slots[i].pid) {
                char prefix[32];
                apr_snprintf(prefix, sizeof(prefix), "Child%u",
                             (unsigned)slots[i].pid);
                print_auto(r, prefix, &slots[i].c);
            }
        }
        return OK;
    }
    ap_rputs("<hr />\n<h2>WebSockets (mod_websocket)</h2>\n<table border=\"1\">"
             "<tr><th>child pid</th><th>open</th><th>total</th>"
             "<th>messages in</th><th>messages out</th><th>bytes in</th>"
             "<th>bytes out</th></tr>\n", r);
    for (i = 0; slots && i < nslots; i++) {
        if (slots[i].pid) {
            char who[16];
            apr_snprintf(who, sizeof(who), "%u", (unsigned)slots[i].pid);
            print_row(r, who, &slots[i].c);
        }
    }
    print_row(r, "all", &total);
    ap_rputs("</table>\n", r);
    return OK;
}

void ws_stats_register_hooks(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL, APR_HOOK_MIDDLE);
}
