/* metrics.c -- the counters in the Prometheus text exposition format (version 0.0.4) */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl_int.h"

/* A family's HELP and TYPE lines; its samples follow. */
static void family(sk_strbuf_t *o, const char *name, const char *type, const char *help)
{
	sk_strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and line feed escaped, as the format requires. */
static void label_value(sk_strbuf_t *o, const char *v)
{
	sk_strbuf_puts(o, "\"");
	for (; *v; v++) {
		if (*v == '\\')
			sk_strbuf_puts(o, "\\\\");
		else if (*v == '"')
			sk_strbuf_puts(o, "\\\"");
		else if (*v == '\n')
			sk_strbuf_puts(o, "\\n");
		else
			sk_strbuf_append(o, v, 1);
	}
	sk_strbuf_puts(o, "\"");
}

static void sample_u(sk_strbuf_t *o, const char *name, uint64_t v)
{
	sk_strbuf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void one(sk_strbuf_t *o, const char *name, const char *type, const char *help, uint64_t v)
{
	family(o, name, type, help);
	sample_u(o, name, v);
}

/* Label names must match [a-zA-Z_][a-zA-Z0-9_]*: a tag key becomes tag_<key>, other bytes '_'. */
static void tag_label_name(const char *key, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "tag_%s", key);
	for (size_t i = 4; i < n && i < cap; i++) {
		char ch = buf[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
			buf[i] = '_';
	}
}

/* The labels of a tag set; a key that maps to a label name already written is left out (a
 * sample may not repeat a label). */
static void tag_labels(sk_strbuf_t *o, unsigned id)
{
	const sk_tagset_t *ts = id == SK_QS_TAGSETS - 1 ? NULL : sk_tagset_by_id(id);
	char names[8][72];
	size_t nn = 0;
	if (!ts) {
		sk_strbuf_puts(o, ",tag_set=\"other\"");
		return;
	}
	for (size_t i = 0; i < ts->n; i++) {
		char name[72];
		bool dup = false;
		tag_label_name(ts->tags[i].key, name, sizeof name);
		for (size_t k = 0; k < nn && !dup; k++)
			dup = !strcmp(names[k], name);
		if (dup)
			continue;
		if (nn < 8)
			strcpy(names[nn++], name);
		sk_strbuf_printf(o, ",%s=", name);
		label_value(o, ts->tags[i].value);
	}
}

static void queries(sk_strbuf_t *o, const sk_qstats_t *qs)
{
	family(o, "sinkholed_queries_total", "counter",
		"Queries answered, by transport, response code and query type.");
	for (unsigned t = 0; t < SK_QS_TRANSPORTS; t++)
		for (unsigned r = 0; r < SK_QS_RCODES; r++)
			for (unsigned q = 0; q < SK_QS_QTYPES; q++)
				if (qs->by_type[t][r][q])
					sk_strbuf_printf(o, "sinkholed_queries_total{transport=\"%s\",rcode=\"%s\","
						"qtype=\"%s\"} %llu\n", sk_qs_transport_name(t), sk_qs_rcode_name(r),
						sk_qs_qtype_name(q), (unsigned long long)qs->by_type[t][r][q]);
	family(o, "sinkholed_tagged_queries_total", "counter",
		"Queries answered from a zone or seized list, by its tags (tag_<key>), transport and response code.");
	for (unsigned id = 0; id < SK_QS_TAGSETS; id++)
		for (unsigned t = 0; t < SK_QS_TRANSPORTS; t++)
			for (unsigned r = 0; r < SK_QS_RCODES; r++) {
				if (!qs->by_tags[id][t][r])
					continue;
				sk_strbuf_printf(o, "sinkholed_tagged_queries_total{transport=\"%s\",rcode=\"%s\"",
					sk_qs_transport_name(t), sk_qs_rcode_name(r));
				tag_labels(o, id);
				sk_strbuf_printf(o, "} %llu\n", (unsigned long long)qs->by_tags[id][t][r]);
			}
}

static void net(sk_strbuf_t *o, const sk_net_stats_t *n)
{
	one(o, "sinkholed_udp_received_total", "counter", "UDP datagrams received.", n->udp_rx);
	one(o, "sinkholed_udp_replies_total", "counter", "UDP replies sent.", n->udp_tx);
	family(o, "sinkholed_udp_dropped_total", "counter",
		"UDP datagrams not answered: no answer due, or larger than a receive slot.");
	sk_strbuf_printf(o, "sinkholed_udp_dropped_total{reason=\"unanswered\"} %llu\n"
		"sinkholed_udp_dropped_total{reason=\"truncated\"} %llu\n",
		(unsigned long long)n->udp_dropped, (unsigned long long)n->udp_truncated);
	family(o, "sinkholed_udp_errors_total", "counter", "UDP socket errors.");
	sk_strbuf_printf(o, "sinkholed_udp_errors_total{op=\"send\"} %llu\n"
		"sinkholed_udp_errors_total{op=\"receive\"} %llu\n",
		(unsigned long long)n->udp_send_errors, (unsigned long long)n->udp_recv_errors);
	one(o, "sinkholed_udp_replies_cut_total", "counter",
		"UDP replies larger than the interface carries unfragmented, sent truncated (TC) instead.",
		n->udp_cut);
	one(o, "sinkholed_tcp_connections_total", "counter", "TCP connections accepted.", n->tcp_accepted);
	one(o, "sinkholed_tcp_connections_open", "gauge", "TCP connections open now.", n->tcp_open);
	family(o, "sinkholed_tcp_connections_closed_total", "counter",
		"TCP connections closed by the server, by reason.");
	sk_strbuf_printf(o, "sinkholed_tcp_connections_closed_total{reason=\"evicted\"} %llu\n"
		"sinkholed_tcp_connections_closed_total{reason=\"rejected\"} %llu\n"
		"sinkholed_tcp_connections_closed_total{reason=\"idle_timeout\"} %llu\n"
		"sinkholed_tcp_connections_closed_total{reason=\"query_timeout\"} %llu\n"
		"sinkholed_tcp_connections_closed_total{reason=\"error\"} %llu\n",
		(unsigned long long)n->tcp_evicted, (unsigned long long)n->tcp_rejected,
		(unsigned long long)n->tcp_timeouts, (unsigned long long)n->tcp_query_timeouts,
		(unsigned long long)n->tcp_errors);
	one(o, "sinkholed_tcp_received_total", "counter", "TCP frames received.", n->tcp_rx);
	one(o, "sinkholed_tcp_replies_total", "counter", "TCP replies written out.", n->tcp_tx);
	one(o, "sinkholed_tcp_dropped_total", "counter", "TCP frames not answered.", n->tcp_dropped);
	family(o, "sinkholed_rrl_limited_total", "counter",
		"UDP replies response rate limiting dropped or sent truncated (slipped).");
	sk_strbuf_printf(o, "sinkholed_rrl_limited_total{action=\"dropped\"} %llu\n"
		"sinkholed_rrl_limited_total{action=\"slipped\"} %llu\n",
		(unsigned long long)n->rrl_dropped, (unsigned long long)n->rrl_slipped);
}

/* One sink's rows of sinkholed_telemetry_records_total. Spooled and replayed only for a sink that
 * has a spool, so that a zero there always means "nothing went through it", never "no spool". */
static void sink_records(sk_strbuf_t *o, const sk_telemetry_stats_t *tm, unsigned i)
{
	static const char *const results[] = { "written", "failed", "spooled", "replayed" };
	const uint64_t v[] = { tm->sink[i].written, tm->sink[i].failed, tm->sink[i].spooled,
		tm->sink[i].replayed };
	unsigned n = tm->sink[i].spools ? 4 : 2;
	for (unsigned r = 0; r < n; r++)
		sk_strbuf_printf(o, "sinkholed_telemetry_records_total{sink=\"%s\",result=\"%s\"} %llu\n",
			tm->sink[i].name, results[r], (unsigned long long)v[r]);
}

/* The spool gauge, only when a sink has a spool: a family without samples would say nothing. */
static void spool_backlog(sk_strbuf_t *o, const sk_telemetry_stats_t *tm)
{
	bool head = false;
	for (unsigned i = 0; i < tm->nsinks; i++) {
		if (!tm->sink[i].spools)
			continue;
		if (!head)
			family(o, "sinkholed_telemetry_spool_records", "gauge",
				"Records in a sink's spool now, waiting to be sent again to its destination.");
		head = true;
		sk_strbuf_printf(o, "sinkholed_telemetry_spool_records{sink=\"%s\"} %llu\n",
			tm->sink[i].name, (unsigned long long)tm->sink[i].in_spool);
	}
}

static void telemetry(sk_strbuf_t *o, const sk_ctl_sample_t *s)
{
	one(o, "sinkholed_telemetry_enabled", "gauge", "1 when a telemetry sink is configured.",
		s->telemetry);
	one(o, "sinkholed_telemetry_events_processed_total", "counter",
		"Events taken from the workers' rings and given to the sinks.", s->tm.processed);
	family(o, "sinkholed_telemetry_records_total", "counter",
		"Telemetry records by sink and result: written or failed per sink; for a sink with a spool "
		"(nats) also spooled and replayed (a record can count in several); dropped (a worker's "
		"ring was full) for all sinks at once.");
	for (unsigned i = 0; i < s->tm.nsinks; i++)
		sink_records(o, &s->tm, i);
	sk_strbuf_printf(o, "sinkholed_telemetry_records_total{sink=\"all\",result=\"dropped\"} %llu\n",
		(unsigned long long)s->tm.dropped);
	family(o, "sinkholed_telemetry_reconnects_total", "counter",
		"Times a sink's destination was lost and opened again.");
	for (unsigned i = 0; i < s->tm.nsinks; i++)
		sk_strbuf_printf(o, "sinkholed_telemetry_reconnects_total{sink=\"%s\"} %llu\n",
			s->tm.sink[i].name, (unsigned long long)s->tm.sink[i].reconnects);
	spool_backlog(o, &s->tm);
}

static void reloads(sk_strbuf_t *o, const sk_reload_status_t *r)
{
	family(o, "sinkholed_reloads_total", "counter", "Reloads (SIGHUP or sinkholectl reload) by result.");
	sk_strbuf_printf(o, "sinkholed_reloads_total{result=\"success\"} %llu\n"
		"sinkholed_reloads_total{result=\"failure\"} %llu\n",
		(unsigned long long)r->ok, (unsigned long long)r->failed);
	family(o, "sinkholed_last_reload_success_timestamp_seconds", "gauge",
		"When the last successful load (the first one at start, or a reload) ended.");
	sk_strbuf_printf(o, "sinkholed_last_reload_success_timestamp_seconds %.3f\n", r->last_ok);
	one(o, "sinkholed_last_reload_successful", "gauge",
		"1 when the last reload succeeded (or none has run yet), 0 when it failed.", !r->last_failed);
}

static void snapshot(sk_strbuf_t *o, const sk_ctl_sample_t *s)
{
	one(o, "sinkholed_snapshot_generation", "gauge", "The generation being served (1 at start).",
		s->generation);
	one(o, "sinkholed_snapshot_zones", "gauge", "Zones being served.", s->zones);
	one(o, "sinkholed_snapshot_records", "gauge", "Records in the zones being served.", s->records);
	one(o, "sinkholed_snapshot_seized_lists", "gauge", "Seized lists being served.", s->lists);
	one(o, "sinkholed_snapshot_seized_domains", "gauge", "Seized domains being served.", s->seized);
	one(o, "sinkholed_snapshot_bytes", "gauge",
		"Bytes of the compiled zone data being served (tables and wire-format records).", s->db_bytes);
}

void sk_ctl_metrics(const sk_ctl_t *ctl, const sk_ctl_sample_t *s, sk_strbuf_t *o)
{
	family(o, "sinkholed_info", "gauge", "The node: its identity (NSID, id.server) and version.");
	sk_strbuf_puts(o, "sinkholed_info{identity=");
	label_value(o, s->identity);
	sk_strbuf_puts(o, ",version=\"" SK_VERSION "\"} 1\n");
	queries(o, s->qs);
	net(o, &s->net);
	telemetry(o, s);
	reloads(o, ctl->env.reload);
	snapshot(o, s);
	family(o, "sinkholed_control_requests_total", "counter",
		"Requests served on the control socket and the metrics endpoint.");
	sk_strbuf_printf(o, "sinkholed_control_requests_total{endpoint=\"control\"} %llu\n"
		"sinkholed_control_requests_total{endpoint=\"metrics\"} %llu\n",
		(unsigned long long)ctl->requests, (unsigned long long)ctl->http_requests);
	one(o, "sinkholed_control_rejected_connections_total", "counter",
		"Control and metrics connections closed at once: over the cap, or while stopping.",
		ctl->rejected);
	family(o, "process_start_time_seconds", "gauge", "Start time of the process since the epoch.");
	sk_strbuf_printf(o, "process_start_time_seconds %.3f\n", ctl->env.started);
	family(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
	sk_strbuf_printf(o, "process_cpu_seconds_total %.3f\n", s->cpu);
	if (s->rss >= 0)
		one(o, "process_resident_memory_bytes", "gauge", "Resident memory size.", (uint64_t)s->rss);
}
