/*
 * wsl_net.c - client WebSocket connections for the load generator: one
 * epoll set (level-triggered), non-blocking sockets, the opening handshake
 * and frames, all framing done by the project's protocol core.
 *
 * Output is coalesced: wsl_queue() only appends a masked frame to the
 * connection's buffer, and the caller writes once with wsl_flush() after
 * handling a whole read.  Input: one read() per readiness event, fed to the
 * core's wsp_reader (client side: frames must not be masked).
 *
 * permessage-deflate (ctx->pmd_offer, wsl_deflate.c): offered in the
 * request; if agreed, data messages go out compressed (RSV1) and compressed
 * ones coming in are inflated before the mode sees them.
 *
 * TLS (wsl_ctx_tls): the same loop with OpenSSL on the non-blocking socket.
 * The TLS handshake runs in state WSL_TLS between connect and the upgrade
 * request; SSL_ERROR_WANT_READ/WRITE choose the epoll interest.  Reads use
 * OpenSSL's read-ahead (one read() fills its 64 KiB buffer) and take every
 * record already buffered before the bytes are parsed, so the pattern stays
 * one read() per readiness event; level-triggered epoll reports the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <apr_base64.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "wsload.h"

#define HS_MAX       4096          /* largest 101 response head we accept */
#define RBUF_SIZE    (256 * 1024)
#define MAX_MESSAGE  (64ull << 20)

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

uint64_t wsl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wsl_rand(wsl_ctx *ctx)
{
    /* xorshift64*: masking keys and schedule jitter, not cryptography. */
    uint64_t x = ctx->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ctx->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- context ------------------------------------------------------------- */

/* "127.0.0.2-127.0.0.9" or "127.0.0.2" (one address). */
static int parse_src_range(wsl_ctx *ctx, const char *spec)
{
    char first[32];
    const char *dash = strchr(spec, '-');
    struct in_addr a, b;
    size_t n = dash ? (size_t)(dash - spec) : strlen(spec);

    if (n >= sizeof(first))
        return -1;
    memcpy(first, spec, n);
    first[n] = '\0';
    if (inet_pton(AF_INET, first, &a) != 1)
        return -1;
    b = a;
    if (dash && inet_pton(AF_INET, dash + 1, &b) != 1)
        return -1;
    if (ntohl(b.s_addr) < ntohl(a.s_addr))
        return -1;
    ctx->src_first = a;
    ctx->src_count = ntohl(b.s_addr) - ntohl(a.s_addr) + 1;
    return 0;
}

int wsl_ctx_init(wsl_ctx *ctx, const char *host, int port, const char *path,
                 const char *src_range, const wsl_events *ev)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->dst.sin_family = AF_INET;
    ctx->dst.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &ctx->dst.sin_addr) != 1) {
        fprintf(stderr, "wsload: bad IPv4 address %s\n", host);
        return -1;
    }
    if (src_range && *src_range && parse_src_range(ctx, src_range) != 0) {
        fprintf(stderr, "wsload: bad source range %s\n", src_range);
        return -1;
    }
    snprintf(ctx->request_head, sizeof(ctx->request_head),
             "GET %s HTTP/1.1\r\nHost: %s:%d\r\n", path, host, port);
    ctx->ev = *ev;
    ctx->rbuf_size = RBUF_SIZE;
    ctx->rbuf = malloc(RBUF_SIZE);
    ctx->rng = (uint64_t)wsl_now() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    ctx->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!ctx->rbuf || ctx->ep < 0) {
        perror("wsload: init");
        return -1;
    }
    return 0;
}

void wsl_ctx_free(wsl_ctx *ctx)
{
    if (ctx->ep >= 0)
        close(ctx->ep);
    free(ctx->rbuf);
    wsl_pmd_ctx_free(ctx);
    if (ctx->tls)
        SSL_CTX_free(ctx->tls);
}

