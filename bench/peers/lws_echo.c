/*
 * lws_echo.c - a minimal libwebsockets (Debian's libwebsockets-dev) echo
 * server, a peer of mod_websocket in bench/run.
 *
 *   lws_echo PORT [CERT KEY]
 *
 * With CERT and KEY (PEM files): wss://, lws's own TLS (Debian builds it
 * with OpenSSL) through the context's ssl_cert_filepath and
 * ssl_private_key_filepath (bench/run's lws_tls server).
 *
 * Listens on 127.0.0.1:PORT, any path, no subprotocol needed (lws gives a
 * connection that names none to the first protocol).  Whole messages are
 * assembled from lws's RECEIVE callbacks and queued per connection; written
 * the lws way, one lws_write() per SERVER_WRITEABLE callback, asking for
 * another callback while the queue is not empty.  Defaults otherwise (rx
 * buffer, no ping/idle timers, no extensions), except tx_packet_size: large
 * enough that a 64 KiB echo leaves in one send() rather than 4 KiB pieces.
 *
 * DEFLATE set in the environment (bench/run's lws_pmd): permessage-deflate,
 * lws's own extension (lws_extension_callback_pm_deflate; Debian's build
 * has extensions and zlib) with its defaults; lws inflates before RECEIVE
 * and compresses in lws_write.  Debian's 4.1.6 fails here under load: with
 * 64 connections its inflater reports corrupt input ("invalid distance too
 * far back", "invalid code lengths set") on streams that ws and Python
 * websockets inflate without error, also when the client keeps no context
 * (wsload --deflate-no-context) and with a 64 KiB rx buffer.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#define MAX_MESSAGE (16u << 20)

typedef struct msg {
    struct msg *next;
    size_t      len;
    int         binary;
    unsigned char buf[];     /* LWS_PRE bytes of room, then the payload */
} msg;

typedef struct pss {
    msg           *head, *tail;
    unsigned char *rx;       /* the message being assembled */
    size_t         rx_len, rx_cap;
    int            rx_binary;
} pss;

static const struct lws_extension extensions[] = {
    { "permessage-deflate", lws_extension_callback_pm_deflate,
      "permessage-deflate; client_no_context_takeover; client_max_window_bits" },
    { NULL, NULL, NULL }
};

static volatile int interrupted;

static int rx_append(pss *p, const void *in, size_t len)
{
    if (p->rx_len + len > MAX_MESSAGE)
        return -1;
    if (p->rx_len + len > p->rx_cap) {
        size_t cap = p->rx_cap ? p->rx_cap : 256;
        unsigned char *nb;
        while (cap < p->rx_len + len)
            cap *= 2;
        if (!(nb = realloc(p->rx, cap)))
            return -1;
        p->rx = nb;
        p->rx_cap = cap;
    }
    memcpy(p->rx + p->rx_len, in, len);
    p->rx_len += len;
    return 0;
}

static int enqueue(pss *p)
{
    msg *m = malloc(sizeof(*m) + LWS_PRE + p->rx_len);

    if (!m)
        return -1;
    m->next = NULL;
    m->len = p->rx_len;
    m->binary = p->rx_binary;
    memcpy(m->buf + LWS_PRE, p->rx, p->rx_len);
    if (p->tail)
        p->tail->next = m;
    else
        p->head = m;
    p->tail = m;
    p->rx_len = 0;
    return 0;
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
    pss *p = user;
    msg *m;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(p, 0, sizeof(*p));
        break;
    case LWS_CALLBACK_RECEIVE:
        if (lws_is_first_fragment(wsi)) {
            p->rx_len = 0;
            p->rx_binary = lws_frame_is_binary(wsi);
        }
        if (rx_append(p, in, len) != 0)
            return -1;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (enqueue(p) != 0)
                return -1;
            lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!(m = p->head))
            break;
        if (lws_write(wsi, m->buf + LWS_PRE, m->len,
                      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)m->len)
            return -1;
        p->head = m->next;
        if (!p->head)
            p->tail = NULL;
        free(m);
        if (p->head)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLOSED:
        while ((m = p->head)) {
            p->head = m->next;
            free(m);
        }
        p->tail = NULL;
        free(p->rx);
        p->rx = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    { "echo", callback_echo, sizeof(pss), 0, 0, NULL, (64u << 10) + 16 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;

    if (argc != 2 && argc != 4) {
        lwsl_err("usage: lws_echo PORT [CERT KEY]\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    memset(&info, 0, sizeof(info));
    info.port = atoi(argv[1]);
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    if (getenv("DEFLATE"))
        info.extensions = extensions;
    if (argc == 4) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = argv[2];
        info.ssl_private_key_filepath = argv[3];
    }
    if (!(ctx = lws_create_context(&info))) {
        lwsl_err("lws_echo: lws_create_context failed\n");
        return 1;
    }
    while (!interrupted && lws_service(ctx, 0) >= 0)
        ;
    lws_context_destroy(ctx);
    return 0;
}
