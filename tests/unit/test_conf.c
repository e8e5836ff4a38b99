/* test_conf.c -- sk_conf_load(): every field of a valid config, defaults, and each kind of error */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "tap.h"
#include "util/err.h"
#include "util/log.h"

static const char *datadir;
static char errbuf[16384];

static char *data_path(const char *name)
{
	static char buf[4096];
	snprintf(buf, sizeof buf, "%s/conf/%s", datadir, name);
	return buf;
}

/*
 * Load `path` with stderr sent to a temporary file, and keep what was written in errbuf:
 * the diagnostics are part of the contract, so the tests read them back.
 */
static int load_captured(const char *path, sk_conf_t **out)
{
	FILE *tmp = tmpfile();
	int saved, rc;
	size_t n;

	if (!tmp) {
		perror("tmpfile");
		exit(2);
	}
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	rc = sk_conf_load(path, out);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(errbuf, 1, sizeof errbuf - 1, tmp);
	errbuf[n] = '\0';
	fclose(tmp);
	return rc;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* True when errbuf has a line starting exactly "path:line: " (or "path: " for line 0) that
 * contains `text`. */
static int has_diag(const char *path, unsigned line, const char *text)
{
	char prefix[4200];
	if (line)
		snprintf(prefix, sizeof prefix, "%s:%u: ", path, line);
	else
		snprintf(prefix, sizeof prefix, "%s: ", path);
	for (const char *l = errbuf; *l; ) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		if (len >= strlen(prefix) && !strncmp(l, prefix, strlen(prefix))) {
			char one[1024];
			snprintf(one, sizeof one, "%.*s", (int)len, l);
			if (strstr(one + strlen(prefix), text))
				return 1;
		}
		l += len + (end ? 1 : 0);
	}
	return 0;
}

static void show_err(void)
{
	for (const char *l = errbuf; *l; ) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		printf("#   stderr: %.*s\n", (int)len, l);
		l += len + (end ? 1 : 0);
	}
}

static int v4_is(const sk_listen_t *l, const char *addr, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
	struct in_addr want;
	inet_pton(AF_INET, addr, &want);
	return sin->sin_family == AF_INET && l->addrlen == sizeof *sin &&
		ntohs(sin->sin_port) == port && sin->sin_addr.s_addr == want.s_addr;
}

static int v6_is(const sk_listen_t *l, const char *addr, unsigned port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;
	struct in6_addr want;
	inet_pton(AF_INET6, addr, &want);
	return sin6->sin6_family == AF_INET6 && l->addrlen == sizeof *sin6 &&
		ntohs(sin6->sin6_port) == port && !memcmp(&sin6->sin6_addr, &want, sizeof want);
}

static int str_is(const char *got, const char *want)
{
	return got && want && !strcmp(got, want);
}

static void test_full(void)
{
	const char *path = data_path("full.yaml");
	char want[4200];
	sk_conf_t *c = NULL;
	int rc = load_captured(path, &c);

	is_int(rc, 0, "full.yaml loads");
	ok(errbuf[0] == '\0', "full.yaml prints nothing");
	if (rc != 0 || !c) {
		show_err();
		return;
	}
	ok(str_is(c->path, path), "path kept as given");
	is_int(c->nlisten, 4, "four listen entries");
	if (c->nlisten == 4) {
		ok(str_is(c->listen[0].text, "127.0.0.1@5353"), "listen[0] text");
		ok(v4_is(&c->listen[0], "127.0.0.1", 5353), "listen[0] is 127.0.0.1 port 5353");
		ok(str_is(c->listen[1].text, "::1@5353"), "listen[1] text");
		ok(v6_is(&c->listen[1], "::1", 5353), "listen[1] is ::1 port 5353");
		ok(v6_is(&c->listen[2], "::1", 5354), "listen[2] [::1]@5354 is ::1 port 5354");
		ok(v4_is(&c->listen[3], "192.0.2.1", 53), "listen[3] without a port is port 53");
	}
	is_int(c->workers, 2, "workers");
	is_int(c->ncpus, 2, "two cpus");
	ok(c->ncpus == 2 && c->cpus[0] == 1 && c->cpus[1] == 0, "cpus in file order");
	ok(str_is(c->identity, "ns9.sinkhole.example"), "identity");
	ok(str_is(c->version, "sinkholed test"), "version");
	is_int(c->edns_size, 1400, "edns_size");
	is_int(c->tcp_max_clients, 100, "tcp_max_clients");
	is_int(c->tcp_idle_timeout_ms, 5000, "tcp_idle_timeout_ms");
	is_int(c->tcp_max_pending, 8, "tcp_max_pending");
	is_int(c->tcp_query_timeout_ms, 2000, "tcp_query_timeout_ms");
	ok(str_is(c->user, "nobody"), "user");
	is_int(c->user_line, 13, "user line");
	ok(str_is(c->group, "nogroup"), "group");
	is_int(c->group_line, 14, "group line");
	ok(c->chroot == NULL, "no chroot");

	is_int(c->nzones, 3, "three zones");
	if (c->nzones == 3) {
		sk_zone_conf_t *z = c->zones;
		snprintf(want, sizeof want, "%s/conf/aitism.net.zone", datadir);
		ok(str_is(z[0].file, want), "relative zone file resolved against the config folder");
		ok(str_is(z[0].name, "aitism.net"), "zone name as written");
		is_int(z[0].line, 16, "zone line");
		is_int(z[0].ntags, 2, "two tags");
		if (z[0].ntags == 2) {
			ok(str_is(z[0].tags[0].key, "case") &&
				str_is(z[0].tags[0].value, "1:24-cv-2323"), "tag 0 in file order");
			ok(str_is(z[0].tags[1].key, "operation") &&
				str_is(z[0].tags[1].value, "Azure Abuse Enterprise"), "tag 1 in file order");
		}
		ok(str_is(z[1].file, "/var/lib/sinkholed/other.zone"), "absolute zone file kept");
		ok(z[1].name == NULL, "name omitted is NULL");
		is_int(z[1].line, 19, "second zone line");
		is_int(z[1].ntags, 2, "block-style tags");
		if (z[1].ntags == 2) {
			ok(str_is(z[1].tags[0].key, "empty") && str_is(z[1].tags[0].value, ""),
				"empty tag value is the empty string");
			ok(str_is(z[1].tags[1].value, "42"), "number tag value kept as text");
		}
		snprintf(want, sizeof want, "%s/conf/sub/dir/third.zone", datadir);
		ok(str_is(z[2].file, want), "relative path with folders resolved");
		ok(str_is(z[2].name, "third.example."), "name with final dot");
		ok(z[2].tags == NULL && z[2].ntags == 0, "no tags: NULL and 0");
	}

	is_int(c->nseized, 2, "two seized lists");
	if (c->nseized == 2) {
		sk_seized_conf_t *sz = c->seized;
		snprintf(want, sizeof want, "%s/conf/seized/necurs.list", datadir);
		ok(str_is(sz[0].list, want), "relative list path resolved against the config folder");
		ok(str_is(sz[0].template, "/etc/sinkholed/templates/sinkhole.zone"), "absolute template kept");
		is_int(sz[0].line, 26, "seized list line");
		is_int(sz[0].ntags, 3, "three tags on the list");
		if (sz[0].ntags == 3)
			ok(str_is(sz[0].tags[2].key, "family") && str_is(sz[0].tags[2].value, "necurs"),
				"list tags in file order");
		ok(str_is(sz[1].list, "/var/lib/sinkholed/other.list"), "absolute list kept");
		snprintf(want, sizeof want, "%s/conf/templates/parked.zone", datadir);
		ok(str_is(sz[1].template, want), "relative template resolved against the config folder");
		ok(sz[1].tags == NULL && sz[1].ntags == 0, "list without tags: NULL and 0");
	}
	sk_conf_free(c);
}

