/*
 * wsp_test_util.h - helpers for the protocol core unit tests: a byte-buffer
 * builder that writes frames by hand (independently of the serializer under
 * test), a callback recorder that logs every event as text, and a driver
 * that feeds one stream with many different chunkings.
 */
#ifndef WSP_TEST_UTIL_H
#define WSP_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "wsp_frame.h"

#define FIN 0x80

typedef struct tbuf {
    uint8_t *p;
    size_t   len, cap;
} tbuf;

void tbuf_put(tbuf *b, const void *data, size_t len);
void tbuf_byte(tbuf *b, uint8_t c);
void tbuf_free(tbuf *b);

/* Appends a frame: b0 is FIN|RSV|opcode; masked with a key that changes
 * from frame to frame; minimal length encoding. */
void put_frame(tbuf *b, uint8_t b0, const void *payload, size_t len, int masked);
/* Same, with a string payload. */
void put_sframe(tbuf *b, uint8_t b0, const char *payload, int masked);

/* Everything the callbacks saw, as text: one line per event, payloads in
 * hex, e.g. "msg 1 48656c6c6f\n", "ping 78\n", "close 1000 627965\n". */
typedef struct recorder {
    char   *log;
    size_t  len, cap;
    int     events;
    int     stop_at;      /* the stop_at-th event (1-based) returns 1; 0 never */
    int     stop_all;     /* every event returns 1 */
    wsp_reader *reader;   /* for callbacks that inspect the reader */
    int   (*hook)(struct recorder *rec, int kind, const uint8_t *d, size_t n);
} recorder;

extern const wsp_reader_callbacks recorder_callbacks;
void recorder_reset(recorder *rec);

/* Outcome of feeding a stream: final status (OK or FAIL, STOPPED is resumed
 * by the driver), error code, error text and the event log. */
typedef struct outcome {
    wsp_status  status;
    int         error;
    const char *error_text;
    char       *log;
    size_t      stops;    /* how many times a callback stopped the feed */
} outcome;

void outcome_free(outcome *o);

/* Feeds stream cut at the given split points (sorted, may be empty). */
void feed_with_splits(const wsp_reader_config *cfg, const uint8_t *s,
                      size_t len, const size_t *splits, size_t nsplits,
                      int stop_all, outcome *out);
/* Feeds stream whole, byte by byte and at every 2-way split, with and
 * without callbacks stopping the feed, asserting all outcomes identical;
 * returns the whole-feed outcome in *out. */
void feed_all_ways(const wsp_reader_config *cfg, const uint8_t *s, size_t len,
                   outcome *out);
/* feed_all_ways + assertions on status, error and log. */
void expect_stream(const wsp_reader_config *cfg, const tbuf *stream,
                   wsp_status status, int error, const char *log);

extern const wsp_reader_config server_cfg;
extern const wsp_reader_config client_cfg;

#endif
