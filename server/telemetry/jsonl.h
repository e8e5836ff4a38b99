/* jsonl.h -- the JSON lines sink's record formatter; internal to the telemetry module */
#ifndef SK_JSONL_H
#define SK_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include "telemetry/sink.h"

/* The date and time of the last whole second formatted, so that gmtime_r() runs once a second
 * rather than once a record. Start zeroed. */
typedef struct sk_jsonl_clock {
	int64_t sec;
	int valid;
	char text[32];    /* "2026-11-21T21:41:15" */
} sk_jsonl_clock_t;

/*
 * Write `rec` as one JSON object and a newline into out[0..cap). Returns the length, or 0 when
 * it does not fit (nothing useful is left in `out` then). The output is valid UTF-8 whatever
 * the strings hold. Field names and meanings: README.md, "Telemetry".
 */
size_t sk_jsonl_format(char *out, size_t cap, const sk_record_t *rec, sk_jsonl_clock_t *clock);

#endif
