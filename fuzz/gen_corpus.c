/*
 * gen_corpus.c - writes the seed corpus for the fuzz targets:
 *   gen_corpus DIR  ->  DIR/reader/NN-name, DIR/utf8/NN-name,
 *                       DIR/session/NN-name, DIR/pmd/NN-name,
 *                       DIR/inflate/NN-name, DIR/handshake/NN-name,
 *                       DIR/roundtrip/NN-name
 * Seeds are built here from readable descriptions so the repository holds
 * no binary blobs.  Reader seeds start with the two config bytes that
 * fuzz_reader.c expects ([config][k=0]) or a chunk plan.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct seed {
    uint8_t buf[70000 + 64];
    size_t  len;
} seed;

static seed s;

static void put(const void *p, size_t n)
{
    if (s.len + n > sizeof s.buf) {
        fprintf(stderr, "seed too large\n");
        exit(1);
    }
    memcpy(s.buf + s.len, p, n);
    s.len += n;
}

static void byte(unsigned c)
{
    uint8_t b = (uint8_t)c;
    put(&b, 1);
}

/* A frame with minimal length encoding; masked with a fixed key. */
static void frame(unsigned b0, const void *payload, size_t n, int masked)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    const uint8_t *p = payload;
    size_t i;
    int k;

    byte(b0);
    if (n <= 125) {
        byte((masked ? 0x80u : 0) | (unsigned)n);
    } else if (n <= 0xFFFF) {
        byte((masked ? 0x80u : 0) | 126);
        byte((unsigned)(n >> 8));
        byte((unsigned)n);
    } else {
        byte((masked ? 0x80u : 0) | 127);
        for (k = 7; k >= 0; k--)
            byte((unsigned)((uint64_t)n >> (8 * k)));
    }
    if (masked)
        put(key, 4);
    for (i = 0; i < n; i++)
        byte(masked ? p[i] ^ key[i % 4] : p[i]);
}

static void sframe(unsigned b0, const char *text)
{
    frame(b0, text, strlen(text), 1);
}

static void write_seed(const char *dir, const char *sub, const char *name)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    f = fopen(path, "wb");
    if (!f || fwrite(s.buf, 1, s.len, f) != s.len || fclose(f) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
    s.len = 0;
}

static void start_reader(unsigned config, unsigned chunk)
{
    byte(config);
    if (chunk) {
        byte(1);
        byte(chunk);
    } else {
        byte(0);
    }
}

static void reader_seeds(const char *dir)
{
    static uint8_t big[70000];
    uint8_t p[126];

    start_reader(0x00, 0);
    sframe(0x81, "Hello");
    write_seed(dir, "reader", "01-text");

    start_reader(0x40, 3);          /* callbacks stop every event */
    sframe(0x01, "Hel");
    sframe(0x89, "ping");
    sframe(0x00, "l");
    sframe(0x8A, "");
    sframe(0x80, "o");
    frame(0x88, "\x03\xe8" "bye", 5, 1);
    write_seed(dir, "reader", "02-fragments-and-control");

    start_reader(0x00, 7);
    memset(p, 'a', sizeof p);
    frame(0x82, p, 126, 1);
    frame(0x82, big, 65536, 1);
    write_seed(dir, "reader", "03-lengths-16-64");

    start_reader(0x20, 0);          /* max size 1000 */
    frame(0x82, big, 1001, 1);
    write_seed(dir, "reader", "04-too-big");

    start_reader(0x00, 2);
    sframe(0x01, "\xe2\x82");
    sframe(0x80, "\xac\xf0\x9f\x98\x80");
    sframe(0x81, "bad \xed\xa0\x80");
    write_seed(dir, "reader", "05-utf8");

    start_reader(0x04, 0);          /* RSV1 allowed */
    sframe(0xC1, "deflated?");
    sframe(0xA1, "rsv2");
    write_seed(dir, "reader", "06-rsv");

    start_reader(0x03, 0);          /* client: server frames unmasked */
    frame(0x81, "Hello", 5, 0);
    frame(0x89, "", 0, 0);
    write_seed(dir, "reader", "07-client");

    start_reader(0x00, 0);
    frame(0x88, "\x03\xed", 2, 1);
    write_seed(dir, "reader", "08-close-bad-code");

    start_reader(0x00, 0);
    frame(0x88, "", 0, 1);
    frame(0x88, "\x0f\xa0\xe2\x82\xac", 5, 1);
    write_seed(dir, "reader", "09-close-empty-and-reason");

    start_reader(0x00, 0);
    byte(0x82); byte(0xFF);
    byte(0x80); byte(0); byte(0); byte(0); byte(0); byte(0); byte(0); byte(1);
    write_seed(dir, "reader", "10-length-top-bit");

    start_reader(0x00, 0);
    sframe(0x83, "reserved opcode");
    write_seed(dir, "reader", "11-reserved-opcode");
}

