/* conf_telemetry.c -- the `telemetry:` (JSON lines, dnstap, NATS) and `geoip:` sections */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/conf_parse.h"
#include "util/log.h"

/* ---- telemetry ---- */

#define TM_OFF(member) offsetof(sk_telemetry_conf_t, member)
#define JSONL_OFF(member) offsetof(sk_jsonl_conf_t, member)

static const field_t jsonl_fields[] = {
	{ "path", sk_cf_parse_path, JSONL_OFF(path), 0, 0, true, "the path of the JSON lines file" },
	{ "rotate_mb", sk_cf_parse_uint, JSONL_OFF(rotate_mb), 0, 1048576, false, NULL },
	{ "keep", sk_cf_parse_uint, JSONL_OFF(keep), 0, 1000, false, NULL },
	{ "manifest", sk_cf_parse_bool, JSONL_OFF(manifest), 0, 0, false, NULL },
	{ "sign_key", sk_cf_parse_path, JSONL_OFF(sign_key), 0, 0, false, NULL },
};

/* A manifest records file names as JSON strings written without escaping, and renames files to
 * rotate them: both are checked here, with the line, rather than found out at start. */
static void check_manifest(ctx_t *ctx, const char *where, yaml_node_t *val, const sk_jsonl_conf_t *j)
{
	if (j->sign_key && !j->manifest)
		sk_cf_error(ctx, val, "%s: sign_key signs the manifest: it needs manifest: true", where);
	if (!j->manifest)
		return;
	if (j->keep == 0)
		sk_cf_error(ctx, val, "%s: manifest: true needs keep >= 1 (keep: 0 deletes each sealed "
			"file as it is rotated)", where);
	const char *base = j->path ? strrchr(j->path, '/') : NULL;
	base = base ? base + 1 : j->path;
	for (const char *p = base; p && *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f) {
			sk_cf_error(ctx, val, "%s: with manifest: true the file name '%s' must not hold quotes, "
				"backslashes or control characters", where, base);
			break;
		}
}

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
	sk_cf_parse_map(ctx, where, val, jsonl_fields, sizeof jsonl_fields / sizeof *jsonl_fields, tc->jsonl);
	check_manifest(ctx, where, val, tc->jsonl);
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
	sk_cf_store_path(ctx, where, val, &d->c.path, "a file path");
	d->bad_dest |= !d->c.path;
}

