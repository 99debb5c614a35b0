/*
 * ws_io.c - moves bytes between a connection's filter chains and the engine,
 * without ever blocking the loop thread.
 *
 * Output goes through c->output_filters, and input through
 * c->input_filters, except on a plain connection (ws_sock.c): once the
 * core holds no input of its own the socket is read directly into the
 * loop's buffer (see ws_io_read()), and while the core holds no output
 * and the core's is the only output filter, frames are written to the
 * socket directly (ws_sock_write()); what the socket does not take goes
 * the filter way below.  Lingering reads and the shutdown of the write
 * side use the socket too.
 *
 * Output: the core output filter (server/core_filters.c) writes
 * non-blocking unless a brigade holds a FLUSH bucket or more than
 * FlushMaxThreshold (64 KiB by default) of memory data, in which case it
 * blocks up to Timeout.  Filters above it may hold data back until they
 * see a FLUSH: mod_ssl's coalescing filter keeps anything under 8 KiB
 * (AP_IOBUFSIZE) that is not followed by a metadata bucket.  So where
 * such a connection-level filter is present, every pass ends with a FLUSH
 * bucket, which every filter above the network level honours, and our own
 * "websocket-noflush" filter, the last one before the network level (below
 * mod_ssl, above mod_logio and core), takes it out again so the core never
 * blocks.  We pass at most WS_WRITE_CHUNK at a
 * time and nothing new while the core still holds data
 * (c->data_in_output_filters); pending data is pushed by calling the core
 * filter with a NULL brigade, exactly as the event MPM does in write
 * completion, once the socket polls writable.
 *
 * An HTTP/2 stream (c->master set, RFC 8441) has no socket: mod_http2's
 * secondary connection ends in its own network filter, which hands data
 * to the h2 session and blocks only for stream flow control.  There the
 * FLUSH goes all the way down (it is what makes mod_http2 send at once),
 * input is polled through ap_get_pollfd_from_conn() (a pipe), the first
 * EOS (mod_http2 ends the "request body" of an upgrade with one) is not
 * the end of the stream, and there is no socket to shut down: the stream
 * ends when the handler returns.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"
#include "http_connection.h"
#include "http_request.h"
#include "util_filter.h"
#include "mpm_common.h"
#include "apr_strings.h"

APLOG_USE_MODULE(websocket);

#define WS_READ_BYTES 65536
#define WS_NOFLUSH_FILTER "websocket-noflush"

static apr_status_t noflush_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    apr_bucket *b, *next;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = next) {
        next = APR_BUCKET_NEXT(b);
        if (APR_BUCKET_IS_FLUSH(b))
            apr_bucket_delete(b);
    }
    if (APR_BRIGADE_EMPTY(bb))
        return APR_SUCCESS;
    return ap_pass_brigade(f->next, bb);
}

void ws_io_register_filters(void)
{
    /* Below mod_ssl (AP_FTYPE_CONNECTION + 5), above mod_logio
     * (AP_FTYPE_NETWORK - 1) and the core. */
    ap_register_output_filter(WS_NOFLUSH_FILTER, noflush_filter, NULL,
                              AP_FTYPE_CONNECTION + 8);
}

int ws_io_is_h2_stream(const conn_rec *c)
{
    return c->master != NULL;
}

/* 1 for a connection filter known to pass non-blocking reads and every
 * output bucket straight on (mod_reqtimeout's, in both directions). */
int ws_io_passes_through(const ap_filter_t *f)
{
    return strcmp(f->frec->name, "reqtimeout") == 0;
}

/* 1 if a connection-level output filter sits above the network level
 * (mod_ssl's, for one): it may hold back what it is given until a FLUSH.
 * A plain connection has only the core and mod_reqtimeout's output
 * filter, which only watches for the EOR bucket of each request and
 * passes everything on: no FLUSH needed, it would only cost a bucket
 * per pass. */
static int may_hold_output(const conn_rec *c)
{
    const ap_filter_t *f;
    for (f = c->output_filters; f; f = f->next)
        if (f->frec->ftype < AP_FTYPE_NETWORK - 1 && !ws_io_passes_through(f))
            return 1;
    return 0;
}

