/*
 * wsload.c - WebSocket load generator for bench/run.
 *
 *   wsload echo      -p PORT [-c CONNS] [-d DEPTH] [-s SIZE] [-b] [-t SECS] [-w SECS]
 *   wsload handshake -p PORT [-k KEEP] [-C SLOTS] [-t SECS] [-S SRC]
 *   wsload churn     -p PORT [-C SLOTS] [-t SECS] [-S SRC]
 *   wsload hold      -p PORT -c CONNS [-i PING_SECS] [-h HOLD_SECS] [-S SRC] [-r READY_FILE]
 *   wsload fanout    -p PORT -c SUBS ...   (topic fan-out: bench/wsl_fanout.c)
 *
 * Any mode with --tls (or -T): wss://, TLS through OpenSSL on the same
 * non-blocking epoll loop, no certificate verification.
 * --deflate: offer permessage-deflate; messages are compressed and inflated
 * per message (wsl_deflate.c).  RESULT adds pmd= (connections that agreed),
 * tx_ratio/rx_ratio (wire ÷ uncompressed payload bytes each way) and
 * rx_plain (echoes that came uncompressed).  --json: messages from a pool
 * of varying JSON-like texts (wsl_json.c), each echo checked against its own.
 *
 * echo: CONNS connections, each with DEPTH messages of SIZE bytes (text, or
 *   binary with -b) in flight; every echo is checked and answered with a new
 *   message.  Counts echoes and their round-trip latency after a warm-up.
 * handshake: KEEP idle connections stay open while SLOTS parallel clients
 *   connect, upgrade (101 and Sec-WebSocket-Accept checked) and drop TCP.
 * churn: SLOTS parallel clients each connect, upgrade, send a close frame,
 *   wait for the server's close frame and its FIN (at most 1 s), and start
 *   over: full WebSocket lifecycles per second.
 * hold: opens CONNS connections (from the source addresses SRC, e.g.
 *   127.0.0.2-127.0.0.9), writes READY_FILE, keeps them idle with a ping
 *   every PING_SECS each for HOLD_SECS, then checks that every one is still
 *   open and echoes one message.  With --deflate or --json, each connection
 *   first echoes one message of SIZE bytes (from the pool with --json)
 *   before READY_FILE is written, so that any per-connection compression
 *   state on the server exists when its memory is sampled.
 *
 * Every phase is bounded in time.  The last line on stdout is
 * "RESULT key=value ..." for the runner; exit 0 if all went well, 1 if there
 * were errors, 2 if the connections could not even be set up.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsload.h"

enum mode { M_ECHO, M_HANDSHAKE, M_CHURN, M_HOLD };

static struct {
    /* options */
    enum mode mode;
    const char *host, *path, *src, *ready_file;
    int port, conns, depth, size, binary, keep, slots, tls, deflate, level, json, nocontext;
    double secs, warmup, ping_secs, hold_secs;
    /* state */
    wsl_ctx ctx;
    wsl_conn *c;               /* conns + slots */
    int n;                     /* entries in c */
    uint8_t *payload;          /* npool messages of size bytes */
    unsigned npool;
    int running;               /* echo: send more; churn/handshake: restart */
    uint64_t win_start, win_end;
    int connecting, open;      /* during open_all */
    wsl_conn **pending;        /* slots to restart after this batch */
    int npending;
    /* counters */
    uint64_t count, bad_echo, lost, no_fin, timeouts, echoed, failed_open, primed;
    wsl_hist hist;
} G;

static int in_window(uint64_t t)
{
    return t >= G.win_start && t < G.win_end;
}

static int is_slot(const wsl_conn *c)
{
    return c->idx >= G.keep;
}

/* ---- events ------------------------------------------------------------------- */

static const uint8_t *pool_msg(uint32_t i)
{
    return G.payload + (size_t)i * (size_t)G.size;
}

static void send_message(wsl_conn *c)
{
    uint32_t m = c->next_msg;

    c->next_msg = (m + 1) % G.npool;
    wsl_queue(c, G.binary ? WSP_OP_BINARY : WSP_OP_TEXT, pool_msg(m), (size_t)G.size);
    if (c->ts_n < c->ts_cap) {
        unsigned at = (c->ts_head + c->ts_n) % c->ts_cap;
        c->ts[at] = wsl_now();
        c->ts_msg[at] = m;
        c->ts_n++;
    }
}

