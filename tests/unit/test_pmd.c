/*
 * test_pmd.c - permessage-deflate negotiation (RFC 7692 5-7): the answer to
 * each offer under a default policy and under a memory-saving one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "wsp_pmd.h"

typedef struct row {
    const char *offer;
    const char *answer;          /* NULL: declined */
} row;

static void check_rows(const row *rows, size_t n, const wsp_pmd_policy *pol)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char resp[WSP_PMD_RESPONSE_MAX];
        wsp_pmd_params p;
        int ok = wsp_pmd_negotiate(rows[i].offer, pol, &p, resp);
        if (!rows[i].answer) {
            if (ok)
                fail_msg("offer '%s' should be declined, got '%s'", rows[i].offer, resp);
            assert_string_equal(resp, "");
        }
        else {
            if (!ok)
                fail_msg("offer '%s' should be accepted as '%s'", rows[i].offer,
                         rows[i].answer);
            assert_string_equal(resp, rows[i].answer);
        }
    }
}

static void default_policy_table(void **state)
{
    static const row rows[] = {
        { NULL, NULL },
        { "", NULL },
        { "x-webkit-deflate-frame", NULL },
        { "permessage-deflate", "permessage-deflate" },
        { "Permessage-Deflate", "permessage-deflate" },
        { "  permessage-deflate  ", "permessage-deflate" },
        /* What Chromium, Firefox, ws and websockets send. */
        { "permessage-deflate; client_max_window_bits",
          "permessage-deflate; client_max_window_bits=15" },
        { "permessage-deflate; server_no_context_takeover",
          "permessage-deflate; server_no_context_takeover" },
        { "permessage-deflate; client_no_context_takeover",
          "permessage-deflate; client_no_context_takeover" },
        { "permessage-deflate;server_max_window_bits=10",
          "permessage-deflate; server_max_window_bits=10" },
        { "permessage-deflate; server_max_window_bits=\"12\"",
          "permessage-deflate; server_max_window_bits=12" },
        { "permessage-deflate; client_max_window_bits=9",
          "permessage-deflate; client_max_window_bits=9" },
        { "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=11; client_max_window_bits=12",
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=11; client_max_window_bits=12" },
        /* Bad values, repeats, unknown parameters: that offer is declined. */
        { "permessage-deflate; server_max_window_bits", NULL },
        { "permessage-deflate; server_max_window_bits=16", NULL },
        { "permessage-deflate; server_max_window_bits=7", NULL },
        { "permessage-deflate; server_max_window_bits=010", NULL },
        { "permessage-deflate; server_max_window_bits=1x", NULL },
        { "permessage-deflate; server_max_window_bits=8", NULL },  /* zlib */
        { "permessage-deflate; client_max_window_bits=16", NULL },
        { "permessage-deflate; client_max_window_bits=\"\"", NULL },
        { "permessage-deflate; server_no_context_takeover=1", NULL },
        { "permessage-deflate; client_no_context_takeover; client_no_context_takeover", NULL },
        { "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", NULL },
        { "permessage-deflate; client_max_window_bits; client_max_window_bits=10", NULL },
        { "permessage-deflate; mystery", NULL },
        { "permessage-deflate; server_max_window_bits=\"10", NULL },
        { "permessage-deflate garbage", NULL },
        { "permessage-deflate; ", NULL },
        /* Several offers: the first acceptable one wins, one answer. */
        { "permessage-deflate; server_max_window_bits=8, permessage-deflate",
          "permessage-deflate" },
        { "permessage-deflate; mystery, permessage-deflate; client_max_window_bits",
          "permessage-deflate; client_max_window_bits=15" },
        { "x-custom; a=\"b,c\", permessage-deflate; server_max_window_bits=9",
          "permessage-deflate; server_max_window_bits=9" },
        { "permessage-deflate; server_max_window_bits=12, permessage-deflate",
          "permessage-deflate; server_max_window_bits=12" },
    };
    wsp_pmd_policy pol;
    (void)state;
    wsp_pmd_policy_default(&pol);
    check_rows(rows, sizeof(rows) / sizeof(rows[0]), &pol);
}

/* A server that keeps memory down: small windows, no context kept on
 * either side where the RFC lets the server say so. */
static void memory_saving_policy_table(void **state)
{
    static const row rows[] = {
        { "permessage-deflate",
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=11" },
        { "permessage-deflate; client_max_window_bits",
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=11; client_max_window_bits=10" },
        { "permessage-deflate; client_max_window_bits=9; server_max_window_bits=13",
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=11; client_max_window_bits=9" },
        { "permessage-deflate; server_max_window_bits=9",
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=9" },
    };
    wsp_pmd_policy pol = { 11, 10, 1, 1 };
    (void)state;
    check_rows(rows, sizeof(rows) / sizeof(rows[0]), &pol);
}

static void agreed_parameters(void **state)
{
    char resp[WSP_PMD_RESPONSE_MAX];
    wsp_pmd_params p;
    wsp_pmd_policy pol = { 12, 10, 0, 1 };
    (void)state;
    assert_true(wsp_pmd_negotiate("permessage-deflate; client_max_window_bits",
                                  &pol, &p, resp));
    assert_int_equal(p.server_max_window_bits, 12);
    assert_int_equal(p.client_max_window_bits, 10);
    assert_int_equal(p.server_no_context_takeover, 0);
    assert_int_equal(p.client_no_context_takeover, 1);
    /* Without client_max_window_bits offered, the client keeps 15 and
     * the server may not ask for less. */
    assert_true(wsp_pmd_negotiate("permessage-deflate", &pol, &p, resp));
    assert_int_equal(p.client_max_window_bits, 15);
    assert_null(strstr(resp, "client_max_window_bits"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_policy_table),
        cmocka_unit_test(memory_saving_policy_table),
        cmocka_unit_test(agreed_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