/* 1 if a connection-level input filter may keep input the poll cannot
 * see (mod_ssl's decrypted records, for one).  mod_reqtimeout's filter
 * passes non-blocking reads straight through; anything unknown counts as
 * holding. */
static int may_hold_input(const conn_rec *c)
{
    const ap_filter_t *f;
    for (f = c->input_filters; f; f = f->next)
        if (f->frec->ftype < AP_FTYPE_NETWORK - 1 && !ws_io_passes_through(f))
            return 1;
    return 0;
}

/* After the 101: how this connection is polled and written. */
apr_status_t ws_io_attach(ws_conn_t *wc)
{
    conn_rec *c = wc->c;
    apr_status_t rv;
    apr_pollfd_t *pfd = &wc->entry.pfd;

    wc->needs_flush = ws_io_is_h2_stream(c) || may_hold_output(c);
    wc->poll_sees_input = !ws_io_is_h2_stream(c) && !may_hold_input(c);
    wc->write_direct = !wc->needs_flush && ws_sock_plain_output(c);
    if (wc->needs_flush && !ws_io_is_h2_stream(c))
        ap_add_output_filter(WS_NOFLUSH_FILTER, NULL, NULL, c);
    memset(pfd, 0, sizeof(*pfd));
    rv = ap_get_pollfd_from_conn(c, pfd, NULL);
    if (rv == APR_SUCCESS && pfd->desc_type == APR_NO_DESC)
        rv = APR_ENOTIMPL;            /* an h2 stream without input */
    pfd->p = c->pool;
    pfd->client_data = &wc->entry;
    return rv;
}

/* Through the filters: what the core (or mod_ssl, or mod_http2) has. */
static ws_io_status read_filters(ws_conn_t *wc, const char **data,
                                 apr_size_t *len)
{
    apr_bucket_brigade *bb = wc->in_bb;
    apr_status_t rv;

    for (;;) {
        apr_bucket *b;

        if (APR_BRIGADE_EMPTY(bb)) {
            rv = ap_get_brigade(wc->c->input_filters, bb, AP_MODE_READBYTES,
                                APR_NONBLOCK_READ, WS_READ_BYTES);
            /* Non-blocking and nothing there: success with no buckets. */
            if (APR_STATUS_IS_EAGAIN(rv)
                || (rv == APR_SUCCESS && APR_BRIGADE_EMPTY(bb)))
                return WS_IO_AGAIN;
            if (APR_STATUS_IS_EOF(rv))
                return WS_IO_EOF;
            if (rv != APR_SUCCESS) {
                ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, wc->c,
                              WSLOGNO(00401) "WebSocket read failed");
                return WS_IO_ERROR;
            }
        }
        b = APR_BRIGADE_FIRST(bb);
        if (APR_BUCKET_IS_EOS(b)) {
            if (!ws_io_is_h2_stream(wc->c) || wc->upgrade_eos_seen)
                return WS_IO_EOF;
            wc->upgrade_eos_seen = 1; /* ends the request, not the stream */
        }
        if (!APR_BUCKET_IS_METADATA(b)) {
            rv = apr_bucket_read(b, data, len, APR_NONBLOCK_READ);
            if (rv != APR_SUCCESS)
                return APR_STATUS_IS_EAGAIN(rv) ? WS_IO_AGAIN : WS_IO_ERROR;
            if (*len) {
                wc->buffer_cached = 1;  /* once consumed */
                return WS_IO_MORE;
            }
        }
        apr_bucket_delete(b);
    }
}

/* Input first comes through the filters.  On a plain connection (no
 * filter that keeps input back, see may_hold_input()) the first read that
 * finds nothing shows the core holds nothing more either (its greedy read
 * ended at EAGAIN): from then on the socket is read directly. */
ws_io_status ws_io_read(ws_conn_t *wc, const char **data, apr_size_t *len)
{
    ws_io_status st;

    if (wc->read_direct && APR_BRIGADE_EMPTY(wc->in_bb))
        return ws_sock_read(wc, data, len);
    st = read_filters(wc, data, len);
    if (st == WS_IO_AGAIN && wc->poll_sees_input)
        wc->read_direct = 1;
    return st;
}

/* 1 if the last direct read emptied the socket: level-triggered polling
 * reports whatever comes next, so reading again now would only return
 * EAGAIN. */