static void ev_open(wsl_conn *c)
{
    uint64_t now = wsl_now();

    G.connecting--;
    G.open++;
    if (G.mode == M_HANDSHAKE && is_slot(c)) {
        if (in_window(now)) {
            G.count++;
            wsl_hist_add(&G.hist, now - c->t_start);
        }
        wsl_end(c, WSL_END_LOCAL);     /* drop TCP, the slot starts over */
    }
    else if (G.mode == M_CHURN) {
        wsl_send_close(c, 1000);
        c->deadline = now + WSL_SEC(5);
    }
}

/* The echo is the message sent.  Large ones are checked at both ends and
 * every 4 KiB, so that checking does not make the client the bottleneck. */
static int same_payload(const uint8_t *data, size_t len, const uint8_t *want)
{
    size_t off;

    if (len <= 4096)
        return memcmp(data, want, len) == 0;
    for (off = 0; off + 64 <= len; off += 4096)
        if (memcmp(data + off, want + off, 64) != 0)
            return 0;
    return memcmp(data + len - 64, want + len - 64, 64) == 0;
}

static void ev_message(wsl_conn *c, int opcode, const uint8_t *data, size_t len)
{
    if (G.mode == M_HOLD) {
        if (!c->echoed && len == 10 && memcmp(data, "hold-check", 10) == 0) {
            c->echoed = 1;
            G.echoed++;
        }
        else if (c->next_msg == 1 && len == (size_t)G.size
                 && memcmp(data, pool_msg((uint32_t)c->idx % G.npool), len) == 0) {
            c->next_msg = 2;           /* the first message came back */
            G.primed++;
        }
        return;
    }
    if (G.mode != M_ECHO)
        return;
    if (opcode != (G.binary ? WSP_OP_BINARY : WSP_OP_TEXT) || len != (size_t)G.size
        || !c->ts_n || !same_payload(data, len, pool_msg(c->ts_msg[c->ts_head]))) {
        G.bad_echo++;
        wsl_end(c, WSL_END_PROTO);
        return;
    }
    if (c->ts_n) {
        uint64_t now = wsl_now();
        if (in_window(now)) {
            G.count++;
            wsl_hist_add(&G.hist, now - c->ts[c->ts_head]);
        }
        c->ts_head = (c->ts_head + 1) % c->ts_cap;
        c->ts_n--;
    }
    if (G.running)
        send_message(c);               /* written once the read is parsed */
}

static void ev_close_frame(wsl_conn *c)
{
    /* Wait for the server's FIN, but not forever. */
    c->deadline = wsl_now() + WSL_SEC(G.mode == M_CHURN ? 1 : 0.2);
}

static void start_slot(wsl_conn *c)
{
    if (wsl_connect(&G.ctx, c) == 0)
        G.connecting++;
}

/* Slots that ended are restarted after the current batch of events (the
 * batch may still hold stale events of the old socket). */
static void restart_pending(void)
{
    while (G.npending)
        start_slot(G.pending[--G.npending]);
}

static void ev_end(wsl_conn *c, int why)
{
    uint64_t now = wsl_now();

    if (WSL_OPENING(c->last_st)) {
        G.connecting--;
        if (why != WSL_END_LOCAL)
            G.failed_open++;
    }
    else if (G.mode == M_CHURN && is_slot(c)) {
        if (c->got_close && in_window(now)) {
            G.count++;
            wsl_hist_add(&G.hist, now - c->t_start);
        }
        else if (!c->got_close && why != WSL_END_LOCAL)
            G.lost++;
    }
    else if (G.mode == M_HANDSHAKE && is_slot(c)) {
        /* we dropped it after the 101 */
    }
    else if (c->last_st == WSL_OPEN && why != WSL_END_LOCAL)
        G.lost++;                      /* an open connection died */
    if (G.running && (G.mode == M_CHURN || G.mode == M_HANDSHAKE) && is_slot(c))
        G.pending[G.npending++] = c;
}

static const wsl_events events = {
    ev_open, ev_message, NULL, ev_close_frame, ev_end
};

/* ---- phases ----------------------------------------------------------------------- */

