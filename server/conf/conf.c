/* conf.c -- the YAML configuration file, validated into a read-only struct */
#include <assert.h>
#include <fcntl.h>
#include <unistd.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/conf_parse.h"
#include "util/err.h"
#include "util/log.h"

/* The directory the process has chrooted to (sk_conf_set_root), or NULL. */
static char *g_root;

/* libyaml counts lines from 0; editors and sk_diag() from 1. */
unsigned sk_cf_node_line(const yaml_node_t *node)
{
	return node ? (unsigned)node->start_mark.line + 1 : 0;
}

void sk_cf_error(ctx_t *ctx, const yaml_node_t *node, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sk_diag(0, ctx->path, sk_cf_node_line(node), "%s", msg);
	ctx->errors++;
}

char *sk_cf_dup_or_flag(ctx_t *ctx, const char *s, size_t len)
{
	char *d = strndup(s, len);
	if (!d)
		ctx->nomem = true;
	return d;
}

const char *sk_cf_scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* A plain (unquoted) `~`, `null` or nothing at all: YAML's null, which no key here accepts. */
bool sk_cf_is_null(const yaml_node_t *node)
{
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = sk_cf_scalar(node);
	return !*s || !strcmp(s, "~") || !strcasecmp(s, "null");
}

/*
 * The offending value, quoted for a message: short, one line, control bytes escaped, so that a
 * binary blob pasted into the config cannot garble the terminal or the log.
 */