int ws_io_read_dry(const ws_conn_t *wc, apr_size_t len)
{
    return wc->read_direct && len < WS_LOOP_SCRATCH
           && APR_BRIGADE_EMPTY(wc->in_bb);
}

/* The engine used n bytes of what ws_io_read() returned: drop them, keep
 * the rest (reading paused mid-bucket) for the next ws_io_read(). */
void ws_io_read_consume(ws_conn_t *wc, apr_size_t n)
{
    apr_bucket *b;

    if (wc->direct_len) {              /* the loop's buffer: copy the rest */
        const char *buf = ws_loop_scratch(wc->loop);
        if (n < wc->direct_len) {
            APR_BRIGADE_INSERT_TAIL(wc->in_bb,
                apr_bucket_heap_create(buf + n, wc->direct_len - n, NULL,
                                       wc->c->bucket_alloc));
            wc->buffer_cached = 1;
        }
        wc->direct_len = 0;
        return;
    }
    if (APR_BRIGADE_EMPTY(wc->in_bb))
        return;
    b = APR_BRIGADE_FIRST(wc->in_bb);
    if (n < b->length)
        apr_bucket_split(b, n);
    apr_bucket_delete(b);
}

/* Pushes what the core output filter holds, without blocking. */
static apr_status_t core_push(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;
    while (f->next)
        f = f->next;
    return f->frec->filter_func.out_func(f, NULL);
}

/* Frames up to this size are copied together into one buffer: for small
 * messages two bucket allocations per frame cost more than the copy. */
#define WS_COALESCE_MAX   1024
#define WS_COALESCE_RUN   64

/* Appends f to out_bb as a heap bucket that owns it (no copy; the
 * bucket's free function drops our reference).  Returns the bucket. */
