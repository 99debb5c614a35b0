/*
 * wsl_fanout.c - wsload's fanout mode: subscribers of one topic, and a
 * publisher that keeps a bounded number of messages in flight.
 *
 *   wsload fanout -p PORT -c SUBS [-s SIZE] [-t SECS] [-w SECS] [-S SRC]
 *                 [-P PATH] [--topic T] [--window W] [--batch B]
 *                 [--lat-secs S] [--lat-max N] [--settle S]
 *                 [--procs K --index I --shm FILE] [--cpu-pids PID,...]
 *
 * The server speaks bench/fanout_handler.c's protocol (mod_websocket) or
 * bench/peers/uws_pubsub.js's (uWebSockets), the same: "sub <topic>" is
 * answered "sub 0"; "pubbench <topic> <n> <size> <seq>" publishes n binary
 * messages numbered seq.. each stamped with the server's CLOCK_MONOTONIC
 * time of its publish call.
 *
 * Several wsload processes can share one run (a process may have at most
 * 20,000 open files here): K processes with --index 0..K-1 map the same
 * --shm FILE.  Each opens SUBS subscribers; process 0 also opens the
 * publisher (a connection of its own, subscribed to nothing) and runs the
 * show.  Per process, a message is "done" once every local subscriber has
 * received it or a later one (delivery is in order per publisher); each
 * process publishes in the shared file how far it is done and when each
 * message became done (its last local subscriber's arrival).  Process 0
 * keeps at most W messages published and not done everywhere (the window,
 * sent as pubbench batches of B), so the server's queues stay bounded and
 * nothing is dropped for a slow subscriber.
 *
 * Phases: everyone subscribed (and --settle seconds, so that Redis
 * subscriptions are in place), warm-up, SECS measured (deliveries counted
 * by every process: messages its subscribers received in the window),
 * drain, then the latency phase: one message at a time (the next published
 * once the previous reached every subscriber), for --lat-secs or --lat-max
 * messages.  Latency of a message = the latest of the processes' "done"
 * times - its publish stamp: publish -> last subscriber.  Reported for the
 * measured window too (loaded: W in flight, so mostly queueing).
 *
 * CPU: every process reports its own CPU time over the window (cli_cpu, %
 * of one CPU); process 0 also that of the --cpu-pids (the server's
 * processes, from /proc/PID/stat): srv_cpu.
 *
 * RESULT of each process: mode=fanout index procs subs size secs delivered
 * del_s missed lost errors cli_cpu; process 0 adds published pub_s
 * load_p50_us load_p99_us lat_n lat_p50_us lat_p99_us lat_max_us srv_cpu.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "wsload.h"

#define FAN_MAXP 16
#define FAN_RING 4096               /* > window */
#define FAN_MAGIC 0x66616e6f75743031ull

typedef struct fan_shm {
    uint64_t magic;
    uint32_t procs, ready, phase, failed;
    uint64_t win_start, win_end;
    struct { uint64_t done; uint64_t pad[7]; } p[FAN_MAXP];  /* a cache line each */
    uint64_t arrival[FAN_MAXP][FAN_RING];
} fan_shm;

enum { PH_SETUP = 0, PH_RUN, PH_LAT, PH_DONE };

static struct {
    /* options */
    const char *host, *path, *src, *topic, *shm_file, *cpu_pids;
    int port, subs, size, window, batch, procs, index, lat_max;
    double secs, warmup, lat_secs, settle;
    /* state */
    wsl_ctx ctx;
    wsl_conn *c;                 /* subs, then (index 0) the publisher */
    int n, connecting, open, subscribed, live;
    fan_shm *sh;
    uint64_t win_start, win_end;
    uint32_t cnt[FAN_RING];      /* subscribers whose last message is seq (mod ring) */
    uint64_t lo, maxseen;        /* every live subscriber has last >= lo */
    uint64_t stamp[FAN_RING], stamp_seq[FAN_RING];  /* index 0: publish stamps */
    /* counters */
    uint64_t delivered, missed, lost, bad, timeouts, failed_open, reorder;
    int phase;
} F;

