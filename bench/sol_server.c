/*
 * sol_server.c - the "speed of light" reference for bench/run: the least a
 * WebSocket echo server on one thread can do for the same wire protocol.
 *
 *   sol_server PORT [ADDR]
 *
 * One epoll set (level-triggered), non-blocking sockets, no threads.  The
 * opening handshake is the minimum RFC 6455 needs (GET head, a valid
 * Sec-WebSocket-Key, the accept key from the core's wsp_accept_key); frames
 * go through the same protocol core as mod_websocket (wsp_reader with
 * masking required, UTF-8 checked; wsp_frame_header_write).
 *
 * Coalescing: one read() per readiness event, every complete frame in it is
 * handled, and all answers leave in one write().  Unwritten output waits for
 * EPOLLOUT; with more than OUT_HIGH bytes pending the connection is not read
 * (backpressure).  A close frame is echoed, then the write side is shut and
 * the socket read to EOF before it is closed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "wsp_frame.h"
#include "wsp_handshake.h"

#define RBUF_SIZE  (256 * 1024)
#define HS_MAX     8192
#define OUT_HIGH   (4u << 20)
#define MAX_MSG    (16u << 20)

enum { S_HANDSHAKE, S_OPEN, S_CLOSED };   /* S_CLOSED: our close is queued */

typedef struct sconn {
    int        fd;
    int        state;
    char      *hs;                 /* request head while handshaking */
    size_t     hs_len;
    wsp_reader rd;
    uint8_t   *out;
    size_t     out_off, out_len, out_cap;
    uint32_t   events;             /* what epoll watches */
    int        shut;               /* write side shut down */
} sconn;

static int ep;
static uint8_t rbuf[RBUF_SIZE];

/* ---- output ----------------------------------------------------------------- */

static int out_reserve(sconn *s, size_t more)
{
    size_t cap;
    uint8_t *nb;

    if (s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    if (s->out_len + more <= s->out_cap)
        return 0;
    if (s->out_off) {
        memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
        s->out_len -= s->out_off;
        s->out_off = 0;
        if (s->out_len + more <= s->out_cap)
            return 0;
    }
    cap = s->out_cap ? s->out_cap : 512;
    while (cap < s->out_len + more)
        cap *= 2;
    if (!(nb = realloc(s->out, cap)))
        return -1;
    s->out = nb;
    s->out_cap = cap;
    return 0;
}

static void out_append(sconn *s, const void *p, size_t len)
{
    if (out_reserve(s, len) == 0) {
        memcpy(s->out + s->out_len, p, len);
        s->out_len += len;
    }
}

static void out_frame(sconn *s, int opcode, const uint8_t *data, size_t len)
{
    size_t hl;

    if (s->state == S_CLOSED || out_reserve(s, WSP_MAX_HEADER_SIZE + len) != 0)
        return;
    hl = wsp_frame_header_write(s->out + s->out_len, 1, 0, opcode, len, NULL);
    memcpy(s->out + s->out_len + hl, data, len);
    s->out_len += hl + len;
}

static void out_close(sconn *s, int code)
{
    uint8_t p[WSP_MAX_CONTROL_PAYLOAD];
    size_t n = wsp_close_payload(p, code, NULL, 0);

    out_frame(s, WSP_OP_CLOSE, p, n);
    s->state = S_CLOSED;
}

/* ---- connection life -------------------------------------------------------------- */

static void drop(sconn *s)
{
    close(s->fd);
    if (s->state != S_HANDSHAKE)
        wsp_reader_free(&s->rd);
    free(s->hs);
    free(s->out);
    free(s);
}

static void watch(sconn *s, uint32_t events)
{
    struct epoll_event e;

    if (events == s->events)
        return;
    e.events = events;
    e.data.ptr = s;
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e);
    s->events = events;
}

/* The one write of this event; returns -1 if the connection was dropped. */
static int flush(sconn *s)
{
    size_t pending;

    if (s->out_len > s->out_off) {
        ssize_t n = write(s->fd, s->out + s->out_off, s->out_len - s->out_off);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            drop(s);
            return -1;
        }
        if (n > 0)
            s->out_off += (size_t)n;
    }
    pending = s->out_len - s->out_off;
    if (!pending && s->state == S_CLOSED && !s->shut) {
        shutdown(s->fd, SHUT_WR);          /* then read to EOF */
        s->shut = 1;
    }
    watch(s, (pending < OUT_HIGH ? EPOLLIN : 0) | (pending ? EPOLLOUT : 0));
    return 0;
}

/* ---- frames in ------------------------------------------------------------------- */

static int on_message(void *ud, int opcode, const uint8_t *data, size_t len)
{
    out_frame(ud, opcode, data, len);
    return 0;
}

static int on_ping(void *ud, const uint8_t *data, size_t len)
{
    out_frame(ud, WSP_OP_PONG, data, len);
    return 0;
}