static void test_defaults(void)
{
	const char *path = data_path("minimal.yaml");
	sk_conf_t *c = NULL;
	char host[256] = "";
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int rc = load_captured(path, &c);

	is_int(rc, 0, "minimal.yaml loads");
	if (rc != 0 || !c) {
		show_err();
		return;
	}
	gethostname(host, sizeof host - 1);
	is_int(c->nlisten, 1, "one listen entry");
	ok(c->nlisten == 1 && v4_is(&c->listen[0], "127.0.0.1", 53), "127.0.0.1@53");
	is_int(c->workers, cpus < 1 ? 1 : cpus > 1024 ? 1024 : cpus, "workers default: online CPUs");
	ok(c->cpus == NULL && c->ncpus == 0, "cpus default: not pinned");
	ok(str_is(c->identity, host), "identity default: hostname");
	ok(str_is(c->version, "sinkholed " SK_VERSION), "version default");
	is_int(c->edns_size, 1232, "edns_size default");
	is_int(c->tcp_max_clients, 250, "tcp_max_clients default");
	is_int(c->tcp_idle_timeout_ms, 10000, "tcp_idle_timeout_ms default");
	is_int(c->tcp_max_pending, 32, "tcp_max_pending default");
	is_int(c->tcp_query_timeout_ms, 5000, "tcp_query_timeout_ms default");
	ok(!c->user && !c->group && !c->chroot, "user, group, chroot default: none");
	ok(c->zones == NULL && c->nzones == 0, "no zones");
	is_int(c->telemetry.ring_size, 16384, "ring_size default");
	is_int(c->telemetry.flush_ms, 1000, "flush_ms default");
	is_int(c->telemetry.stats_interval_s, 60, "stats_interval_s default");
	ok(!c->telemetry.jsonl && !c->telemetry.dnstap, "no sinks: telemetry off");
	ok(!c->geoip_city && !c->geoip_asn, "no geoip");
	ok(c->cookies.enabled && !c->cookies.require, "cookies default: enabled, not required");
	ok(!c->cookies.secret_given && c->cookies.nprevious == 0, "cookies default: no secret given, none previous");
	ok(!c->rrl.enabled && c->rrl.exempt == NULL, "no rrl section: rate limiting off");
	sk_conf_free(c);

	rc = load_captured(data_path("version_hidden.yaml"), &c);
	is_int(rc, 0, "version_hidden.yaml loads");
	if (rc == 0) {
		ok(c->version == NULL, "version: false hides the version");
		is_int(c->nzones, 0, "zones: [] is no zones");
		sk_conf_free(c);
	}
	rc = load_captured(data_path("version_quoted_no.yaml"), &c);
	is_int(rc, 0, "version_quoted_no.yaml loads");
	if (rc == 0) {
		ok(str_is(c->version, "no"), "a quoted \"no\" is text");
		is_int(c->nzones, 0, "zones: with nothing under it is no zones");
		sk_conf_free(c);
	}
}