/* Opens entries [from, to) of G.c with at most conc connecting at once,
 * until done or deadline.  Connections that fail are not retried. */
static int open_all(int from, int to, int conc, double max_secs)
{
    uint64_t deadline = wsl_now() + WSL_SEC(max_secs), last_check = 0;
    int next = from, opened0 = G.open;

    while (wsl_now() < deadline) {
        while (next < to && G.connecting < conc) {
            if (wsl_connect(&G.ctx, &G.c[next]) == 0)
                G.connecting++;
            else if (errno == EMFILE || errno == ENFILE || errno == EADDRNOTAVAIL) {
                fprintf(stderr, "wsload: cannot open more connections after %d: %s\n",
                        G.open, strerror(errno));
                next = to;             /* no point in going on */
                break;
            }
            next++;
        }
        if (next >= to && G.connecting == 0)
            break;
        wsl_poll(&G.ctx, 10);
        if (wsl_now() - last_check > WSL_MS(500)) {
            int i;
            uint64_t now = last_check = wsl_now();
            for (i = from; i < next; i++) {  /* a handshake stuck for 15 s */
                wsl_conn *c = &G.c[i];
                if (WSL_OPENING(c->st)
                    && now - c->t_start > WSL_SEC(15)) {
                    G.timeouts++;
                    wsl_end(c, WSL_END_LOCAL);
                }
            }
        }
    }
    return G.open - opened0;
}

/* Close handshake on every open connection, then drop the rest. */
static void close_all(double max_secs)
{
    uint64_t deadline = wsl_now() + WSL_SEC(max_secs);
    int i, left;

    G.running = 0;
    for (i = 0; i < G.n; i++) {
        if (G.c[i].st == WSL_OPEN) {
            G.c[i].deadline = deadline;
            wsl_send_close(&G.c[i], 1000);
        }
    }
    do {
        uint64_t now;
        wsl_poll(&G.ctx, 20);
        now = wsl_now();
        for (i = 0, left = 0; i < G.n; i++) {
            wsl_conn *c = &G.c[i];
            if (c->st == WSL_FREE)
                continue;
            if ((c->got_close && now > c->deadline) || now > deadline)
                wsl_end(c, WSL_END_LOCAL);
            else
                left++;
        }
    } while (left);
}

/* Runs the event loop until t, calling tick every tick_ms. */
static void run_until(uint64_t t, void (*tick)(uint64_t now))
{
    uint64_t next_tick = 0;

    for (;;) {
        uint64_t now = wsl_now();
        if (now >= t)
            break;
        if (tick && now >= next_tick) {
            tick(now);
            next_tick = now + WSL_MS(100);
        }
        wsl_poll(&G.ctx, (int)((t - now) / 1000000 > 20 ? 20 : (t - now) / 1000000 + 1));
        restart_pending();
    }
}

/* Slots stuck in a handshake, or waiting too long for a FIN. */
static void slot_tick(uint64_t now)
{
    int i;
    for (i = G.keep; i < G.n; i++) {
        wsl_conn *c = &G.c[i];
        if (c->st == WSL_FREE) {
            if (G.running)
                start_slot(c);
        }
        else if (WSL_OPENING(c->st)
                 && now - c->t_start > WSL_SEC(5)) {
            G.timeouts++;
            wsl_end(c, WSL_END_LOCAL);
        }
        else if (c->st == WSL_CLOSING && c->deadline && now > c->deadline) {
            if (c->got_close)
                G.no_fin++;            /* counted in ev_end as a full cycle */
            else
                G.timeouts++;
            wsl_end(c, WSL_END_LOCAL);
        }
    }
}

static void hold_tick(uint64_t now)
{
    int i;
    for (i = 0; i < G.n; i++) {
        wsl_conn *c = &G.c[i];
        if (c->st == WSL_OPEN && c->next_ping && now >= c->next_ping) {
            uint64_t stamp = now;
            wsl_queue(c, WSP_OP_PING, &stamp, sizeof(stamp));
            c->pings++;
            c->next_ping += WSL_SEC(G.ping_secs);
            wsl_flush(c);
        }
    }
}

