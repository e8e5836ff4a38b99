/* conf_parse.h -- what the config parser's files share: the load context, the key tables and
 * the value parsers every section uses. Internal to server/conf/. */
#ifndef SK_CONF_PARSE_H
#define SK_CONF_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "conf/conf.h"

#define DEFAULT_EDNS_SIZE 1232
#define DEFAULT_TCP_MAX_CLIENTS 250
#define DEFAULT_TCP_IDLE_TIMEOUT_MS 10000
/* A query is a few hundred bytes at most and leaves the client in one segment; 5 s covers two
 * lost segments' retransmissions (an initial RTO of 1 s, then 2 s) on a slow path, while a client
 * that trickles a byte at a time to keep the idle clock running loses its slot within seconds. */
#define DEFAULT_TCP_QUERY_TIMEOUT_MS 5000
#define DEFAULT_TCP_MAX_PENDING 32
#define MAX_WORKERS 1024
#define MAX_FILE_SIZE (16u << 20)
#define DEFAULT_RING_SIZE 16384
#define DEFAULT_FLUSH_MS 1000
#define DEFAULT_STATS_INTERVAL_S 60
#define DEFAULT_JSONL_ROTATE_MB 256
#define DEFAULT_JSONL_KEEP 20
#define DEFAULT_NATS_SUBJECT "sinkhole.events"
#define DEFAULT_NATS_STREAM "SINKHOLE"
#define DEFAULT_NATS_REPLICAS 1
#define DEFAULT_NATS_DUPLICATE_WINDOW_S 120
#define DEFAULT_NATS_MAX_PENDING 4096
#define DEFAULT_NATS_ACK_TIMEOUT_MS 5000
#define DEFAULT_NATS_DRAIN_MS 5000
#define DEFAULT_NATS_SPOOL_MAX_MB 1024
#define DEFAULT_NATS_SPOOL_FSYNC_MS 1000
#define DEFAULT_RRL_RATE 20
#define DEFAULT_RRL_WINDOW 15
#define DEFAULT_RRL_SLIP 2
#define DEFAULT_RRL_IPV4_PREFIX 24
#define DEFAULT_RRL_IPV6_PREFIX 56
#define DEFAULT_RRL_TABLE_SIZE 65536
#define MAX_RRL_RATE 1000000
#define MAX_RRL_EXEMPT 64       /* every limited query scans them: a handful is what they are for */

/*
 * Everything one load needs. Problems are reported as they are found and counted here rather
 * than returned, so that one pass reports every mistake in the file instead of the first only.
 */
/* A path read from the file: the string stored, its line, and whether it was written relative. */
typedef struct path_rec {
	const char *stored;
	unsigned line;
	bool relative;
} path_rec_t;

typedef struct ctx {
	const char *path;       /* for diagnostics */
	yaml_document_t *doc;
	unsigned errors;
	bool nomem;
	path_rec_t *paths;      /* every path stored, for the chroot check after the parse */
	size_t npaths, cappaths;
} ctx_t;

/*
 * One key a mapping may hold. The parser of a value writes to `obj + off`; `min` and `max` bound
 * numbers. A new config key, or a new top-level section, is one more row in a table below.
 */
typedef struct field field_t;
typedef void field_fn(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
struct field {
	const char *name;
	field_fn *parse;
	size_t off;
	unsigned min, max;
	bool required;
	const char *expect;     /* what a missing required key should hold, for the message */
};

#define CONF_OFF(member) offsetof(sk_conf_t, member)

/* Value parsers and helpers (conf.c). A `field_fn` parses one value into obj + f->off. */

/* Report a problem at `node`'s line as "file:line: message" and count it. */
void sk_cf_error(ctx_t *ctx, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
unsigned sk_cf_node_line(const yaml_node_t *node);
char *sk_cf_dup_or_flag(ctx_t *ctx, const char *s, size_t len);
const char *sk_cf_scalar(const yaml_node_t *node);
bool sk_cf_is_null(const yaml_node_t *node);
const char *sk_cf_shown(const yaml_node_t *node, char *buf, size_t cap);
bool sk_cf_want_string(ctx_t *ctx, const char *where, yaml_node_t *val, const char *expect);
bool sk_cf_want_number(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f,
	unsigned *out);
void sk_cf_parse_uint(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_u16(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_store_string(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f,
	void *obj, const char *expect);
void sk_cf_parse_string(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_version(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_map(ctx_t *ctx, const char *where, yaml_node_t *map, const field_t *fields,
	size_t nfields, void *obj);
void sk_cf_store_path(ctx_t *ctx, const char *where, yaml_node_t *val, char **dst, const char *expect);
void sk_cf_parse_path(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_tag_map(ctx_t *ctx, const char *where, yaml_node_t *val, sk_tag_t **tags_out,
	size_t *ntags_out);
void sk_cf_parse_pow2(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_bool(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);

/* Sections (one file each), rows of conf.c's top-level table. */
void sk_cf_parse_server(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_cookies(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_zones(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_seized(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_telemetry(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_geoip(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_rrl(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_control(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_metrics(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);
void sk_cf_parse_transfer(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj);

/* Free what the `transfer:` section holds (conf_xfr.c). */
void sk_conf_xfr_free(sk_xfr_conf_t *x);

#endif
