/* conf_xfr.c -- the `transfer:` section: TSIG keys, who may transfer, whom to notify, the catalog */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/conf_parse.h"

#define XFR_OFF(member) offsetof(sk_xfr_conf_t, member)
#define MAX_ALLOW 256
#define MAX_NOTIFY 64

/*
 * `allow` and `notify` entries name keys that `keys` may define further down: the names are kept
 * while the section is parsed and resolved once it is done.
 */
typedef struct key_ref {
	char *name;
	const yaml_node_t *node;
	int *dst;
} key_ref_t;

typedef struct xparse {
	sk_xfr_conf_t *x;
	key_ref_t refs[MAX_ALLOW + MAX_NOTIFY];
	size_t nrefs;
} xparse_t;

static size_t seq_len(const yaml_node_t *val)
{
	return (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
}

static yaml_node_t *seq_item(ctx_t *ctx, const yaml_node_t *val, size_t i)
{
	return yaml_document_get_node(ctx->doc, val->data.sequence.items.start[i]);
}

/* ---- keys ---- */

static const char *const alg_names[] = { [SK_TSIG_HMAC_SHA256] = "hmac-sha256",
	[SK_TSIG_HMAC_SHA512] = "hmac-sha512" };

static void parse_key_name(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_tsig_key_t *k = obj;
	char got[96];
	(void)f;
	if (!sk_cf_want_string(ctx, where, val, "a key name"))
		return;
	size_t n = sk_conf_host_wire(sk_cf_scalar(val), k->wire);
	if (!n) {
		sk_cf_error(ctx, val, "%s: expected a key name (labels of letters, digits, '-' and '_'), "
			"got %s", where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	k->wire_len = (uint8_t)n;
	const char *s = sk_cf_scalar(val);
	size_t len = val->data.scalar.length;
	if (asprintf(&k->name, "%s%s", s, len && s[len - 1] == '.' ? "" : ".") < 0) {
		k->name = NULL;
		ctx->nomem = true;
	}
}

static void parse_key_alg(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_tsig_key_t *k = obj;
	char got[96];
	(void)f;
	if (!sk_cf_want_string(ctx, where, val, "hmac-sha256 or hmac-sha512"))
		return;
	for (int a = SK_TSIG_HMAC_SHA256; a <= SK_TSIG_HMAC_SHA512; a++) {
		if (!strcasecmp(sk_cf_scalar(val), alg_names[a])) {
			k->alg = (sk_tsig_alg_t)a;
			return;
		}
	}
	sk_cf_error(ctx, val, "%s: expected hmac-sha256 or hmac-sha512, got %s", where,
		sk_cf_shown(val, got, sizeof got));
}

/* The secret is never shown in a message: messages end up in logs. */
static void parse_key_secret(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_tsig_key_t *k = obj;
	(void)f;
	if (!sk_cf_want_string(ctx, where, val, "a base64 secret"))
		return;
	long n = sk_conf_base64(sk_cf_scalar(val), k->secret, sizeof k->secret);
	if (n <= 0) {
		sk_cf_error(ctx, val, "%s: expected a base64 secret of 1 to %u bytes (as tsig-keygen or "
			"keymgr -t print it)", where, SK_TSIG_SECRET_MAX);
		return;
	}
	k->secret_len = (size_t)n;
}

static const field_t key_fields[] = {
	{ "name", parse_key_name, 0, 0, 0, true, "the key's name" },
	{ "algorithm", parse_key_alg, 0, 0, 0, false, NULL },
	{ "secret", parse_key_secret, 0, 0, 0, true, "the secret in base64" },
};

static void parse_keys(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_xfr_conf_t *x = ((xparse_t *)obj)->x;
	char got[96], sub[64];
	(void)f;
	if (val->type != YAML_SEQUENCE_NODE) {
		sk_cf_error(ctx, val, "%s: expected a list of keys (- name: ...), got %s", where,
			sk_cf_shown(val, got, sizeof got));
		return;
	}
	size_t n = seq_len(val);
	if (n > SK_TSIG_KEYS_MAX) {
		sk_cf_error(ctx, val, "%s: %zu keys, at most %u", where, n, SK_TSIG_KEYS_MAX);
		return;
	}
	if (n == 0)
		return;
	if (!(x->keys = calloc(n, sizeof *x->keys))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n && !ctx->nomem; i++) {
		yaml_node_t *item = seq_item(ctx, val, i);
		sk_tsig_key_t *k = &x->keys[x->nkeys++];
		k->alg = SK_TSIG_HMAC_SHA256;
		k->line = sk_cf_node_line(item);
		snprintf(sub, sizeof sub, "%s[%zu]", where, i);
		sk_cf_parse_map(ctx, sub, item, key_fields, sizeof key_fields / sizeof *key_fields, k);
		for (size_t j = 0; k->wire_len && j + 1 < x->nkeys; j++) {
			if (x->keys[j].wire_len == k->wire_len && !memcmp(x->keys[j].wire, k->wire, k->wire_len)) {
				sk_cf_error(ctx, item, "%s: key %s is already defined on line %u", sub, k->name,
					x->keys[j].line);
				break;
			}
		}
	}
}

/* Remember that `node` names a key whose index goes to *dst once every key is known. */
static void want_key(ctx_t *ctx, xparse_t *xp, const char *where, yaml_node_t *node, int *dst)
{
	if (!sk_cf_want_string(ctx, where, node, "a key name from transfer.keys"))
		return;
	key_ref_t *r = &xp->refs[xp->nrefs];
	if (!(r->name = sk_cf_dup_or_flag(ctx, sk_cf_scalar(node), node->data.scalar.length)))
		return;
	r->node = node;
	r->dst = dst;
	xp->nrefs++;
}

/* ---- allow ---- */

/* One prefix, or a list of them, into acl->addrs. */
static void parse_acl_addrs(ctx_t *ctx, const char *where, yaml_node_t *val, sk_xfr_acl_t *acl)
{
	size_t n = val->type == YAML_SEQUENCE_NODE ? seq_len(val) : 1;
	char got[96];
	if (n == 0) {
		sk_cf_error(ctx, val, "%s: expected address/length prefixes, got an empty list", where);
		return;
	}
	if (!(acl->addrs = calloc(n, sizeof *acl->addrs))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = val->type == YAML_SEQUENCE_NODE ? seq_item(ctx, val, i) : val;
		bool host_bits;
		if (!sk_cf_want_string(ctx, where, item, "an address/length prefix"))
			continue;
		if (sk_conf_parse_prefix(sk_cf_scalar(item), &acl->addrs[acl->naddrs], &host_bits)) {
			acl->naddrs++;
			continue;
		}
		if (host_bits)
			sk_cf_error(ctx, item, "%s: %s has address bits set past its length", where,
				sk_cf_shown(item, got, sizeof got));
		else
			sk_cf_error(ctx, item, "%s: expected an IPv4 or IPv6 address, then optionally /length, "
				"got %s", where, sk_cf_shown(item, got, sizeof got));
	}
}

/* The mapping form of an allow entry: `address:` and/or `key:`. */
static void parse_acl_map(ctx_t *ctx, xparse_t *xp, const char *where, yaml_node_t *item,
	sk_xfr_acl_t *acl)
{
	char got[96], sub[96];
	bool any = false;
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(ctx->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
		const char *k = key->type == YAML_SCALAR_NODE ? sk_cf_scalar(key) : "";
		snprintf(sub, sizeof sub, "%s.%s", where, k);
		if (!strcmp(k, "address") && !acl->addrs) {
			parse_acl_addrs(ctx, sub, v, acl);
		} else if (!strcmp(k, "key") && acl->key == -1) {
			acl->key = -2;      /* given: resolved later */
			want_key(ctx, xp, sub, v, &acl->key);
		} else {
			sk_cf_error(ctx, key, "%s: unknown or repeated key %s, expected address and/or key",
				where, sk_cf_shown(key, got, sizeof got));
			continue;
		}
		any = true;
	}
	if (!any)
		sk_cf_error(ctx, item, "%s: expected address: and/or key:", where);
}

static void parse_allow(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	xparse_t *xp = obj;
	sk_xfr_conf_t *x = xp->x;
	char got[96], sub[64];
	(void)f;
	if (val->type != YAML_SEQUENCE_NODE) {
		sk_cf_error(ctx, val, "%s: expected a list of prefixes or {address, key} entries, got %s",
			where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	size_t n = seq_len(val);
	if (n > MAX_ALLOW) {
		sk_cf_error(ctx, val, "%s: %zu entries, at most %u", where, n, MAX_ALLOW);
		return;
	}
	if (n && !(x->allow = calloc(n, sizeof *x->allow))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n && !ctx->nomem; i++) {
		yaml_node_t *item = seq_item(ctx, val, i);
		sk_xfr_acl_t *acl = &x->allow[x->nallow++];
		acl->key = -1;
		acl->line = sk_cf_node_line(item);
		snprintf(sub, sizeof sub, "%s[%zu]", where, i);
		if (item->type == YAML_MAPPING_NODE)
			parse_acl_map(ctx, xp, sub, item, acl);
		else
			parse_acl_addrs(ctx, sub, item, acl);
	}
}

/* ---- notify ---- */

static void parse_target_addr(ctx_t *ctx, const char *where, yaml_node_t *val, sk_notify_target_t *t)
{
	sk_listen_t l = { 0 };
	bool bad_port;
	char got[96];
	if (!sk_cf_want_string(ctx, where, val, "an address@port"))
		return;
	if (!sk_conf_parse_listen(sk_cf_scalar(val), &l, &bad_port)) {
		sk_cf_error(ctx, val, "%s: bad %s in %s, expected an IPv4 or IPv6 address, then optionally "
			"@port", where, bad_port ? "port" : "address", sk_cf_shown(val, got, sizeof got));
		return;
	}
	t->addr = l.addr;
	t->addrlen = l.addrlen;
	t->text = sk_cf_dup_or_flag(ctx, sk_cf_scalar(val), val->data.scalar.length);
}

static void parse_notify(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	xparse_t *xp = obj;
	sk_xfr_conf_t *x = xp->x;
	char got[96], sub[64], sub2[96];
	(void)f;
	if (val->type != YAML_SEQUENCE_NODE) {
		sk_cf_error(ctx, val, "%s: expected a list of address@port or {address, key} entries, got %s",
			where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	size_t n = seq_len(val);
	if (n > MAX_NOTIFY) {
		sk_cf_error(ctx, val, "%s: %zu secondaries, at most %u", where, n, MAX_NOTIFY);
		return;
	}
	if (n && !(x->notify = calloc(n, sizeof *x->notify))) {
		ctx->nomem = true;
		return;
	}
	for (size_t i = 0; i < n && !ctx->nomem; i++) {
		yaml_node_t *item = seq_item(ctx, val, i);
		sk_notify_target_t *t = &x->notify[x->nnotify++];
		t->key = -1;
		t->line = sk_cf_node_line(item);
		snprintf(sub, sizeof sub, "%s[%zu]", where, i);
		if (item->type != YAML_MAPPING_NODE) {
			parse_target_addr(ctx, sub, item, t);
			continue;
		}
		bool have_addr = false;
		for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
			yaml_node_t *key = yaml_document_get_node(ctx->doc, p->key);
			yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
			const char *k = key->type == YAML_SCALAR_NODE ? sk_cf_scalar(key) : "";
			snprintf(sub2, sizeof sub2, "%s.%s", sub, k);
			if (!strcmp(k, "address") && !have_addr) {
				have_addr = true;
				parse_target_addr(ctx, sub2, v, t);
			} else if (!strcmp(k, "key") && t->key == -1) {
				t->key = -2;
				want_key(ctx, xp, sub2, v, &t->key);
			} else {
				sk_cf_error(ctx, key, "%s: unknown or repeated key %s, expected address and key",
					sub, sk_cf_shown(key, got, sizeof got));
			}
		}
		if (!have_addr)
			sk_cf_error(ctx, item, "%s: missing key 'address', expected an address@port", sub);
	}
}

/* ---- catalog ---- */

static void parse_catalog_name(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_xfr_conf_t *x = obj;
	uint8_t wire[255];
	char got[96];
	(void)f;
	if (!sk_cf_want_string(ctx, where, val, "a domain name"))
		return;
	const char *s = sk_cf_scalar(val);
	size_t len = val->data.scalar.length;
	if (!sk_conf_host_wire(s, wire)) {
		sk_cf_error(ctx, val, "%s: expected a domain name (labels of letters, digits, '-' and '_'), "
			"got %s", where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	free(x->catalog_name);
	if (asprintf(&x->catalog_name, "%s%s", s, s[len - 1] == '.' ? "" : ".") < 0) {
		x->catalog_name = NULL;
		ctx->nomem = true;
	}
}

static void parse_catalog_members(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_xfr_conf_t *x = obj;
	char got[96];
	(void)f;
	if (val->type == YAML_SCALAR_NODE && !strcmp(sk_cf_scalar(val), "all"))
		x->catalog_zones = true;
	else if (val->type == YAML_SCALAR_NODE && !strcmp(sk_cf_scalar(val), "seized"))
		x->catalog_zones = false;
	else
		sk_cf_error(ctx, val, "%s: expected all or seized, got %s", where, sk_cf_shown(val, got, sizeof got));
}

static const field_t catalog_fields[] = {
	{ "name", parse_catalog_name, 0, 0, 0, false, NULL },
	{ "members", parse_catalog_members, 0, 0, 0, false, NULL },
};

/* `catalog: {}` or `catalog:` with nothing under it: the catalog with its defaults. */
static void parse_catalog(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_xfr_conf_t *x = ((xparse_t *)obj)->x;
	(void)f;
	x->catalog = true;
	x->catalog_line = sk_cf_node_line(val);
	if (!sk_cf_is_null(val))
		sk_cf_parse_map(ctx, where, val, catalog_fields, sizeof catalog_fields / sizeof *catalog_fields, x);
}

static void parse_seized_flag(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_cf_parse_bool(ctx, where, val, f, ((xparse_t *)obj)->x);
}

static const field_t xfr_fields[] = {
	{ "keys", parse_keys, 0, 0, 0, false, NULL },
	{ "allow", parse_allow, 0, 0, 0, false, NULL },
	{ "notify", parse_notify, 0, 0, 0, false, NULL },
	{ "seized", parse_seized_flag, XFR_OFF(seized), 0, 0, false, NULL },
	{ "catalog", parse_catalog, 0, 0, 0, false, NULL },
};

/* Every key name an entry gave, to its index; one that `keys` lacks is an error at its line. */
static void resolve_keys(ctx_t *ctx, xparse_t *xp)
{
	sk_xfr_conf_t *x = xp->x;
	for (size_t i = 0; i < xp->nrefs; i++) {
		key_ref_t *r = &xp->refs[i];
		uint8_t wire[255];
		size_t n = sk_conf_host_wire(r->name, wire);
		size_t k;
		for (k = 0; n && k < x->nkeys; k++)
			if (x->keys[k].wire_len == n && !memcmp(x->keys[k].wire, wire, n))
				break;
		if (n && k < x->nkeys)
			*r->dst = (int)k;
		else
			sk_cf_error(ctx, r->node, "transfer: key '%s' is not defined in transfer.keys", r->name);
		free(r->name);
	}
}

void sk_cf_parse_transfer(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_xfr_conf_t *x = &((sk_conf_t *)obj)->xfr;
	xparse_t *xp = calloc(1, sizeof *xp);
	(void)f;
	if (!xp) {
		ctx->nomem = true;
		return;
	}
	xp->x = x;
	x->enabled = true;
	x->seized = true;
	x->catalog_zones = true;
	/* `transfer: {}` turns transfers on with nobody allowed: TSIG keys and NOTIFY may still be
	 * all that is wanted. */
	sk_cf_parse_map(ctx, where, val, xfr_fields, sizeof xfr_fields / sizeof *xfr_fields, xp);
	resolve_keys(ctx, xp);
	free(xp);
	if (x->catalog && !x->catalog_name && !(x->catalog_name = strdup(SK_CATALOG_DEFAULT)))
		ctx->nomem = true;
}

void sk_conf_xfr_free(sk_xfr_conf_t *x)
{
	for (size_t i = 0; i < x->nkeys; i++)
		free(x->keys[i].name);
	free(x->keys);
	for (size_t i = 0; i < x->nallow; i++)
		free(x->allow[i].addrs);
	free(x->allow);
	for (size_t i = 0; i < x->nnotify; i++)
		free(x->notify[i].text);
	free(x->notify);
	free(x->catalog_name);
}