static int is_pub(const wsl_conn *c) { return c->idx == F.subs; }

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
           + ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the --cpu-pids (utime + stime of each, threads included). */
static double cpu_pids(void)
{
    char list[4096], *tok, *save = NULL;
    double sum = 0;
    long hz = sysconf(_SC_CLK_TCK);

    if (!F.cpu_pids)
        return 0;
    snprintf(list, sizeof(list), "%s", F.cpu_pids);
    for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char path[64], buf[2048], *p;
        unsigned long long ut, st;
        FILE *f;
        snprintf(path, sizeof(path), "/proc/%s/stat", tok);
        if (!(f = fopen(path, "r")))
            continue;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))
            && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            sum += (double)(ut + st) / (double)hz;
        fclose(f);
    }
    return sum;
}

/* ---- progress ------------------------------------------------------------------ */

/* The slowest local subscriber moved: messages (lo, new lo] are done here. */
static void advance(uint64_t now)
{
    uint64_t lo = F.lo;

    while (lo < F.maxseen && F.cnt[lo % FAN_RING] == 0) {
        lo++;
        F.sh->arrival[F.index][lo % FAN_RING] = now;
    }
    if (F.live == 0)                       /* nobody left: nothing holds it back */
        while (lo < F.maxseen)
            F.sh->arrival[F.index][++lo % FAN_RING] = now;
    if (lo != F.lo) {
        F.lo = lo;
        __atomic_store_n(&F.sh->p[F.index].done, lo, __ATOMIC_RELEASE);
    }
}

static void drop_sub(wsl_conn *c)
{
    if (c->echoed) {                       /* counted in cnt */
        F.cnt[c->last_seq % FAN_RING]--;
        F.live--;
        c->echoed = 0;
        advance(wsl_now());
    }
}

/* ---- events ----------------------------------------------------------------------- */

static void ev_open(wsl_conn *c)
{
    F.connecting--;
    F.open++;
    if (!is_pub(c)) {
        char cmd[1100];
        int n = snprintf(cmd, sizeof(cmd), "sub %s", F.topic);
        wsl_queue(c, WSP_OP_TEXT, cmd, (size_t)n);
        wsl_flush(c);
    }
}

static void ev_message(wsl_conn *c, int opcode, const uint8_t *data, size_t len)
{
    uint64_t seq, now;

    if (opcode == WSP_OP_TEXT) {
        if (!is_pub(c) && !c->echoed && len == 5 && !memcmp(data, "sub 0", 5)) {
            c->echoed = 1;                 /* subscribed: joins the count */
            c->last_seq = F.lo;
            F.cnt[F.lo % FAN_RING]++;
            F.live++;
            F.subscribed++;
        }
        else {
            F.bad++;
            fprintf(stderr, "wsload: fanout: unexpected \"%.*s\"\n", (int)(len > 80 ? 80 : len),
                    (const char *)data);
        }
        return;
    }
    if (opcode != WSP_OP_BINARY || len != (size_t)F.size || is_pub(c) || !c->echoed) {
        F.bad++;
        return;
    }
    seq = get_u64(data);
    now = wsl_now();
    if (seq <= c->last_seq || seq > c->last_seq + FAN_RING / 2) {
        F.reorder++;
        return;
    }
    F.missed += seq - c->last_seq - 1;
    F.cnt[c->last_seq % FAN_RING]--;
    F.cnt[seq % FAN_RING]++;
    c->last_seq = seq;
    if (seq > F.maxseen)
        F.maxseen = seq;
    if (F.index == 0 && F.stamp_seq[seq % FAN_RING] != seq) {
        F.stamp_seq[seq % FAN_RING] = seq;
        F.stamp[seq % FAN_RING] = get_u64(data + 8);
    }
    if (now >= F.win_start && now < F.win_end)
        F.delivered++;
    if (F.cnt[F.lo % FAN_RING] == 0)
        advance(now);
}

