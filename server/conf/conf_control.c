/* conf_control.c -- the `control:` and `metrics:` sections: the control socket, the /metrics listener */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/conf_parse.h"

#define CTL_OFF(member) offsetof(sk_control_conf_t, member)

/* control.socket: an absolute path. The socket is bound before the chroot (as root, like the DNS
 * sockets), so the path is the one seen from outside, where sinkholectl runs: it is not one of
 * the paths the chroot check moves inside. */
static void parse_socket(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_control_conf_t *c = obj;
	char got[96];
	if (!sk_cf_want_string(ctx, where, val, "an absolute path"))
		return;
	const char *s = sk_cf_scalar(val);
	if (s[0] != '/') {
		sk_cf_error(ctx, val, "%s: expected an absolute path, got %s", where,
			sk_cf_shown(val, got, sizeof got));
		return;
	}
	/* sun_path holds 108 bytes with its NUL. */
	if (val->data.scalar.length > SK_CONTROL_PATH_MAX) {
		sk_cf_error(ctx, val, "%s: a unix socket path has at most %u bytes, got %zu", where,
			SK_CONTROL_PATH_MAX, val->data.scalar.length);
		return;
	}
	sk_cf_store_string(ctx, where, val, f, obj, "an absolute path");
	c->line = sk_cf_node_line(val);
}

/* control.mode: octal permission bits, "0660" or "660"; at most 0777 (no set-id or sticky bits,
 * which mean nothing on a socket). Quoted or not: YAML 1.1's octal reading is not relied on. */
static void parse_mode(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	unsigned *dst = (unsigned *)((char *)obj + f->off), mode = 0;
	char got[96];
	if (!sk_cf_want_string(ctx, where, val, "an octal mode such as \"0660\""))
		return;
	const char *s = sk_cf_scalar(val);
	size_t n = strlen(s);
	bool ok = n >= 1 && n <= 4;
	for (size_t i = 0; ok && i < n; i++) {
		ok = s[i] >= '0' && s[i] <= '7';
		mode = mode * 8 + (unsigned)(s[i] - '0');
	}
	if (!ok || mode > 0777) {
		sk_cf_error(ctx, val, "%s: expected an octal mode from 0000 to 0777 such as \"0660\", got %s",
			where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	*dst = mode;
}

static void parse_group(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_control_conf_t *c = obj;
	sk_cf_store_string(ctx, where, val, f, obj, "a group name");
	c->group_line = sk_cf_node_line(val);
}

static const field_t control_fields[] = {
	{ "socket", parse_socket, CTL_OFF(socket), 1, SK_CONTROL_PATH_MAX, true, "an absolute path" },
	{ "mode", parse_mode, CTL_OFF(mode), 0, 0, false, NULL },
	{ "group", parse_group, CTL_OFF(group), 1, 255, false, NULL },
};

void sk_cf_parse_control(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_control_conf_t *c = &((sk_conf_t *)obj)->control;
	(void)f;
	c->mode = SK_CONTROL_DEFAULT_MODE;
	sk_cf_parse_map(ctx, where, val, control_fields, sizeof control_fields / sizeof *control_fields, c);
}

/* metrics.listen: "address@port"; the port is required (53 would be the DNS default). */
static void parse_metrics_listen(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f,
	void *obj)
{
	sk_metrics_conf_t *m = obj;
	sk_listen_t l = { 0 };
	bool bad_port;
	char got[96];
	(void)f;
	if (!sk_cf_want_string(ctx, where, val, "an address@port"))
		return;
	const char *s = sk_cf_scalar(val);
	if (!strchr(s, '@') || !sk_conf_parse_listen(s, &l, &bad_port)) {
		sk_cf_error(ctx, val, "%s: expected an IPv4 or IPv6 address, then @port (such as "
			"127.0.0.1@9153), got %s", where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	if (!(l.text = sk_cf_dup_or_flag(ctx, s, val->data.scalar.length)))
		return;
	free(m->listen.text);
	m->listen = l;
	m->enabled = true;
}

static const field_t metrics_fields[] = {
	{ "listen", parse_metrics_listen, 0, 0, 0, true, "an address@port such as 127.0.0.1@9153" },
};

void sk_cf_parse_metrics(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_metrics_conf_t *m = &((sk_conf_t *)obj)->metrics;
	(void)f;
	sk_cf_parse_map(ctx, where, val, metrics_fields, sizeof metrics_fields / sizeof *metrics_fields, m);
}
