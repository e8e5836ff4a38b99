/* conf_rrl.c -- the `rrl:` section: response rate limiting */
#include <limits.h>
#include <stdlib.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/conf_parse.h"

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
		sk_cf_error(ctx, val, "%s: expected a list of address/length prefixes, got %s", where,
			sk_cf_shown(val, got, sizeof got));
		return;
	}
	size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
	if (n > MAX_RRL_EXEMPT) {
		sk_cf_error(ctx, val, "%s: %zu prefixes, at most %u are allowed", where, n, MAX_RRL_EXEMPT);
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
		if (!sk_cf_want_string(ctx, where, item, "an address/length prefix"))
			continue;
		if (sk_conf_parse_prefix(sk_cf_scalar(item), p, &host_bits)) {
			r->nexempt++;
			continue;
		}
		if (host_bits)
			sk_cf_error(ctx, item, "%s: %s has address bits set past its length", where,
				sk_cf_shown(item, got, sizeof got));
		else
			sk_cf_error(ctx, item, "%s: expected an IPv4 or IPv6 address, then optionally /length "
				"(at most 32 or 128), got %s", where, sk_cf_shown(item, got, sizeof got));
	}
}

static const field_t rrl_fields[] = {
	{ "responses_per_second", sk_cf_parse_uint, RRL_OFF(responses_per_second), 0, MAX_RRL_RATE, false, NULL },
	{ "nxdomains_per_second", sk_cf_parse_uint, RRL_OFF(nxdomains_per_second), 0, MAX_RRL_RATE, false, NULL },
	{ "errors_per_second", sk_cf_parse_uint, RRL_OFF(errors_per_second), 0, MAX_RRL_RATE, false, NULL },
	{ "window", sk_cf_parse_uint, RRL_OFF(window), 1, 3600, false, NULL },
	{ "slip", sk_cf_parse_uint, RRL_OFF(slip), 0, 10, false, NULL },
	{ "ipv4_prefix", sk_cf_parse_uint, RRL_OFF(ipv4_prefix), 0, 32, false, NULL },
	{ "ipv6_prefix", sk_cf_parse_uint, RRL_OFF(ipv6_prefix), 0, 128, false, NULL },
	{ "exempt", parse_exempt, 0, 0, 0, false, NULL },
	{ "table_size", sk_cf_parse_pow2, RRL_OFF(table_size), 64, 16777216, false, NULL },
};

/* The section's presence turns rate limiting on; nxdomains and errors default to what
 * responses_per_second ends up as, wherever in the section it is written. */
void sk_cf_parse_rrl(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_rrl_conf_t *r = &((sk_conf_t *)obj)->rrl;
	(void)f;
	r->enabled = true;
	r->nxdomains_per_second = r->errors_per_second = UINT_MAX;
	sk_cf_parse_map(ctx, where, val, rrl_fields, sizeof rrl_fields / sizeof *rrl_fields, r);
	if (r->nxdomains_per_second == UINT_MAX)
		r->nxdomains_per_second = r->responses_per_second;
	if (r->errors_per_second == UINT_MAX)
		r->errors_per_second = r->responses_per_second;
}
