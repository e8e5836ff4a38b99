/* conf_data.c -- the `zones:` and `seized:` sections: zone files and lists of seized domains, with their tags */
#include <stdio.h>
#include <stdlib.h>

#include <yaml.h>

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/conf_parse.h"

/* ---- zones ---- */

static void parse_zone_file(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_zone_conf_t *z = obj;
	(void)f;
	sk_cf_store_path(ctx, where, val, &z->file, "a zone file path");
}

static void parse_zone_name(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_zone_conf_t *z = obj;
	char got[96];
	(void)f;

	if (!sk_cf_want_string(ctx, where, val, "a domain name"))
		return;
	if (!sk_conf_valid_domain(sk_cf_scalar(val))) {
		sk_cf_error(ctx, val, "%s: expected a domain name (labels of 1 to 63 characters, 255 in all), "
			"got %s", where, sk_cf_shown(val, got, sizeof got));
		return;
	}
	z->name = sk_cf_dup_or_flag(ctx, sk_cf_scalar(val), val->data.scalar.length);
}

static void parse_tags(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_zone_conf_t *z = obj;
	(void)f;
	sk_cf_parse_tag_map(ctx, where, val, &z->tags, &z->ntags);
}

static const field_t zone_fields[] = {
	{ "file", parse_zone_file, 0, 0, 0, true, "the path of the zone file" },
	{ "name", parse_zone_name, 0, 0, 0, false, NULL },
	{ "tags", parse_tags, 0, 0, 0, false, NULL },
};

void sk_cf_parse_zones(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96], sub[64];
	(void)f;

	if (sk_cf_is_null(val))
		return; /* `zones:` with nothing under it: a server that answers REFUSED */
	if (val->type != YAML_SEQUENCE_NODE) {
		sk_cf_error(ctx, val, "%s: expected a list of zones (- file: ...), got %s", where,
			sk_cf_shown(val, got, sizeof got));
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
		z->line = sk_cf_node_line(item);
		snprintf(sub, sizeof sub, "%s[%zu]", where, i);
		sk_cf_parse_map(ctx, sub, item, zone_fields, sizeof zone_fields / sizeof *zone_fields, z);
	}
}

/* ---- seized ---- */

#define SEIZED_OFF(member) offsetof(sk_seized_conf_t, member)

static void parse_seized_tags(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_seized_conf_t *sz = obj;
	(void)f;
	sk_cf_parse_tag_map(ctx, where, val, &sz->tags, &sz->ntags);
}

static const field_t seized_fields[] = {
	{ "list", sk_cf_parse_path, SEIZED_OFF(list), 0, 0, true, "the path of the list of seized domains" },
	{ "template", sk_cf_parse_path, SEIZED_OFF(template), 0, 0, true, "the path of the template zone file" },
	{ "tags", parse_seized_tags, 0, 0, 0, false, NULL },
};

void sk_cf_parse_seized(ctx_t *ctx, const char *where, yaml_node_t *val, const field_t *f, void *obj)
{
	sk_conf_t *conf = obj;
	char got[96], sub[64];
	(void)f;

	if (sk_cf_is_null(val))
		return;
	if (val->type != YAML_SEQUENCE_NODE) {
		sk_cf_error(ctx, val, "%s: expected a list of seized lists (- list: ...), got %s", where,
			sk_cf_shown(val, got, sizeof got));
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
		sz->line = sk_cf_node_line(item);
		snprintf(sub, sizeof sub, "%s[%zu]", where, i);
		sk_cf_parse_map(ctx, sub, item, seized_fields, sizeof seized_fields / sizeof *seized_fields, sz);
	}
}