static void test_telemetry(void)
{
	const char *path = data_path("telemetry.yaml");
	char want[4200];
	sk_conf_t *c = NULL;
	int rc = load_captured(path, &c);

	is_int(rc, 0, "telemetry.yaml loads");
	ok(errbuf[0] == '\0', "telemetry.yaml prints nothing");
	if (rc != 0 || !c) {
		show_err();
		return;
	}
	is_int(c->telemetry.ring_size, 1024, "ring_size");
	is_int(c->telemetry.flush_ms, 250, "flush_ms");
	is_int(c->telemetry.stats_interval_s, 0, "stats_interval_s 0 (never)");
	ok(c->telemetry.jsonl != NULL, "jsonl configured");
	if (c->telemetry.jsonl) {
		snprintf(want, sizeof want, "%s/conf/log/events.jsonl", datadir);
		ok(str_is(c->telemetry.jsonl->path, want), "jsonl.path resolved against the config folder");
		is_int(c->telemetry.jsonl->rotate_mb, 0, "jsonl.rotate_mb 0 (never)");
		is_int(c->telemetry.jsonl->keep, 3, "jsonl.keep");
		ok(c->telemetry.jsonl->manifest, "jsonl.manifest");
		snprintf(want, sizeof want, "%s/conf/keys/sign.key", datadir);
		ok(str_is(c->telemetry.jsonl->sign_key, want), "jsonl.sign_key resolved against the config folder");
	}
	ok(c->telemetry.dnstap != NULL, "dnstap configured");
	if (c->telemetry.dnstap) {
		sk_listen_t l;
		memcpy(&l.addr, &c->telemetry.dnstap->addr, sizeof l.addr);
		l.addrlen = c->telemetry.dnstap->addrlen;
		is_int(c->telemetry.dnstap->mode, SK_DNSTAP_TCP, "dnstap.tcp");
		ok(v4_is(&l, "192.0.2.9", 6000), "dnstap.tcp address and port");
		ok(c->telemetry.dnstap->path == NULL, "no path for tcp");
		ok(!c->telemetry.dnstap->responses, "messages: queries");
	}
	const sk_nats_conf_t *n = c->telemetry.nats;
	ok(n != NULL, "nats configured");
	if (n) {
		is_int(n->nservers, 4, "nats.servers: 4");
		ok(n->nservers == 4 && str_is(n->servers[0], "nats://127.0.0.1:4222") &&
			str_is(n->servers[1], "tls://[::1]:4223") &&
			str_is(n->servers[2], "nats://user:pw@bus.example") &&
			str_is(n->servers[3], "nats://bus2.example:4222"), "nats.servers in order, as written");
		ok(str_is(n->subject, "sinkhole.ev-1") && str_is(n->stream, "SINK_HOLE-1"), "subject, stream");
		ok(!n->create_stream && n->replicas == 3 && n->duplicate_window_s == 600, "stream settings");
		ok(n->max_pending == 100 && n->ack_timeout_ms == 2000 && n->drain_ms == 0, "delivery settings");
		snprintf(want, sizeof want, "%s/conf/spool/nats.spool", datadir);
		ok(str_is(n->spool_path, want), "spool.path resolved against the config folder");
		ok(n->spool_max_mb == 10 && n->spool_fsync_ms == 50, "spool.max_mb, spool.fsync_ms");
		sk_nats_conf_t *copy = NULL;
		ok(sk_nats_conf_copy(n, &copy) == 0 && copy && sk_nats_conf_equal(n, copy), "a copy is equal");
		if (copy) {
			copy->replicas = 1;
			ok(!sk_nats_conf_equal(n, copy), "a changed copy is not");
			copy->replicas = n->replicas;
			free(copy->servers[3]);
			copy->servers[3] = strdup("nats://bus3.example:4222");
			ok(!sk_nats_conf_equal(n, copy), "nor is one with another server");
		}
		sk_nats_conf_free(copy);
	}
	ok(str_is(c->geoip_city, "/usr/share/GeoIP/GeoLite2-City.mmdb"), "geoip.city absolute kept");
	snprintf(want, sizeof want, "%s/conf/geo/GeoLite2-ASN.mmdb", datadir);
	ok(str_is(c->geoip_asn, want), "geoip.asn resolved against the config folder");
	sk_conf_free(c);

	rc = load_captured(data_path("telemetry_unix.yaml"), &c);
	is_int(rc, 0, "telemetry_unix.yaml loads");
	if (rc == 0) {
		ok(c->telemetry.dnstap && c->telemetry.dnstap->mode == SK_DNSTAP_UNIX &&
			str_is(c->telemetry.dnstap->path, "/run/dnstap.sock"), "dnstap.unix");
		ok(c->telemetry.dnstap && c->telemetry.dnstap->responses, "messages default: all");
		ok(c->telemetry.jsonl && c->telemetry.jsonl->rotate_mb == 256 && c->telemetry.jsonl->keep == 20,
			"jsonl defaults: rotate_mb 256, keep 20");
		is_int(c->telemetry.ring_size, 16384, "ring_size default");
		ok(!c->geoip_city && !c->geoip_asn, "no geoip");
		sk_conf_free(c);
	}
	rc = load_captured(data_path("nats_defaults.yaml"), &c);
	is_int(rc, 0, "nats_defaults.yaml loads");
	if (rc == 0) {
		const sk_nats_conf_t *d = c->telemetry.nats;
		ok(d && d->nservers == 1 && str_is(d->servers[0], "nats://127.0.0.1"), "nats.servers");
		ok(d && str_is(d->subject, "sinkhole.events") && str_is(d->stream, "SINKHOLE"),
			"defaults: subject sinkhole.events, stream SINKHOLE");
		ok(d && d->create_stream && d->replicas == 1 && d->duplicate_window_s == 120,
			"defaults: create_stream true, replicas 1, duplicate_window_s 120");
		ok(d && d->max_pending == 4096 && d->ack_timeout_ms == 5000 && d->drain_ms == 5000,
			"defaults: max_pending 4096, ack_timeout_ms 5000, drain_ms 5000");
		ok(d && d->spool_max_mb == 1024 && d->spool_fsync_ms == 1000,
			"defaults: spool.max_mb 1024, spool.fsync_ms 1000");
		ok(!c->telemetry.jsonl && !c->telemetry.dnstap, "nats alone");
		sk_conf_free(c);
	}
	path = data_path("telemetry_nosink.yaml");
	rc = load_captured(path, &c);
	is_int(rc, 0, "telemetry_nosink.yaml loads");
	ok(has_diag(path, 4, "warning: telemetry: no sink (jsonl, dnstap or nats) configured"),
		"a telemetry section without a sink: a warning");
	if (rc == 0) {
		ok(!c->telemetry.jsonl && !c->telemetry.dnstap, "no sinks");
		sk_conf_free(c);
	}
}