apr_bucket *ws_io_add_frame_bucket(ws_conn_t *wc, wsp_buf *f)
{
    apr_bucket *b = apr_bucket_heap_create((const char *)wsp_buf_data(f),
                                           wsp_buf_len(f), wsp_buf_unref,
                                           wc->c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(wc->out_bb, b);
    return b;
}

/* One heap bucket for a run of small frames (copied, then released), or
 * the frame's own bucket for a run of one (or if malloc fails). */
static void add_run(ws_conn_t *wc, wsp_buf **run, int n, apr_size_t bytes)
{
    char *p;
    apr_size_t off = 0;
    int i;

    if (n == 1 || !(p = malloc(bytes))) {
        for (i = 0; i < n; i++)
            ws_io_add_frame_bucket(wc, run[i]);
        return;
    }
    for (i = 0; i < n; i++) {
        memcpy(p + off, wsp_buf_data(run[i]), wsp_buf_len(run[i]));
        off += wsp_buf_len(run[i]);
        wsp_buf_unref(run[i]);
    }
    APR_BRIGADE_INSERT_TAIL(wc->out_bb,
        apr_bucket_heap_create(p, bytes, free, wc->c->bucket_alloc));
}

/* Refills out_bb from the session when it is empty: frames up to about
 * WS_WRITE_CHUNK bytes (one large frame stays whole here).  A large frame
 * becomes a heap bucket that takes over its memory (no copy; the bucket's
 * free function drops our reference); runs of small ones are copied into
 * one buffer. */
static void refill(ws_conn_t *wc)
{
    wsp_buf *run[WS_COALESCE_RUN], *f;
    apr_size_t n = 0, run_bytes = 0;
    int nrun = 0;

    if (!APR_BRIGADE_EMPTY(wc->out_bb))
        return;
    while (n < WS_WRITE_CHUNK && (f = wsp_session_pop(&wc->sess))) {
        apr_size_t len = wsp_buf_len(f);
        n += len;
        if (nrun && (len > WS_COALESCE_MAX || nrun == WS_COALESCE_RUN)) {
            add_run(wc, run, nrun, run_bytes);
            nrun = 0;
            run_bytes = 0;
        }
        if (len > WS_COALESCE_MAX) {
            ws_io_add_frame_bucket(wc, f);
            continue;
        }
        run[nrun++] = f;
        run_bytes += len;
    }
    if (nrun)
        add_run(wc, run, nrun, run_bytes);
}

/* Moves up to WS_WRITE_CHUNK bytes from the head of out_bb to pass_bb:
 * more at once would make the core output filter block (its
 * FlushMaxThreshold, 64 KiB). */
static apr_size_t take_chunk(ws_conn_t *wc)
{
    apr_bucket *after, *b;
    apr_size_t n = 0;

    apr_brigade_partition(wc->out_bb, WS_WRITE_CHUNK, &after);
    while ((b = APR_BRIGADE_FIRST(wc->out_bb)) != after) {
        APR_BUCKET_REMOVE(b);
        n += b->length;
        APR_BRIGADE_INSERT_TAIL(wc->pass_bb, b);
    }
    return n;
}

void ws_io_account_written(ws_conn_t *wc, apr_size_t n, apr_int64_t now)
{
    wsp_session_wrote(&wc->sess, n, now);
    WS_COUNT(&wc->st, bytes_out, n);
    WS_COUNT(ws_stats_mine(), bytes_out, n);
}

/* If the core output filter holds data, pushes it (non-blocking).  AGAIN:
 * some is still there; the socket must poll writable first. */
static ws_io_status push_pending(conn_rec *c, apr_status_t *rv)
{
    *rv = APR_SUCCESS;
    if (!c->data_in_output_filters)
        return WS_IO_DONE;
    if ((*rv = core_push(c)) != APR_SUCCESS)
        return WS_IO_ERROR;
    return c->data_in_output_filters ? WS_IO_AGAIN : WS_IO_DONE;
}

/* Writes what the session has queued, a chunk per pass, until it is all
 * passed, the core holds data it could not write (AGAIN: poll for
 * POLLOUT), or WS_WRITE_TURN bytes went (MORE).  The turn is for
 * fairness: a fast reader whose handler refills the queue from on_drain
 * would otherwise keep the loop writing to it alone for as long as it
 * reads, while every other connection waits (under load, past its
 * WebSocketSendTimeout: closed 1008 though its client was reading).  Where a filter may hold output back (mod_ssl, mod_http2),
 * each pass ends with a FLUSH bucket, which our noflush filter keeps from
 * the core. */
ws_io_status ws_io_flush(ws_conn_t *wc, apr_int64_t now)
{
    conn_rec *c = wc->c;
    apr_status_t rv;
    ws_io_status st;
    apr_size_t n, turn = 0;

    if (wc->write_direct && !c->data_in_output_filters
        && APR_BRIGADE_EMPTY(wc->out_bb)) {
        st = ws_sock_write(wc, now);   /* the rest, if any, in out_bb */
        if (st == WS_IO_ERROR) {
            c->aborted = 1;
            return st;
        }
        if (st == WS_IO_DONE || st == WS_IO_MORE)
            return st;
    }
    while ((st = push_pending(c, &rv)) == WS_IO_DONE) {
        refill(wc);
        if (turn >= WS_WRITE_TURN && !APR_BRIGADE_EMPTY(wc->out_bb)) {
            st = WS_IO_MORE;
            break;
        }
        if (!(n = take_chunk(wc)))
            break;
        turn += n;
        if (wc->needs_flush)
            APR_BRIGADE_INSERT_TAIL(wc->pass_bb,
                                    apr_bucket_flush_create(c->bucket_alloc));
        rv = ap_pass_brigade(c->output_filters, wc->pass_bb);
        apr_brigade_cleanup(wc->pass_bb);
        ws_io_account_written(wc, n, now);
        if (rv != APR_SUCCESS) {
            st = WS_IO_ERROR;
            break;
        }
    }
    if (st == WS_IO_ERROR) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, c, WSLOGNO(00402)
                      "WebSocket write failed");
        c->aborted = 1;
    }
    return st;
}

/* On an HTTP/2 stream, EOS is our END_STREAM (RFC 8441's FIN), and it
 * must be the last bucket we ever pass: mod_http2 closes the stream's
 * output beam at the EOS, and anything after it (a FLUSH) lands in the
 * closed beam and wakes the main connection again.  If that wake-up comes
 * after END_STREAM went out while the client has not ended its side yet
 * (half-closed local), mod_http2 answers it with RST_STREAM(NO_ERROR)
 * (AH10313) instead of letting the client end the stream.  So the FLUSH
 * goes first. */