static int on_pong(void *ud, const uint8_t *data, size_t len)
{
    (void)ud; (void)data; (void)len;
    return 0;
}

static int on_close(void *ud, int code, const char *reason, size_t len)
{
    (void)reason; (void)len;
    out_close(ud, code == WSP_CLOSE_NO_STATUS ? 0 : code);
    return 1;
}

static const wsp_reader_callbacks callbacks = { on_message, on_ping, on_pong, on_close };

static void feed(sconn *s, const uint8_t *buf, size_t len)
{
    if (s->state != S_OPEN)
        return;                            /* after a close: discarded */
    if (wsp_reader_feed(&s->rd, buf, len, NULL) == WSP_FAIL)
        out_close(s, wsp_reader_error(&s->rd));
}

/* ---- handshake --------------------------------------------------------------------- */

static const char *find_header(const char *head, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");

    while (p && p[2] != '\r' && p[2]) {
        const char *line = p + 2, *end = strstr(line, "\r\n"), *v;
        if (!end)
            return NULL;
        if ((size_t)(end - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            for (v = line + nl + 1; *v == ' ' || *v == '\t'; v++)
                ;
            *len = (size_t)(end - v);
            while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
                (*len)--;
            return v;
        }
        p = end;
    }
    return NULL;
}

static void handshake(sconn *s, const uint8_t *buf, size_t len)
{
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
    wsp_reader_config cfg = { .max_message_size = MAX_MSG, .require_mask = 1 };
    char key[64], accept[WSP_ACCEPT_KEY_LEN + 1], resp[256], *end;
    const char *k;
    size_t take = len, klen = 0, head_len, before = s->hs_len;
    int n;

    if (!s->hs && !(s->hs = malloc(HS_MAX + 1)))
        return;
    if (take > HS_MAX - s->hs_len)
        take = HS_MAX - s->hs_len;
    memcpy(s->hs + s->hs_len, buf, take);
    s->hs_len += take;
    s->hs[s->hs_len] = '\0';
    if (!(end = strstr(s->hs, "\r\n\r\n"))) {
        if (s->hs_len == HS_MAX)
            goto refuse;
        return;
    }
    head_len = (size_t)(end - s->hs) + 4;
    end[2] = '\0';
    k = find_header(s->hs, "Sec-WebSocket-Key", &klen);
    if (strncmp(s->hs, "GET ", 4) != 0 || !k || klen >= sizeof(key))
        goto refuse;
    memcpy(key, k, klen);
    key[klen] = '\0';
    if (!wsp_key_valid(key))
        goto refuse;
    wsp_accept_key(key, accept);
    n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    out_append(s, resp, (size_t)n);
    free(s->hs);
    s->hs = NULL;
    wsp_reader_init(&s->rd, &cfg, &callbacks, s);
    s->state = S_OPEN;
    if (head_len - before < len)           /* frames right behind the head */
        feed(s, buf + (head_len - before), len - (head_len - before));
    return;

refuse:
    out_append(s, bad, sizeof(bad) - 1);
    free(s->hs);
    s->hs = NULL;
    wsp_reader_init(&s->rd, &cfg, &callbacks, s);   /* so drop() may free it */
    s->state = S_CLOSED;
}

/* ---- events ------------------------------------------------------------------------- */

static void on_readable(sconn *s)
{
    ssize_t n = read(s->fd, rbuf, sizeof(rbuf));

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(s);                           /* EOF or error */
        return;
    }
    if (s->state == S_HANDSHAKE)
        handshake(s, rbuf, (size_t)n);
    else
        feed(s, rbuf, (size_t)n);
    flush(s);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        struct epoll_event e;
        sconn *s;

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                perror("sol_server: accept");
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (!(s = calloc(1, sizeof(*s)))) {
            close(fd);
            continue;
        }
        s->fd = fd;
        s->events = e.events = EPOLLIN;
        e.data.ptr = s;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            close(fd);
            free(s);
        }
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in a;
    struct epoll_event e, evs[512];
    int lfd, one = 1, i, n;
    static sconn listener;     /* marks the listening socket in epoll data */

    if (argc < 2) {
        fprintf(stderr, "usage: sol_server PORT [ADDR]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(argv[1]));
    inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &a.sin_addr);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0
        || listen(lfd, 4096) != 0) {
        perror("sol_server: listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    e.events = EPOLLIN;
    e.data.ptr = &listener;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
    for (;;) {
        n = epoll_wait(ep, evs, 512, -1);
        for (i = 0; i < n; i++) {
            sconn *s = evs[i].data.ptr;
            if (s == &listener) {
                accept_all(lfd);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(s);            /* may drop s */
            else if (evs[i].events & EPOLLOUT)
                flush(s);
        }
    }
}