/* Lets the slots' last handshakes and closes finish (until t at most). */
static void finish_slots(uint64_t t)
{
    int i, busy = 1;

    while (busy && wsl_now() < t) {
        wsl_poll(&G.ctx, 10);
        slot_tick(wsl_now());
        for (i = G.keep, busy = 0; i < G.n && !busy; i++)
            busy = G.c[i].st != WSL_FREE;
    }
}

/* ---- modes ------------------------------------------------------------------- */

static void print_latency(void)
{
    printf(" p50_us=%.1f p99_us=%.1f",
           wsl_hist_quantile(&G.hist, 0.50) / 1000.0,
           wsl_hist_quantile(&G.hist, 0.99) / 1000.0);
}

static uint64_t errors(void)
{
    return G.bad_echo + G.lost + G.timeouts + G.failed_open
           + G.ctx.connect_fail + G.ctx.ends[WSL_END_PROTO];
}

static void report_errors(void)
{
    printf(" errors=%llu", (unsigned long long)errors());
    if (errors() && G.ctx.last_error)
        fprintf(stderr, "wsload: last error: %s (errno %d: %s)\n", G.ctx.last_error,
                G.ctx.last_errno, strerror(G.ctx.last_errno));
}

static int mode_echo(void)
{
    int i, opened = open_all(0, G.n, 256, 60);
    uint64_t t0;
    double secs;

    if (opened < G.n) {
        fprintf(stderr, "wsload: only %d of %d connections opened\n", opened, G.n);
        return 2;
    }
    for (i = 0; i < G.n; i++) {
        G.c[i].ts_cap = (unsigned)G.depth;
        G.c[i].ts = calloc((size_t)G.depth, sizeof(uint64_t));
        G.c[i].ts_msg = calloc((size_t)G.depth, sizeof(uint32_t));
        G.c[i].next_msg = (uint32_t)(i * 37) % G.npool;
    }
    t0 = wsl_now();
    G.win_start = t0 + WSL_SEC(G.warmup);
    G.win_end = G.win_start + WSL_SEC(G.secs);
    G.running = 1;
    for (i = 0; i < G.n; i++) {
        int d;
        for (d = 0; d < G.depth; d++)
            send_message(&G.c[i]);
        wsl_flush(&G.c[i]);
    }
    run_until(G.win_end, NULL);
    secs = G.secs;
    close_all(5);
    printf("RESULT mode=echo tls=%d conns=%d depth=%d size=%d type=%s secs=%.2f msgs=%llu"
           " msg_s=%.0f mb_s=%.2f", G.tls, G.n, G.depth, G.size, G.binary ? "binary" : "text",
           secs, (unsigned long long)G.count, G.count / secs,
           G.count * (double)G.size / secs / 1e6);
    print_latency();
    if (G.deflate)
        wsl_pmd_report(&G.ctx);
    report_errors();
    printf("\n");
    return errors() ? 1 : 0;
}

/* handshake and churn: optional kept connections, then restarting slots. */
static int mode_slots(void)
{
    int i;
    uint64_t t0;
    const char *name = G.mode == M_CHURN ? "churn" : "handshake";

    if (G.keep && open_all(0, G.keep, 256, 120) < G.keep) {
        fprintf(stderr, "wsload: only %d of %d kept connections opened\n", G.open, G.keep);
        return 2;
    }
    t0 = wsl_now();
    G.win_start = t0 + WSL_SEC(G.warmup);
    G.win_end = G.win_start + WSL_SEC(G.secs);
    G.running = 1;
    for (i = G.keep; i < G.n; i++)
        start_slot(&G.c[i]);
    run_until(G.win_end, slot_tick);
    G.running = 0;
    finish_slots(wsl_now() + WSL_SEC(2));
    close_all(10);
    printf("RESULT mode=%s tls=%d keep=%d slots=%d secs=%.2f count=%llu rate=%.0f no_fin=%llu",
           name, G.tls, G.keep, G.slots, G.secs, (unsigned long long)G.count,
           G.count / G.secs, (unsigned long long)G.no_fin);
    print_latency();
    report_errors();
    printf("\n");
    return errors() ? 1 : 0;
}