/* The cookies section: secrets are hex in any case, previous ones kept in order. */
static void test_cookies(void)
{
	static const uint8_t secret[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	static const uint8_t prev0[16] = { 0xe5, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f,
		0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37, 0xbf, 0xcf };
	static const uint8_t prev1[16] = { 0xdd, 0x3b, 0xdf, 0x93, 0x44, 0xb6, 0x78, 0xb1,
		0x85, 0xa6, 0xf5, 0xcb, 0x60, 0xfc, 0xa7, 0x15 };
	sk_conf_t *c = NULL;
	int rc = load_captured(data_path("cookies.yaml"), &c);
	is_int(rc, 0, "cookies.yaml loads");
	ok(errbuf[0] == '\0', "cookies.yaml prints nothing");
	if (rc != 0 || !c) {
		show_err();
		return;
	}
	ok(c->cookies.enabled && c->cookies.require, "cookies: enabled: true, require: yes");
	ok(c->cookies.secret_given, "cookies.secret given");
	ok(!memcmp(c->cookies.secret, secret, 16), "cookies.secret: upper-case hex decoded");
	is_int(c->cookies.nprevious, 2, "two previous secrets");
	ok(!memcmp(c->cookies.previous[0], prev0, 16), "previous[0] (quoted)");
	ok(!memcmp(c->cookies.previous[1], prev1, 16), "previous[1] (plain)");
	sk_conf_free(c);

	rc = load_captured(data_path("cookies_off.yaml"), &c);
	is_int(rc, 0, "cookies_off.yaml loads");
	if (rc == 0) {
		ok(!c->cookies.enabled && !c->cookies.require && !c->cookies.secret_given,
			"cookies: enabled: false");
		sk_conf_free(c);
	}
}

static int prefix_is(const sk_prefix_t *p, int family, const char *addr, unsigned len)
{
	uint8_t a[16] = { 0 };
	return p->family == family && p->len == len && inet_pton(family, addr, a) == 1 &&
		!memcmp(p->addr, a, family == AF_INET ? 4 : 16);
}

static void test_rrl(void)
{
	sk_conf_t *c = NULL;
	int rc = load_captured(data_path("rrl.yaml"), &c);
	is_int(rc, 0, "rrl.yaml loads");
	ok(errbuf[0] == '\0', "rrl.yaml prints nothing");
	if (rc != 0 || !c) {
		show_err();
		return;
	}
	const sk_rrl_conf_t *r = &c->rrl;
	ok(r->enabled, "rrl: enabled by its presence");
	is_int(r->responses_per_second, 7, "responses_per_second");
	is_int(r->nxdomains_per_second, 7, "nxdomains_per_second left out: responses_per_second, written after it");
	is_int(r->errors_per_second, 0, "errors_per_second 0");
	is_int(r->window, 5, "window");
	is_int(r->slip, 3, "slip");
	is_int(r->ipv4_prefix, 32, "ipv4_prefix");
	is_int(r->ipv6_prefix, 48, "ipv6_prefix");
	is_int(r->table_size, 1024, "table_size");
	is_int(r->nexempt, 5, "five exempt prefixes");
	if (r->nexempt == 5) {
		ok(prefix_is(&r->exempt[0], AF_INET, "192.0.2.0", 24), "exempt 192.0.2.0/24");
		ok(prefix_is(&r->exempt[1], AF_INET6, "2001:db8::", 32), "exempt 2001:db8::/32");
		ok(prefix_is(&r->exempt[2], AF_INET, "198.51.100.7", 32), "a bare IPv4 address is a /32");
		ok(prefix_is(&r->exempt[3], AF_INET6, "::1", 128), "a bare IPv6 address is a /128");
		ok(prefix_is(&r->exempt[4], AF_INET, "0.0.0.0", 0), "0.0.0.0/0");
	}
	sk_conf_free(c);

	rc = load_captured(data_path("rrl_defaults.yaml"), &c);
	is_int(rc, 0, "rrl: {} loads");
	if (rc == 0) {
		r = &c->rrl;
		ok(r->enabled && r->responses_per_second == 20 && r->nxdomains_per_second == 20 &&
			r->errors_per_second == 20, "defaults: 20 per second for every kind");
		ok(r->window == 15 && r->slip == 2 && r->ipv4_prefix == 24 && r->ipv6_prefix == 56 &&
			r->table_size == 65536 && r->nexempt == 0 && !r->exempt,
			"defaults: window 15, slip 2, /24, /56, 65536 entries, nothing exempt");
		sk_conf_free(c);
	}
}

static void test_control(void)
{
	sk_conf_t *c = NULL;
	int rc = load_captured(data_path("control.yaml"), &c);
	is_int(rc, 0, "control.yaml loads");
	ok(errbuf[0] == '\0', "control.yaml prints nothing");
	if (rc != 0 || !c) {
		show_err();
		return;
	}
	ok(str_is(c->control.socket, "/run/sinkholed/control.sock"), "control.socket");
	is_int(c->control.mode, 0640, "control.mode \"0640\" is octal");
	ok(str_is(c->control.group, "adm"), "control.group");
	is_int(c->control.line, 4, "control.socket's line kept");
	ok(c->metrics.enabled, "metrics: on by its presence");
	ok(str_is(c->metrics.listen.text, "[::1]@9153"), "metrics.listen text");
	const struct sockaddr_in6 *a6 = (const void *)&c->metrics.listen.addr;
	ok(a6->sin6_family == AF_INET6 && ntohs(a6->sin6_port) == 9153, "metrics.listen: ::1 port 9153");
	sk_conf_free(c);

	rc = load_captured(data_path("control_defaults.yaml"), &c);
	is_int(rc, 0, "control_defaults.yaml loads");
	if (rc == 0) {
		is_int(c->control.mode, 0660, "control.mode defaults to 0660");
		ok(c->control.group == NULL, "control.group defaults to none (the server's group)");
		const struct sockaddr_in *a4 = (const void *)&c->metrics.listen.addr;
		ok(a4->sin_family == AF_INET && ntohs(a4->sin_port) == 9153, "metrics.listen: 127.0.0.1@9153");
		sk_conf_free(c);
	}
	rc = load_captured(data_path("minimal.yaml"), &c);
	if (rc == 0) {
		ok(!c->control.socket && !c->metrics.enabled, "no sections: no control socket, no metrics");
		sk_conf_free(c);
	}
}

static void test_transfer(void)
{
	sk_conf_t *c = NULL;
	int rc = load_captured(data_path("transfer.yaml"), &c);
	is_int(rc, 0, "transfer.yaml loads");
	ok(errbuf[0] == '\0', "transfer.yaml prints nothing");
	if (rc != 0 || !c) {
		show_err();
		return;
	}
	const sk_xfr_conf_t *x = &c->xfr;
	ok(x->enabled && !x->seized && x->catalog && !x->catalog_zones, "enabled, seized off, catalog of seized only");
	ok(str_is(x->catalog_name, "cat.example."), "catalog name gets its final dot");
	is_int(x->nkeys, 2, "two keys");
	if (x->nkeys == 2) {
		ok(str_is(x->keys[0].name, "k1.") && x->keys[0].wire_len == 4 &&
			!memcmp(x->keys[0].wire, "\002k1", 4), "k1: name and wire form");
		ok(x->keys[0].alg == SK_TSIG_HMAC_SHA256 && x->keys[0].secret_len == 9 &&
			!memcmp(x->keys[0].secret, "sinkholed", 9), "k1: hmac-sha256 by default, secret decoded");
		ok(x->keys[1].wire_len == 12 && !memcmp(x->keys[1].wire, "\002k2\007example", 12),
			"K2.Example.: wire form lowercased");
		ok(x->keys[1].alg == SK_TSIG_HMAC_SHA512 && x->keys[1].secret_len == 5 &&
			!memcmp(x->keys[1].secret, "\0\1\2\3\4", 5), "k2: hmac-sha512, padded base64 decoded");
	}
	is_int(x->nallow, 3, "three allow entries");
	if (x->nallow == 3) {
		ok(x->allow[0].naddrs == 1 && x->allow[0].key == -1 &&
			prefix_is(&x->allow[0].addrs[0], AF_INET, "192.0.2.0", 24), "a bare prefix: any request from it");
		ok(x->allow[1].naddrs == 2 && x->allow[1].key == 0 &&
			prefix_is(&x->allow[1].addrs[1], AF_INET6, "2001:db8::", 32),
			"address list and key, the key named in another case and before its definition");
		ok(x->allow[2].naddrs == 0 && x->allow[2].key == 1, "a key alone: any address");
	}
	is_int(x->nnotify, 2, "two notify targets");
	if (x->nnotify == 2) {
		sk_listen_t a = { .addr = x->notify[0].addr, .addrlen = x->notify[0].addrlen };
		sk_listen_t b = { .addr = x->notify[1].addr, .addrlen = x->notify[1].addrlen };
		ok(x->notify[0].key == -1 && v4_is(&a, "192.0.2.53", 5300) &&
			str_is(x->notify[0].text, "192.0.2.53@5300"), "192.0.2.53@5300 unsigned");
		ok(x->notify[1].key == 0 && v6_is(&b, "2001:db8::53", 53), "[2001:db8::53]@53 with k1");
	}
	sk_conf_free(c);

	rc = load_captured(data_path("transfer_defaults.yaml"), &c);
	is_int(rc, 0, "an empty catalog: loads");
	if (rc == 0) {
		x = &c->xfr;
		ok(x->enabled && x->seized && x->catalog && x->catalog_zones && x->nallow == 0 &&
			x->nkeys == 0 && str_is(x->catalog_name, SK_CATALOG_DEFAULT),
			"defaults: seized on, catalog of everything named " SK_CATALOG_DEFAULT ", nobody allowed");
		sk_conf_free(c);
	}
	rc = load_captured(data_path("rrl_defaults.yaml"), &c);
	if (rc == 0) {
		ok(!c->xfr.enabled && !c->xfr.catalog, "no transfer section: transfers off");
		sk_conf_free(c);
	}
}

static void test_names(void)
{
	static const char *const want[] = { ".", "x\\.y.example", "\\065\\255.example.", NULL,
		"_dmarc.Example.COM" };
	sk_conf_t *c = NULL;
	int rc = load_captured(data_path("names.yaml"), &c);

	is_int(rc, 0, "names.yaml: root, escapes, 255-byte name, underscore all accepted");
	if (rc != 0) {
		show_err();
		return;
	}
	is_int(c->nzones, 5, "names.yaml: five zones");
	for (size_t i = 0; i < c->nzones && i < 5; i++)
		if (want[i])
			ok(str_is(c->zones[i].name, want[i]), "name %s kept as written", want[i]);
	ok(c->nzones > 3 && c->zones[3].name && strlen(c->zones[3].name) == 253,
		"a name of 255 wire bytes is accepted");
	sk_conf_free(c);
}

/*
 * Each bad config: the return code, the number of diagnostics, and one diagnostic that starts
 * with "file:line: " and says what is wrong. *out must be left alone.
 */
struct bad {
	const char *file;
	int rc;
	unsigned ndiag;
	unsigned line;
	const char *text;
};

static const struct bad bad_configs[] = {
	{ "bad_unknown_key.yaml", SK_EPARSE, 1, 3, "server: unknown key 'wokers', expected one of: listen," },
	{ "bad_unknown_section.yaml", SK_EPARSE, 1, 4, "unknown section 'telemetri', expected one of: server, zones, seized, telemetry, geoip, cookies, rrl, control, metrics, transfer" },
	{ "bad_port.yaml", SK_EPARSE, 1, 4, "server.listen: bad port in '127.0.0.2@65536', expected a whole number from 1 to 65535" },
	{ "bad_port_junk.yaml", SK_EPARSE, 1, 2, "server.listen: bad port in '127.0.0.1@53x'" },
	{ "bad_address.yaml", SK_EPARSE, 1, 4, "server.listen: bad address in '127.0.0.256@53', expected an IPv4 or IPv6 address" },
	{ "bad_workers_zero.yaml", SK_EPARSE, 1, 3, "server.workers: expected a whole number from 1 to 1024, got '0'" },
	{ "bad_workers_text.yaml", SK_EPARSE, 1, 3, "server.workers: expected a whole number from 1 to 1024, got 'x'" },
	{ "bad_workers_negative.yaml", SK_EPARSE, 1, 3, "got '-1'" },
	{ "bad_workers_overflow.yaml", SK_EPARSE, 1, 3, "got '99999999999999999999999'" },
	{ "bad_edns_size.yaml", SK_EPARSE, 1, 3, "server.edns_size: expected a whole number from 512 to 4096, got '511'" },
	{ "bad_edns_size_big.yaml", SK_EPARSE, 1, 3, "server.edns_size: expected a whole number from 512 to 4096, got '4097'" },
	{ "bad_syntax.yaml", SK_EPARSE, 1, 4, "YAML syntax error: mapping values are not allowed in this context" },
	{ "bad_syntax_flow.yaml", SK_EPARSE, 1, 3, "YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence (line 2)" },
	{ "bad_duplicate_key.yaml", SK_EPARSE, 1, 4, "server.workers: duplicate key" },
	{ "bad_duplicate_listen.yaml", SK_EPARSE, 2, 4, "server.listen: duplicate entry '127.0.0.1', the same address and port as '127.0.0.1@53'" },
	{ "bad_duplicate_listen.yaml", SK_EPARSE, 2, 6, "server.listen: duplicate entry '::1@53', the same address and port as '[::1]@53'" },
	{ "bad_zone_no_file.yaml", SK_EPARSE, 1, 5, "zones[1]: missing key 'file', expected the path of the zone file" },
	{ "bad_tags_not_map.yaml", SK_EPARSE, 1, 5, "zones[0].tags: expected a mapping of name: value, got a list" },
	{ "bad_seized.yaml", SK_EPARSE, 4, 4, "seized[0]: missing key 'template', expected the path of the template zone file" },
	{ "bad_seized.yaml", SK_EPARSE, 4, 5, "seized[1]: missing key 'list', expected the path of the list of seized domains" },
	{ "bad_seized.yaml", SK_EPARSE, 4, 6, "seized[1].tags: expected a mapping of name: value, got a list" },
	{ "bad_seized.yaml", SK_EPARSE, 4, 9, "seized[2]: unknown key 'colour', expected one of: list, template, tags" },
	{ "bad_cpus.yaml", SK_EPARSE, 3, 3, "server.cpus: expected a whole number from 0 to 1023, got '1024'" },
	{ "bad_cpus.yaml", SK_EPARSE, 3, 3, "server.cpus: CPU 0 is listed twice" },
	{ "bad_cpus.yaml", SK_EPARSE, 3, 3, "server.cpus: expected a whole number from 0 to 1023, got 'x'" },
	{ "bad_cpus_empty.yaml", SK_EPARSE, 1, 3, "server.cpus: expected a list of CPU numbers, got" },
	{ "bad_seized_map.yaml", SK_EPARSE, 1, 3, "seized: expected a list of seized lists (- list: ...), got a mapping" },
	{ "bad_tag_value.yaml", SK_EPARSE, 2, 7, "zones[0].tags.operation: expected a single value, got a mapping" },
	{ "bad_tag_value.yaml", SK_EPARSE, 2, 8, "zones[0].tags: duplicate tag 'case'" },
	{ "bad_zone_name.yaml", SK_EPARSE, 1, 5, "zones[0].name: expected a domain name" },
	{ "bad_cookies.yaml", SK_EPARSE, 4, 4, "cookies.enabled: expected true or false, got 'maybe'" },
	{ "bad_cookies.yaml", SK_EPARSE, 4, 5, "cookies.secret: expected 32 hexadecimal digits (a 16-byte secret), got 31 characters" },
	{ "bad_cookies.yaml", SK_EPARSE, 4, 7, "cookies.previous: expected 32 hexadecimal digits (a 16-byte secret), character 32 is not one" },
	{ "bad_cookies.yaml", SK_EPARSE, 4, 9, "cookies.require: expected true or false, got '1'" },
	{ "bad_cookies_require.yaml", SK_EPARSE, 1, 4, "cookies: require: true needs cookies enabled" },
	{ "bad_cookies_previous.yaml", SK_EPARSE, 1, 5, "cookies.previous: 5 secrets given, at most 4" },
	{ "bad_cookies_scalar.yaml", SK_EPARSE, 2, 4, "cookies.secret: expected 32 hexadecimal digits (a 16-byte secret), got a list" },
	{ "bad_cookies_scalar.yaml", SK_EPARSE, 2, 5, "cookies.previous: expected a list of secrets (32 hexadecimal digits each), got '00000000000000000000000000000001'" },
	{ "bad_listen_empty.yaml", SK_EPARSE, 1, 2, "server.listen: expected at least one address@port" },
	{ "bad_no_server.yaml", SK_EPARSE, 1, 1, "missing section 'server', expected a section with at least listen" },
	{ "bad_two_documents.yaml", SK_EPARSE, 1, 4, "a second YAML document" },
	{ "bad_utf8.yaml", SK_EPARSE, 1, 3, "YAML syntax error: invalid" },
	{ "empty.yaml", SK_EPARSE, 1, 0, "the config is empty" },
	{ "bad_listen_scalar.yaml", SK_EPARSE, 1, 2, "server.listen: expected a list of address@port, got '127.0.0.1@53'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 3, "bad address in '[127.0.0.1]@53'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 4, "bad address in '@53'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 5, "bad port in '::1@'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 6, "bad address in '[::1'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 7, "server.listen: expected an address@port, got a mapping" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 8, "bad port in '192.0.2.1@+53'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 9, "bad address in '192.0.2.1 @53'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 10, "bad address in 'fe80::1%eth0@53'" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 11, "server.listen: expected an address@port, got nothing" },
	{ "bad_listen_forms.yaml", SK_EPARSE, 10, 12, "bad port in '192.0.2.1@053'" },
	{ "bad_strings.yaml", SK_EPARSE, 5, 3, "server.identity: expected a string, got a string with a NUL byte" },
	{ "bad_strings.yaml", SK_EPARSE, 5, 4, "server.version: expected 1 to 255 characters, got 300" },
	{ "bad_strings.yaml", SK_EPARSE, 5, 6, "zones[0].file: expected a zone file path, got ''" },
	{ "bad_strings.yaml", SK_EPARSE, 5, 8, "zones[1].tags: expected a tag name, got ''" },
	{ "bad_strings.yaml", SK_EPARSE, 5, 9, "zones[2].file: expected a zone file path, got a list" },
	{ "bad_names.yaml", SK_EPARSE, 8, 4, "zones[0].name: expected a domain name" },
	{ "bad_names.yaml", SK_EPARSE, 8, 5, "zones[1].name: expected a domain name" },
	{ "bad_names.yaml", SK_EPARSE, 8, 6, "zones[2].name: expected a domain name" },
	{ "bad_names.yaml", SK_EPARSE, 8, 7, "zones[3].name: expected a domain name" },
	{ "bad_names.yaml", SK_EPARSE, 8, 8, "zones[4].name: expected a domain name" },
	{ "bad_names.yaml", SK_EPARSE, 8, 9, "zones[5].name: expected a domain name" },
	{ "bad_names.yaml", SK_EPARSE, 8, 10, "zones[6].name: expected a domain name (labels of 1 to 63 characters, 255 in all), got ''" },
	{ "bad_names.yaml", SK_EPARSE, 8, 11, "zones[7].name: expected a domain name" },
	{ "bad_tcp.yaml", SK_EPARSE, 3, 3, "server.tcp_max_clients: expected a whole number from 1 to 1000000, got '0'" },
	{ "bad_tcp.yaml", SK_EPARSE, 3, 4, "server.tcp_idle_timeout_ms: expected a whole number from 1 to 3600000, got '3600001'" },
	{ "bad_tcp.yaml", SK_EPARSE, 3, 5, "server.tcp_max_pending: expected a whole number from 1 to 65535, got '65536'" },
	{ "bad_priv.yaml", SK_EPARSE, 4, 3, "server.tcp_query_timeout_ms: expected a whole number from 1 to 3600000, got '0'" },
	{ "bad_priv.yaml", SK_EPARSE, 4, 4, "server.user: expected a user or group name, got nothing" },
	{ "bad_priv.yaml", SK_EPARSE, 4, 5, "server.group: expected 1 to 255 characters, got 0" },
	{ "bad_priv.yaml", SK_EPARSE, 4, 6, "server.chroot: expected an absolute folder path, got 'srv/sinkholed'" },
	{ "bad_chroot_root.yaml", SK_EPARSE, 1, 3, "server.chroot: '/' is no chroot; leave the key out instead" },
	{ "bad_server_list.yaml", SK_EPARSE, 1, 2, "server: expected a mapping of keys, got a list" },
	{ "bad_root_scalar.yaml", SK_EPARSE, 1, 2, "expected a mapping of keys, got 'hello'" },
	/* telemetry and geoip: every problem of the sections in one pass */
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 4, "telemetry.ring_size: expected a power of two from 64 to 16777216, got '1000'" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 5, "telemetry.flush_ms: expected a whole number from 1 to 60000, got '0'" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 6, "telemetry.stats_interval_s: expected a whole number from 0 to 86400, got '86401'" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 7, "telemetry.jsonl.rotate_mb: expected a whole number from 0 to 1048576, got '-1'" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 7, "telemetry.jsonl.keep: expected a whole number from 0 to 1000, got '1001'" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 7, "telemetry.jsonl: missing key 'path', expected the path of the JSON lines file" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 9, "telemetry.dnstap: 3 destinations given, expected exactly one of file, unix or tcp" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 10, "telemetry.dnstap.unix: expected a unix socket path, got ''" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 11, "telemetry.dnstap.tcp: expected an IPv4 or IPv6 address, then @port, got '192.0.2.1'" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 12, "telemetry.dnstap.messages: expected all or queries, got 'some'" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 13, "telemetry: unknown key 'sink', expected one of: ring_size, flush_ms, stats_interval_s, jsonl, dnstap, nats" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 15, "geoip.city: expected a file path, got ''" },
	{ "bad_telemetry.yaml", SK_EPARSE, 13, 16, "geoip: unknown key 'country', expected one of: city, asn" },
	{ "bad_manifest.yaml", SK_EPARSE, 2, 4, "telemetry.jsonl.manifest: expected true or false, got 'maybe'" },
	{ "bad_manifest.yaml", SK_EPARSE, 2, 4, "telemetry.jsonl: sign_key signs the manifest: it needs manifest: true" },
	{ "bad_manifest_keep.yaml", SK_EPARSE, 2, 4, "telemetry.jsonl: manifest: true needs keep >= 1" },
	{ "bad_manifest_keep.yaml", SK_EPARSE, 2, 4, "telemetry.jsonl: with manifest: true the file name 'a\"b.jsonl' must not hold quotes" },
	{ "bad_dnstap.yaml", SK_EPARSE, 3, 4, "telemetry.dnstap: missing destination, expected one of file, unix or tcp" },
	{ "bad_dnstap.yaml", SK_EPARSE, 3, 5, "telemetry.jsonl: expected a mapping of keys, got '/var/log/events.jsonl'" },
	{ "bad_dnstap.yaml", SK_EPARSE, 3, 6, "geoip: expected a mapping of keys, got a list" },
	{ "bad_dnstap_unix.yaml", SK_EPARSE, 2, 4, "telemetry.dnstap.unix: the socket path '/run/a-very-long-directory-name-for-the-dnstap-socket/and-another-long-directory-name/and-one-more/dnstap.sock' is 110 bytes, at most 107 fit" },
	{ "bad_dnstap_unix.yaml", SK_EPARSE, 2, 5, "telemetry.ring_size: expected a power of two from 64 to 16777216, got '32'" },
	/* telemetry.nats: every key's check */
	{ "bad_nats.yaml", SK_EPARSE, 20, 5, "telemetry.nats.servers: expected nats://host:port or tls://host:port (the port may be left out), got '127.0.0.1:4222'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 5, "got 'nats://'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 5, "got 'nats://h:0'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 5, "got 'http://h'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 5, "got 'nats://h/x'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 5, "got 'nats://[::1'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 5, "got '7'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 6, "telemetry.nats.subject: expected a subject of dot-separated words (letters, digits, '_', '-'; no wildcards), got 'sinkhole.*'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 7, "telemetry.nats.stream: expected a stream name of letters, digits, '_' and '-', got 'SINK.HOLE'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 8, "telemetry.nats.create_stream: expected true or false, got 'maybe'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 9, "telemetry.nats.replicas: expected a whole number from 1 to 5, got '6'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 10, "telemetry.nats.duplicate_window_s: expected a whole number from 1 to 604800, got '0'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 11, "telemetry.nats.max_pending: expected a whole number from 1 to 1048576, got '0'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 12, "telemetry.nats.ack_timeout_ms: expected a whole number from 100 to 600000, got '99'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 13, "telemetry.nats.drain_ms: expected a whole number from 0 to 600000, got '600001'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 14, "telemetry.nats.spool.max_mb: expected a whole number from 1 to 1048576, got '0'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 14, "telemetry.nats.spool.fsync_ms: expected a whole number from 10 to 60000, got '5'" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 14, "telemetry.nats.spool: unknown key 'size', expected one of: path, max_mb, fsync_ms" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 14, "telemetry.nats.spool: missing key 'path', expected the path of the spool file" },
	{ "bad_nats.yaml", SK_EPARSE, 20, 15, "telemetry.nats: unknown key 'sink', expected one of: servers, subject, stream, create_stream, replicas, duplicate_window_s, max_pending, ack_timeout_ms, drain_ms, spool" },
	{ "bad_nats_missing.yaml", SK_EPARSE, 3, 4, "telemetry.nats.subject: expected a subject of dot-separated words (letters, digits, '_', '-'; no wildcards), got 'a..b'" },
	{ "bad_nats_missing.yaml", SK_EPARSE, 3, 4, "telemetry.nats: missing key 'servers', expected a list of nats://host:port URLs" },
	{ "bad_nats_missing.yaml", SK_EPARSE, 3, 4, "telemetry.nats: missing key 'spool', expected a mapping with at least path" },
	{ "bad_nats_empty.yaml", SK_EPARSE, 2, 5, "telemetry.nats.servers: expected 1 to 16 URLs, got 0" },
	{ "bad_nats_empty.yaml", SK_EPARSE, 2, 6, "telemetry.nats.spool.path: expected a file path, got ''" },
	/* rrl: every key's range, every kind of bad prefix */
	{ "bad_rrl.yaml", SK_EPARSE, 16, 4, "rrl.responses_per_second: expected a whole number from 0 to 1000000, got '-1'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 5, "rrl.nxdomains_per_second: expected a whole number from 0 to 1000000, got '1000001'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 6, "rrl.errors_per_second: expected a whole number from 0 to 1000000, got 'x'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 7, "rrl.window: expected a whole number from 1 to 3600, got '0'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 8, "rrl.slip: expected a whole number from 0 to 10, got '11'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 9, "rrl.ipv4_prefix: expected a whole number from 0 to 32, got '33'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 10, "rrl.ipv6_prefix: expected a whole number from 0 to 128, got '129'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 11, "rrl.table_size: expected a power of two from 64 to 16777216, got '1000'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 13, "rrl.exempt: '192.0.2.1/24' has address bits set past its length" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 14, "rrl.exempt: expected an IPv4 or IPv6 address, then optionally /length (at most 32 or 128), got '192.0.2.0/33'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 15, "rrl.exempt: '2001:db8::1/32' has address bits set past its length" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 16, "got 'not-an-address'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 17, "rrl.exempt: expected an address/length prefix, got a list" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 18, "got '[::1]'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 19, "got '192.0.2.0/024'" },
	{ "bad_rrl.yaml", SK_EPARSE, 16, 20, "rrl: unknown key 'limit', expected one of: responses_per_second, nxdomains_per_second, errors_per_second, window, slip, ipv4_prefix, ipv6_prefix, exempt, table_size" },
	{ "bad_rrl_forms.yaml", SK_EPARSE, 1, 4, "rrl.exempt: expected a list of address/length prefixes, got '192.0.2.0/24'" },
	{ "bad_rrl_empty.yaml", SK_EPARSE, 1, 3, "rrl: expected a mapping of keys, got nothing" },
	{ "bad_rrl_many.yaml", SK_EPARSE, 1, 4, "rrl.exempt: 65 prefixes, at most 64 are allowed" },
	/* transfer: keys, allow, notify, the catalog */
	{ "bad_transfer.yaml", SK_EPARSE, 13, 5, "transfer.keys[0].name: expected a key name (labels of letters, digits, '-' and '_'), got 'bad key'" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 8, "transfer.keys[1].algorithm: expected hmac-sha256 or hmac-sha512, got 'hmac-md5'" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 9, "transfer.keys[1].secret: expected a base64 secret of 1 to 128 bytes" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 10, "transfer.keys[2]: key K1. is already defined on line 7" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 13, "transfer.allow[0]: '192.0.2.1/24' has address bits set past its length" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 14, "transfer: key 'nokey' is not defined in transfer.keys" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 15, "transfer.allow[2]: unknown or repeated key 'port', expected address and/or key" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 16, "transfer.allow[3]: expected address: and/or key:" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 18, "transfer.notify[0]: bad port in '192.0.2.1@0'" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 19, "transfer.notify[1]: missing key 'address', expected an address@port" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 20, "transfer.seized: expected true or false, got 'maybe'" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 22, "transfer.catalog.name: expected a domain name (labels of letters, digits, '-' and '_'), got 'no such name'" },
	{ "bad_transfer.yaml", SK_EPARSE, 13, 23, "transfer.catalog.members: expected all or seized, got 'some'" },
	/* control and metrics */
	{ "bad_control.yaml", SK_EPARSE, 5, 4, "control.socket: expected an absolute path, got 'run/control.sock'" },
	{ "bad_control.yaml", SK_EPARSE, 5, 5, "control.mode: expected an octal mode from 0000 to 0777 such as \"0660\", got '0668'" },
	{ "bad_control.yaml", SK_EPARSE, 5, 6, "control.group: expected a group name, got a list" },
	{ "bad_control.yaml", SK_EPARSE, 5, 7, "control: unknown key 'user', expected one of: socket, mode, group" },
	{ "bad_control.yaml", SK_EPARSE, 5, 9, "metrics.listen: expected an IPv4 or IPv6 address, then @port (such as 127.0.0.1@9153), got '127.0.0.1'" },
	{ "bad_control_more.yaml", SK_EPARSE, 3, 4, "control.mode: expected an octal mode from 0000 to 0777 such as \"0660\", got '1777'" },
	{ "bad_control_more.yaml", SK_EPARSE, 3, 4, "control: missing key 'socket', expected an absolute path" },
	{ "bad_control_more.yaml", SK_EPARSE, 3, 6, "metrics.listen: expected an IPv4 or IPv6 address, then @port (such as 127.0.0.1@9153), got '127.0.0.1@99999'" },
	/* Every problem in one pass, each on its own line. */
	{ "bad_many.yaml", SK_EPARSE, 8, 3, "bad port in '127.0.0.1@0'" },
	{ "bad_many.yaml", SK_EPARSE, 8, 3, "bad address in 'nonsense'" },
	{ "bad_many.yaml", SK_EPARSE, 8, 4, "server.workers: expected a whole number from 1 to 1024, got '01'" },
	{ "bad_many.yaml", SK_EPARSE, 8, 5, "got '1232x'" },
	{ "bad_many.yaml", SK_EPARSE, 8, 6, "server.version: expected a string, or false to hide the version, got 'true'" },
	{ "bad_many.yaml", SK_EPARSE, 8, 7, "server.identity: expected a string, got nothing" },
	{ "bad_many.yaml", SK_EPARSE, 8, 10, "zones[0]: unknown key 'nmae'" },
	{ "bad_many.yaml", SK_EPARSE, 8, 11, "zones[1]: expected a mapping of keys, got 'just a string'" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof bad_configs / sizeof *bad_configs; i++) {
		const struct bad *b = &bad_configs[i];
		const char *path = data_path(b->file);
		sk_conf_t *sentinel = (sk_conf_t *)&bad_configs, *c = sentinel;
		unsigned long before = sk_diag_errors();
		int rc = load_captured(path, &c);
		int found = has_diag(path, b->line, b->text);

		is_int(rc, b->rc, "%s: return code", b->file);
		ok(c == sentinel, "%s: *out untouched", b->file);
		is_int(count_lines(errbuf), b->ndiag, "%s: %u diagnostics", b->file, b->ndiag);
		is_int(sk_diag_errors() - before, b->ndiag, "%s: counted as errors", b->file);
		ok(found, "%s:%u: %s", b->file, b->line, b->text);
		if (!found || count_lines(errbuf) != b->ndiag)
			show_err();
	}
}

static void test_unreadable(void)
{
	sk_conf_t *sentinel = (sk_conf_t *)&datadir, *c = sentinel;
	const char *path = data_path("does-not-exist.yaml");
	int rc = load_captured(path, &c);

	is_int(rc, -ENOENT, "missing file: -ENOENT");
	ok(c == sentinel, "missing file: *out untouched");
	ok(has_diag(path, 0, "cannot read the config file: No such file or directory"),
		"missing file: \"file: message\" without a line");
	is_int(count_lines(errbuf), 1, "missing file: one diagnostic");

	path = data_path("");
	rc = load_captured(path, &c);
	is_int(rc, -EISDIR, "a folder: -EISDIR");
	ok(has_diag(path, 0, "Is a directory"), "a folder: strerror in the message");
}

static void normalized_is(const char *in, const char *want)
{
	char *got = sk_conf_path_normalize(in);
	ok(got && str_is(got, want), "normalize '%s' -> '%s' (got '%s')", in, want, got ? got : "NULL");
	free(got);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(2);
	}
}

/*
 * server.chroot: every path must lie under it; once the process is inside (sk_conf_set_root),
 * absolute paths lose the prefix and paths relative to the config (already inside) stay.
 */
static void test_chroot(void)
{
	char dir[] = "/tmp/sk-conf-chroot-XXXXXX", path[256], text[1024], want[512];
	sk_conf_t *c = NULL;

	normalized_is("/a/./b//../c/", "/a/c");
	normalized_is("/..", "/");
	normalized_is("/srv/x/../../..", "/");
	normalized_is("//srv", "/srv");
	ok(sk_conf_path_under("/srv", "/srv/a") && str_is(sk_conf_path_under("/srv", "/srv/a"), "/a"),
		"under: /srv/a is /a inside /srv");
	ok(str_is(sk_conf_path_under("/srv", "/srv"), "/"), "under: /srv itself is /");
	ok(!sk_conf_path_under("/srv", "/srvx/a"), "under: /srvx is not under /srv");
	ok(!sk_conf_path_under("/srv", "/etc/passwd"), "under: /etc is not under /srv");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(path, sizeof path, "%s/etc/sinkholed.yml", dir);
	snprintf(text, sizeof text, "%s/etc", dir);
	mkdir(text, 0700);
	snprintf(text, sizeof text,
		"server:\n  listen: [\"127.0.0.1@53\"]\n  chroot: %s/\n"
		"zones:\n  - file: ../zones/a.zone\n  - file: %s/zones/b.zone\n"
		"telemetry:\n  jsonl: {path: /var/log/outside.jsonl}\n", dir, dir);
	write_text(path, text);
	int rc = load_captured(path, &c);
	is_int(rc, SK_EPARSE, "chroot: a path outside it is an error");
	snprintf(want, sizeof want, "'/var/log/outside.jsonl' is outside server.chroot '%s'", dir);
	ok(has_diag(path, 8, want), "chroot: %s:8: ...%s", path, want);

	snprintf(text, sizeof text,
		"server:\n  listen: [\"127.0.0.1@53\"]\n  chroot: %s/\n"
		"zones:\n  - file: ../zones/a.zone\n  - file: %s/zones/b.zone\n", dir, dir);
	write_text(path, text);
	rc = load_captured(path, &c);
	is_int(rc, 0, "chroot: every path inside loads");
	if (!rc) {
		ok(str_is(c->chroot, dir), "chroot normalised (no trailing /)");
		snprintf(want, sizeof want, "%s/etc/../zones/a.zone", dir);
		ok(c->nzones == 2 && str_is(c->zones[0].file, want), "outside: relative path as resolved");
		snprintf(want, sizeof want, "%s/zones/b.zone", dir);
		ok(c->nzones == 2 && str_is(c->zones[1].file, want), "outside: absolute path kept");
		sk_conf_free(c);
	}
	is_int(sk_conf_set_root(dir), 0, "set_root");
	rc = load_captured(path, &c);
	is_int(rc, 0, "inside: loads");
	if (!rc) {
		snprintf(want, sizeof want, "%s/etc/../zones/a.zone", dir);
		ok(str_is(c->zones[0].file, want), "inside: a relative path (from the config, inside) stays");
		ok(str_is(c->zones[1].file, "/zones/b.zone"), "inside: an absolute path loses the prefix");
		sk_conf_free(c);
	}
	sk_conf_set_root(NULL);
	unlink(path);
	snprintf(text, sizeof text, "%s/etc", dir);
	rmdir(text);
	rmdir(dir);
}

int main(void)
{
	datadir = getenv("SK_TESTDATA");
	if (!datadir)
		datadir = "tests/unit/data";
	test_full();
	test_defaults();
	test_control();
	test_names();
	test_telemetry();
	test_rrl();
	test_transfer();
	test_cookies();
	test_bad();
	test_unreadable();
	test_chroot();
	sk_conf_free(NULL); /* must not crash */
	return tap_done();
}
