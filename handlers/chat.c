/*
 * chat.c - chat rooms on topics (ws_subscribe, ws_publish_from), the
 * example of htdocs/chat.html.
 *
 *   WebSocketHandlerLoad chat modules/mod_websocket_chat.so chat
 *   <Location /chat>
 *       WebSocketHandler chat
 *   </Location>
 *
 * or chat.so in a WebSocketHandlerRoot directory (as `make run` serves it:
 * ws://localhost:9998/chat).
 *
 * Room: ?room=<name>; else the path below the <Location> (/chat/kitchen is
 * room "kitchen"; a handler root serves /chat only); else "lobby".  Room
 * "r" is the topic "chat/r".  Nickname: ?nick=<name>, else the first
 * "/nick <name>" message.  Names are ASCII letters, digits, '.', '-' and
 * '_' (no percent-decoding: anything else is refused), rooms 1-32 bytes,
 * nicknames 1-24.  Nicknames are not unique: a registry would have to span
 * every child and machine of the room.  A bad room or nickname in the URL
 * is closed 1008 with the reason.
 *
 * Protocol: text messages both ways, one event per message.
 *   client -> server
 *     /nick <name>     choose a nickname (joins the room) or change it
 *     anything else    a chat message (up to 4096 bytes), once joined
 *   server -> client
 *     * <nick> joined         to the whole room, the joiner included
 *     * <old> is now <new>    to the whole room
 *     * <nick> left           to the rest of the room
 *     <nick>: <text>          a message, to the whole room
 *     ! <text>                to this client only: errors and the prompt
 * The sender gets its own messages back (exclude_self 0): its page shows a
 * line once the server has taken it, in the order the room sees.  A
 * connection is in the room (receives it) only once it has a nickname.
 *
 * A topic spans one child process unless WebSocketPubSub is configured
 * (README): on a server of several children without it, two members of a
 * room meet only if they happen to be in the same child.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mod_websocket.h"

#define ROOM_MAX     32
#define NICK_MAX     24
#define TEXT_MAX     4096
#define TOPIC_PREFIX "chat/"
#define DEFAULT_ROOM "lobby"

/* Per <Location>: its path, to read the room from the request's path. */
typedef struct chat_loc { const char *where; size_t len; } chat_loc;

/* Per connection; touched only by its own callbacks (one at a time). */
typedef struct chatter {
    char topic[sizeof(TOPIC_PREFIX) + ROOM_MAX];  /* "chat/<room>" */
    char nick[NICK_MAX + 1];                      /* "": not joined yet */
} chatter;

static int name_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

/* The value of key in a query string "a=1&key=v", or NULL; *n its length. */
static const char *query_param(const char *q, const char *key, size_t *n)
{
    size_t klen = strlen(key);
    while (q && *q) {
        size_t plen = strcspn(q, "&");
        if (plen > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
            *n = plen - klen - 1;
            return q + klen + 1;
        }
        q += plen;
        if (*q == '&')
            q++;
    }
    return NULL;
}

/* The room below the location's path: "/chat/kitchen" -> "kitchen".
 * NULL when there is none ("/chat", "/chat/") or the location is not a
 * path prefix (<Directory>, a regex); "" for a path that does not name a
 * room the way we read it ("/chat/a/b"). */
static const char *room_from_path(const chat_loc *loc, const char *uri, size_t *n)
{
    const char *rest;
    if (!loc || !loc->where || !uri || strncmp(uri, loc->where, loc->len) != 0)
        return NULL;
    rest = uri + loc->len;
    if (loc->len && loc->where[loc->len - 1] == '/')
        rest--;                       /* <Location /chat/>: keep the slash */
    if (rest[0] == '\0' || strcmp(rest, "/") == 0)
        return NULL;
    *n = (rest[0] == '/') ? strlen(rest + 1) : 0;
    return rest[0] == '/' ? rest + 1 : "";
}

/* A line to this client only, "! ...". */
static void note(ws_conn *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void note(ws_conn *c, const char *fmt, ...)
{
    char buf[256] = "! ";
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf + 2, sizeof(buf) - 2, fmt, ap);
    va_end(ap);
    if (n >= 0)
        ws_send_text(c, buf, strlen(buf));
}

/* A notice "* ..." to the whole room (self: whether c gets it too). */
static void announce(ws_conn *c, chatter *ch, int self, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void announce(ws_conn *c, chatter *ch, int self, const char *fmt, ...)
{
    char buf[128] = "* ";               /* two nicknames fit */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + 2, sizeof(buf) - 2, fmt, ap);
    va_end(ap);
    ws_publish_from(c, ch->topic, WS_TEXT, buf, strlen(buf), !self);
}

/* Subscribe first, then announce: the joiner's own "joined" notice is the
 * sign that it is in the room.  (With WebSocketPubSub a publication right
 * after a new subscription can reach Redis before it and miss the joiner:
 * the page does not wait for that notice.) */
static void join(ws_conn *c, chatter *ch, const char *nick, size_t n)
{
    if (ws_subscribe(c, ch->topic) != WS_OK) {
        ws_close(c, 1011, "cannot join the room");
        return;
    }
    memcpy(ch->nick, nick, n);
    ch->nick[n] = '\0';
    announce(c, ch, 1, "%s joined", ch->nick);
}

