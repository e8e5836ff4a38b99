/* sinks.c -- the built-in sinks, as rows of a static table (no plugins loaded at run time) */
#include "telemetry/sinks.h"

#if SK_HAVE_DNSTAP
#include "telemetry/dnstap.h"
#endif
#if SK_HAVE_NATS
#include "telemetry/nats.h"
#endif

static const void *jsonl_conf(const sk_conf_t *conf)
{
	return conf->telemetry.jsonl;
}

#if SK_HAVE_DNSTAP
static const void *dnstap_conf(const sk_conf_t *conf)
{
	return conf->telemetry.dnstap;
}
#endif

#if SK_HAVE_NATS
static const void *nats_conf(const sk_conf_t *conf)
{
	return conf->telemetry.nats;
}
#endif

const sk_sink_row_t sk_sink_table[] = {
	{ &sk_jsonl_ops, jsonl_conf },
#if SK_HAVE_DNSTAP
	{ &sk_dnstap_ops, dnstap_conf },
#endif
#if SK_HAVE_NATS
	{ &sk_nats_ops, nats_conf },
#endif
};

const size_t sk_sink_table_len = sizeof sk_sink_table / sizeof *sk_sink_table;
