/* conf.c -- the YAML configuration file, validated into a read-only struct */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "util/err.h"
#include "util/log.h"

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

/* The directory the process has chrooted to (sk_conf_set_root), or NULL. */
static char *g_root;

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

static void error(ctx_t *ctx, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* libyaml counts lines from 0; editors and sk_diag() from 1. */
static unsigned node_line(const yaml_node_t *node)
{
	return node ? (unsigned)node->start_mark.line + 1 : 0;
}

static void error(ctx_t *ctx, const yaml_node_t *node, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sk_diag(0, ctx->path, node_line(node), "%s", msg);
	ctx->errors++;
}

static char *dup_or_flag(ctx_t *ctx, const char *s, size_t len)
{
	char *d = strndup(s, len);
	if (!d)
		ctx->nomem = true;
	return d;
}

static const char *scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* A plain (unquoted) `~`, `null` or nothing at all: YAML's null, which no key here accepts. */
static bool is_null(const yaml_node_t *node)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = scalar(node);
	return !*s || !strcmp(s, "~") || !strcasecmp(s, "null");
}

/*
 * The offending value, quoted for a message: short, one line, control bytes escaped, so that a
 * binary blob pasted into the config cannot garble the terminal or the log.
 */
static const char *shown(const yaml_node_t *node, char *buf, size_t cap)
{
	if (node->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (node->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (is_null(node))
		return "nothing";
	/* Room for the quotes, "...", and one escape at a time keeps every write inside `cap`. */
	const unsigned char *s = node->data.scalar.value;
	size_t n = node->data.scalar.length, o = 0, i;
	buf[o++] = '\'';
	for (i = 0; i < n && o + 10 < cap; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", s[i]);
		else
			buf[o++] = (char)s[i];
	}
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

/* A scalar that is usable as a C string: non-empty-or-allowed, and free of NUL bytes ("\0"). */
static bool want_string(ctx_t *ctx, const char *where, yaml_node_t *val, const char *expect)
{
	char got[96];
	if (val->type != YAML_SCALAR_NODE || is_null(val)) {
		error(ctx, val, "%s: expected %s, got %s", where, expect, shown(val, got, sizeof got));
		return false;
	}
	if (strlen(scalar(val)) != val->data.scalar.length) {
		error(ctx, val, "%s: expected %s, got a string with a NUL byte", where, expect);
		return false;
	}
	return true;
}

static bool want_number(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f,
	unsigned *out)
{
	char got[96];
	if (val->type != YAML_SCALAR_NODE || !sk_conf_parse_number(scalar(val), f->min, f->max, out)) {
		error(ctx, val, "%s: expected a whole number from %u to %u, got %s", where, f->min,
			f->max, shown(val, got, sizeof got));
		return false;
	}
	return true;
}

static void parse_uint(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	unsigned v;
	if (want_number(ctx, where, val, f, &v))
		*(unsigned *)((char *)obj + f->off) = v;
}

static void parse_u16(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	unsigned v;
	if (want_number(ctx, where, val, f, &v))
		*(uint16_t *)((char *)obj + f->off) = (uint16_t)v;
}

/* Store a string of f->min..f->max bytes at obj + f->off, replacing the default there. */
static void store_string(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f,
	void *obj, const char *expect)
{
	char **dst = (char **)((char *)obj + f->off);
	if (!want_string(ctx, where, val, expect))
		return;
	if (val->data.scalar.length < f->min || val->data.scalar.length > f->max) {
		error(ctx, val, "%s: expected %u to %u characters, got %zu", where, f->min, f->max,
			val->data.scalar.length);
		return;
	}
	free(*dst);
	*dst = dup_or_flag(ctx, scalar(val), val->data.scalar.length);
}

static void parse_string(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	store_string(ctx, where, val, f, obj, "a string");
}

static bool plain_word(const yaml_node_t *val, const char *const *words)
{
	if (val->type != YAML_SCALAR_NODE || val->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (; *words; words++)
		if (!strcasecmp(scalar(val), *words))
			return true;
	return false;
}

/*
 * `version: false` (or off, no, unquoted) hides the version; a quoted "no" is the text "no".
 * `true` is refused rather than taken as the text "true": whoever wrote it meant something else.
 */
static void parse_version(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	static const char *const hide[] = { "false", "off", "no", NULL };
	static const char *const show[] = { "true", "on", "yes", NULL };
	const char *expect = "a string, or false to hide the version";
	char got[96];

	if (plain_word(val, hide)) {
		char **dst = (char **)((char *)obj + f->off);
		free(*dst);
		*dst = NULL;
	} else if (plain_word(val, show)) {
		error(ctx, val, "%s: expected %s, got %s", where, expect, shown(val, got, sizeof got));
	} else {
		store_string(ctx, where, val, f, obj, expect);
	}
}

/*
 * Walk one mapping: every key must be a plain name, appear once and be in `fields`; each value
 * goes to its field's parser. A duplicated key's value is not parsed a second time, so no parser
 * ever has to free what an earlier occurrence stored.
 */
static void parse_map(ctx_t *ctx, const char *where, yaml_node_t *map, const field_t *fields,
	size_t nfields, void *obj)
{
	bool seen[16] = { false };
	char sub[128], got[96];

	assert(nfields <= sizeof seen / sizeof *seen);
	if (map->type != YAML_MAPPING_NODE) {
		error(ctx, map, "%s%sexpected a mapping of keys, got %s", where, *where ? ": " : "",
			shown(map, got, sizeof got));
		return;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(ctx->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(ctx->doc, p->value);
		if (key->type != YAML_SCALAR_NODE) {
			error(ctx, key, "%s%sexpected a key name, got %s", where, *where ? ": " : "",
				shown(key, got, sizeof got));
			continue;
		}
		size_t i;
		for (i = 0; i < nfields; i++)
			if (!strcmp(fields[i].name, scalar(key)))
				break;
		if (i == nfields) {
			char names[256];
			size_t o = 0;
			for (size_t k = 0; k < nfields && o < sizeof names; k++)
				o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", k ? ", " : "",
					fields[k].name);
			error(ctx, key, "%s%sunknown %s %s, expected one of: %s", where,
				*where ? ": " : "", *where ? "key" : "section", shown(key, got, sizeof got),
				names);
			continue;
		}
		snprintf(sub, sizeof sub, "%s%s%s", where, *where ? "." : "", fields[i].name);
		if (seen[i]) {
			error(ctx, key, "%s: duplicate key, it was already given above", sub);
			continue;
		}
		seen[i] = true;
		/* An empty value has no place of its own: libyaml marks it at the next token, which
		 * can be lines further down. Point the messages at its key instead. */
		if (val->type == YAML_SCALAR_NODE && val->data.scalar.length == 0 &&
		    val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			val->start_mark = key->start_mark;
		fields[i].parse(ctx, sub, val, &fields[i], obj);
	}
	for (size_t i = 0; i < nfields; i++)
		if (fields[i].required && !seen[i])
			error(ctx, map, "%s%smissing %s '%s', expected %s", where, *where ? ": " : "",
				*where ? "key" : "section", fields[i].name, fields[i].expect);
}

/* ---- server.listen ---- */

static void parse_listen(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96];
	(void)f;

	if (val->type != YAML_SEQUENCE_NODE) {
		error(ctx, val, "%s: expected a list of address@port, got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (n == 0) {
		error(ctx, val, "%s: expected at least one address@port, got an empty list", where);
		return;
	}
	conf->listen = calloc(n, sizeof *conf->listen);
	if (!conf->listen) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		sk_listen_t *l = &conf->listen[conf->nlisten];
		bool bad_port;
		if (!want_string(ctx, where, item, "an address@port"))
			continue;
		if (!sk_conf_parse_listen(scalar(item), l, &bad_port)) {
			if (bad_port)
				error(ctx, item, "%s: bad port in %s, expected a whole number from 1 to 65535",
					where, shown(item, got, sizeof got));
			else
				error(ctx, item, "%s: bad address in %s, expected an IPv4 or IPv6 address, "
					"then optionally @port", where, shown(item, got, sizeof got));
			continue;
		}
		size_t k;
		for (k = 0; k < conf->nlisten; k++)
			if (sk_conf_same_listen(&conf->listen[k], l))
				break;
		if (k < conf->nlisten) {
			error(ctx, item, "%s: duplicate entry %s, the same address and port as '%s'", where,
				shown(item, got, sizeof got), conf->listen[k].text);
			continue;
		}
		if (!(l->text = dup_or_flag(ctx, scalar(item), item->data.scalar.length)))
			return;
		conf->nlisten++;
	}
}

/* server.cpus: CPU numbers, each once. */
static void parse_cpus(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96];

	if (val->type != YAML_SEQUENCE_NODE || val->data.sequence.items.top == val->data.sequence.items.start) {
		error(ctx, val, "%s: expected a list of CPU numbers, got %s", where, shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (!(conf->cpus = calloc(n, sizeof *conf->cpus))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		unsigned v;
		if (!want_number(ctx, where, item, f, &v))
			continue;
		size_t k;
		for (k = 0; k < conf->ncpus && conf->cpus[k] != v; k++)
			;
		if (k < conf->ncpus) {
			error(ctx, item, "%s: CPU %u is listed twice", where, v);
			continue;
		}
		conf->cpus[conf->ncpus++] = v;
	}
}

/* ---- zones ---- */

static void note_path(ctx_t *ctx, const char *stored, unsigned line, bool relative)
{
	if (ctx->npaths == ctx->cappaths) {
		size_t cap = ctx->cappaths ? ctx->cappaths * 2 : 16;
		path_rec_t *p = realloc(ctx->paths, cap * sizeof *p);
		if (!p) {
			ctx->nomem = true;
			return;
		}
		ctx->paths = p;
		ctx->cappaths = cap;
	}
	ctx->paths[ctx->npaths++] = (path_rec_t){ stored, line, relative };
}

/*
 * Store the path in `val` at *dst, replacing what was there. Relative paths are taken from the
 * config file's folder, not from the working directory, so that a config and the files it names
 * can move together.
 */
static void store_path(ctx_t *ctx, const char *where, yaml_node_t *val, char **dst, const char *expect)
{
	const char *file, *slash = strrchr(ctx->path, '/');
	char *res = NULL;

	if (!want_string(ctx, where, val, expect))
		return;
	file = scalar(val);
	if (!*file) {
		error(ctx, val, "%s: expected %s, got ''", where, expect);
		return;
	}
	if (file[0] == '/' || !slash) {
		res = dup_or_flag(ctx, file, strlen(file));
	} else {
		int dirlen = (int)(slash - ctx->path) + 1;
		if (asprintf(&res, "%.*s%s", dirlen, ctx->path, file) < 0) {
			res = NULL;
			ctx->nomem = true;
		}
	}
	free(*dst);
	*dst = res;
	if (res)
		note_path(ctx, res, node_line(val), file[0] != '/');
}

static void parse_zone_file(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_zone_conf_t *z = obj;
	(void)f;
	store_path(ctx, where, val, &z->file, "a zone file path");
}

/* A file path at obj + f->off, resolved like zone files. */
static void parse_path(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	store_path(ctx, where, val, (char **)((char *)obj + f->off), "a file path");
}

static void parse_zone_name(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_zone_conf_t *z = obj;
	char got[96];
	(void)f;

	if (!want_string(ctx, where, val, "a domain name"))
		return;
	if (!sk_conf_valid_domain(scalar(val))) {
		error(ctx, val, "%s: expected a domain name (labels of 1 to 63 characters, 255 in all), "
			"got %s", where, shown(val, got, sizeof got));
		return;
	}
	z->name = dup_or_flag(ctx, scalar(val), val->data.scalar.length);
}

/* A `tags:` map into *tags_out / *ntags_out (a zone's or a seized list's). */
static void parse_tag_map(ctx_t *ctx, const char *where, yaml_node_t *val, sk_tag_t **tags_out,
	size_t *ntags_out)
{
	sk_tag_t *tags = NULL;
	size_t ntags = 0;
	char got[96];

	if (val->type != YAML_MAPPING_NODE) {
		error(ctx, val, "%s: expected a mapping of name: value, got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	yaml_node_pair_t *pairs = val->data.mapping.pairs.start;
	size_t n = (size_t)(val->data.mapping.pairs.top - pairs);
	if (n == 0)
		return;
	if (!(tags = calloc(n, sizeof *tags))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *key = yaml_document_get_node(ctx->doc, pairs[i].key);
		yaml_node_t *v = yaml_document_get_node(ctx->doc, pairs[i].value);
		if (!want_string(ctx, where, key, "a tag name"))
			continue;
		if (!key->data.scalar.length) {
			error(ctx, key, "%s: expected a tag name, got ''", where);
			continue;
		}
		size_t k;
		for (k = 0; k < ntags; k++)
			if (!strcmp(tags[k].key, scalar(key)))
				break;
		if (k < ntags) {
			error(ctx, key, "%s: duplicate tag %s", where, shown(key, got, sizeof got));
			continue;
		}
		/* An empty value is allowed (a tag may be a bare marker), a list or mapping is not. */
		if (v->type != YAML_SCALAR_NODE) {
			error(ctx, v, "%s.%s: expected a single value, got %s", where, scalar(key),
				shown(v, got, sizeof got));
			continue;
		}
		if (strlen(scalar(v)) != v->data.scalar.length) {
			error(ctx, v, "%s.%s: expected a value without NUL bytes", where, scalar(key));
			continue;
		}
		sk_tag_t *t = &tags[ntags];
		t->key = dup_or_flag(ctx, scalar(key), key->data.scalar.length);
		t->value = dup_or_flag(ctx, scalar(v), v->data.scalar.length);
		if (!t->key || !t->value) {
			free(t->key);
			free(t->value);
			break;
		}
		ntags++;
	}
	if (ntags == 0) {
		free(tags);
		tags = NULL;
	}
	*tags_out = tags;
	*ntags_out = ntags;
}

static void parse_tags(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_zone_conf_t *z = obj;
	(void)f;
	parse_tag_map(ctx, where, val, &z->tags, &z->ntags);
}

static const field_t zone_fields[] = {
	{ "file", parse_zone_file, 0, 0, 0, true, "the path of the zone file" },
	{ "name", parse_zone_name, 0, 0, 0, false, NULL },
	{ "tags", parse_tags, 0, 0, 0, false, NULL },
};

static void parse_zones(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96], sub[64];
	(void)f;

	if (is_null(val))
		return; /* `zones:` with nothing under it: a server that answers REFUSED */
	if (val->type != YAML_SEQUENCE_NODE) {
		error(ctx, val, "%s: expected a list of zones (- file: ...), got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (n == 0)
		return;
	if (!(conf->zones = calloc(n, sizeof *conf->zones))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n && !ctx->nomem; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		sk_zone_conf_t *z = &conf->zones[conf->nzones++];
		z->line = node_line(item);
		snprintf(sub, sizeof sub, "%s[%zu]", where, i);
		parse_map(ctx, sub, item, zone_fields, sizeof zone_fields / sizeof *zone_fields, z);
	}
}

/* ---- seized ---- */

#define SEIZED_OFF(member) offsetof(sk_seized_conf_t, member)

static void parse_seized_tags(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_seized_conf_t *sz = obj;
	(void)f;
	parse_tag_map(ctx, where, val, &sz->tags, &sz->ntags);
}

static const field_t seized_fields[] = {
	{ "list", parse_path, SEIZED_OFF(list), 0, 0, true, "the path of the list of seized domains" },
	{ "template", parse_path, SEIZED_OFF(template), 0, 0, true, "the path of the template zone file" },
	{ "tags", parse_seized_tags, 0, 0, 0, false, NULL },
};

static void parse_seized(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96], sub[64];
	(void)f;

	if (is_null(val))
		return;
	if (val->type != YAML_SEQUENCE_NODE) {
		error(ctx, val, "%s: expected a list of seized lists (- list: ...), got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (n == 0)
		return;
	if (!(conf->seized = calloc(n, sizeof *conf->seized))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n && !ctx->nomem; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		sk_seized_conf_t *sz = &conf->seized[conf->nseized++];
		sz->line = node_line(item);
		snprintf(sub, sizeof sub, "%s[%zu]", where, i);
		parse_map(ctx, sub, item, seized_fields, sizeof seized_fields / sizeof *seized_fields, sz);
	}
}

/* ---- server ---- */

#define CONF_OFF(member) offsetof(sk_conf_t, member)

/* server.user / server.group: a name, and its line for the "no such user" message of main. */
static void parse_account(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	store_string(ctx, where, val, f, obj, "a user or group name");
	if (f->off == CONF_OFF(user))
		conf->user_line = node_line(val);
	else
		conf->group_line = node_line(val);
}

/* server.chroot: an absolute folder, kept normalised so that paths can be compared with it. */
static void parse_chroot(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96];
	(void)f;
	if (!want_string(ctx, where, val, "an absolute folder path"))
		return;
	if (scalar(val)[0] != '/') {
		error(ctx, val, "%s: expected an absolute folder path, got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	char *norm = sk_conf_path_normalize(scalar(val));
	if (!norm) {
		ctx->nomem = true;
		return;
	}
	if (!strcmp(norm, "/")) {
		error(ctx, val, "%s: '/' is no chroot; leave the key out instead", where);
		free(norm);
		return;
	}
	conf->chroot = norm;
	conf->chroot_line = node_line(val);
}

static const field_t server_fields[] = {
	{ "listen", parse_listen, 0, 0, 0, true, "a list of address@port" },
	{ "workers", parse_uint, CONF_OFF(workers), 1, MAX_WORKERS, false, NULL },
	{ "cpus", parse_cpus, 0, 0, 1023, false, NULL },
	/* Both end up in a TXT character-string (and NSID), hence 255 at most. */
	{ "identity", parse_string, CONF_OFF(identity), 1, 255, false, NULL },
	{ "version", parse_version, CONF_OFF(version), 1, 255, false, NULL },
	{ "edns_size", parse_u16, CONF_OFF(edns_size), 512, 4096, false, NULL },
	{ "tcp_max_clients", parse_uint, CONF_OFF(tcp_max_clients), 1, 1000000, false, NULL },
	{ "tcp_idle_timeout_ms", parse_uint, CONF_OFF(tcp_idle_timeout_ms), 1, 3600000, false, NULL },
	{ "tcp_query_timeout_ms", parse_uint, CONF_OFF(tcp_query_timeout_ms), 1, 3600000, false, NULL },
	{ "tcp_max_pending", parse_uint, CONF_OFF(tcp_max_pending), 1, 65535, false, NULL },
	/* Names as in /etc/passwd and /etc/group; main looks them up (not here: a reload runs
	 * inside the chroot, where those files need not exist). */
	{ "user", parse_account, CONF_OFF(user), 1, 255, false, NULL },
	{ "group", parse_account, CONF_OFF(group), 1, 255, false, NULL },
	{ "chroot", parse_chroot, CONF_OFF(chroot), 0, 0, false, NULL },
};

static void parse_server(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	(void)f;
	parse_map(ctx, where, val, server_fields, sizeof server_fields / sizeof *server_fields, obj);
}

/* ---- telemetry ---- */

#define TM_OFF(member) offsetof(sk_telemetry_conf_t, member)
#define JSONL_OFF(member) offsetof(sk_jsonl_conf_t, member)

/* A ring's index wraps with a mask, hence a power of two. */
static void parse_pow2(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	unsigned v;
	char got[96];
	if (val->type != YAML_SCALAR_NODE || !sk_conf_parse_number(scalar(val), f->min, f->max, &v) ||
	    (v & (v - 1))) {
		error(ctx, val, "%s: expected a power of two from %u to %u, got %s", where, f->min,
			f->max, shown(val, got, sizeof got));
		return;
	}
	*(unsigned *)((char *)obj + f->off) = v;
}

static const field_t jsonl_fields[] = {
	{ "path", parse_path, JSONL_OFF(path), 0, 0, true, "the path of the JSON lines file" },
	{ "rotate_mb", parse_uint, JSONL_OFF(rotate_mb), 0, 1048576, false, NULL },
	{ "keep", parse_uint, JSONL_OFF(keep), 0, 1000, false, NULL },
};

static void parse_jsonl(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_telemetry_conf_t *tc = obj;
	(void)f;
	if (!(tc->jsonl = calloc(1, sizeof *tc->jsonl))) {
		ctx->nomem = true;
		return;
	}
	tc->jsonl->rotate_mb = DEFAULT_JSONL_ROTATE_MB;
	tc->jsonl->keep = DEFAULT_JSONL_KEEP;
	parse_map(ctx, where, val, jsonl_fields, sizeof jsonl_fields / sizeof *jsonl_fields, tc->jsonl);
}

/* dnstap is parsed into this, so that the destinations given can be counted: exactly one. */
typedef struct dnstap_parse {
	sk_dnstap_conf_t c;
	unsigned ndest;
	bool bad_dest;          /* a destination was given but is wrong: reported already */
} dnstap_parse_t;

static void parse_dnstap_file(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	dnstap_parse_t *d = obj;
	(void)f;
	d->ndest++;
	d->c.mode = SK_DNSTAP_FILE;
	store_path(ctx, where, val, &d->c.path, "a file path");
	d->bad_dest |= !d->c.path;
}

static void parse_dnstap_unix(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	dnstap_parse_t *d = obj;
	struct sockaddr_un sun;
	(void)f;
	d->ndest++;
	d->c.mode = SK_DNSTAP_UNIX;
	store_path(ctx, where, val, &d->c.path, "a unix socket path");
	if (!d->c.path) {
		d->bad_dest = true;
		return;
	}
	/* The kernel takes at most sizeof sun_path bytes, the terminating NUL included. */
	if (strlen(d->c.path) >= sizeof sun.sun_path) {
		error(ctx, val, "%s: the socket path '%s' is %zu bytes, at most %zu fit", where,
			d->c.path, strlen(d->c.path), sizeof sun.sun_path - 1);
		d->bad_dest = true;
	}
}

static void parse_dnstap_tcp(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	dnstap_parse_t *d = obj;
	sk_listen_t l = { 0 };
	bool bad_port;
	char got[96];
	(void)f;
	d->ndest++;
	d->c.mode = SK_DNSTAP_TCP;
	d->bad_dest = true;
	if (!want_string(ctx, where, val, "an address@port"))
		return;
	/* Unlike listen entries there is no usual port for a dnstap collector: it must be given. */
	if (!strchr(scalar(val), '@') || !sk_conf_parse_listen(scalar(val), &l, &bad_port)) {
		error(ctx, val, "%s: expected an IPv4 or IPv6 address, then @port, got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	d->c.addr = l.addr;
	d->c.addrlen = l.addrlen;
	d->bad_dest = false;
}

static void parse_dnstap_messages(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	dnstap_parse_t *d = obj;
	char got[96];
	(void)f;
	if (val->type == YAML_SCALAR_NODE && !strcmp(scalar(val), "all"))
		d->c.responses = true;
	else if (val->type == YAML_SCALAR_NODE && !strcmp(scalar(val), "queries"))
		d->c.responses = false;
	else
		error(ctx, val, "%s: expected all or queries, got %s", where, shown(val, got, sizeof got));
}

static const field_t dnstap_fields[] = {
	{ "file", parse_dnstap_file, 0, 0, 0, false, NULL },
	{ "unix", parse_dnstap_unix, 0, 0, 0, false, NULL },
	{ "tcp", parse_dnstap_tcp, 0, 0, 0, false, NULL },
	{ "messages", parse_dnstap_messages, 0, 0, 0, false, NULL },
};

static void parse_dnstap(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_telemetry_conf_t *tc = obj;
	dnstap_parse_t d = { .c = { .responses = true } };
	(void)f;
	parse_map(ctx, where, val, dnstap_fields, sizeof dnstap_fields / sizeof *dnstap_fields, &d);
	if (!(tc->dnstap = malloc(sizeof *tc->dnstap))) {
		free(d.c.path);
		ctx->nomem = true;
		return;
	}
	*tc->dnstap = d.c;
	if (val->type != YAML_MAPPING_NODE)
		return; /* reported by parse_map */
	if (d.ndest == 0)
		error(ctx, val, "%s: missing destination, expected one of file, unix or tcp", where);
	else if (d.ndest > 1)
		error(ctx, val, "%s: %u destinations given, expected exactly one of file, unix or tcp",
			where, d.ndest);
}

static const field_t telemetry_fields[] = {
	{ "ring_size", parse_pow2, TM_OFF(ring_size), 64, 16777216, false, NULL },
	{ "flush_ms", parse_uint, TM_OFF(flush_ms), 1, 60000, false, NULL },
	{ "stats_interval_s", parse_uint, TM_OFF(stats_interval_s), 0, 86400, false, NULL },
	{ "jsonl", parse_jsonl, 0, 0, 0, false, NULL },
	{ "dnstap", parse_dnstap, 0, 0, 0, false, NULL },
};

static void parse_telemetry(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	unsigned errors = ctx->errors;
	(void)f;
	parse_map(ctx, where, val, telemetry_fields, sizeof telemetry_fields / sizeof *telemetry_fields,
		&conf->telemetry);
	/* Not an error (a sink may be commented out for a while), but surely worth a word, unless
	 * the section has errors already. */
	if (ctx->errors == errors && !conf->telemetry.jsonl && !conf->telemetry.dnstap)
		sk_diag(1, ctx->path, node_line(val), "%s: no sink (jsonl or dnstap) configured, so "
			"nothing is recorded", where);
}

/* ---- rrl ---- */

#define RRL_OFF(member) offsetof(sk_rrl_conf_t, member)

/* "192.0.2.0/24", "2001:db8::/32", or one address. A prefix with bits set past its length is
 * refused rather than masked: whoever wrote 192.0.2.1/24 may have meant another length. */
static void parse_exempt(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_rrl_conf_t *r = obj;
	char got[96];
	(void)f;

	if (val->type != YAML_SEQUENCE_NODE) {
		error(ctx, val, "%s: expected a list of address/length prefixes, got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (n > MAX_RRL_EXEMPT) {
		error(ctx, val, "%s: %zu prefixes, at most %u are allowed", where, n, MAX_RRL_EXEMPT);
		return;
	}
	if (n == 0)
		return;
	if (!(r->exempt = calloc(n, sizeof *r->exempt))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		sk_prefix_t *p = &r->exempt[r->nexempt];
		bool host_bits;
		if (!want_string(ctx, where, item, "an address/length prefix"))
			continue;
		if (sk_conf_parse_prefix(scalar(item), p, &host_bits)) {
			r->nexempt++;
			continue;
		}
		if (host_bits)
			error(ctx, item, "%s: %s has address bits set past its length", where,
				shown(item, got, sizeof got));
		else
			error(ctx, item, "%s: expected an IPv4 or IPv6 address, then optionally /length "
				"(at most 32 or 128), got %s", where, shown(item, got, sizeof got));
	}
}

static const field_t rrl_fields[] = {
	{ "responses_per_second", parse_uint, RRL_OFF(responses_per_second), 0, MAX_RRL_RATE, false, NULL },
	{ "nxdomains_per_second", parse_uint, RRL_OFF(nxdomains_per_second), 0, MAX_RRL_RATE, false, NULL },
	{ "errors_per_second", parse_uint, RRL_OFF(errors_per_second), 0, MAX_RRL_RATE, false, NULL },
	{ "window", parse_uint, RRL_OFF(window), 1, 3600, false, NULL },
	{ "slip", parse_uint, RRL_OFF(slip), 0, 10, false, NULL },
	{ "ipv4_prefix", parse_uint, RRL_OFF(ipv4_prefix), 0, 32, false, NULL },
	{ "ipv6_prefix", parse_uint, RRL_OFF(ipv6_prefix), 0, 128, false, NULL },
	{ "exempt", parse_exempt, 0, 0, 0, false, NULL },
	{ "table_size", parse_pow2, RRL_OFF(table_size), 64, 16777216, false, NULL },
};

/* The section's presence turns rate limiting on; nxdomains and errors default to what
 * responses_per_second ends up as, wherever in the section it is written. */
static void parse_rrl(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_rrl_conf_t *r = &((sk_conf_t *)obj)->rrl;
	(void)f;
	r->enabled = true;
	r->nxdomains_per_second = r->errors_per_second = UINT_MAX;
	parse_map(ctx, where, val, rrl_fields, sizeof rrl_fields / sizeof *rrl_fields, r);
	if (r->nxdomains_per_second == UINT_MAX)
		r->nxdomains_per_second = r->responses_per_second;
	if (r->errors_per_second == UINT_MAX)
		r->errors_per_second = r->responses_per_second;
}

/* ---- geoip ---- */

static const field_t geoip_fields[] = {
	{ "city", parse_path, CONF_OFF(geoip_city), 0, 0, false, NULL },
	{ "asn", parse_path, CONF_OFF(geoip_asn), 0, 0, false, NULL },
};

static void parse_geoip(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	(void)f;
	parse_map(ctx, where, val, geoip_fields, sizeof geoip_fields / sizeof *geoip_fields, obj);
}

/* ---- cookies ---- */

#define COOKIE_OFF(member) offsetof(sk_cookie_conf_t, member)

/* A YAML 1.1 boolean, unquoted: true/yes/on or false/no/off. */
static void parse_bool(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	char got[96];
	bool *dst = (bool *)((char *)obj + f->off);
	if (plain_word(val, yes))
		*dst = true;
	else if (plain_word(val, no))
		*dst = false;
	else
		error(ctx, val, "%s: expected true or false, got %s", where, shown(val, got, sizeof got));
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * A server secret: exactly 32 hex digits (16 bytes). The message never shows the value: a secret
 * with a typo is still most of a secret, and messages end up in logs.
 */
static bool parse_secret(ctx_t *ctx, const char *where, yaml_node_t *val, uint8_t out[SK_COOKIE_SECRET_LEN])
{
	const char *expect = "32 hexadecimal digits (a 16-byte secret)";
	if (!want_string(ctx, where, val, expect))
		return false;
	const char *s = scalar(val);
	size_t n = val->data.scalar.length;
	if (n != 2 * SK_COOKIE_SECRET_LEN) {
		error(ctx, val, "%s: expected %s, got %zu characters", where, expect, n);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (hex_digit(s[i]) < 0) {
			error(ctx, val, "%s: expected %s, character %zu is not one", where, expect, i + 1);
			return false;
		}
	}
	for (size_t i = 0; i < SK_COOKIE_SECRET_LEN; i++)
		out[i] = (uint8_t)(hex_digit(s[2 * i]) << 4 | hex_digit(s[2 * i + 1]));
	return true;
}

static void parse_cookie_secret(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_cookie_conf_t *cc = obj;
	(void)f;
	cc->secret_given = parse_secret(ctx, where, val, cc->secret);
}

static void parse_cookie_previous(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_cookie_conf_t *cc = obj;
	char got[96];
	(void)f;
	if (val->type != YAML_SEQUENCE_NODE) {
		error(ctx, val, "%s: expected a list of secrets (32 hexadecimal digits each), got %s", where,
			shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	/* Each one is tried on every server cookie the current secret does not verify. */
	if (n > SK_COOKIE_PREVIOUS_MAX) {
		error(ctx, val, "%s: %zu secrets given, at most %u", where, n, SK_COOKIE_PREVIOUS_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		if (parse_secret(ctx, where, item, cc->previous[cc->nprevious]))
			cc->nprevious++;
	}
}

static const field_t cookie_fields[] = {
	{ "enabled", parse_bool, COOKIE_OFF(enabled), 0, 0, false, NULL },
	{ "secret", parse_cookie_secret, 0, 0, 0, false, NULL },
	{ "previous", parse_cookie_previous, 0, 0, 0, false, NULL },
	{ "require", parse_bool, COOKIE_OFF(require), 0, 0, false, NULL },
};

static void parse_cookies(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	(void)f;
	parse_map(ctx, where, val, cookie_fields, sizeof cookie_fields / sizeof *cookie_fields,
		&conf->cookies);
	if (conf->cookies.require && !conf->cookies.enabled)
		error(ctx, val, "%s: require: true needs cookies enabled", where);
}

/* The top level: one row per section. */
static const field_t top_fields[] = {
	{ "server", parse_server, 0, 0, 0, true, "a section with at least listen" },
	{ "zones", parse_zones, 0, 0, 0, false, NULL },
	{ "seized", parse_seized, 0, 0, 0, false, NULL },
	{ "telemetry", parse_telemetry, 0, 0, 0, false, NULL },
	{ "geoip", parse_geoip, 0, 0, 0, false, NULL },
	{ "cookies", parse_cookies, 0, 0, 0, false, NULL },
	{ "rrl", parse_rrl, 0, 0, 0, false, NULL },
};

/* ---- chroot ---- */

static const path_rec_t *find_path(const ctx_t *ctx, const char *stored)
{
	for (size_t i = 0; i < ctx->npaths; i++)
		if (ctx->paths[i].stored == stored)
			return &ctx->paths[i];
	return NULL;
}

/*
 * One path under the chroot. Outside it (at start, --check), every file must lie under the
 * configured chroot, or it could not be read again after the chroot. Inside it (a reload), an
 * absolute path loses the prefix and a relative one, resolved from the config file's folder,
 * which is already inside, stays as it is.
 */
static void chroot_path(ctx_t *ctx, const char *root, char **slot)
{
	const path_rec_t *rec = find_path(ctx, *slot);
	unsigned line = rec ? rec->line : 0;
	if (g_root && rec && rec->relative)
		return;
	char *norm = sk_conf_path_normalize(*slot);
	if (!norm) {
		ctx->nomem = true;
		return;
	}
	const char *inner = sk_conf_path_under(root, norm);
	if (!inner) {
		sk_diag(0, ctx->path, line, "'%s' is outside server.chroot '%s': every file must be "
			"inside it", *slot, root);
		ctx->errors++;
	} else if (g_root) {
		char *in = strdup(inner);
		if (!in) {
			ctx->nomem = true;
		} else {
			free(*slot);
			*slot = in;
		}
	}
	free(norm);
}

static void check_chroot(ctx_t *ctx, sk_conf_t *conf)
{
	const char *root = g_root ? g_root : conf->chroot;
	if (!root)
		return;
	if (!g_root) {
		/* Reloads read the config file itself from inside. */
		char *self = sk_conf_path_normalize(ctx->path);
		if (!self) {
			ctx->nomem = true;
			return;
		}
		if (!sk_conf_path_under(root, self)) {
			sk_diag(0, ctx->path, conf->chroot_line, "server.chroot: the config file '%s' is "
				"outside '%s': reloads read it from inside", self, root);
			ctx->errors++;
		}
		free(self);
	}
	for (size_t i = 0; i < conf->nzones; i++)
		if (conf->zones[i].file)
			chroot_path(ctx, root, &conf->zones[i].file);
	for (size_t i = 0; i < conf->nseized; i++) {
		if (conf->seized[i].list)
			chroot_path(ctx, root, &conf->seized[i].list);
		if (conf->seized[i].template)
			chroot_path(ctx, root, &conf->seized[i].template);
	}
	if (conf->telemetry.jsonl && conf->telemetry.jsonl->path)
		chroot_path(ctx, root, &conf->telemetry.jsonl->path);
	if (conf->telemetry.dnstap && conf->telemetry.dnstap->path)
		chroot_path(ctx, root, &conf->telemetry.dnstap->path);
	if (conf->geoip_city)
		chroot_path(ctx, root, &conf->geoip_city);
	if (conf->geoip_asn)
		chroot_path(ctx, root, &conf->geoip_asn);
}

int sk_conf_set_root(const char *root)
{
	char *r = NULL;
	if (root && !(r = strdup(root)))
		return -ENOMEM;
	free(g_root);
	g_root = r;
	return 0;
}

/* ---- loading ---- */

/* Defaults are set before parsing so that a key left out simply keeps its default. */
static int set_defaults(sk_conf_t *conf)
{
	char host[256];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	conf->workers = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus;
	conf->edns_size = DEFAULT_EDNS_SIZE;
	conf->tcp_max_clients = DEFAULT_TCP_MAX_CLIENTS;
	conf->tcp_idle_timeout_ms = DEFAULT_TCP_IDLE_TIMEOUT_MS;
	conf->tcp_query_timeout_ms = DEFAULT_TCP_QUERY_TIMEOUT_MS;
	conf->tcp_max_pending = DEFAULT_TCP_MAX_PENDING;
	conf->telemetry.ring_size = DEFAULT_RING_SIZE;
	conf->telemetry.flush_ms = DEFAULT_FLUSH_MS;
	conf->telemetry.stats_interval_s = DEFAULT_STATS_INTERVAL_S;
	conf->cookies.enabled = true;
	conf->rrl.responses_per_second = DEFAULT_RRL_RATE;
	conf->rrl.nxdomains_per_second = DEFAULT_RRL_RATE;
	conf->rrl.errors_per_second = DEFAULT_RRL_RATE;
	conf->rrl.window = DEFAULT_RRL_WINDOW;
	conf->rrl.slip = DEFAULT_RRL_SLIP;
	conf->rrl.ipv4_prefix = DEFAULT_RRL_IPV4_PREFIX;
	conf->rrl.ipv6_prefix = DEFAULT_RRL_IPV6_PREFIX;
	conf->rrl.table_size = DEFAULT_RRL_TABLE_SIZE;
	/* gethostname() need not terminate a truncated name; fall back rather than fail the load. */
	if (gethostname(host, sizeof host) < 0 || !host[0])
		strcpy(host, "sinkholed");
	host[sizeof host - 1] = '\0';
	conf->identity = strdup(host);
	conf->version = strdup("sinkholed " SK_VERSION);
	return conf->identity && conf->version ? 0 : -ENOMEM;
}

/* The whole file in memory: libyaml then parses a string, and a reader error's byte offset
 * can be turned into a line number. */
static int read_file(const char *path, unsigned char **out, size_t *outlen)
{
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto fail;
	}
	for (;;) {
		if (len == cap) {
			unsigned char *nb;
			cap = cap ? cap * 2 : 4096;
			if (cap > MAX_FILE_SIZE) {
				rc = -EFBIG;
				goto fail;
			}
			if (!(nb = realloc(buf, cap))) {
				rc = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* Report why libyaml stopped; returns the code for sk_conf_load() to pass on. */
static int syntax_error(ctx_t *ctx, const yaml_parser_t *parser, const unsigned char *text)
{
	unsigned line = (unsigned)parser->problem_mark.line + 1;

	if (parser->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (parser->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark (bad UTF-8, control characters). */
		line = 1;
		for (size_t i = 0; text && i < parser->problem_offset; i++)
			line += text[i] == '\n';
	}
	if (parser->context)
		sk_diag(0, ctx->path, line, "YAML syntax error: %s %s (line %u)",
			parser->problem ? parser->problem : "error", parser->context,
			(unsigned)parser->context_mark.line + 1);
	else
		sk_diag(0, ctx->path, line, "YAML syntax error: %s",
			parser->problem ? parser->problem : "cannot parse");
	ctx->errors++;
	return SK_EPARSE;
}

/* Parse the text into `doc` and make sure it is the only document in the file. On failure
 * nothing is left for the caller to delete. */
static int load_document(ctx_t *ctx, const unsigned char *text, size_t len, yaml_document_t *doc)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, text, len);
	/* libyaml deletes the document itself when a load fails. */
	if (!yaml_parser_load(&parser, doc)) {
		rc = syntax_error(ctx, &parser, text);
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		rc = syntax_error(ctx, &parser, text);
		yaml_document_delete(doc);
		goto out;
	}
	yaml_node_t *root = yaml_document_get_root_node(&extra);
	if (root) {
		sk_diag(0, ctx->path, node_line(root), "a second YAML document; expected one only");
		ctx->errors++;
		rc = SK_EPARSE;
		yaml_document_delete(doc);
	}
	yaml_document_delete(&extra);
out:
	yaml_parser_delete(&parser);
	return rc;
}

int sk_conf_load(const char *path, sk_conf_t **out)
{
	unsigned char *text = NULL;
	size_t len = 0;
	yaml_document_t doc;
	bool have_doc = false;
	sk_conf_t *conf = NULL;
	ctx_t ctx = { .path = path, .doc = &doc };
	int rc;

	if ((rc = read_file(path, &text, &len)) < 0) {
		/* Nothing is held yet, and this message already names the reason. */
		sk_diag(0, path, 0, "cannot read the config file: %s", strerror(-rc));
		return rc;
	}
	if (!(conf = calloc(1, sizeof *conf)) || !(conf->path = strdup(path))) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = set_defaults(conf)) < 0)
		goto fail;
	if ((rc = load_document(&ctx, text, len, &doc)) < 0)
		goto fail;
	have_doc = true;

	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		sk_diag(0, path, 0, "the config is empty; expected a server: section");
		rc = SK_EPARSE;
		goto fail;
	}
	parse_map(&ctx, "", root, top_fields, sizeof top_fields / sizeof *top_fields, conf);
	if (!ctx.errors && !ctx.nomem)
		check_chroot(&ctx, conf);
	if (ctx.nomem) {
		rc = -ENOMEM;
		goto fail;
	}
	if (ctx.errors) {
		rc = SK_EPARSE;
		goto fail;
	}
	yaml_document_delete(&doc);
	free(text);
	free(ctx.paths);
	*out = conf;
	return 0;
fail:
	if (rc == -ENOMEM)
		sk_diag(0, path, 0, "out of memory while loading the config");
	if (have_doc)
		yaml_document_delete(&doc);
	sk_conf_free(conf);
	free(text);
	free(ctx.paths);
	return rc;
}

void sk_conf_free(sk_conf_t *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->nzones; i++) {
		sk_zone_conf_t *z = &conf->zones[i];
		for (size_t k = 0; k < z->ntags; k++) {
			free(z->tags[k].key);
			free(z->tags[k].value);
		}
		free(z->tags);
		free(z->file);
		free(z->name);
	}
	free(conf->zones);
	for (size_t i = 0; i < conf->nseized; i++) {
		sk_seized_conf_t *sz = &conf->seized[i];
		for (size_t k = 0; k < sz->ntags; k++) {
			free(sz->tags[k].key);
			free(sz->tags[k].value);
		}
		free(sz->tags);
		free(sz->list);
		free(sz->template);
	}
	free(conf->seized);
	for (size_t i = 0; i < conf->nlisten; i++)
		free(conf->listen[i].text);
	free(conf->listen);
	free(conf->cpus);
	if (conf->telemetry.jsonl)
		free(conf->telemetry.jsonl->path);
	free(conf->telemetry.jsonl);
	if (conf->telemetry.dnstap)
		free(conf->telemetry.dnstap->path);
	free(conf->telemetry.dnstap);
	free(conf->rrl.exempt);
	free(conf->geoip_city);
	free(conf->geoip_asn);
	free(conf->version);
	free(conf->identity);
	free(conf->user);
	free(conf->group);
	free(conf->chroot);
	free(conf->path);
	free(conf);
}