/* Session scripts (fuzz_session.c): [cfg a][cfg b][cfg c] then operations. */
enum { S_RAW, S_FRAME, S_SEND, S_CLOSE, S_TICK, S_POP, S_EOF, S_AWAY,
       S_SHARED, S_PART, S_WRITE, S_TRIM };

/* S_FRAME: kind index (0 text, 1 binary, 5 ping, 7 close...), length,
 * payload bytes (the fuzzer masks them). */
static void s_frame(unsigned kind, const char *payload, size_t n)
{
    byte(S_FRAME);
    byte(kind);
    byte((unsigned)n);
    put(payload, n);
}

static void s_pop(unsigned k, unsigned partial)
{
    byte(S_POP); byte(k); byte(partial);
}

static void s_tick(unsigned unit, unsigned times)
{
    byte(S_TICK); byte(unit); byte(times);
}

static void session_seeds(const char *dir)
{
    static char p[200];
    int i;

    byte(0x09); byte(0x1F); byte(0);             /* echo, 3000, every timeout on */
    s_frame(0, "hello", 5);
    s_pop(7, 0);
    s_frame(7, "\x03\xe8" "bye", 5);
    s_pop(7, 0);
    byte(S_EOF); byte(0);
    write_seed(dir, "session", "01-echo-peer-closes");

    byte(0x01); byte(0x1F); byte(0);
    byte(S_SEND); byte(1); byte(10);
    byte(S_CLOSE); byte(0);
    s_pop(1, 1);
    s_tick(3, 4);
    byte(S_WRITE);
    s_tick(4, 1);
    write_seed(dir, "session", "02-we-close-timeouts");

    byte(0x08); byte(0x00); byte(0);             /* echo, 800 bytes of cost */
    memset(p, 'b', sizeof p);
    for (i = 0; i < 6; i++)
        s_frame(1, p, 120);
    s_pop(2, 0);
    s_frame(5, "ping", 4);
    s_pop(8, 0);
    byte(S_RAW); byte(0);
    write_seed(dir, "session", "03-backpressure");

    byte(0x02); byte(0x11); byte(0);             /* pings, send timeout */
    for (i = 0; i < 20; i++)
        s_frame(5, "flood", 5);
    byte(S_SEND); byte(1); byte(200);
    s_pop(1, 1);
    s_tick(5, 1);
    write_seed(dir, "session", "04-ping-flood-send-timeout");

    byte(0x0B); byte(0x06); byte(0);             /* idle timeout, close timeout */
    byte(S_RAW); byte(3); byte(0x81); byte(0x05); byte('h'); byte('i');
    s_tick(5, 1);
    s_pop(3, 0);
    s_tick(3, 5);
    write_seed(dir, "session", "05-unmasked-then-idle");

    byte(0x1D); byte(0x1F); byte(0);             /* send from on_drain */
    for (i = 0; i < 4; i++) {
        byte(S_SEND); byte(1); byte(200);
    }
    byte(S_SHARED);
    s_frame(2, "frag", 4);
    s_frame(4, "ment", 4);
    s_pop(8, 0);
    byte(S_AWAY);
    s_pop(8, 0);
    byte(S_EOF); byte(0);
    write_seed(dir, "session", "06-efull-drain-going-away");

    /* permessage-deflate output (cfg a & 128): shared deflater, no context;
     * then dedicated with context.  Echoes and parts must inflate. */
    for (i = 0; i < 2; i++) {
        byte(i ? 0xC9 : 0x89); byte(i ? 0x1E : 0x3F); byte(0);
        memset(p, 'z', 100);
        s_frame(0, p, 100);
        s_pop(7, 0);
        byte(S_PART); byte(1); byte(40); /* a first part */
        byte(S_PART); byte(6); byte(20); /* its last part */
        s_frame(1, p, 100);
        s_pop(8, 0);
        write_seed(dir, "session", i ? "08-deflate-context" : "07-deflate-shared");
    }

    /* Input limits (cfg c): 1 message a second with a burst of 4, then a
     * flood past it (close 1008). */
    byte(0x08); byte(0x00); byte(0x05);
    for (i = 0; i < 8; i++)
        s_frame(0, "m", 1);
    s_tick(3, 1);
    s_frame(5, "ping", 4);
    s_pop(8, 0);
    write_seed(dir, "session", "09-message-rate");

    /* At most 2 fragments a message: 2 pass, the third fails (1008). */
    byte(0x08); byte(0x00); byte(0x20);
    s_frame(2, "a", 1); s_frame(4, "b", 1);
    s_frame(2, "a", 1); s_frame(3, "b", 1); s_frame(4, "c", 1);
    s_pop(8, 0);
    write_seed(dir, "session", "10-max-fragments");

    /* permessage-deflate input with the thread's shared inflater, no
     * context: a compressed "Hello" (RFC 7692 7.2.3.1), echoed; trimmed. */
    for (i = 0; i < 2; i++) {
        static const uint8_t hello[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
        byte(i ? 0x68 : 0x28); byte(0xE0); byte(i ? 0 : 0x40);
        byte(S_RAW); byte(12); frame(0xC1, hello, sizeof hello, 1);
        byte(S_TRIM);
        byte(S_RAW); byte(12); frame(0xC1, hello, sizeof hello, 1);
        s_pop(8, 0);
        byte(S_TRIM);
        write_seed(dir, "session", i ? "12-inflate-context" : "11-inflate-shared");
    }
}

static void utf8_seed(const char *dir, const char *name, const char *text)
{
    byte(0x5A);
    put(text, strlen(text));
    write_seed(dir, "utf8", name);
}

static void utf8_seeds(const char *dir)
{
    utf8_seed(dir, "01-ascii", "The quick brown fox jumps over the lazy dog, twice over.");
    utf8_seed(dir, "02-greek", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    utf8_seed(dir, "03-bounds", "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
                                "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    utf8_seed(dir, "04-overlong", "abc\xc0\xaf" "def");
    utf8_seed(dir, "05-surrogate", "abc\xed\xa0\x80");
    utf8_seed(dir, "06-too-high", "\xf4\x90\x80\x80");
    utf8_seed(dir, "07-truncated", "0123456789abcdef\xf0\x9f\x98");
    utf8_seed(dir, "08-lone-continuation", "0123456789abcdef0123\x80");
}

/* Negotiation (fuzz_pmd.c): [policy byte][header]. */
static void pmd_seed(const char *dir, const char *name, unsigned policy,
                     const char *header)
{
    byte(policy);
    put(header, strlen(header));
    write_seed(dir, "pmd", name);
}

static void pmd_seeds(const char *dir)
{
    pmd_seed(dir, "01-browser", 0x3F,
             "permessage-deflate; client_max_window_bits");
    pmd_seed(dir, "02-all-params", 0xDA,
             "permessage-deflate; server_no_context_takeover; "
             "client_no_context_takeover; server_max_window_bits=10; "
             "client_max_window_bits=9");
    pmd_seed(dir, "03-several", 0x12,
             "x-webkit-deflate-frame, permessage-deflate; mystery, "
             "permessage-deflate; server_max_window_bits=\"12\"");
    pmd_seed(dir, "04-bad", 0x00,
             "permessage-deflate; server_max_window_bits=08; "
             "client_no_context_takeover=1, permessage-deflate;");
    pmd_seed(dir, "05-quoting", 0x3F,
             "\"x, y\" , permessage-deflate; client_max_window_bits=\"1\\0\"; "
             "server_max_window_bits=; permessage-deflate; x=\"a\\\"b,c\", "
             "permessage-deflate; server_max_window_bits="
             "\"000000000000000000000000000000000012\"; "
             "client_max_window_bits=0000000000000000000000000000000000009, "
             "permessage-deflate; server_max_window_bits=10");
}

/* The codec (fuzz_inflate.c): [settings byte][bytes]. */
static void inflate_seeds(const char *dir)
{
    static const uint8_t hello[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
    static const uint8_t stored[] = { 0x00, 0x05, 0x00, 0xfa, 0xff,
                                      'H', 'e', 'l', 'l', 'o', 0x00 };
    byte(0x72);
    put(hello, sizeof hello);
    write_seed(dir, "inflate", "01-rfc-hello");
    byte(0x0B);
    put(stored, sizeof stored);
    write_seed(dir, "inflate", "02-stored-block");
    byte(0x01);
    put("{\"user\":\"alice\",\"score\":1234}{\"user\":\"bob\",\"score\":99}", 48);
    write_seed(dir, "inflate", "03-json-text");
    byte(0xFC);                        /* an empty message twice, context kept */
    write_seed(dir, "inflate", "04-empty-with-context");
}

/* Handshake strings (fuzz_handshake.c): key, token list, token, origin,
 * then patterns, one a line. */
static void handshake_seeds(const char *dir)
{
    static const char *const seeds[][2] = {
        { "01-rfc-sample", "dGhlIHNhbXBsZSBub25jZQ==\nkeep-alive, Upgrade\n"
          "upgrade\nhttps://www.example.com\nexample.com\n*.example.com\n"
          "https://www.example.com:443" },
        { "02-whitespace", " \tdGhlIHNhbXBsZSBub25jZQ==\t\n,, chat ,superchat,\n"
          "superchat\nhttp://a.b.example.com:8080\n*.example.com:8080\n"
          "ws://x:1\nhttps://*.example.com" },
        { "03-padding-bits", "AAAAAAAAAAAAAAAAAAAAAB==\nWebSocket\nwebsocket\n"
          "null\nhttp://*\nftp://host\nexample.com:0" },
        { "04-bad", "dGhlIHNhbXBsZSBub25jZQ=\n\t,\n\nHTTP://EXAMPLE.COM:80\n"
          "example.com\n[::1]:80\nhttp://a.com/path\nhttp://u@a.com" },
        { "05-ports", "dGhlIHNhbXBsZSBub25jZQ===\nUpgrade,,\nUPGRADE\n"
          "https://a.com:443\nhttps://a.com\nhttp://a.com:443\na.com:99999\n"
          "*.*.com\na.*.com" },
    };
    size_t i;

    for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        put(seeds[i][1], strlen(seeds[i][1]));
        write_seed(dir, "handshake", seeds[i][0]);
    }
}

/* Round trips (fuzz_roundtrip.c): [cfg][level][rng seed] then messages:
 * [k < 200][h][per fragment: length byte, payload], controls [200..249]
 * [length][payload], a close [250..][code index][reason length][reason]. */
static void rt_frag(const char *p)
{
    byte((unsigned)strlen(p));
    put(p, strlen(p));
}

static void roundtrip_seeds(const char *dir)
{
    /* Masked, by wsp_frame_header_write: a text, a ping, a close. */
    byte(0x01); byte(0x00); byte(7);
    byte(0); byte(0x00); rt_frag("Hello");
    byte(200); rt_frag("ping");
    byte(250); byte(0); byte(3); put("bye", 3);
    write_seed(dir, "roundtrip", "01-masked-text-ping-close");

    /* Unmasked wsp_buf frames: binary in 3 fragments, pongs between. */
    byte(0x02); byte(0x00); byte(9);
    byte(1); byte(0x55); rt_frag("abc"); rt_frag(""); rt_frag("de");
    byte(201); rt_frag("");
    byte(255); byte(8); byte(0);
    write_seed(dir, "roundtrip", "02-unmasked-buf-fragments");

    /* Compressed, window 15, memLevel 7, context kept: a whole message cut
     * in 2, then one deflated part by part; then no context, window 9. */
    byte(0x35); byte(0x18); byte(3);
    byte(0); byte(0x0A); rt_frag("compress me, compress me"); rt_frag("again");
    byte(0); byte(0xCB); rt_frag("part one "); rt_frag("part one "); rt_frag("");
    byte(0); byte(0x08); rt_frag("compress me, compress me");
    write_seed(dir, "roundtrip", "03-deflate-context");
    byte(0x05); byte(0x60); byte(5);
    byte(0); byte(0x8E); rt_frag("aaaaaaaaaaaaaaaaaaaa"); rt_frag("b");
    rt_frag("aaaaaaaaaaaaaaaaaaaa"); rt_frag("c");
    write_seed(dir, "roundtrip", "04-deflate-release-window9");

    /* Lengths: the 16-bit form, then either side of 64 KiB, pseudo-random
     * payloads (the input ends). */
    byte(0x00); byte(0x00); byte(11);
    byte(0); byte(0x01); byte(230); byte(40);
    byte(0); byte(0x03); byte(253); byte(127); byte(253); byte(128);
    write_seed(dir, "roundtrip", "05-lengths");
    byte(0x0D); byte(0x43); byte(13);
    byte(0); byte(0x09); byte(255); byte(3);
    write_seed(dir, "roundtrip", "06-deflate-64bit-length");
}

static void make_dir(const char *dir, const char *sub)
{
    char path[4096];

    snprintf(path, sizeof path, "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    make_dir(argv[1], NULL);
    make_dir(argv[1], "reader");
    make_dir(argv[1], "utf8");
    make_dir(argv[1], "session");
    make_dir(argv[1], "pmd");
    make_dir(argv[1], "inflate");
    make_dir(argv[1], "handshake");
    make_dir(argv[1], "roundtrip");
    reader_seeds(argv[1]);
    pmd_seeds(argv[1]);
    inflate_seeds(argv[1]);
    session_seeds(argv[1]);
    utf8_seeds(argv[1]);
    handshake_seeds(argv[1]);
    roundtrip_seeds(argv[1]);
    return 0;
}