static void append_end_stream(ws_conn_t *wc)
{
    conn_rec *c = wc->c;

    if (wc->needs_flush)
        APR_BRIGADE_INSERT_TAIL(wc->pass_bb,
                                apr_bucket_flush_create(c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(wc->pass_bb, apr_bucket_eos_create(c->bucket_alloc));
}

/* An EOC bucket makes mod_ssl send its close_notify alert; the FLUSH
 * after it makes mod_ssl write the alert out. */
static void append_eoc_and_flush(ws_conn_t *wc)
{
    conn_rec *c = wc->c;

    APR_BRIGADE_INSERT_TAIL(wc->pass_bb, ap_bucket_eoc_create(c->bucket_alloc));
    if (wc->needs_flush)
        APR_BRIGADE_INSERT_TAIL(wc->pass_bb,
                                apr_bucket_flush_create(c->bucket_alloc));
}

/* Ends the connection's output at the filter level: an EOC bucket makes
 * mod_ssl send its close_notify alert (as httpd's own lingering close
 * does).  Then flushed like any output. */
ws_io_status ws_io_end_output(ws_conn_t *wc)
{
    conn_rec *c = wc->c;
    apr_status_t rv;

    if (!wc->eoc_sent) {
        wc->eoc_sent = 1;
        if (ws_io_is_h2_stream(c))
            append_end_stream(wc);
        else
            append_eoc_and_flush(wc);
        rv = ap_pass_brigade(c->output_filters, wc->pass_bb);
        apr_brigade_cleanup(wc->pass_bb);
        if (rv != APR_SUCCESS)
            return WS_IO_ERROR;
    }
    return push_pending(c, &rv);
}

/* LINGER: our FIN is out; reads and discards what the peer still sends
 * until its EOF.  From the socket itself, as httpd's lingering close does:
 * after the EOC, mod_ssl's input filter must not be used any more. */
ws_io_status ws_io_discard(ws_conn_t *wc)
{
    apr_socket_t *s;
    char buf[4096];
    int rounds;

    if (ws_io_is_h2_stream(wc->c)) {       /* no socket: the stream's input */
        const char *data;
        apr_size_t len;
        ws_io_status st;
        for (rounds = 0; rounds < WS_READ_ROUNDS; rounds++) {
            if ((st = ws_io_read(wc, &data, &len)) != WS_IO_MORE)
                return st;
            ws_io_read_consume(wc, len);
        }
        return WS_IO_MORE;
    }
    s = ap_get_conn_socket(wc->c);
    for (rounds = 0; rounds < WS_READ_ROUNDS; rounds++) {
        apr_size_t n = sizeof(buf);
        apr_status_t rv;
        ws_io_status st = ws_sock_recv(s, buf, &n, &rv);
        if (st != WS_IO_MORE)
            return st;
    }
    return WS_IO_MORE;
}

void ws_io_shutdown_write(ws_conn_t *wc)
{
    if (ws_io_is_h2_stream(wc->c))
        return;                           /* the stream ends with the handler */
    if (wc->loop->async)
        ap_prep_lingering_close(wc->c);   /* pre_close hooks */
    apr_socket_shutdown(ap_get_conn_socket(wc->c), APR_SHUTDOWN_WRITE);
}

/* The connection's allocator keeps freed blocks (up to MaxMemFree) for
 * reuse: 8 KiB ones that held read buffers and the handshake's output (an
 * idle plain WebSocket was found to keep two, 4 KiB of its 14).  APR
 * offers no call that empties that cache, so with its bound lowered to
 * nothing, up to WS_DROP_BLOCKS blocks of that size are taken at once and
 * freed again: the cached ones go back to the system, and any taken
 * fresh costs an mmap and munmap, only at the release of the request and
 * when a connection goes quiet.  Leaves the bound at MaxMemFree. */
#define WS_DROP_BLOCKS 4
/* A read buffer as the bucket allocator asks for it (its node header
 * included): a request in the same 8 KiB size class of the allocator. */
#define WS_DROP_SIZE   (APR_BUCKET_BUFF_SIZE + 64)

static void drop_cached_blocks(conn_rec *c)
{
    apr_allocator_t *a = apr_pool_allocator_get(c->pool);
    apr_memnode_t *held = NULL, *n;
    int i;

    apr_allocator_max_free_set(a, 1);
    for (i = 0; i < WS_DROP_BLOCKS; i++) {
        if (!(n = apr_allocator_alloc(a, WS_DROP_SIZE)))
            break;
        n->next = held;
        held = n;
    }
    if (held)
        apr_allocator_free(a, held);
    apr_allocator_max_free_set(a, ap_max_mem_free);
}

/* Finishes r (its pool goes with the EOR bucket) and hands the pool's
 * memory back to the system rather than to the connection's allocator,
 * which would keep it cached (MaxMemFree) for as long as the WebSocket
 * lives; the handshake's read buffer goes too.  Only at such moments:
 * returning every freed block at once (e.g. each 8 KiB read buffer) cost
 * two thirds of the echo throughput. */
static void release_request_memory(conn_rec *c, request_rec *r)
{
    apr_allocator_t *a = apr_pool_allocator_get(c->pool);

    apr_allocator_max_free_set(a, 1);
    ap_process_request_after_handler(r);
    drop_cached_blocks(c);
}

/* A connection that has been quiet keeps no cached read buffer: it is
 * 8 KiB of every idle WebSocket's ~17 KiB.  Busy connections keep theirs
 * (see release_request_memory). */
void ws_io_trim_idle(ws_conn_t *wc)
{
    if (!wc->buffer_cached || !wc->c || ws_io_is_h2_stream(wc->c))
        return;                /* mod_http2 owns a stream's allocator */
    drop_cached_blocks(wc->c);
    wc->buffer_cached = 0;
}

/* Async MPM: ends the HTTP request of an open WebSocket.  Its pool (8 KiB
 * or more per connection) would otherwise live as long as the WebSocket;
 * what handlers may still ask for is copied into c->pool first.  Ending it
 * writes the access log entry (status 101) through the EOR bucket; the
 * MPM's own code never sees the suspended request again.  Runs once the
 * MPM has surely finished the suspension (see ws_loop.c). */
void ws_io_release_request(ws_conn_t *wc)
{
    conn_rec *c = wc->c;
    request_rec *r = wc->r;

    if (!r)
        return;
    wc->headers = apr_table_clone(c->pool, r->headers_in);
    wc->uri = apr_pstrdup(c->pool, r->uri);
    wc->user = r->user ? apr_pstrdup(c->pool, r->user) : NULL;
    wc->remote_ip = apr_pstrdup(c->pool, r->useragent_ip);
    wc->query = r->args ? apr_pstrdup(c->pool, r->args) : NULL;
    wc->env = apr_table_clone(c->pool, r->subprocess_env);
    wc->offered = wc->offered ? apr_pstrdup(c->pool, wc->offered) : NULL;
    wc->protocol = wc->protocol ? apr_pstrdup(c->pool, wc->protocol) : NULL;
    wc->r = NULL;
    release_request_memory(c, r);
    /* Destroying c->pool later while the state says SUSPENDED makes the
     * MPM drop its suspended count with the connection count. */
    c->cs->state = CONN_STATE_SUSPENDED;
}

/* The WebSocket is over: handlers may ask nothing more of it.  The request
 * itself: async, it goes with ws_io_destroy() (not sooner than the hand-off
 * guard allows); sync, the handler returns and httpd finishes it. */
void ws_io_finish_request(ws_conn_t *wc)
{
    apr_brigade_cleanup(wc->in_bb);
    if (!wc->loop->async)
        wc->r = NULL;                 /* httpd finishes it */
    wc->headers = wc->env = NULL;
    wc->offered = wc->protocol = wc->uri = wc->user = wc->remote_ip = NULL;
    wc->query = NULL;
}

/* Releases the connection itself.  Async: its pool (the MPM's transaction
 * pool) goes, which closes the socket and lets the MPM forget it.  Sync:
 * the MPM still owns it. */
void ws_io_destroy(ws_conn_t *wc)
{
    if (wc->loop->async && wc->r)
        ws_io_release_request(wc);    /* finished before it was settled */
    if (wc->loop->async && wc->c)
        apr_pool_destroy(wc->c->pool);
    wc->c = NULL;
    wc->headers = wc->env = NULL;     /* the copies went with the pool */
    wc->offered = wc->protocol = wc->uri = wc->user = wc->remote_ip = NULL;
    wc->query = NULL;
}