static void parse_dnstap_unix(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	dnstap_parse_t *d = obj;
	struct sockaddr_un sun;
	(void)f;
	d->ndest++;
	d->c.mode = SK_DNSTAP_UNIX;
	sk_cf_store_path(ctx, where, val, &d->c.path, "a unix socket path");
	if (!d->c.path) {
		d->bad_dest = true;
		return;
	}
	/* The kernel takes at most sizeof sun_path bytes, the terminating NUL included. */
	if (strlen(d->c.path) >= sizeof sun.sun_path) {
		sk_cf_error(ctx, val, "%s: the socket path '%s' is %zu bytes, at most %zu fit", where,
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
	if (!sk_cf_want_string(ctx, where, val, "an address@port"))
		return;
	/* Unlike listen entries there is no usual port for a dnstap collector: it must be given. */
	if (!strchr(sk_cf_scalar(val), '@') || !sk_conf_parse_listen(sk_cf_scalar(val), &l, &bad_port)) {
		sk_cf_error(ctx, val, "%s: expected an IPv4 or IPv6 address, then @port, got %s", where,
			sk_cf_shown(val, got, sizeof got));
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
	if (val->type == YAML_SCALAR_NODE && !strcmp(sk_cf_scalar(val), "all"))
		d->c.responses = true;
	else if (val->type == YAML_SCALAR_NODE && !strcmp(sk_cf_scalar(val), "queries"))
		d->c.responses = false;
	else
		sk_cf_error(ctx, val, "%s: expected all or queries, got %s", where, sk_cf_shown(val, got, sizeof got));
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
	sk_cf_parse_map(ctx, where, val, dnstap_fields, sizeof dnstap_fields / sizeof *dnstap_fields, &d);
	if (!(tc->dnstap = malloc(sizeof *tc->dnstap))) {
		free(d.c.path);
		ctx->nomem = true;
		return;
	}
	*tc->dnstap = d.c;
	if (val->type != YAML_MAPPING_NODE)
		return; /* reported by sk_cf_parse_map */
	if (d.ndest == 0)
		sk_cf_error(ctx, val, "%s: missing destination, expected one of file, unix or tcp", where);
	else if (d.ndest > 1)
		sk_cf_error(ctx, val, "%s: %u destinations given, expected exactly one of file, unix or tcp",
			where, d.ndest);
}

/* ---- telemetry.nats ---- */

#define NATS_OFF(member) offsetof(sk_nats_conf_t, member)

/* "nats://host[:port]" or "tls://host[:port]", optionally with user[:password]@ before the host;
 * an IPv6 host in brackets. Nothing after the authority: cnats takes no path. */
static bool valid_nats_url(const char *u)
{
	const char *p, *host, *end, *colon;
	unsigned port;

	if (!strncmp(u, "nats://", 7))
		p = u + 7;
	else if (!strncmp(u, "tls://", 6))
		p = u + 6;
	else
		return false;
	if (strpbrk(p, "/ ,\t?#"))
		return false;
	host = strrchr(p, '@') ? strrchr(p, '@') + 1 : p;
	end = host + strlen(host);
	if (*host == '[') {
		const char *rb = strchr(host, ']');
		if (!rb || rb == host + 1)
			return false;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (!colon && rb + 1 != end)
			return false;
	} else {
		colon = strchr(host, ':');
		if (colon == host || (!colon && host == end))
			return false;
	}
	return !colon || sk_conf_parse_number(colon + 1, 1, 65535, &port);
}

static void parse_nats_servers(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_nats_conf_t *c = obj;
	const char *expect = "a list of nats://host:port URLs";
	char got[96];
	(void)f;

	if (val->type != YAML_SEQUENCE_NODE) {
		sk_cf_error(ctx, val, "%s: expected %s, got %s", where, expect, sk_cf_shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (n == 0 || n > SK_NATS_SERVERS_MAX) {
		sk_cf_error(ctx, val, "%s: expected 1 to %d URLs, got %zu", where, SK_NATS_SERVERS_MAX, n);
		return;
	}
	if (!(c->servers = calloc(n, sizeof *c->servers))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		if (!sk_cf_want_string(ctx, where, item, "a nats://host:port URL"))
			continue;
		if (!valid_nats_url(sk_cf_scalar(item))) {
			sk_cf_error(ctx, item, "%s: expected nats://host:port or tls://host:port (the port "
				"may be left out), got %s", where, sk_cf_shown(item, got, sizeof got));
			continue;
		}
		if (!(c->servers[c->nservers] = sk_cf_dup_or_flag(ctx, sk_cf_scalar(item),
			item->data.scalar.length)))
			return;
		c->nservers++;
	}
}

/* A NATS subject without wildcards: tokens of letters, digits, '_' and '-', joined by dots. The
 * node is appended as one more token, so the stream can take "<subject>.>". */
static bool valid_subject(const char *s)
{
	bool token = false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!token)
				return false;
			token = false;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_' || *s == '-') {
			token = true;
		} else {
			return false;
		}
	}
	return token;
}

static void parse_nats_subject(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	char got[96];
	if (!sk_cf_want_string(ctx, where, val, "a NATS subject"))
		return;
	if (!valid_subject(sk_cf_scalar(val))) {
		sk_cf_error(ctx, val, "%s: expected a subject of dot-separated words (letters, digits, "
			"'_', '-'; no wildcards), got %s", where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	sk_cf_parse_string(ctx, where, val, f, obj);
}

/* JetStream stream names may not hold '.', '*', '>', '/', '\' or whitespace; letters, digits,
 * '_' and '-' are always safe. */
static void parse_nats_stream(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	char got[96];
	if (!sk_cf_want_string(ctx, where, val, "a stream name"))
		return;
	const char *s = sk_cf_scalar(val);
	bool ok = *s != '\0';
	for (; *s && ok; s++)
		ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
			*s == '_' || *s == '-';
	if (!ok) {
		sk_cf_error(ctx, val, "%s: expected a stream name of letters, digits, '_' and '-', got %s",
			where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	sk_cf_parse_string(ctx, where, val, f, obj);
}

static const field_t nats_spool_fields[] = {
	{ "path", sk_cf_parse_path, NATS_OFF(spool_path), 0, 0, true, "the path of the spool file" },
	{ "max_mb", sk_cf_parse_uint, NATS_OFF(spool_max_mb), 1, 1048576, false, NULL },
	{ "fsync_ms", sk_cf_parse_uint, NATS_OFF(spool_fsync_ms), 10, 60000, false, NULL },
};

static void parse_nats_spool(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	(void)f;
	sk_cf_parse_map(ctx, where, val, nats_spool_fields, sizeof nats_spool_fields / sizeof *nats_spool_fields,
		obj);
}

static const field_t nats_fields[] = {
	{ "servers", parse_nats_servers, 0, 0, 0, true, "a list of nats://host:port URLs" },
	{ "subject", parse_nats_subject, NATS_OFF(subject), 1, 200, false, NULL },
	{ "stream", parse_nats_stream, NATS_OFF(stream), 1, 64, false, NULL },
	{ "create_stream", sk_cf_parse_bool, NATS_OFF(create_stream), 0, 0, false, NULL },
	{ "replicas", sk_cf_parse_uint, NATS_OFF(replicas), 1, 5, false, NULL },
	{ "duplicate_window_s", sk_cf_parse_uint, NATS_OFF(duplicate_window_s), 1, 604800, false, NULL },
	{ "max_pending", sk_cf_parse_uint, NATS_OFF(max_pending), 1, 1048576, false, NULL },
	{ "ack_timeout_ms", sk_cf_parse_uint, NATS_OFF(ack_timeout_ms), 100, 600000, false, NULL },
	{ "drain_ms", sk_cf_parse_uint, NATS_OFF(drain_ms), 0, 600000, false, NULL },
	{ "spool", parse_nats_spool, 0, 0, 0, true, "a mapping with at least path" },
};

static void parse_nats(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_telemetry_conf_t *tc = obj;
	sk_nats_conf_t *c = calloc(1, sizeof *c);
	(void)f;
	if (!c || !(c->subject = strdup(DEFAULT_NATS_SUBJECT)) || !(c->stream = strdup(DEFAULT_NATS_STREAM))) {
		sk_nats_conf_free(c);
		ctx->nomem = true;
		return;
	}
	c->create_stream = true;
	c->replicas = DEFAULT_NATS_REPLICAS;
	c->duplicate_window_s = DEFAULT_NATS_DUPLICATE_WINDOW_S;
	c->max_pending = DEFAULT_NATS_MAX_PENDING;
	c->ack_timeout_ms = DEFAULT_NATS_ACK_TIMEOUT_MS;
	c->drain_ms = DEFAULT_NATS_DRAIN_MS;
	c->spool_max_mb = DEFAULT_NATS_SPOOL_MAX_MB;
	c->spool_fsync_ms = DEFAULT_NATS_SPOOL_FSYNC_MS;
	tc->nats = c;
	sk_cf_parse_map(ctx, where, val, nats_fields, sizeof nats_fields / sizeof *nats_fields, c);
}

int sk_nats_conf_copy(const sk_nats_conf_t *c, sk_nats_conf_t **out)
{
	sk_nats_conf_t *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	*d = *c;
	d->servers = NULL;
	d->nservers = 0;
	d->subject = d->stream = d->spool_path = NULL;
	if (!(d->servers = calloc(c->nservers ? c->nservers : 1, sizeof *d->servers)))
		goto fail;
	for (; d->nservers < c->nservers; d->nservers++)
		if (!(d->servers[d->nservers] = strdup(c->servers[d->nservers])))
			goto fail;
	if ((c->subject && !(d->subject = strdup(c->subject))) ||
	    (c->stream && !(d->stream = strdup(c->stream))) ||
	    (c->spool_path && !(d->spool_path = strdup(c->spool_path))))
		goto fail;
	*out = d;
	return 0;
fail:
	sk_nats_conf_free(d);
	return -ENOMEM;
}

void sk_nats_conf_free(sk_nats_conf_t *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nservers; i++)
		free(c->servers[i]);
	free(c->servers);
	free(c->subject);
	free(c->stream);
	free(c->spool_path);
	free(c);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool sk_nats_conf_equal(const sk_nats_conf_t *a, const sk_nats_conf_t *b)
{
	if (a->nservers != b->nservers || !same_str(a->subject, b->subject) ||
	    !same_str(a->stream, b->stream) || !same_str(a->spool_path, b->spool_path) ||
	    a->create_stream != b->create_stream || a->replicas != b->replicas ||
	    a->duplicate_window_s != b->duplicate_window_s || a->max_pending != b->max_pending ||
	    a->ack_timeout_ms != b->ack_timeout_ms || a->drain_ms != b->drain_ms ||
	    a->spool_max_mb != b->spool_max_mb || a->spool_fsync_ms != b->spool_fsync_ms)
		return false;
	for (size_t i = 0; i < a->nservers; i++)
		if (!same_str(a->servers[i], b->servers[i]))
			return false;
	return true;
}

static const field_t telemetry_fields[] = {
	{ "ring_size", sk_cf_parse_pow2, TM_OFF(ring_size), 64, 16777216, false, NULL },
	{ "flush_ms", sk_cf_parse_uint, TM_OFF(flush_ms), 1, 60000, false, NULL },
	{ "stats_interval_s", sk_cf_parse_uint, TM_OFF(stats_interval_s), 0, 86400, false, NULL },
	{ "jsonl", parse_jsonl, 0, 0, 0, false, NULL },
	{ "dnstap", parse_dnstap, 0, 0, 0, false, NULL },
	{ "nats", parse_nats, 0, 0, 0, false, NULL },
};

void sk_cf_parse_telemetry(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	unsigned errors = ctx->errors;
	(void)f;
	sk_cf_parse_map(ctx, where, val, telemetry_fields, sizeof telemetry_fields / sizeof *telemetry_fields,
		&conf->telemetry);
	/* Not an sk_cf_error (a sink may be commented out for a while), but surely worth a word, unless
	 * the section has errors already. */
	if (ctx->errors == errors && !conf->telemetry.jsonl && !conf->telemetry.dnstap &&
	    !conf->telemetry.nats)
		sk_diag(1, ctx->path, sk_cf_node_line(val), "%s: no sink (jsonl, dnstap or nats) configured, so "
			"nothing is recorded", where);
}

/* ---- geoip ---- */

static const field_t geoip_fields[] = {
	{ "city", sk_cf_parse_path, CONF_OFF(geoip_city), 0, 0, false, NULL },
	{ "asn", sk_cf_parse_path, CONF_OFF(geoip_asn), 0, 0, false, NULL },
};

void sk_cf_parse_geoip(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	(void)f;
	sk_cf_parse_map(ctx, where, val, geoip_fields, sizeof geoip_fields / sizeof *geoip_fields, obj);
}
