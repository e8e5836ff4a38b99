/* commands.c -- the control socket's commands: status, stats, reload, zones, lookup, telemetry */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl_int.h"
#include "db/db.h"
#include "dns/name.h"
#include "dns/respond.h"
#include "dns/wire.h"
#include "telemetry/dnstext.h"
#include "util/err.h"

#define ARGS_MAX 8

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident memory from /proc/self/statm (opened before any chroot); -1 when unknown. */
static long resident_bytes(int fd)
{
	char buf[128];
	unsigned long size, rss;
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu", &size, &rss) != 2)
		return -1;
	return (long)rss * sysconf(_SC_PAGESIZE);
}

/* What the db holds: counted by walking it, so kept per generation. */
static void db_facts(sk_ctl_t *ctl, sk_ctl_sample_t *s, const sk_db_t *db)
{
	if (ctl->facts_gen != s->generation) {
		ctl->facts_records = 0;
		for (size_t i = 0; i < sk_db_zone_count(db); i++) {
			size_t names, recs;
			sk_zone_counts(sk_db_zone(db, i), &names, &recs);
			ctl->facts_records += recs;
		}
		ctl->facts_bytes = sk_db_bytes(db);
		ctl->facts_gen = s->generation;
	}
	s->records = ctl->facts_records;
	s->db_bytes = ctl->facts_bytes;
}

int sk_ctl_sample(sk_ctl_t *ctl, sk_ctl_sample_t *s)
{
	const sk_ctl_env_t *env = &ctl->env;
	memset(s, 0, sizeof *s);
	if (!(s->qs = malloc(sizeof *s->qs)))
		return -ENOMEM;
	sk_net_stats(env->net, &s->net);
	sk_net_qstats(env->net, s->qs);
	s->telemetry = env->tm != NULL;
	sk_telemetry_stats(env->tm, &s->tm);
	/* The main thread is a reader of its own: a reload cannot free the snapshot meanwhile. */
	const sk_snapshot_t *snap = sk_snapreg_enter(env->reg, env->reader);
	s->generation = snap->generation;
	s->zones = sk_db_zone_count(snap->db);
	s->lists = sk_db_list_count(snap->db);
	s->seized = sk_db_seized_count(snap->db);
	db_facts(ctl, s, snap->db);
	snprintf(s->identity, sizeof s->identity, "%s", snap->conf->identity ? snap->conf->identity : "");
	snprintf(s->version, sizeof s->version, "%s", snap->conf->version ? snap->conf->version : "");
	sk_snapreg_leave(env->reg, env->reader);
	s->now = wall_now();
	s->uptime = s->now - env->started;
	s->rss = resident_bytes(ctl->statm_fd);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		s->cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return 0;
}

void sk_ctl_sample_free(sk_ctl_sample_t *s)
{
	free(s->qs);
	s->qs = NULL;
}

/* ---- status ---- */

static void cmd_status(sk_ctl_conn_t *c, sk_ctl_sample_t *s)
{
	sk_ctl_t *ctl = c->ctl;
	const sk_reload_status_t *r = ctl->env.reload;
	sk_strbuf_t *o = &c->out;
	sk_strbuf_printf(o, "ok\nversion sinkholed %s\nidentity %s\npid %d\nuptime_s %.0f\n"
		"generation %llu\nzones %zu\nseized_lists %zu\nseized_domains %zu\nworkers %u\nlisten",
		SK_VERSION, s->identity, (int)getpid(), s->uptime, (unsigned long long)s->generation,
		s->zones, s->lists, s->seized, sk_net_workers(ctl->env.net));
	for (size_t i = 0; i < sk_net_listen_count(ctl->env.net); i++)
		sk_strbuf_printf(o, " %s", sk_net_listen_text(ctl->env.net, i));
	sk_strbuf_printf(o, "\nreloads_ok %llu\nreloads_failed %llu\nlast_reload %s\nreloading %s\n"
		"telemetry %s\nmetrics %s\n", (unsigned long long)r->ok, (unsigned long long)r->failed,
		!r->done ? "none" : r->last_failed ? "failed" : "ok",
		r->started > r->done ? "yes" : "no", s->telemetry ? "on" : "off",
		ctl->http_text[0] ? ctl->http_text : "off");
}

