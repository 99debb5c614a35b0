/*
 * test_abi.c - the public header's version gate: a handler built against
 * this mod_websocket.h, run by an older module whose ws_server table ends
 * where version 1's did, gets WS_ENOSYS (or NULL) from every version-2
 * call instead of a call past the end of the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mod_websocket.h"

static int timer_calls;
static int fake_set_timer(ws_conn *c, long long usec)
{
    (void)c;
    timer_calls++;
    return usec == 42 ? WS_OK : WS_EINVAL;
}

static const char *fake_query(ws_conn *c)
{
    (void)c;
    return "a=1";
}

/* A conn is only its head: a pointer to the table. */
struct fake_conn { const ws_server *server; };

static void short_table_answers_enosys(void **state)
{
    ws_server *srv = calloc(1, sizeof(*srv));
    struct fake_conn fc;
    ws_conn *c = (ws_conn *)&fc;
    (void)state;

    /* What an ABI-1 module has: the table up to and including log; the
     * rest of this allocation holds what would be past its end. */
    srv->abi_version = 1;
    srv->size = offsetof(ws_server, log) + sizeof(srv->log);
    srv->set_timer = fake_set_timer;   /* "past the end": must not be called */
    srv->query = fake_query;
    fc.server = srv;
    assert_int_equal(ws_set_timer(c, 42), WS_ENOSYS);
    assert_int_equal(timer_calls, 0);
    assert_null(ws_query(c));
    assert_null(ws_env(c, "X"));
    assert_null(ws_location_ctx(c));
    assert_int_equal(ws_defer(c, NULL, NULL), WS_ENOSYS);
    assert_int_equal(ws_set_header(c, "A", "b"), WS_ENOSYS);
    assert_int_equal(ws_send_part(c, WS_TEXT, "x", 1, 1), WS_ENOSYS);
    free(srv);
}

static void full_table_calls_through(void **state)
{
    ws_server *srv = calloc(1, sizeof(*srv));
    struct fake_conn fc;
    ws_conn *c = (ws_conn *)&fc;
    (void)state;

    srv->abi_version = WS_HANDLER_ABI_VERSION;
    srv->size = sizeof(*srv);
    srv->set_timer = fake_set_timer;
    srv->query = fake_query;
    fc.server = srv;
    timer_calls = 0;
    assert_int_equal(ws_set_timer(c, 42), WS_OK);
    assert_int_equal(timer_calls, 1);
    assert_string_equal(ws_query(c), "a=1");
    /* A NULL slot in a long enough table is not called either. */
    assert_int_equal(ws_defer(c, NULL, NULL), WS_ENOSYS);
    free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_table_answers_enosys),
        cmocka_unit_test(full_table_calls_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