static void ev_end(wsl_conn *c, int why)
{
    if (WSL_OPENING(c->last_st)) {
        F.connecting--;
        if (why != WSL_END_LOCAL)
            F.failed_open++;
        return;
    }
    F.open--;
    if (c->last_st == WSL_OPEN && why != WSL_END_LOCAL && F.phase != PH_DONE)
        F.lost++;
    if (!is_pub(c))
        drop_sub(c);
}

static const wsl_events events = { ev_open, ev_message, NULL, NULL, ev_end };

/* ---- phases ------------------------------------------------------------------------ */

static int open_all(double max_secs)
{
    uint64_t deadline = wsl_now() + WSL_SEC(max_secs);
    int next = 0;

    while (wsl_now() < deadline) {
        while (next < F.n && F.connecting < 256) {
            if (wsl_connect(&F.ctx, &F.c[next]) == 0)
                F.connecting++;
            else if (errno == EMFILE || errno == ENFILE || errno == EADDRNOTAVAIL) {
                fprintf(stderr, "wsload: fanout: cannot open more connections after %d: %s\n",
                        F.open, strerror(errno));
                return F.open;
            }
            next++;
        }
        if (next >= F.n && F.connecting == 0 && F.subscribed >= F.open - (F.index == 0))
            break;
        wsl_poll(&F.ctx, 10);
    }
    return F.open;
}

static uint64_t global_done(void)
{
    uint64_t m = UINT64_MAX;
    uint32_t p;
    for (p = 0; p < F.sh->procs; p++) {
        uint64_t d = __atomic_load_n(&F.sh->p[p].done, __ATOMIC_ACQUIRE);
        if (d < m)
            m = d;
    }
    return m;
}

static void publish(wsl_conn *pub, uint64_t first, int n)
{
    char cmd[1200];
    int len = snprintf(cmd, sizeof(cmd), "pubbench %s %d %d %llu", F.topic, n, F.size,
                       (unsigned long long)first);
    wsl_queue(pub, WSP_OP_TEXT, cmd, (size_t)len);
    wsl_flush(pub);
}

/* Process 0: publish with the window, then one at a time; latencies. */
static int run_publisher(wsl_hist *load, wsl_hist *idle, uint64_t *published_win,
                         uint64_t *lat_n, double *srv_cpu, double *cli_cpu)
{
    wsl_conn *pub = &F.c[F.subs];
    uint64_t published = 0, seen = 0, gdone, now, last_progress, lat_first = 0, lat_end = 0;
    uint64_t lat_hi = 0;
    double c0 = 0, s0 = 0;
    int in_win = 0, stalled = 0;

    now = wsl_now();
    F.win_start = now + WSL_SEC(F.warmup);
    F.win_end = F.win_start + WSL_SEC(F.secs);
    F.sh->win_start = F.win_start;
    F.sh->win_end = F.win_end;
    __atomic_store_n(&F.sh->phase, PH_RUN, __ATOMIC_RELEASE);
    F.phase = PH_RUN;
    last_progress = now;
    for (;;) {
        if (pub->st != WSL_OPEN)
            break;
        wsl_poll(&F.ctx, published > seen ? 1 : 0);
        now = wsl_now();
        gdone = global_done();
        if (gdone > published)
            gdone = published;         /* a process with no live subscriber */
        if (gdone > seen)
            last_progress = now;
        for (; seen < gdone; seen++) {   /* latency of each message done everywhere */
            uint64_t s = seen + 1, last = 0, st;
            uint32_t p;
            if (F.stamp_seq[s % FAN_RING] != s)
                continue;              /* none of our subscribers saw it */
            st = F.stamp[s % FAN_RING];
            for (p = 0; p < F.sh->procs; p++)
                if (F.sh->arrival[p][s % FAN_RING] > last)
                    last = F.sh->arrival[p][s % FAN_RING];
            if (last < st)
                continue;
            if (lat_first && s >= lat_first) {
                wsl_hist_add(idle, last - st);
                (*lat_n)++;
            }
            else if (st >= F.win_start && st < F.win_end) {
                wsl_hist_add(load, last - st);
                (*published_win)++;
            }
        }
        if (!in_win && now >= F.win_start) {
            in_win = 1;
            c0 = cpu_self();
            s0 = cpu_pids();
        }
        if (in_win == 1 && now >= F.win_end) {
            in_win = 2;
            *cli_cpu = (cpu_self() - c0) / F.secs * 100;
            *srv_cpu = (cpu_pids() - s0) / F.secs * 100;
        }
        /* A stall: nothing done everywhere for 30 s.  (5 s was too short:
         * on a busy machine the first window of 8 to 50,000 subscribers
         * took longer while deliveries flowed, missed=0.) */
        if (published > seen && now - last_progress > WSL_SEC(30)) {
            fprintf(stderr, "wsload: fanout: no progress for 30 s at %llu of %llu published\n",
                    (unsigned long long)seen, (unsigned long long)published);
            stalled = 1;
            break;
        }
        if (now < F.win_end) {         /* warm-up and window: keep W in flight */
            while (published - gdone <= (uint64_t)(F.window - F.batch)) {
                publish(pub, published + 1, F.batch);
                published += F.batch;
            }
        }
        else if (!lat_first) {         /* drain, then one at a time */
            if (seen < published)
                continue;
            lat_first = published + 1;
            lat_end = now + WSL_SEC(F.lat_secs);
            F.phase = PH_LAT;
            __atomic_store_n(&F.sh->phase, PH_LAT, __ATOMIC_RELEASE);
        }
        else if (seen == published) {
            if ((*lat_n >= (uint64_t)F.lat_max || now >= lat_end) && published >= lat_hi)
                break;
            publish(pub, published + 1, 1);
            published++;
            lat_hi = published;
        }
    }
    return stalled || pub->st != WSL_OPEN ? -1 : 0;
}