/* ---- stats ---- */

#define NET(f) { #f, offsetof(sk_net_stats_t, f) }
static const struct { const char *name; size_t off; } net_fields[] = {
	NET(udp_rx), NET(udp_tx), NET(udp_dropped), NET(udp_truncated), NET(udp_send_errors),
	NET(udp_recv_errors), NET(tcp_accepted), NET(tcp_open), NET(tcp_evicted),
	NET(tcp_rejected), NET(tcp_rx), NET(tcp_tx), NET(tcp_dropped), NET(tcp_timeouts),
	NET(tcp_query_timeouts), NET(tcp_errors), NET(rrl_dropped), NET(rrl_slipped), NET(udp_cut),
};

static uint64_t net_field(const sk_net_stats_t *n, size_t i)
{
	uint64_t v;
	memcpy(&v, (const char *)n + net_fields[i].off, sizeof v);
	return v;
}

static void cmd_stats(sk_ctl_conn_t *c, sk_ctl_sample_t *s)
{
	sk_strbuf_t *o = &c->out;
	sk_strbuf_printf(o, "ok\ngeneration %llu\n", (unsigned long long)s->generation);
	for (size_t i = 0; i < sizeof net_fields / sizeof *net_fields; i++)
		sk_strbuf_printf(o, "%s %llu\n", net_fields[i].name,
			(unsigned long long)net_field(&s->net, i));
	uint64_t total = 0;
	for (unsigned t = 0; t < SK_QS_TRANSPORTS; t++)
		for (unsigned r = 0; r < SK_QS_RCODES; r++)
			for (unsigned q = 0; q < SK_QS_QTYPES; q++) {
				uint64_t v = s->qs->by_type[t][r][q];
				total += v;
				if (v)
					sk_strbuf_printf(o, "queries transport=%s rcode=%s qtype=%s %llu\n",
						sk_qs_transport_name(t), sk_qs_rcode_name(r),
						sk_qs_qtype_name(q), (unsigned long long)v);
			}
	sk_strbuf_printf(o, "queries_total %llu\n", (unsigned long long)total);
	for (unsigned id = 0; id < SK_QS_TAGSETS; id++)
		for (unsigned t = 0; t < SK_QS_TRANSPORTS; t++)
			for (unsigned r = 0; r < SK_QS_RCODES; r++) {
				uint64_t v = s->qs->by_tags[id][t][r];
				const sk_tagset_t *ts = v ? sk_tagset_by_id(id) : NULL;
				if (v)
					sk_strbuf_printf(o, "tagged transport=%s rcode=%s tags=%s %llu\n",
						sk_qs_transport_name(t), sk_qs_rcode_name(r),
						id == SK_QS_TAGSETS - 1 || !ts ? "other" : ts->json,
						(unsigned long long)v);
			}
}

/* ---- telemetry ---- */

static void cmd_telemetry(sk_ctl_conn_t *c, sk_ctl_sample_t *s)
{
	sk_strbuf_t *o = &c->out;
	sk_strbuf_printf(o, "ok\ntelemetry %s\nprocessed %llu\ndropped %llu\n",
		s->telemetry ? "on" : "off", (unsigned long long)s->tm.processed,
		(unsigned long long)s->tm.dropped);
	for (unsigned i = 0; i < s->tm.nsinks; i++) {
		sk_strbuf_printf(o, "sink %s written %llu failed %llu reconnects %llu",
			s->tm.sink[i].name, (unsigned long long)s->tm.sink[i].written,
			(unsigned long long)s->tm.sink[i].failed,
			(unsigned long long)s->tm.sink[i].reconnects);
		if (s->tm.sink[i].spools)
			sk_strbuf_printf(o, " spooled %llu replayed %llu in_spool %llu",
				(unsigned long long)s->tm.sink[i].spooled,
				(unsigned long long)s->tm.sink[i].replayed,
				(unsigned long long)s->tm.sink[i].in_spool);
		sk_strbuf_puts(o, "\n");
	}
}

/* ---- zones ---- */