int wsl_ctx_tls(wsl_ctx *ctx, int lowmem)
{
    SSL_CTX *t = SSL_CTX_new(TLS_client_method());
    long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

    if (!t) {
        ERR_print_errors_fp(stderr);
        return -1;
    }
    SSL_CTX_set_verify(t, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_min_proto_version(t, TLS1_2_VERSION);
    /* Every server gets the same cipher (TLS 1.3; the TLS 1.2 list is for
     * a server that has no 1.3). */
    if (SSL_CTX_set_ciphersuites(t, "TLS_AES_128_GCM_SHA256") != 1
        || SSL_CTX_set_cipher_list(t, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256") != 1) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(t);
        return -1;
    }
    /* A peer that drops TCP without close_notify is an EOF, as in plain. */
    SSL_CTX_set_options(t, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(t, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(t, 1);
    SSL_CTX_set_default_read_buffer_len(t, 64 * 1024);
    if (lowmem)
        mode |= SSL_MODE_RELEASE_BUFFERS;
    SSL_CTX_set_mode(t, mode);
    ctx->tls = t;
    return 0;
}

/* ---- bytes in and out (plain or TLS) ----------------------------------------- */

/* What an SSL call's failure means for us: -1 with errno EAGAIN (try again
 * on readiness; *want_write says which), 0 for EOF, -1 with errno for an
 * error. */
static ssize_t tls_fail(wsl_conn *c, int r, int *want_write)
{
    int e = SSL_get_error(c->ssl, r);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want_write = 0;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want_write = 1;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            errno = ECONNRESET;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

static ssize_t conn_write(wsl_conn *c, const void *buf, size_t len, int *want_write)
{
    int r;

    *want_write = 1;
    if (!c->ssl)
        return write(c->fd, buf, len);
    if (len > INT32_MAX)
        len = INT32_MAX;
    r = SSL_write(c->ssl, buf, (int)len);
    return r > 0 ? r : tls_fail(c, r, want_write);
}

/* ---- frames in ------------------------------------------------------------ */

static int rd_message(void *ud, int opcode, const uint8_t *data, size_t len)
{
    wsl_conn *c = ud;

    if (opcode & WSP_MSG_COMPRESSED) {  /* only with c->pmd: RSV1 allowed */
        opcode &= ~WSP_MSG_COMPRESSED;
        if (wsl_pmd_inflate(c, data, len, &data, &len) != 0) {
            c->ctx->last_error = "bad compressed message";
            if (!c->end_pending)
                c->end_pending = WSL_END_PROTO + 1;
            return 1;
        }
    }
    else if (c->pmd)
        c->ctx->pmd_rx_plain++;
    if (c->ctx->ev.on_message)
        c->ctx->ev.on_message(c, opcode, data, len);
    return c->end_pending;             /* stop if the mode ended it */
}

static int rd_ping(void *ud, const uint8_t *data, size_t len)
{
    wsl_conn *c = ud;
    wsl_queue(c, WSP_OP_PONG, data, len);
    return 0;
}

static int rd_pong(void *ud, const uint8_t *data, size_t len)
{
    wsl_conn *c = ud;
    (void)data; (void)len;
    c->pongs++;
    if (c->ctx->ev.on_pong)
        c->ctx->ev.on_pong(c);
    return c->end_pending;
}

static int rd_close(void *ud, int code, const char *reason, size_t len)
{
    wsl_conn *c = ud;
    (void)reason; (void)len;
    c->got_close = 1;
    if (c->st == WSL_OPEN) {           /* the server started it: answer */
        uint8_t p[2];
        code = code == WSP_CLOSE_NO_STATUS ? 1000 : code;
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        wsl_queue(c, WSP_OP_CLOSE, p, 2);  /* written after the feed */
        c->st = WSL_CLOSING;
    }
    if (c->ctx->ev.on_close_frame)
        c->ctx->ev.on_close_frame(c);
    return 1;                          /* nothing after a close frame */
}

static const wsp_reader_callbacks reader_cb = {
    rd_message, rd_ping, rd_pong, rd_close
};

/* ---- connection life -------------------------------------------------------- */

static void set_events(wsl_conn *c, uint32_t events, int op)
{
    struct epoll_event e;
    e.events = events;
    e.data.ptr = c;
    epoll_ctl(c->ctx->ep, op, c->fd, &e);
}

void wsl_end(wsl_conn *c, int why)
{
    wsl_ctx *ctx = c->ctx;

    if (c->st == WSL_FREE)
        return;
    if (c->in_feed) {                  /* the reader is on the stack: later */
        if (!c->end_pending)
            c->end_pending = why + 1;
        return;
    }
    c->end_pending = 0;
    c->last_st = c->st;
    if (c->ssl) {                      /* no close_notify: TCP just goes */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    c->read_wants_write = 0;
    close(c->fd);                      /* also leaves the epoll set */
    c->fd = -1;
    c->st = WSL_FREE;
    free(c->hs);
    c->hs = NULL;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->pollout = 0;
    if (c->rd_live) {
        wsp_reader_free(&c->rd);
        c->rd_live = 0;
    }
    wsl_pmd_free(c);
    ctx->ends[why]++;
    if (ctx->ev.on_end)
        ctx->ev.on_end(c, why);
}

static void fail(wsl_conn *c, int why, const char *what)
{
    c->ctx->last_error = what;
    wsl_end(c, why);
}

int wsl_connect(wsl_ctx *ctx, wsl_conn *c)
{
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto failed;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ctx->src_count) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(ntohl(ctx->src_first.s_addr)
                                    + ctx->src_next++ % ctx->src_count);
        /* Pick the port at connect() time, per 4-tuple: lets each source
         * address use the whole ephemeral range towards each server. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
            goto failed;
    }
    if (connect(fd, (struct sockaddr *)&ctx->dst, sizeof(ctx->dst)) != 0
        && errno != EINPROGRESS)
        goto failed;
    c->ctx = ctx;
    c->fd = fd;
    c->st = WSL_CONNECTING;
    c->t_start = wsl_now();
    c->got_close = 0;
    c->end_pending = c->in_feed = 0;
    c->hs_len = 0;
    c->pollout = 1;
    set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
    return 0;

failed:
    ctx->last_errno = errno;
    ctx->connect_fail++;
    if (fd >= 0)
        close(fd);
    errno = ctx->last_errno;
    return -1;
}

/* TCP (and TLS, if any) is up: send the upgrade request. */
static void send_upgrade(wsl_conn *c)
{
    wsl_ctx *ctx = c->ctx;
    unsigned char nonce[16];
    char key[32], req[768];
    uint64_t r1 = wsl_rand(ctx), r2 = wsl_rand(ctx);
    int n, ww;

    memcpy(nonce, &r1, 8);
    memcpy(nonce + 8, &r2, 8);
    apr_base64_encode(key, (const char *)nonce, 16);
    wsp_accept_key(key, c->accept);
    n = snprintf(req, sizeof(req),
                 "%sUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                 ctx->request_head, key, ctx->pmd_offer ? wsl_pmd_offer() : "");
    if (conn_write(c, req, (size_t)n, &ww) != n) {  /* a fresh socket takes 200 bytes */
        ctx->last_errno = errno;
        fail(c, WSL_END_ERROR, "write of the upgrade request failed");
        return;
    }
    c->st = WSL_UPGRADING;
    c->pollout = 0;
    set_events(c, EPOLLIN, EPOLL_CTL_MOD);
}

/* One step of the TLS handshake; the upgrade request once it is done. */
static void tls_step(wsl_conn *c)
{
    int r = SSL_do_handshake(c->ssl), ww = 0;

    if (r == 1) {
        static int told;
        if (!told++)                   /* what was negotiated, once */
            fprintf(stderr, "wsload: %s %s\n", SSL_get_version(c->ssl),
                    SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
        send_upgrade(c);
        return;
    }
    if (tls_fail(c, r, &ww) < 0 && errno == EAGAIN) {
        int out = ww != 0;
        if (out != c->pollout) {
            c->pollout = out;
            set_events(c, out ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
        }
        return;
    }
    c->ctx->last_errno = errno;
    fail(c, WSL_END_ERROR, "TLS handshake failed");
}

/* connect() finished: check it, then TLS or the upgrade request. */
static void on_connected(wsl_conn *c)
{
    wsl_ctx *ctx = c->ctx;
    int err = 0;
    socklen_t elen = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err) {
        ctx->last_errno = err;
        fail(c, WSL_END_ERROR, "connect failed");
        return;
    }
    if (!ctx->tls) {
        send_upgrade(c);
        return;
    }
    if (!(c->ssl = SSL_new(ctx->tls)) || SSL_set_fd(c->ssl, c->fd) != 1) {
        ctx->last_errno = ENOMEM;
        fail(c, WSL_END_ERROR, "SSL_new failed");
        return;
    }
    SSL_set_connect_state(c->ssl);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    c->st = WSL_TLS;
    tls_step(c);
}

/* Value of header name in the response head (NUL-terminated), trimmed into
 * out; 0 if absent. */
static int header_value(const char *head, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");

    while (p && p[2] != '\r') {
        const char *line = p + 2, *end = strstr(line, "\r\n");
        if (!end)
            return 0;
        if ((size_t)(end - line) > nl && line[nl] == ':'
            && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            size_t len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            len = (size_t)(end - v);
            while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            if (len >= outsz)
                len = outsz - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

static int check_101(wsl_conn *c, const char *head)
{
    char v[256];

    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        return -1;
    if (!header_value(head, "Upgrade", v, sizeof(v)) || strcasecmp(v, "websocket") != 0)
        return -1;
    if (!header_value(head, "Connection", v, sizeof(v))
        || !wsp_header_has_token(v, "upgrade"))
        return -1;
    if (!header_value(head, "Sec-WebSocket-Accept", v, sizeof(v))
        || strcmp(v, c->accept) != 0)
        return -1;
    /* An extension we did not offer, or an answer we cannot honour. */
    if (header_value(head, "Sec-WebSocket-Extensions", v, sizeof(v))
        && (!c->ctx->pmd_offer || wsl_pmd_accept(c, v) != 0))
        return -1;
    return 0;
}

static void feed(wsl_conn *c, const uint8_t *buf, size_t len)
{
    wsp_status st;

    c->in_feed = 1;
    st = wsp_reader_feed(&c->rd, buf, len, NULL);
    c->in_feed = 0;
    if (c->end_pending)
        wsl_end(c, c->end_pending - 1);
    else if (st == WSP_FAIL)
        fail(c, WSL_END_PROTO, wsp_reader_error_text(&c->rd));
}

/* Response bytes while upgrading; leftovers after the head are frames. */
static void on_upgrade_bytes(wsl_conn *c, const uint8_t *buf, size_t len)
{
    wsp_reader_config cfg = { .max_message_size = MAX_MESSAGE };
    char *end;
    size_t take = len, head_len, before = c->hs_len, skip;

    if (!c->hs && !(c->hs = malloc(HS_MAX + 1))) {
        fail(c, WSL_END_ERROR, "out of memory");
        return;
    }
    if (take > HS_MAX - c->hs_len)
        take = HS_MAX - c->hs_len;
    memcpy(c->hs + c->hs_len, buf, take);
    c->hs_len += take;
    c->hs[c->hs_len] = '\0';
    end = strstr(c->hs, "\r\n\r\n");
    if (!end) {
        if (c->hs_len == HS_MAX)
            fail(c, WSL_END_PROTO, "response head too long");
        return;
    }
    head_len = (size_t)(end - c->hs) + 4;
    end[2] = '\0';                       /* keep the last header's CRLF */
    if (check_101(c, c->hs) != 0) {
        fail(c, WSL_END_PROTO, "no valid 101 response");
        return;
    }
    free(c->hs);
    c->hs = NULL;
    if (c->pmd)
        cfg.allowed_rsv = WSP_RSV1;
    wsp_reader_init(&c->rd, &cfg, &reader_cb, c);
    c->rd_live = 1;
    c->st = WSL_OPEN;
    if (c->ctx->ev.on_open)
        c->ctx->ev.on_open(c);
    /* What follows the head in this read are frames. */
    skip = head_len - before;
    if (c->st != WSL_FREE && skip < len)
        feed(c, buf + skip, len - skip);
}

/* TLS: every record OpenSSL already holds (read-ahead), up to the buffer;
 * the first SSL_read does the one read().  Returns as read() does. */
static ssize_t tls_read(wsl_conn *c, uint8_t *buf, size_t size)
{
    size_t got = 0;
    int ww = 0;

    c->read_wants_write = 0;
    do {
        int r = SSL_read(c->ssl, buf + got, (int)(size - got));
        if (r <= 0) {
            ssize_t f = tls_fail(c, r, &ww);
            if (got)
                break;                 /* the rest next time */
            if (f < 0 && errno == EAGAIN && ww)
                c->read_wants_write = 1;
            return f;
        }
        got += (size_t)r;
    } while (got < size && SSL_has_pending(c->ssl));
    return (ssize_t)got;
}

static void on_readable(wsl_conn *c)
{
    wsl_ctx *ctx = c->ctx;
    ssize_t n;

again:
    n = c->ssl ? tls_read(c, ctx->rbuf, ctx->rbuf_size)
               : read(c->fd, ctx->rbuf, ctx->rbuf_size);
    if (n < 0) {
        if (errno == EAGAIN && c->read_wants_write && !c->pollout) {
            c->pollout = 1;
            set_events(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        }
        if (errno == EAGAIN || errno == EINTR)
            return;
        ctx->last_errno = errno;
        fail(c, WSL_END_ERROR, "read failed");
        return;
    }
    if (n == 0) {
        wsl_end(c, WSL_END_EOF);
        return;
    }
    if (c->st == WSL_UPGRADING)
        on_upgrade_bytes(c, ctx->rbuf, (size_t)n);
    else if (c->st == WSL_OPEN || c->st == WSL_CLOSING)
        feed(c, ctx->rbuf, (size_t)n);
    if (c->st != WSL_FREE && c->out_len > c->out_off)
        wsl_flush(c);
    /* Records OpenSSL holds are not the socket's: epoll will not say. */
    if (c->st != WSL_FREE && c->ssl && SSL_has_pending(c->ssl))
        goto again;
}

/* ---- frames out ---------------------------------------------------------------- */

int wsl_queue(wsl_conn *c, int opcode, const void *data, size_t len)
{
    size_t need, hl;
    uint64_t r = wsl_rand(c->ctx);
    uint8_t key[4], *p, rsv = 0;

    if (c->pmd && (opcode == WSP_OP_TEXT || opcode == WSP_OP_BINARY)) {
        const uint8_t *z;
        if (wsl_pmd_deflate(c, data, len, &z, &len) != 0)
            return -1;
        data = z;
        rsv = WSP_RSV1;
    }
    need = WSP_MAX_HEADER_SIZE + len;
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        uint8_t *nb;
        if (c->out_off) {                  /* compact first */
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        while (cap < c->out_len + need)
            cap *= 2;
        if (cap != c->out_cap) {
            if (!(nb = realloc(c->out, cap)))
                return -1;
            c->out = nb;
            c->out_cap = cap;
        }
    }
    memcpy(key, &r, 4);
    p = c->out + c->out_len;
    hl = wsp_frame_header_write(p, 1, rsv, opcode, len, key);
    if (len) {
        memcpy(p + hl, data, len);
        wsp_mask(p + hl, len, key, 0);
    }
    c->out_len += hl + len;
    return 0;
}

int wsl_flush(wsl_conn *c)
{
    while (c->out_off < c->out_len) {
        int ww;
        ssize_t n = conn_write(c, c->out + c->out_off, c->out_len - c->out_off, &ww);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN) {
                if (ww && !c->pollout) {
                    c->pollout = 1;
                    set_events(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                }
                return 0;
            }
            c->ctx->last_errno = errno;
            fail(c, WSL_END_ERROR, "write failed");
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->pollout && !c->read_wants_write) {
        c->pollout = 0;
        set_events(c, EPOLLIN, EPOLL_CTL_MOD);
    }
    return 0;
}

void wsl_send_close(wsl_conn *c, int code)
{
    uint8_t payload[2] = { (uint8_t)(code >> 8), (uint8_t)code };

    if (c->st != WSL_OPEN)
        return;
    wsl_queue(c, WSP_OP_CLOSE, payload, 2);
    c->st = WSL_CLOSING;
    wsl_flush(c);
}

int wsl_poll(wsl_ctx *ctx, int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ctx->ep, evs, 512, timeout_ms), i;

    for (i = 0; i < n; i++) {
        wsl_conn *c = evs[i].data.ptr;
        uint32_t e = evs[i].events;

        if (c->st == WSL_FREE)
            continue;                  /* ended earlier in this batch */
        if (c->st == WSL_CONNECTING) {
            on_connected(c);
            continue;
        }
        if (c->st == WSL_TLS) {
            tls_step(c);
            continue;
        }
        if ((e & (EPOLLIN | EPOLLHUP | EPOLLERR))
            || ((e & EPOLLOUT) && c->read_wants_write))
            on_readable(c);
        if ((e & EPOLLOUT) && c->st != WSL_FREE)
            wsl_flush(c);
    }
    return n < 0 ? 0 : n;
}