static void close_all(double max_secs)
{
    uint64_t deadline = wsl_now() + WSL_SEC(max_secs);
    int i, left;

    for (i = 0; i < F.n; i++)
        if (F.c[i].st == WSL_OPEN)
            wsl_send_close(&F.c[i], 1000);
    do {
        wsl_poll(&F.ctx, 20);
        for (i = 0, left = 0; i < F.n; i++) {
            wsl_conn *c = &F.c[i];
            if (c->st == WSL_FREE)
                continue;
            if (c->got_close || wsl_now() > deadline)
                wsl_end(c, WSL_END_LOCAL);
            else
                left++;
        }
    } while (left);
}

static void usage(void)
{
    fprintf(stderr,
        "usage: wsload fanout -p PORT -c SUBS [-s SIZE(32)] [-t SECS(3)] [-w SECS(0.5)]\n"
        "         [-H ADDR] [-P PATH(/fanout)] [-S A[-B]] [--topic T(bench)]\n"
        "         [--window W] [--batch B] [--lat-secs S(2)] [--lat-max N(500)] [--settle S(0.3)]\n"
        "         [--procs K --index I --shm FILE] [--cpu-pids PID,...]\n"
        "  window: messages in flight (default 320000 / all subscribers, 8..1024);\n"
        "  batch: per pubbench (default window / 2); subscribers: -c per process\n");
    exit(2);
}

static fan_shm *map_shm(void)
{
    fan_shm *sh;
    int fd = -1;

    if (F.shm_file) {
        fd = open(F.shm_file, O_RDWR | O_CREAT, 0600);
        if (fd < 0 || ftruncate(fd, sizeof(fan_shm)) != 0) {
            perror("wsload: fanout: shm");
            return NULL;
        }
    }
    sh = mmap(NULL, sizeof(fan_shm), PROT_READ | PROT_WRITE,
              fd >= 0 ? MAP_SHARED : MAP_SHARED | MAP_ANONYMOUS, fd, 0);
    if (fd >= 0)
        close(fd);
    if (sh == MAP_FAILED) {
        perror("wsload: fanout: mmap");
        return NULL;
    }
    if (F.index == 0) {                /* the file is fresh (bench/run), or we reset it */
        if (sh->magic == FAN_MAGIC && sh->ready)
            fprintf(stderr, "wsload: fanout: note: %s was in use; reset\n", F.shm_file);
        __atomic_store_n(&sh->procs, (uint32_t)F.procs, __ATOMIC_RELAXED);
        __atomic_store_n(&sh->magic, FAN_MAGIC, __ATOMIC_RELEASE);
    }
    return sh;
}

