/* conf_server.c -- the `server:` and `cookies:` sections: listeners, workers, limits, privileges, cookies */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/conf_parse.h"

/* ---- server.listen ---- */

static void parse_listen(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96];
	(void)f;

	if (val->type != YAML_SEQUENCE_NODE) {
		sk_cf_error(ctx, val, "%s: expected a list of address@port, got %s", where,
			sk_cf_shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (n == 0) {
		sk_cf_error(ctx, val, "%s: expected at least one address@port, got an empty list", where);
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
		if (!sk_cf_want_string(ctx, where, item, "an address@port"))
			continue;
		if (!sk_conf_parse_listen(sk_cf_scalar(item), l, &bad_port)) {
			if (bad_port)
				sk_cf_error(ctx, item, "%s: bad port in %s, expected a whole number from 1 to 65535",
					where, sk_cf_shown(item, got, sizeof got));
			else
				sk_cf_error(ctx, item, "%s: bad address in %s, expected an IPv4 or IPv6 address, "
					"then optionally @port", where, sk_cf_shown(item, got, sizeof got));
			continue;
		}
		size_t k;
		for (k = 0; k < conf->nlisten; k++)
			if (sk_conf_same_listen(&conf->listen[k], l))
				break;
		if (k < conf->nlisten) {
			sk_cf_error(ctx, item, "%s: duplicate entry %s, the same address and port as '%s'", where,
				sk_cf_shown(item, got, sizeof got), conf->listen[k].text);
			continue;
		}
		if (!(l->text = sk_cf_dup_or_flag(ctx, sk_cf_scalar(item), item->data.scalar.length)))
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
		sk_cf_error(ctx, val, "%s: expected a list of CPU numbers, got %s", where, sk_cf_shown(val, got, sizeof got));
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
		if (!sk_cf_want_number(ctx, where, item, f, &v))
			continue;
		size_t k;
		for (k = 0; k < conf->ncpus && conf->cpus[k] != v; k++)
			;
		if (k < conf->ncpus) {
			sk_cf_error(ctx, item, "%s: CPU %u is listed twice", where, v);
			continue;
		}
		conf->cpus[conf->ncpus++] = v;
	}
}

/* ---- server ---- */

/* server.user / server.group: a name, and its line for the "no such user" message of main. */
static void parse_account(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	sk_cf_store_string(ctx, where, val, f, obj, "a user or group name");
	if (f->off == CONF_OFF(user))
		conf->user_line = sk_cf_node_line(val);
	else
		conf->group_line = sk_cf_node_line(val);
}

/* server.chroot: an absolute folder, kept normalised so that paths can be compared with it. */
static void parse_chroot(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96];
	(void)f;
	if (!sk_cf_want_string(ctx, where, val, "an absolute folder path"))
		return;
	if (sk_cf_scalar(val)[0] != '/') {
		sk_cf_error(ctx, val, "%s: expected an absolute folder path, got %s", where,
			sk_cf_shown(val, got, sizeof got));
		return;
	}
	char *norm = sk_conf_path_normalize(sk_cf_scalar(val));
	if (!norm) {
		ctx->nomem = true;
		return;
	}
	if (!strcmp(norm, "/")) {
		sk_cf_error(ctx, val, "%s: '/' is no chroot; leave the key out instead", where);
		free(norm);
		return;
	}
	conf->chroot = norm;
	conf->chroot_line = sk_cf_node_line(val);
}

static const field_t server_fields[] = {
	{ "listen", parse_listen, 0, 0, 0, true, "a list of address@port" },
	{ "workers", sk_cf_parse_uint, CONF_OFF(workers), 1, MAX_WORKERS, false, NULL },
	{ "cpus", parse_cpus, 0, 0, 1023, false, NULL },
	/* Both end up in a TXT character-string (and NSID), hence 255 at most. */
	{ "identity", sk_cf_parse_string, CONF_OFF(identity), 1, 255, false, NULL },
	{ "version", sk_cf_parse_version, CONF_OFF(version), 1, 255, false, NULL },
	{ "edns_size", sk_cf_parse_u16, CONF_OFF(edns_size), 512, 4096, false, NULL },
	{ "tcp_max_clients", sk_cf_parse_uint, CONF_OFF(tcp_max_clients), 1, 1000000, false, NULL },
	{ "tcp_idle_timeout_ms", sk_cf_parse_uint, CONF_OFF(tcp_idle_timeout_ms), 1, 3600000, false, NULL },
	{ "tcp_query_timeout_ms", sk_cf_parse_uint, CONF_OFF(tcp_query_timeout_ms), 1, 3600000, false, NULL },
	{ "tcp_max_pending", sk_cf_parse_uint, CONF_OFF(tcp_max_pending), 1, 65535, false, NULL },
	/* Names as in /etc/passwd and /etc/group; main looks them up (not here: a reload runs
	 * inside the chroot, where those files need not exist). */
	{ "user", parse_account, CONF_OFF(user), 1, 255, false, NULL },
	{ "group", parse_account, CONF_OFF(group), 1, 255, false, NULL },
	{ "chroot", parse_chroot, CONF_OFF(chroot), 0, 0, false, NULL },
};

void sk_cf_parse_server(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	(void)f;
	sk_cf_parse_map(ctx, where, val, server_fields, sizeof server_fields / sizeof *server_fields, obj);
}

/* ---- cookies ---- */

#define COOKIE_OFF(member) offsetof(sk_cookie_conf_t, member)

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
	if (!sk_cf_want_string(ctx, where, val, expect))
		return false;
	const char *s = sk_cf_scalar(val);
	size_t n = val->data.scalar.length;
	if (n != 2 * SK_COOKIE_SECRET_LEN) {
		sk_cf_error(ctx, val, "%s: expected %s, got %zu characters", where, expect, n);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (hex_digit(s[i]) < 0) {
			sk_cf_error(ctx, val, "%s: expected %s, character %zu is not one", where, expect, i + 1);
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
		sk_cf_error(ctx, val, "%s: expected a list of secrets (32 hexadecimal digits each), got %s", where,
			sk_cf_shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	/* Each one is tried on every server cookie the current secret does not verify. */
	if (n > SK_COOKIE_PREVIOUS_MAX) {
		sk_cf_error(ctx, val, "%s: %zu secrets given, at most %u", where, n, SK_COOKIE_PREVIOUS_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
		if (parse_secret(ctx, where, item, cc->previous[cc->nprevious]))
			cc->nprevious++;
	}
}

static const field_t cookie_fields[] = {
	{ "enabled", sk_cf_parse_bool, COOKIE_OFF(enabled), 0, 0, false, NULL },
	{ "secret", parse_cookie_secret, 0, 0, 0, false, NULL },
	{ "previous", parse_cookie_previous, 0, 0, 0, false, NULL },
	{ "require", sk_cf_parse_bool, COOKIE_OFF(require), 0, 0, false, NULL },
};

void sk_cf_parse_cookies(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	(void)f;
	sk_cf_parse_map(ctx, where, val, cookie_fields, sizeof cookie_fields / sizeof *cookie_fields,
		&conf->cookies);
	if (conf->cookies.require && !conf->cookies.enabled)
		sk_cf_error(ctx, val, "%s: require: true needs cookies enabled", where);
}