static void cmd_zones(sk_ctl_conn_t *c)
{
	sk_ctl_t *ctl = c->ctl;
	sk_strbuf_t *o = &c->out;
	char name[SK_NAME_TEXT_MAX];
	const sk_snapshot_t *snap = sk_snapreg_enter(ctl->env.reg, ctl->env.reader);
	const sk_db_t *db = snap->db;
	sk_strbuf_printf(o, "ok\ngeneration %llu\n", (unsigned long long)snap->generation);
	for (size_t i = 0; i < sk_db_zone_count(db); i++) {
		const sk_zone_t *z = sk_db_zone(db, i);
		size_t names, records;
		sk_zone_counts(z, &names, &records);
		sk_name_to_text(sk_zone_apex(z), name, sizeof name);
		sk_strbuf_printf(o, "zone %s serial %u names %zu records %zu tags %s\n", name,
			sk_zone_serial(z), names, records, sk_zone_tagset(z)->json);
	}
	for (size_t i = 0; i < sk_db_list_count(db); i++) {
		const sk_db_list_stats_t *l = sk_db_list_stats(db, i);
		sk_strbuf_printf(o, "list %s template %s domains %zu invalid %zu duplicates %zu "
			"shadowed %zu tags %s\n", l->list, l->template, l->domains, l->invalid,
			l->duplicates, l->shadowed, sk_db_list_tagset(db, i)->json);
	}
	sk_snapreg_leave(ctl->env.reg, ctl->env.reader);
}

/* ---- lookup ---- */

/* A type mnemonic ("A", "txt") or "TYPEnnn"; -1 when it is neither. */
static int parse_type(const char *s)
{
	char buf[SK_DNSTEXT_MAX];
	if (!strncasecmp(s, "TYPE", 4) && s[4]) {
		char *end;
		unsigned long v = strtoul(s + 4, &end, 10);
		return *end || v > 65535 ? -1 : (int)v;
	}
	for (unsigned t = 1; t < 300; t++)
		if (!strcasecmp(sk_dnstext_type((uint16_t)t, buf), s))
			return (int)t;
	return -1;
}

static void flags_text(uint16_t f, sk_strbuf_t *o)
{
	static const struct { uint16_t bit; const char *name; } bits[] = {
		{ 0x8000, "qr" }, { 0x0400, "aa" }, { 0x0200, "tc" }, { 0x0100, "rd" },
		{ 0x0080, "ra" }, { 0x0020, "ad" }, { 0x0010, "cd" },
	};
	sk_strbuf_puts(o, "flags");
	for (size_t i = 0; i < sizeof bits / sizeof *bits; i++)
		if (f & bits[i].bit)
			sk_strbuf_printf(o, " %s", bits[i].name);
	sk_strbuf_puts(o, "\n");
}

/*
 * What the server would answer: a query built here (class IN, no EDNS, RD clear) goes through
 * sk_respond against the current snapshot exactly as a worker's would, as if over TCP (so nothing
 * is truncated); the reply's records are then printed by db/ (ldns, off the query path).
 */