int wsl_fanout_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "topic", required_argument, NULL, 1 }, { "window", required_argument, NULL, 2 },
        { "batch", required_argument, NULL, 3 }, { "lat-secs", required_argument, NULL, 4 },
        { "lat-max", required_argument, NULL, 5 }, { "settle", required_argument, NULL, 6 },
        { "procs", required_argument, NULL, 7 }, { "index", required_argument, NULL, 8 },
        { "shm", required_argument, NULL, 9 }, { "cpu-pids", required_argument, NULL, 10 },
        { NULL, 0, NULL, 0 }
    };
    wsl_hist *load = calloc(1, sizeof(wsl_hist)), *idle = calloc(1, sizeof(wsl_hist));
    uint64_t published_win = 0, lat_n = 0, deadline;
    double srv_cpu = 0, cli_cpu = -1, c0 = 0;
    int opt, i, rc = 0, opened, in_win = 0;

    F.host = "127.0.0.1"; F.path = "/fanout"; F.topic = "bench";
    F.subs = 1000; F.size = 32; F.secs = 3; F.warmup = 0.5; F.lat_secs = 2; F.lat_max = 500;
    F.settle = 0.3; F.procs = 1;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "H:p:P:c:s:t:w:S:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': F.host = optarg; break;
        case 'p': F.port = atoi(optarg); break;
        case 'P': F.path = optarg; break;
        case 'c': F.subs = atoi(optarg); break;
        case 's': F.size = atoi(optarg); break;
        case 't': F.secs = atof(optarg); break;
        case 'w': F.warmup = atof(optarg); break;
        case 'S': F.src = optarg; break;
        case 1: F.topic = optarg; break;
        case 2: F.window = atoi(optarg); break;
        case 3: F.batch = atoi(optarg); break;
        case 4: F.lat_secs = atof(optarg); break;
        case 5: F.lat_max = atoi(optarg); break;
        case 6: F.settle = atof(optarg); break;
        case 7: F.procs = atoi(optarg); break;
        case 8: F.index = atoi(optarg); break;
        case 9: F.shm_file = optarg; break;
        case 10: F.cpu_pids = optarg; break;
        default: usage();
        }
    }
    if (!F.window) {
        long all = (long)F.subs * F.procs;
        F.window = (int)(320000 / (all ? all : 1));
        F.window = F.window < 8 ? 8 : F.window > 1024 ? 1024 : F.window;
    }
    if (!F.batch)
        F.batch = F.window / 2 ? F.window / 2 : 1;
    if (F.port <= 0 || F.subs < 1 || F.size < 16 || F.size > 65536 || F.secs <= 0
        || F.window < 1 || F.window > FAN_RING / 4 || F.batch < 1 || F.batch > F.window
        || F.procs < 1 || F.procs > FAN_MAXP || F.index < 0 || F.index >= F.procs
        || (F.procs > 1 && !F.shm_file) || !load || !idle)
        usage();
    if (!(F.sh = map_shm()))
        return 2;
    if (wsl_ctx_init(&F.ctx, F.host, F.port, F.path, F.src, &events) != 0)
        return 2;
    F.n = F.subs + (F.index == 0);
    F.c = calloc((size_t)F.n, sizeof(*F.c));
    if (!F.c)
        return 2;
    for (i = 0; i < F.n; i++) {
        F.c[i].idx = i;
        F.c[i].fd = -1;
    }
    F.win_start = F.win_end = UINT64_MAX;
    opened = open_all(120);
    if (opened < F.n || F.subscribed < F.subs) {
        fprintf(stderr, "wsload: fanout: %d of %d open, %d of %d subscribed\n",
                opened, F.n, F.subscribed, F.subs);
        __atomic_store_n(&F.sh->failed, 1, __ATOMIC_RELEASE);
        rc = 2;
    }
    __atomic_add_fetch(&F.sh->ready, 1, __ATOMIC_ACQ_REL);
    fprintf(stderr, "wsload: fanout %d/%d: %d subscribed\n", F.index, F.procs, F.subscribed);
    /* Everyone subscribed (or gave up), then the settle time. */
    deadline = wsl_now() + WSL_SEC(180);
    while (__atomic_load_n(&F.sh->ready, __ATOMIC_ACQUIRE) < (uint32_t)F.procs && wsl_now() < deadline)
        wsl_poll(&F.ctx, 10);
    if (__atomic_load_n(&F.sh->failed, __ATOMIC_ACQUIRE) || wsl_now() >= deadline)
        rc = 2;
    if (rc == 0 && F.index == 0) {
        deadline = wsl_now() + WSL_SEC(F.settle);
        while (wsl_now() < deadline)
            wsl_poll(&F.ctx, 10);
        if (run_publisher(load, idle, &published_win, &lat_n, &srv_cpu, &cli_cpu) != 0)
            rc = 1;
        F.phase = PH_DONE;
        __atomic_store_n(&F.sh->phase, PH_DONE, __ATOMIC_RELEASE);
    }
    else if (rc == 0) {               /* the others: receive until process 0 says done */
        deadline = wsl_now() + WSL_SEC(F.warmup + F.secs + F.lat_secs + 300);
        while (wsl_now() < deadline) {
            uint64_t now;
            uint32_t ph = __atomic_load_n(&F.sh->phase, __ATOMIC_ACQUIRE);
            if (ph == PH_DONE)
                break;
            if (ph >= PH_RUN && F.win_start == UINT64_MAX) {
                F.win_start = F.sh->win_start;
                F.win_end = F.sh->win_end;
            }
            wsl_poll(&F.ctx, 1);
            now = wsl_now();
            if (!in_win && now >= F.win_start) {
                in_win = 1;
                c0 = cpu_self();
            }
            if (in_win == 1 && now >= F.win_end) {
                in_win = 2;
                cli_cpu = (cpu_self() - c0) / F.secs * 100;
            }
        }
        F.phase = PH_DONE;
        if (wsl_now() >= deadline)
            rc = 1;
    }
    else {
        F.phase = PH_DONE;
        __atomic_store_n(&F.sh->phase, PH_DONE, __ATOMIC_RELEASE);
    }
    printf("RESULT mode=fanout index=%d procs=%d subs=%d size=%d window=%d batch=%d secs=%.2f"
           " delivered=%llu del_s=%.0f missed=%llu lost=%llu cli_cpu=%.1f",
           F.index, F.procs, F.subscribed, F.size, F.window, F.batch, F.secs,
           (unsigned long long)F.delivered, F.delivered / F.secs, (unsigned long long)F.missed,
           (unsigned long long)F.lost, cli_cpu);
    if (F.index == 0)
        printf(" published=%llu pub_s=%.0f load_p50_us=%.1f load_p99_us=%.1f lat_n=%llu"
               " lat_p50_us=%.1f lat_p99_us=%.1f lat_max_us=%.1f srv_cpu=%.1f",
               (unsigned long long)published_win, published_win / F.secs,
               wsl_hist_quantile(load, 0.5) / 1e3, wsl_hist_quantile(load, 0.99) / 1e3,
               (unsigned long long)lat_n, wsl_hist_quantile(idle, 0.5) / 1e3,
               wsl_hist_quantile(idle, 0.99) / 1e3, wsl_hist_quantile(idle, 1.0) / 1e3, srv_cpu);
    {
        uint64_t errs = F.missed + F.lost + F.bad + F.reorder + F.timeouts + F.failed_open
                        + F.ctx.connect_fail + F.ctx.ends[WSL_END_PROTO] + (rc != 0);
        printf(" errors=%llu\n", (unsigned long long)errs);
        if (errs && !rc)
            rc = 1;
        if (errs && F.ctx.last_error)
            fprintf(stderr, "wsload: fanout: last error: %s (errno %d: %s)\n", F.ctx.last_error,
                    F.ctx.last_errno, strerror(F.ctx.last_errno));
    }
    fflush(stdout);
    close_all(5);
    wsl_ctx_free(&F.ctx);
    return rc;
}