const char *sk_cf_shown(const yaml_node_t *node, char *buf, size_t cap)
{
	if (node->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (node->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (sk_cf_is_null(node))
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

/* A sk_cf_scalar that is usable as a C string: non-empty-or-allowed, and free of NUL bytes ("\0"). */
bool sk_cf_want_string(ctx_t *ctx, const char *where, yaml_node_t *val, const char *expect)
{
	char got[96];
	if (val->type != YAML_SCALAR_NODE || sk_cf_is_null(val)) {
		sk_cf_error(ctx, val, "%s: expected %s, got %s", where, expect, sk_cf_shown(val, got, sizeof got));
		return false;
	}
	if (strlen(sk_cf_scalar(val)) != val->data.scalar.length) {
		sk_cf_error(ctx, val, "%s: expected %s, got a string with a NUL byte", where, expect);
		return false;
	}
	return true;
}

bool sk_cf_want_number(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f,
	unsigned *out)
{
	char got[96];
	if (val->type != YAML_SCALAR_NODE || !sk_conf_parse_number(sk_cf_scalar(val), f->min, f->max, out)) {
		sk_cf_error(ctx, val, "%s: expected a whole number from %u to %u, got %s", where, f->min,
			f->max, sk_cf_shown(val, got, sizeof got));
		return false;
	}
	return true;
}

void sk_cf_parse_uint(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	unsigned v;
	if (sk_cf_want_number(ctx, where, val, f, &v))
		*(unsigned *)((char *)obj + f->off) = v;
}

void sk_cf_parse_u16(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	unsigned v;
	if (sk_cf_want_number(ctx, where, val, f, &v))
		*(uint16_t *)((char *)obj + f->off) = (uint16_t)v;
}

/* Store a string of f->min..f->max bytes at obj + f->off, replacing the default there. */
void sk_cf_store_string(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f,
	void *obj, const char *expect)
{
	char **dst = (char **)((char *)obj + f->off);
	if (!sk_cf_want_string(ctx, where, val, expect))
		return;
	if (val->data.scalar.length < f->min || val->data.scalar.length > f->max) {
		sk_cf_error(ctx, val, "%s: expected %u to %u characters, got %zu", where, f->min, f->max,
			val->data.scalar.length);
		return;
	}
	free(*dst);
	*dst = sk_cf_dup_or_flag(ctx, sk_cf_scalar(val), val->data.scalar.length);
}

void sk_cf_parse_string(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_cf_store_string(ctx, where, val, f, obj, "a string");
}

static bool plain_word(const yaml_node_t *val, const char *const *words)
{
	if (val->type != YAML_SCALAR_NODE || val->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (; *words; words++)
		if (!strcasecmp(sk_cf_scalar(val), *words))
			return true;
	return false;
}

/*
 * `version: false` (or off, no, unquoted) hides the version; a quoted "no" is the text "no".
 * `true` is refused rather than taken as the text "true": whoever wrote it meant something else.
 */
void sk_cf_parse_version(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
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
		sk_cf_error(ctx, val, "%s: expected %s, got %s", where, expect, sk_cf_shown(val, got, sizeof got));
	} else {
		sk_cf_store_string(ctx, where, val, f, obj, expect);
	}
}

/*
 * Walk one mapping: every key must be a plain name, appear once and be in `fields`; each value
 * goes to its field's parser. A duplicated key's value is not parsed a second time, so no parser
 * ever has to free what an earlier occurrence stored.
 */
void sk_cf_parse_map(ctx_t *ctx, const char *where, yaml_node_t *map, const field_t *fields,
	size_t nfields, void *obj)
{
	bool seen[16] = { false };
	char sub[128], got[96];

	assert(nfields <= sizeof seen / sizeof *seen);
	if (map->type != YAML_MAPPING_NODE) {
		sk_cf_error(ctx, map, "%s%sexpected a mapping of keys, got %s", where, *where ? ": " : "",
			sk_cf_shown(map, got, sizeof got));
		return;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(ctx->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(ctx->doc, p->value);
		if (key->type != YAML_SCALAR_NODE) {
			sk_cf_error(ctx, key, "%s%sexpected a key name, got %s", where, *where ? ": " : "",
				sk_cf_shown(key, got, sizeof got));
			continue;
		}
		size_t i;
		for (i = 0; i < nfields; i++)
			if (!strcmp(fields[i].name, sk_cf_scalar(key)))
				break;
		if (i == nfields) {
			char names[256];
			size_t o = 0;
			for (size_t k = 0; k < nfields && o < sizeof names; k++)
				o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", k ? ", " : "",
					fields[k].name);
			sk_cf_error(ctx, key, "%s%sunknown %s %s, expected one of: %s", where,
				*where ? ": " : "", *where ? "key" : "section", sk_cf_shown(key, got, sizeof got),
				names);
			continue;
		}
		snprintf(sub, sizeof sub, "%s%s%s", where, *where ? "." : "", fields[i].name);
		if (seen[i]) {
			sk_cf_error(ctx, key, "%s: duplicate key, it was already given above", sub);
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
			sk_cf_error(ctx, map, "%s%smissing %s '%s', expected %s", where, *where ? ": " : "",
				*where ? "key" : "section", fields[i].name, fields[i].expect);
}

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
void sk_cf_store_path(ctx_t *ctx, const char *where, yaml_node_t *val, char **dst, const char *expect)
{
	const char *file, *slash = strrchr(ctx->path, '/');
	char *res = NULL;

	if (!sk_cf_want_string(ctx, where, val, expect))
		return;
	file = sk_cf_scalar(val);
	if (!*file) {
		sk_cf_error(ctx, val, "%s: expected %s, got ''", where, expect);
		return;
	}
	if (file[0] == '/' || !slash) {
		res = sk_cf_dup_or_flag(ctx, file, strlen(file));
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
		note_path(ctx, res, sk_cf_node_line(val), file[0] != '/');
}

/* A file path at obj + f->off, resolved like zone files. */
void sk_cf_parse_path(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_cf_store_path(ctx, where, val, (char **)((char *)obj + f->off), "a file path");
}

/* A `tags:` map into *tags_out / *ntags_out (a zone's or a seized list's). */
void sk_cf_parse_tag_map(ctx_t *ctx, const char *where, yaml_node_t *val, sk_tag_t **tags_out,
	size_t *ntags_out)
{
	sk_tag_t *tags = NULL;
	size_t ntags = 0;
	char got[96];

	if (val->type != YAML_MAPPING_NODE) {
		sk_cf_error(ctx, val, "%s: expected a mapping of name: value, got %s", where,
			sk_cf_shown(val, got, sizeof got));
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
		if (!sk_cf_want_string(ctx, where, key, "a tag name"))
			continue;
		if (!key->data.scalar.length) {
			sk_cf_error(ctx, key, "%s: expected a tag name, got ''", where);
			continue;
		}
		size_t k;
		for (k = 0; k < ntags; k++)
			if (!strcmp(tags[k].key, sk_cf_scalar(key)))
				break;
		if (k < ntags) {
			sk_cf_error(ctx, key, "%s: duplicate tag %s", where, sk_cf_shown(key, got, sizeof got));
			continue;
		}
		/* An empty value is allowed (a tag may be a bare marker), a list or mapping is not. */
		if (v->type != YAML_SCALAR_NODE) {
			sk_cf_error(ctx, v, "%s.%s: expected a single value, got %s", where, sk_cf_scalar(key),
				sk_cf_shown(v, got, sizeof got));
			continue;
		}
		if (strlen(sk_cf_scalar(v)) != v->data.scalar.length) {
			sk_cf_error(ctx, v, "%s.%s: expected a value without NUL bytes", where, sk_cf_scalar(key));
			continue;
		}
		sk_tag_t *t = &tags[ntags];
		t->key = sk_cf_dup_or_flag(ctx, sk_cf_scalar(key), key->data.scalar.length);
		t->value = sk_cf_dup_or_flag(ctx, sk_cf_scalar(v), v->data.scalar.length);
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

/* A ring's index wraps with a mask, hence a power of two. */
void sk_cf_parse_pow2(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	unsigned v;
	char got[96];
	if (val->type != YAML_SCALAR_NODE || !sk_conf_parse_number(sk_cf_scalar(val), f->min, f->max, &v) ||
	    (v & (v - 1))) {
		sk_cf_error(ctx, val, "%s: expected a power of two from %u to %u, got %s", where, f->min,
			f->max, sk_cf_shown(val, got, sizeof got));
		return;
	}
	*(unsigned *)((char *)obj + f->off) = v;
}

/* A YAML 1.1 boolean, unquoted: true/yes/on or false/no/off. */
void sk_cf_parse_bool(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
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
		sk_cf_error(ctx, val, "%s: expected true or false, got %s", where, sk_cf_shown(val, got, sizeof got));
}

/* The top level: one row per section. */
static const field_t top_fields[] = {
	{ "server", sk_cf_parse_server, 0, 0, 0, true, "a section with at least listen" },
	{ "zones", sk_cf_parse_zones, 0, 0, 0, false, NULL },
	{ "seized", sk_cf_parse_seized, 0, 0, 0, false, NULL },
	{ "telemetry", sk_cf_parse_telemetry, 0, 0, 0, false, NULL },
	{ "geoip", sk_cf_parse_geoip, 0, 0, 0, false, NULL },
	{ "cookies", sk_cf_parse_cookies, 0, 0, 0, false, NULL },
	{ "rrl", sk_cf_parse_rrl, 0, 0, 0, false, NULL },
	{ "control", sk_cf_parse_control, 0, 0, 0, false, NULL },
	{ "metrics", sk_cf_parse_metrics, 0, 0, 0, false, NULL },
	{ "transfer", sk_cf_parse_transfer, 0, 0, 0, false, NULL },
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
	if (conf->telemetry.jsonl && conf->telemetry.jsonl->sign_key)
		chroot_path(ctx, root, &conf->telemetry.jsonl->sign_key);
	if (conf->telemetry.dnstap && conf->telemetry.dnstap->path)
		chroot_path(ctx, root, &conf->telemetry.dnstap->path);
	if (conf->telemetry.nats && conf->telemetry.nats->spool_path)
		chroot_path(ctx, root, &conf->telemetry.nats->spool_path);
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
		sk_diag(0, ctx->path, sk_cf_node_line(root), "a second YAML document; expected one only");
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
	sk_cf_parse_map(&ctx, "", root, top_fields, sizeof top_fields / sizeof *top_fields, conf);
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
	if (conf->telemetry.jsonl) {
		free(conf->telemetry.jsonl->path);
		free(conf->telemetry.jsonl->sign_key);
	}
	free(conf->telemetry.jsonl);
	if (conf->telemetry.dnstap)
		free(conf->telemetry.dnstap->path);
	free(conf->telemetry.dnstap);
	sk_nats_conf_free(conf->telemetry.nats);
	free(conf->rrl.exempt);
	free(conf->control.socket);
	free(conf->control.group);
	free(conf->metrics.listen.text);
	sk_conf_xfr_free(&conf->xfr);
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
