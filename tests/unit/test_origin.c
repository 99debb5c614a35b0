/*
 * test_origin.c - WebSocketOrigin's patterns: validity and matching.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wsp_origin.h"

static int allowed(const char *origin, const char *pattern)
{
    const char *pats[1];
    pats[0] = pattern;
    return wsp_origin_allowed(origin, pats, 1);
}

static void exact_patterns(void **state)
{
    (void)state;
    assert_true(allowed("https://app.example.com", "https://app.example.com"));
    assert_true(allowed("HTTPS://App.Example.COM", "https://app.example.com"));
    assert_true(allowed("https://app.example.com:443", "https://app.example.com"));
    assert_false(allowed("http://app.example.com", "https://app.example.com"));
    assert_false(allowed("https://app.example.com:8443", "https://app.example.com"));
    assert_true(allowed("https://app.example.com:8443", "https://app.example.com:8443"));
    assert_false(allowed("https://evil-app.example.com", "https://app.example.com"));
    assert_false(allowed("https://app.example.com.evil.net", "https://app.example.com"));
    /* No scheme: http and https, default ports only. */
    assert_true(allowed("http://localhost", "localhost"));
    assert_true(allowed("https://localhost", "localhost"));
    assert_false(allowed("http://localhost:9998", "localhost"));
    assert_true(allowed("http://localhost:9998", "localhost:9998"));
    assert_true(allowed("https://localhost:9998", "localhost:9998"));
    assert_false(allowed("ftp://localhost", "localhost"));
}

static void wildcard_patterns(void **state)
{
    (void)state;
    assert_true(allowed("https://a.example.com", "*.example.com"));
    assert_true(allowed("http://a.b.example.com", "*.example.com"));
    assert_false(allowed("https://example.com", "*.example.com"));
    assert_false(allowed("https://badexample.com", "*.example.com"));
    assert_false(allowed("https://a.example.com.evil.net", "*.example.com"));
    assert_true(allowed("https://a.example.com", "https://*.example.com"));
    assert_false(allowed("http://a.example.com", "https://*.example.com"));
    /* A '*' in the origin itself is not a wildcard. */
    assert_false(allowed("https://*.example.com", "*.example.com"));
}

static void bad_origins_match_nothing(void **state)
{
    static const char *const any[] = { "localhost", "*.example.com",
                                       "https://example.com" };
    static const char *const bad[] = {
        "null", "", "localhost", "https://", "https://example.com/",
        "https://example.com/path", "https://user@example.com",
        "https://example.com:", "https://example.com:0",
        "https://example.com:65536", "https://example.com:44x",
        "https://[::1]", "ht tp://localhost",
    };
    size_t i;
    (void)state;
    assert_false(wsp_origin_allowed(NULL, any, 3));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(wsp_origin_allowed(bad[i], any, 3));
    assert_true(wsp_origin_allowed("https://example.com", any, 3));
    assert_false(wsp_origin_allowed("https://example.com", any, 0));
}

static void pattern_validity(void **state)
{
    (void)state;
    assert_null(wsp_origin_pattern_error("https://app.example.com"));
    assert_null(wsp_origin_pattern_error("*.example.com"));
    assert_null(wsp_origin_pattern_error("localhost:9998"));
    assert_null(wsp_origin_pattern_error("chrome-extension://abc:1"));
    assert_non_null(wsp_origin_pattern_error(""));
    assert_non_null(wsp_origin_pattern_error("https://example.com/"));
    assert_non_null(wsp_origin_pattern_error("https://ex*ample.com"));
    assert_non_null(wsp_origin_pattern_error("*.*.example.com"));
    assert_non_null(wsp_origin_pattern_error("*"));
    assert_non_null(wsp_origin_pattern_error("https://example.com:99999"));
    assert_non_null(wsp_origin_pattern_error("chrome-extension://abc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_patterns),
        cmocka_unit_test(wildcard_patterns),
        cmocka_unit_test(bad_origins_match_nothing),
        cmocka_unit_test(pattern_validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