static void cmd_lookup(sk_ctl_conn_t *c, int argc, char **argv)
{
	sk_ctl_t *ctl = c->ctl;
	sk_strbuf_t *o = &c->out;
	uint8_t q[12 + SK_NAME_MAX + 4] = { 0 };
	char text[SK_NAME_TEXT_MAX], buf[SK_DNSTEXT_MAX];
	if (argc < 2 || argc > 3) {
		sk_strbuf_puts(o, "error\nusage: lookup NAME [TYPE]\n");
		return;
	}
	int type = argc == 3 ? parse_type(argv[2]) : SK_TYPE_A;
	int nlen = sk_name_from_text(argv[1], q + 12, SK_NAME_MAX, false);
	if (nlen < 0 || type < 0) {
		sk_strbuf_printf(o, "error\n%s: %s\n", nlen < 0 ? argv[1] : argv[2],
			nlen < 0 ? "not a domain name" : "not a record type");
		return;
	}
	sk_put16(q + 4, 1);
	sk_put16(q + 12 + nlen, (uint16_t)type);
	sk_put16(q + 14 + nlen, 1);
	uint8_t *reply = malloc(65535);
	if (!reply) {
		o->nomem = true;
		return;
	}
	sk_resp_info_t info;
	sk_client_t client = { .addr = NULL, .now = (uint32_t)time(NULL) };
	const sk_snapshot_t *snap = sk_snapreg_enter(ctl->env.reg, ctl->env.reader);
	size_t len = sk_respond(snap, &client, q, 16 + (size_t)nlen, SK_TRANSPORT_TCP, reply, 65535, &info);
	sk_strbuf_puts(o, "ok\n");
	sk_name_to_text(q + 12, text, sizeof text);
	sk_strbuf_printf(o, "name %s\ntype %s\nrcode %s\n", text, sk_dnstext_type((uint16_t)type, buf),
		sk_dnstext_rcode(info.rcode, buf));
	flags_text(info.flags, o);
	if (info.zone) {
		/* The zone's apex, or the seized domain, as a suffix of the query name. */
		sk_name_to_text(info.q.lname + info.apex_off, text, sizeof text);
		sk_strbuf_printf(o, "zone %s\n", text);
	} else {
		sk_strbuf_puts(o, "zone none\n");
	}
	sk_strbuf_printf(o, "tags %s\n", info.tags ? info.tags->json : "none");
	sk_snapreg_leave(ctl->env.reg, ctl->env.reader);
	char *records = NULL;
	if (len && sk_db_msg_text(reply, len, &records) == 0)
		sk_strbuf_puts(o, records);
	free(records);
	free(reply);
}

/* ---- reload ---- */

void sk_ctl_reload_answer(sk_ctl_t *ctl, sk_strbuf_t *out)
{
	const sk_reload_status_t *r = ctl->env.reload;
	if (r->last_failed)
		sk_strbuf_printf(out, "error\n%s", r->msg);
	else
		sk_strbuf_printf(out, "ok\ngeneration %llu\nzones %zu\nseized_domains %zu\n%s",
			(unsigned long long)r->generation, r->zones, r->seized, r->msg);
}

static void cmd_reload(sk_ctl_conn_t *c)
{
	sk_ctl_env_t *env = &c->ctl->env;
	uint64_t want = env->request_reload(env->app);
	if (!want) {
		sk_strbuf_puts(&c->out, "error\nno reload: the server is stopping or cannot start one\n");
		return;
	}
	c->waiting = true;
	c->want = want;
}

/* ---- dispatch ---- */

static const char usage[] =
	"commands: status, stats, reload, zones, lookup NAME [TYPE], telemetry\n";

void sk_ctl_command(sk_ctl_conn_t *c, char *line)
{
	char *argv[ARGS_MAX], *save = NULL;
	int argc = 0;
	for (char *t = strtok_r(line, " \t\r", &save); t && argc < ARGS_MAX; t = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = t;
	if (argc == 0) {
		sk_strbuf_printf(&c->out, "error\nempty request; %s", usage);
		return;
	}
	const char *cmd = argv[0];
	if (!strcmp(cmd, "reload") && argc == 1) {
		cmd_reload(c);
	} else if (!strcmp(cmd, "zones") && argc == 1) {
		cmd_zones(c);
	} else if (!strcmp(cmd, "lookup")) {
		cmd_lookup(c, argc, argv);
	} else if ((!strcmp(cmd, "status") || !strcmp(cmd, "stats") || !strcmp(cmd, "telemetry")) &&
		   argc == 1) {
		sk_ctl_sample_t s;
		if (sk_ctl_sample(c->ctl, &s)) {
			c->out.nomem = true;
			return;
		}
		if (!strcmp(cmd, "status"))
			cmd_status(c, &s);
		else if (!strcmp(cmd, "stats"))
			cmd_stats(c, &s);
		else
			cmd_telemetry(c, &s);
		sk_ctl_sample_free(&s);
	} else if (!strcmp(cmd, "help") && argc == 1) {
		sk_strbuf_printf(&c->out, "ok\n%s", usage);
	} else {
		sk_strbuf_printf(&c->out, "error\nbad request '%s' (%d words); %s", cmd, argc, usage);
	}
}