static void set_nick(ws_conn *c, chatter *ch, const char *nick, size_t n)
{
    char old[NICK_MAX + 1];
    if (!name_ok(nick, n, NICK_MAX)) {
        note(c, "a nickname is 1-%d letters, digits, '.', '-' or '_'", NICK_MAX);
        return;
    }
    if (!ch->nick[0]) {
        join(c, ch, nick, n);
        return;
    }
    memcpy(old, ch->nick, sizeof(old));
    memcpy(ch->nick, nick, n);
    ch->nick[n] = '\0';
    announce(c, ch, 1, "%s is now %s", old, ch->nick);
}

/* "<nick>: <text>" to the room, the sender included. */
static void say(ws_conn *c, chatter *ch, const char *text, size_t len)
{
    size_t nl = strlen(ch->nick), total = nl + 2 + len;
    char *buf = malloc(total);
    if (!buf) {
        note(c, "out of memory: message not sent");
        return;
    }
    memcpy(buf, ch->nick, nl);
    memcpy(buf + nl, ": ", 2);
    memcpy(buf + nl + 2, text, len);   /* whole UTF-8 text after ASCII */
    if (ws_publish_from(c, ch->topic, WS_TEXT, buf, total, 0) != WS_OK)
        note(c, "message not sent");
    free(buf);
}

/* The room from ?room=, else the path, else the default; 0 if valid. */
static int pick_room(ws_conn *c, chatter *ch)
{
    size_t n = 0;
    const char *room = query_param(ws_query(c), "room", &n);
    if (!room)
        room = room_from_path(ws_location_ctx(c), ws_uri(c), &n);
    if (!room) {
        room = DEFAULT_ROOM;
        n = strlen(room);
    }
    if (!name_ok(room, n, ROOM_MAX))
        return -1;
    memcpy(ch->topic, TOPIC_PREFIX, strlen(TOPIC_PREFIX));
    memcpy(ch->topic + strlen(TOPIC_PREFIX), room, n);
    ch->topic[strlen(TOPIC_PREFIX) + n] = '\0';
    return 0;
}

static void chat_open(ws_conn *c)
{
    chatter *ch = calloc(1, sizeof(*ch));
    size_t n = 0;
    const char *nick;
    if (!ch) {
        ws_close(c, 1011, "no memory");
        return;
    }
    ws_set_data(c, ch);
    if (pick_room(c, ch) != 0) {
        ws_close(c, 1008, "bad room name: 1-32 letters, digits, '.', '-' or '_'");
        return;
    }
    nick = query_param(ws_query(c), "nick", &n);
    if (!nick) {
        note(c, "welcome to %s: choose a nickname with /nick <name>",
             ch->topic + strlen(TOPIC_PREFIX));
        return;
    }
    if (!name_ok(nick, n, NICK_MAX)) {
        ws_close(c, 1008, "bad nickname: 1-24 letters, digits, '.', '-' or '_'");
        return;
    }
    join(c, ch, nick, n);
}

static void chat_message(ws_conn *c, ws_message_type type, const void *data,
                         size_t len)
{
    chatter *ch = ws_get_data(c);
    const char *text = data;
    if (!ch || !ch->topic[0])
        return;                        /* being closed by chat_open */
    if (type != WS_TEXT) {
        note(c, "text messages only");
        return;
    }
    if (len >= 6 && memcmp(text, "/nick ", 6) == 0) {
        set_nick(c, ch, text + 6, len - 6);
        return;
    }
    if (!ch->nick[0])
        note(c, "choose a nickname first: /nick <name>");
    else if (len > TEXT_MAX)
        note(c, "message too long (at most %d bytes)", TEXT_MAX);
    else
        say(c, ch, text, len);
}

static void chat_close(ws_conn *c, int code, const char *reason)
{
    chatter *ch = ws_get_data(c);
    (void)code; (void)reason;
    if (!ch)
        return;
    if (ch->nick[0])
        announce(c, ch, 0, "%s left", ch->nick);
    free(ch);
}

/* No arguments; keeps the location's path for room_from_path(). */
static void *chat_location(ws_config *cfg, int argc, const char *const *argv)
{
    chat_loc *loc = ws_config_alloc(cfg, sizeof(*loc));
    const char *where = ws_config_where(cfg);
    (void)argv;
    if (argc > 0) {
        ws_config_error(cfg, "chat takes no arguments");
        return NULL;
    }
    if (loc && where && where[0] == '/') {
        char *copy = ws_config_alloc(cfg, strlen(where) + 1);
        if (copy) {
            strcpy(copy, where);
            loc->where = copy;
            loc->len = strlen(copy);
        }
    }
    return loc;
}

static const ws_handler chat_handler = {
    .abi_version = WS_HANDLER_ABI_VERSION, .size = sizeof(ws_handler), .name = "chat",
    .on_location = chat_location, .on_open = chat_open,
    .on_message = chat_message, .on_close = chat_close,
};

const ws_handler *chat(const ws_server *server) { (void)server; return &chat_handler; }
