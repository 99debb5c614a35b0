/*
 * fuzz_common.h - shared by the fuzz targets: a check that aborts (so both
 * libFuzzer and the standalone replay driver report it) and the entry point.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* For a harness's own byte loops (generating and checking payloads): they
 * are not the code under test, and libFuzzer's comparison tracing of every
 * iteration cost the round-trip target ~40 % of its time. */
#if defined(__clang__)
#define FUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_NO_COVERAGE
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
