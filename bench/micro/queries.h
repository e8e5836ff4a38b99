/* queries.h -- a dnsperf query file as query messages, for the micro benchmarks */
#ifndef SK_BENCH_QUERIES_H
#define SK_BENCH_QUERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The queries lie end to end, as a worker's receive slots hold them: no padding to walk over. */
typedef struct bq {
	uint32_t off;
	uint16_t len;
} bq_t;

typedef struct bq_set {
	bq_t *q;
	size_t n;
	uint8_t *wire;       /* query i is wire[q[i].off .. + q[i].len) */
} bq_set_t;

/* Each "name type" line of `path` as a query message, with an OPT record when `edns` and, when
 * `option` is not NULL, one EDNS option given as dnsperf's -E takes it ("code:hexdata"; implies
 * `edns`). 0, or -1 after printing why (prefixed with `prog`). */
int bq_load(const char *prog, const char *path, bool edns, const char *option, bq_set_t *out);
void bq_free(bq_set_t *s);

struct sk_snapshot;
/* What both benchmarks start with: warnings only in the log, CONFIG loaded as sinkholed loads it
 * (*snap), the query file as bq_load() reads it (*set). 0, or -1 after saying why. */
int bq_setup(const char *prog, const char *conf, const char *path, bool edns, const char *option,
	struct sk_snapshot **snap, bq_set_t *set);

/* CLOCK_MONOTONIC in nanoseconds. */
double bq_now_ns(void);
/* Sort doubles ascending, for medians. */
void bq_sort(double *v, size_t n);

#endif