static int mode_hold(void)
{
    uint64_t t0 = wsl_now(), hold_start, deadline;
    double connect_secs;
    int i, opened, still_open = 0;
    unsigned long long pings = 0, pongs = 0;

    opened = open_all(0, G.n, 256, 240);
    if (G.deflate || G.json) {         /* one message each first */
        for (i = 0; i < G.n; i++) {
            wsl_conn *c = &G.c[i];
            if (c->st == WSL_OPEN) {
                c->next_msg = 1;
                wsl_queue(c, G.binary ? WSP_OP_BINARY : WSP_OP_TEXT,
                          pool_msg((uint32_t)i % G.npool), (size_t)G.size);
                wsl_flush(c);
            }
        }
        deadline = wsl_now() + WSL_SEC(60);
        while (G.primed < (uint64_t)opened && wsl_now() < deadline)
            wsl_poll(&G.ctx, 20);
    }
    hold_start = wsl_now();
    connect_secs = (hold_start - t0) / 1e9;
    if (G.ready_file) {
        FILE *f = fopen(G.ready_file, "w");
        if (f) {
            fprintf(f, "opened=%d primed=%llu\n", opened, (unsigned long long)G.primed);
            fclose(f);
        }
    }
    fprintf(stderr, "wsload: hold: %d of %d open after %.1f s\n", opened, G.n, connect_secs);
    for (i = 0; i < G.n; i++)
        if (G.c[i].st == WSL_OPEN)
            G.c[i].next_ping = hold_start + wsl_rand(&G.ctx) % WSL_SEC(G.ping_secs);
    G.running = 1;
    run_until(hold_start + WSL_SEC(G.hold_secs), hold_tick);
    /* Every connection still open echoes once. */
    for (i = 0; i < G.n; i++) {
        wsl_conn *c = &G.c[i];
        if (c->st == WSL_OPEN) {
            still_open++;
            wsl_queue(c, WSP_OP_TEXT, "hold-check", 10);
            wsl_flush(c);
        }
    }
    deadline = wsl_now() + WSL_SEC(30);
    while (G.echoed < (uint64_t)still_open && wsl_now() < deadline)
        wsl_poll(&G.ctx, 20);
    for (i = 0; i < G.n; i++) {
        pings += G.c[i].pings;
        pongs += G.c[i].pongs;
    }
    close_all(30);
    printf("RESULT mode=hold tls=%d target=%d opened=%d still_open=%d echoed=%llu pings=%llu"
           " pongs=%llu lost=%llu connect_s=%.1f connect_fail=%llu",
           G.tls, G.n, opened, still_open, (unsigned long long)G.echoed, pings, pongs,
           (unsigned long long)G.lost, connect_secs,
           (unsigned long long)G.ctx.connect_fail);
    if (G.deflate || G.json)
        printf(" primed=%llu", (unsigned long long)G.primed);
    if (G.deflate)
        wsl_pmd_report(&G.ctx);
    report_errors();
    printf("\n");
    return opened < G.n ? 2 : (G.echoed < (uint64_t)G.n || errors()) ? 1 : 0;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
        "usage: wsload echo|handshake|churn|hold -p PORT [options]\n"
        "       wsload fanout -p PORT -c SUBS [options]  (wsload fanout -h: its options)\n"
        "  -H ADDR   server address (127.0.0.1)      -P PATH  URL path (/echo)\n"
        "  -c N      connections (echo 1, hold 1000) -d N     messages in flight each (1)\n"
        "  -s BYTES  message size (32)               -b       binary (default text)\n"
        "  -t SECS   measured time (5)               -w SECS  warm-up before it (1)\n"
        "  -k N      handshake: idle connections kept open (0)\n"
        "  -C N      handshake/churn: parallel clients (32)\n"
        "  -S A[-B]  source addresses, e.g. 127.0.0.2-127.0.0.9\n"
        "  -i SECS   hold: ping interval (30)        -h SECS  hold: time (60)\n"
        "  -r FILE   hold: written once the connections are open\n"
        "  -T, --tls wss:// (TLS, no certificate verification)\n"
        "  --deflate offer permessage-deflate       --deflate-level N  client zlib level (1)\n"
        "  --deflate-no-context  never keep our compressor's context (always so in hold)\n"
        "  --json    text messages from a pool of varying JSON-like texts of -s bytes\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt, rc;

    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "fanout"))
        return wsl_fanout_main(argc, argv);
    if (!strcmp(argv[1], "echo")) G.mode = M_ECHO;
    else if (!strcmp(argv[1], "handshake")) G.mode = M_HANDSHAKE;
    else if (!strcmp(argv[1], "churn")) G.mode = M_CHURN;
    else if (!strcmp(argv[1], "hold")) G.mode = M_HOLD;
    else usage();
    G.host = "127.0.0.1"; G.path = "/echo";
    G.conns = G.mode == M_HOLD ? 1000 : 1;
    G.depth = 1; G.size = 32; G.secs = 5; G.warmup = 1; G.slots = 32;
    G.ping_secs = 30; G.hold_secs = 60; G.level = 1;
    optind = 2;
    static const struct option longopts[] = {
        { "tls", no_argument, NULL, 'T' },
        { "deflate", no_argument, NULL, 'z' },
        { "deflate-level", required_argument, NULL, 'Z' },
        { "json", no_argument, NULL, 'j' },
        { "deflate-no-context", no_argument, NULL, 'N' },
        { NULL, 0, NULL, 0 }
    };
    while ((opt = getopt_long(argc, argv, "H:p:P:c:d:s:bt:w:k:C:S:i:h:r:T", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': G.host = optarg; break;
        case 'p': G.port = atoi(optarg); break;
        case 'P': G.path = optarg; break;
        case 'c': G.conns = atoi(optarg); break;
        case 'd': G.depth = atoi(optarg); break;
        case 's': G.size = atoi(optarg); break;
        case 'b': G.binary = 1; break;
        case 't': G.secs = atof(optarg); break;
        case 'w': G.warmup = atof(optarg); break;
        case 'k': G.keep = atoi(optarg); break;
        case 'C': G.slots = atoi(optarg); break;
        case 'S': G.src = optarg; break;
        case 'i': G.ping_secs = atof(optarg); break;
        case 'h': G.hold_secs = atof(optarg); break;
        case 'r': G.ready_file = optarg; break;
        case 'T': G.tls = 1; break;
        case 'z': G.deflate = 1; break;
        case 'Z': G.level = atoi(optarg); break;
        case 'j': G.json = 1; break;
        case 'N': G.nocontext = 1; break;
        default: usage();
        }
    }
    if (G.port <= 0 || G.conns < 1 || G.depth < 1 || G.size < 0 || G.secs <= 0
        || G.slots < 1 || G.keep < 0 || G.ping_secs <= 0 || G.level < 0 || G.level > 9
        || (G.json && G.binary))
        usage();
    if (wsl_ctx_init(&G.ctx, G.host, G.port, G.path, G.src, &events) != 0)
        return 2;
    if (G.tls && wsl_ctx_tls(&G.ctx, G.mode == M_HOLD) != 0)
        return 2;
    G.ctx.pmd_offer = G.deflate;
    G.ctx.pmd_level = G.level;
    G.ctx.pmd_client_context = G.mode != M_HOLD && !G.nocontext;  /* see wsl_deflate.c */
    if (G.mode == M_HANDSHAKE || G.mode == M_CHURN) {
        if (G.mode == M_CHURN)
            G.keep = 0;
        G.n = G.keep + G.slots;
    }
    else {
        G.keep = G.n = G.conns;        /* no slots */
    }
    G.c = calloc((size_t)G.n, sizeof(*G.c));
    G.pending = calloc((size_t)G.n, sizeof(*G.pending));
    G.npool = 1;
    G.payload = G.json ? wsl_json_pool(&G.npool, (size_t)G.size) : malloc((size_t)G.size + 1);
    if (!G.c || !G.pending || !G.payload)
        return 2;
    for (opt = 0; !G.json && opt < G.size; opt++)
        G.payload[opt] = G.binary ? (uint8_t)wsl_rand(&G.ctx) : (uint8_t)('a' + opt % 26);
    for (opt = 0; opt < G.n; opt++) {
        G.c[opt].idx = opt;
        G.c[opt].fd = -1;
    }
    switch (G.mode) {
    case M_ECHO: rc = mode_echo(); break;
    case M_HOLD: rc = mode_hold(); break;
    default:     rc = mode_slots(); break;
    }
    fflush(stdout);
    wsl_ctx_free(&G.ctx);
    return rc;
}
