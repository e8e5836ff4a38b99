/* conf_telemetry.c -- the `telemetry:` (JSON lines, dnstap) and `geoip:` sections */
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

static const field_t telemetry_fields[] = {
	{ "ring_size", sk_cf_parse_pow2, TM_OFF(ring_size), 64, 16777216, false, NULL },
	{ "flush_ms", sk_cf_parse_uint, TM_OFF(flush_ms), 1, 60000, false, NULL },
	{ "stats_interval_s", sk_cf_parse_uint, TM_OFF(stats_interval_s), 0, 86400, false, NULL },
	{ "jsonl", parse_jsonl, 0, 0, 0, false, NULL },
	{ "dnstap", parse_dnstap, 0, 0, 0, false, NULL },
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
	if (ctx->errors == errors && !conf->telemetry.jsonl && !conf->telemetry.dnstap)
		sk_diag(1, ctx->path, sk_cf_node_line(val), "%s: no sink (jsonl or dnstap) configured, so "
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
