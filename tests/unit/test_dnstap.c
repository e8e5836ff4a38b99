/* test_dnstap.c -- the dnstap sink, read back by libfstrm + protobuf-c, the dnstap CLI and fstrm_capture */
#include <arpa/inet.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstrm.h>

#include "conf/conf.h"
#include "rrl/rrl.h"
#include "telemetry/dnstap.h"
#include "telemetry/event.h"

#include "dnstap.pb-c.h"
#include "tap.h"

#define CT "protobuf:dnstap.Dnstap"

extern char **environ;
static char dir[64];

/* ---- records built by hand ---- */

enum { V_V4_UDP, V_V6_TCP, V_NOREPLY, V_CUT, NVARIANTS };

typedef struct fx {
	sk_event_t ev;
	sk_record_t rec;
} fx_t;

static sk_tag_t tag_kv[] = { { "case", "2024-17" }, { "operation", "Nightfall" } };
#define TAGS_JSON "{\"case\":\"2024-17\",\"operation\":\"Nightfall\"}"
static const sk_tagset_t tags = { 2, tag_kv, TAGS_JSON, sizeof TAGS_JSON - 1, 0 };

/* "a.b.c" (no escapes) to wire form; returns its length. */
static size_t put_name(uint8_t *p, const char *name)
{
	size_t n = 0;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (uint8_t)l;
		memcpy(p + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

/* A query as a stub would send it: RD set, one question, and an OPT record (with an ECS option
 * when ecs, with `pad` bytes of padding option otherwise). Returns its length. */
static size_t make_query(uint8_t *m, uint16_t id, const char *qname, uint16_t qtype, bool ecs,
	size_t pad)
{
	static const uint8_t hdr[12] = { 0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1 };
	memcpy(m, hdr, 12);
	m[0] = (uint8_t)(id >> 8);
	m[1] = (uint8_t)id;
	size_t n = 12 + put_name(m + 12, qname);
	m[n++] = (uint8_t)(qtype >> 8);
	m[n++] = (uint8_t)qtype;
	m[n++] = 0;
	m[n++] = 1;                                   /* IN */
	static const uint8_t opt[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0 }; /* OPT, 1232 */
	memcpy(m + n, opt, sizeof opt);
	n += sizeof opt;
	if (ecs) {
		/* ECS: code 8, length 7, family 1, source /24, scope 0, 89.160.20 */
		static const uint8_t o[] = { 0, 8, 0, 7, 0, 1, 24, 0, 89, 160, 20 };
		m[n++] = 0;
		m[n++] = sizeof o;
		memcpy(m + n, o, sizeof o);
		n += sizeof o;
	} else if (pad) {
		m[n++] = (uint8_t)((pad + 4) >> 8);
		m[n++] = (uint8_t)(pad + 4);
		m[n++] = 0;
		m[n++] = 12;                          /* Padding */
		m[n++] = (uint8_t)(pad >> 8);
		m[n++] = (uint8_t)pad;
		memset(m + n, 0, pad);
		n += pad;
	} else {
		m[n++] = 0;
		m[n++] = 0;
	}
	return n;
}

/* The record carries geolocation as the JSON text the telemetry thread rendered (test_telemetry
 * checks the rendering); the dnstap sink copies it into "extra" as it is. */
static const char geo_se[] = "{\"country\":\"SE\",\"region_code\":\"E\",\"region\":\"Östergötland County\","
	"\"city\":\"Linköping\",\"lat\":58.4167,\"lon\":15.6167,\"asn\":29518,\"as_org\":\"Bredband2 AB\"}";
static const char geo_gb[] = "{\"country\":\"GB\",\"region_code\":\"ENG\",\"region\":\"England\","
	"\"city\":\"London\",\"lat\":51.5142,\"lon\":-0.0931}";

static void fx_init(fx_t *f, int variant, uint64_t seq)
{
	uint8_t big[1024];
	sk_event_t *ev = &f->ev;
	memset(f, 0, sizeof *f);
	ev->time_us = 1700000000123456ull + seq;
	ev->transport = SK_TRANSPORT_UDP;
	ev->family = 4;
	ev->sport = 53001;
	ev->dport = 53;
	memcpy(ev->src, (uint8_t[]){ 192, 0, 2, 10 }, 4);
	memcpy(ev->dst, (uint8_t[]){ 198, 51, 100, 1 }, 4);
	ev->flags = SK_EV_PARSED | SK_EV_EDNS;
	ev->qclass = 1;
	ev->zone_off = SK_EV_NO_ZONE;
	f->rec.ev = ev;
	f->rec.node = "node-a";
	f->rec.seq = seq;

	switch (variant) {
	case V_V4_UDP:
		ev->id = 0x1234;
		ev->qtype = 1;
		ev->qlen = (uint16_t)make_query(ev->query, ev->id, "VicTim.Example.COM", 1, false, 0);
		ev->qname_len = 20;
		ev->zone_off = 7;
		ev->tags = &tags;
		ev->rcode = 0;
		ev->rflags = 0x8500;
		ev->rsize = 93;
		f->rec.geo = geo_se;
		f->rec.geo_len = sizeof geo_se - 1;
		f->rec.qname = "VicTim.Example.COM.";
		f->rec.zone = "example.com.";
		break;
	case V_V6_TCP:
		ev->transport = SK_TRANSPORT_TCP;
		ev->family = 6;
		ev->sport = 41000;
		inet_pton(AF_INET6, "2001:db8::10", ev->src);
		inet_pton(AF_INET6, "2001:db8::53", ev->dst);
		ev->id = 0xbeef;
		ev->qtype = 28;
		ev->qlen = (uint16_t)make_query(ev->query, ev->id, "www.VICTIM.example.com", 28, true, 0);
		ev->qname_len = 24;
		ev->flags |= SK_EV_COOKIE;
		ev->cookie = SK_COOKIE_VALID;       /* extra names the verdict */
		ev->zone_off = 11;
		ev->tags = &tags;
		ev->flags |= SK_EV_ECS;
		ev->rcode = 3;
		ev->rflags = 0x8403;
		ev->rsize = 150;
		f->rec.ecs_geo = geo_gb;
		f->rec.ecs_geo_len = sizeof geo_gb - 1;
		f->rec.ecs = "89.160.20.0/24";
		f->rec.qname = "www.VICTIM.example.com.";
		f->rec.zone = "example.com.";
		break;
	case V_NOREPLY:
		ev->id = 7;
		ev->qtype = 1;
		ev->qlen = (uint16_t)make_query(ev->query, ev->id, "dropped.test", 1, false, 0);
		ev->qname_len = 14;
		ev->rsize = 0;
		ev->rrl = SK_RRL_DROP;   /* the reply that rate limiting dropped */
		f->rec.qname = "dropped.test.";
		break;
	case V_CUT: {
		ev->id = 9;
		ev->qtype = 16;
		size_t n = make_query(big, ev->id, "cut.example.com", 16, false, 600);
		memcpy(ev->query, big, SK_EV_QUERY_MAX);
		ev->qlen = SK_EV_QUERY_MAX;
		(void)n;
		ev->flags |= SK_EV_CUT;
		ev->qname_len = 17;
		ev->zone_off = 4;
		ev->rcode = 5;
		ev->rflags = 0x8305;
		ev->rsize = 45;
		ev->rrl = SK_RRL_SLIP;   /* a truncated reply went out instead */
		f->rec.qname = "cut.example.com.";
		f->rec.zone = "example.com.";
		break;
	}
	}
}

/* ---- reading back ---- */

/* Protobuf wire: a varint at *p (advanced past it), false past `end`. */
static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* Walk a message's fields (varint, length-delimited, fixed32 and fixed64), and count each
 * field number into seen[0..32). The Message and its fields arrive in parts (message.c), so this
 * checks on the bytes themselves that no field came twice: protobuf would take the last. */
static bool wire_fields(const uint8_t *p, size_t len, unsigned seen[32], const uint8_t **sub,
	size_t *sublen, unsigned subfield)
{
	const uint8_t *end = p + len;
	while (p < end) {
		uint64_t key, v;
		if (!wire_varint(&p, end, &key) || (key >> 3) >= 32)
			return false;
		seen[key >> 3]++;
		if ((key & 7) == 0) {
			if (!wire_varint(&p, end, &v))
				return false;
		} else if ((key & 7) == 2) {
			if (!wire_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			if (sub && (key >> 3) == subfield) {
				*sub = p;
				*sublen = (size_t)v;
			}
			p += v;
		} else if ((key & 7) == 5 || (key & 7) == 1) {   /* fixed32 (the nsec fields), fixed64 */
			size_t n = (key & 7) == 5 ? 4 : 8;
			if (n > (size_t)(end - p))
				return false;
			p += n;
		} else {
			return false;
		}
	}
	return true;
}

/* Payloads whose Dnstap or Message had a field more than once, or did not walk. */
static int wire_bad;

static void check_wire(const uint8_t *data, size_t len)
{
	unsigned outer[32] = { 0 }, inner[32] = { 0 };
	const uint8_t *msg = NULL;
	size_t mlen = 0;
	bool good = wire_fields(data, len, outer, &msg, &mlen, 14) && msg &&
		wire_fields(msg, mlen, inner, NULL, NULL, 0);
	for (int i = 0; good && i < 32; i++)
		good = outer[i] <= 1 && inner[i] <= 1;
	if (!good)
		wire_bad++;
}

/* Every payload of a Frame Streams file, unpacked; returns how many (at most max), -1 when the
 * file cannot be read as a dnstap stream. Each payload's bytes go through check_wire(). */
static int read_file(const char *path, Dnstap__Dnstap **out, int max)
{
	int n = 0;
	struct fstrm_file_options *fopt = fstrm_file_options_init();
	struct fstrm_reader_options *ropt = fstrm_reader_options_init();
	fstrm_file_options_set_file_path(fopt, path);
	fstrm_reader_options_add_content_type(ropt, CT, strlen(CT));
	struct fstrm_reader *r = fstrm_file_reader_init(fopt, ropt);
	fstrm_file_options_destroy(&fopt);
	fstrm_reader_options_destroy(&ropt);
	if (!r || fstrm_reader_open(r) != fstrm_res_success) {
		n = -1;
		goto done;
	}
	const uint8_t *data;
	size_t len;
	fstrm_res res;
	while ((res = fstrm_reader_read(r, &data, &len)) == fstrm_res_success) {
		check_wire(data, len);
		Dnstap__Dnstap *d = dnstap__dnstap__unpack(NULL, len, data);
		if (!d || n >= max) {
			dnstap__dnstap__free_unpacked(d, NULL);
			n = -1;
			goto done;
		}
		out[n++] = d;
	}
	if (res != fstrm_res_stop)
		n = -1;
done:
	if (r)
		fstrm_reader_destroy(&r);
	return n;
}

static void free_all(Dnstap__Dnstap **d, int n)
{
	for (int i = 0; i < n; i++)
		dnstap__dnstap__free_unpacked(d[i], NULL);
}

static bool bytes_eq(ProtobufCBinaryData b, bool has, const void *p, size_t len)
{
	return has && b.len == len && memcmp(b.data, p, len) == 0;
}

static bool text_eq(ProtobufCBinaryData b, bool has, const char *s)
{
	return bytes_eq(b, has, s, strlen(s));
}

/* Run a command, count output lines containing `needle` (all lines when NULL); -1 on failure. */
static int count_lines(const char *cmd, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof line, p))
		if (!needle || strstr(line, needle))
			n++;
	return pclose(p) == 0 ? n : -1;
}

static int count_frames(const char *path)
{
	Dnstap__Dnstap *d[64];
	int n = read_file(path, d, 64);
	if (n > 0)
		free_all(d, n);
	return n;
}

static sk_sink_stats_t stats_of(void *s)
{
	sk_sink_stats_t st;
	sk_dnstap_ops.stats(s, &st);
	return st;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait (up to `secs`) until the I/O thread has settled `n` records as written or failed. */
static sk_sink_stats_t settle(void *s, uint64_t n, double secs)
{
	sk_sink_stats_t st = stats_of(s);
	double end = now_s() + secs;
	while (st.written + st.failed < n && now_s() < end) {
		usleep(20000);
		st = stats_of(s);
	}
	return st;
}

/* Emit `n` records cycling through the variants; returns the slowest emit in seconds and adds
 * the number of emits that reported a loss to *lost. */
static double emit_many(void *s, int n, uint64_t *seq, int *lost)
{
	fx_t f;
	double worst = 0;
	for (int i = 0; i < n; i++) {
		fx_init(&f, i % NVARIANTS, ++*seq);
		double t = now_s();
		if (sk_dnstap_ops.emit(s, &f.rec) != 0)
			(*lost)++;
		t = now_s() - t;
		if (t > worst)
			worst = t;
	}
	return worst;
}

/* ---- file ---- */

static const char *extra0 = "{\"seq\":1,\"zone\":\"example.com.\","
	"\"tags\":{\"case\":\"2024-17\",\"operation\":\"Nightfall\"},"
	"\"geo\":{\"country\":\"SE\",\"region_code\":\"E\",\"region\":\"Östergötland County\","
	"\"city\":\"Linköping\",\"lat\":58.4167,\"lon\":15.6167,\"asn\":29518,"
	"\"as_org\":\"Bredband2 AB\"},\"rsize\":93}";
static const char *extra1 = "{\"seq\":2,\"zone\":\"example.com.\","
	"\"tags\":{\"case\":\"2024-17\",\"operation\":\"Nightfall\"},\"ecs\":\"89.160.20.0/24\","
	"\"ecs_geo\":{\"country\":\"GB\",\"region_code\":\"ENG\",\"region\":\"England\","
	"\"city\":\"London\",\"lat\":51.5142,\"lon\":-0.0931},\"cookie\":\"valid\",\"rsize\":150}";

static void check_common(Dnstap__Dnstap *d, int i)
{
	char version[64];
	snprintf(version, sizeof version, "sinkholed %s", SK_VERSION);
	ok(d->type == DNSTAP__DNSTAP__TYPE__MESSAGE && d->message, "frame %d: a message", i);
	ok(text_eq(d->identity, d->has_identity, "node-a"), "frame %d: identity is the node", i);
	ok(text_eq(d->version, d->has_version, version), "frame %d: version", i);
}

static void check_v4_pair(Dnstap__Dnstap **d, const fx_t *f)
{
	Dnstap__Message *q = d[0]->message, *r = d[1]->message;
	static const uint8_t zone[] = "\7example\3com";
	ok(q->type == DNSTAP__MESSAGE__TYPE__AUTH_QUERY, "v4: AUTH_QUERY first");
	ok(q->has_socket_family && q->socket_family == DNSTAP__SOCKET_FAMILY__INET &&
		q->has_socket_protocol && q->socket_protocol == DNSTAP__SOCKET_PROTOCOL__UDP,
		"v4: INET, UDP");
	ok(bytes_eq(q->query_address, q->has_query_address, (uint8_t[]){ 192, 0, 2, 10 }, 4) &&
		bytes_eq(q->response_address, q->has_response_address,
			(uint8_t[]){ 198, 51, 100, 1 }, 4), "v4: query address is the client, response ours");
	ok(q->has_query_port && q->query_port == 53001 && q->has_response_port &&
		q->response_port == 53, "v4: ports");
	ok(q->has_query_time_sec && q->query_time_sec == 1700000000 && q->has_query_time_nsec &&
		q->query_time_nsec == 123457000, "v4: query time (s, ns)");
	ok(bytes_eq(q->query_message, q->has_query_message, f->ev.query, f->ev.qlen),
		"v4: query_message is the query as received");
	ok(bytes_eq(q->query_zone, q->has_query_zone, zone, sizeof zone), "v4: query_zone, lower case");
	ok(!q->has_response_message, "v4: no response in the query message");
	ok(text_eq(d[0]->extra, d[0]->has_extra, extra0), "v4: extra JSON");
	if (d[0]->has_extra && !text_eq(d[0]->extra, true, extra0))
		printf("#   extra: %.*s\n", (int)d[0]->extra.len, (const char *)d[0]->extra.data);

	ok(r->type == DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE, "v4: then AUTH_RESPONSE");
	ok(r->has_response_time_sec && r->response_time_sec == 1700000000 &&
		r->response_time_nsec == 123457000 && r->query_time_sec == 1700000000,
		"v4: response time is the event time");
	ok(r->has_response_message && r->response_message.len == 12 + 20 + 4,
		"v4: response is header + question");
	if (r->has_response_message && r->response_message.len == 36) {
		const uint8_t *m = r->response_message.data;
		static const uint8_t hdr[12] = { 0x12, 0x34, 0x85, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
		ok(memcmp(m, hdr, 12) == 0, "v4: response header: id, flags, QDCOUNT 1, no records");
		ok(memcmp(m + 12, f->ev.query + 12, 24) == 0, "v4: response question copied from query");
	}
	ok(!r->has_query_message, "v4: no query in the response message");
	ok(r->socket_family == q->socket_family && r->socket_protocol == q->socket_protocol &&
		bytes_eq(r->query_address, r->has_query_address, q->query_address.data, 4) &&
		bytes_eq(r->response_address, r->has_response_address, q->response_address.data, 4) &&
		r->query_port == q->query_port && r->response_port == q->response_port &&
		r->has_query_time_nsec && r->query_time_nsec == q->query_time_nsec &&
		bytes_eq(r->query_zone, r->has_query_zone, zone, sizeof zone),
		"v4: the response has the query's family, protocol, addresses, ports, time and zone");
	ok(text_eq(d[1]->extra, d[1]->has_extra, "{\"seq\":1}"),
		"v4: the response's extra is its seq alone (the query carries the rest)");
}

static void check_v6_pair(Dnstap__Dnstap **d, const fx_t *f)
{
	Dnstap__Message *q = d[0]->message, *r = d[1]->message;
	ok(q->type == DNSTAP__MESSAGE__TYPE__AUTH_QUERY && r->type ==
		DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE, "v6: AUTH_QUERY, AUTH_RESPONSE");
	ok(q->socket_family == DNSTAP__SOCKET_FAMILY__INET6 &&
		q->socket_protocol == DNSTAP__SOCKET_PROTOCOL__TCP, "v6: INET6, TCP");
	ok(bytes_eq(q->query_address, q->has_query_address, f->ev.src, 16) &&
		bytes_eq(q->response_address, q->has_response_address, f->ev.dst, 16),
		"v6: 16-byte addresses");
	ok(q->query_port == 41000, "v6: client port");
	ok(bytes_eq(q->query_message, q->has_query_message, f->ev.query, f->ev.qlen),
		"v6: query with its ECS option, verbatim");
	ok(text_eq(d[0]->extra, d[0]->has_extra, extra1), "v6: extra JSON with ecs and ecs_geo");
	if (d[0]->has_extra && !text_eq(d[0]->extra, true, extra1))
		printf("#   extra: %.*s\n", (int)d[0]->extra.len, (const char *)d[0]->extra.data);
	ok(r->response_message.len == 12 + 24 + 4 && (r->response_message.data[3] & 0x0f) == 3 &&
		r->response_message.data[0] == 0xbe && r->response_message.data[1] == 0xef,
		"v6: response keeps id and NXDOMAIN");
}

static void test_file(void)
{
	char path[128], cmd[512];
	fx_t f[NVARIANTS];
	void *s = NULL;
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_FILE, .path = path, .responses = true };
	snprintf(path, sizeof path, "%s/events.tap", dir);

	is_int(sk_dnstap_ops.open(&s, &conf), 0, "file: open");
	if (!s)
		return;
	for (int i = 0; i < NVARIANTS; i++) {
		fx_init(&f[i], i, (uint64_t)i + 1);
		is_int(sk_dnstap_ops.emit(s, &f[i].rec), 0, "file: emit record %d", i);
	}
	is_int(sk_dnstap_ops.flush(s), 0, "file: flush");
	sk_sink_stats_t st = settle(s, NVARIANTS, 5);
	is_int(st.written, NVARIANTS, "file: stats: every record written");
	is_int(st.failed, 0, "file: stats: none failed");
	sk_dnstap_ops.close(s, NULL);
	struct stat sb;
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "file: mode 0640");

	Dnstap__Dnstap *d[16];
	wire_bad = 0;
	int n = read_file(path, d, 16);
	is_int(n, 7, "file: 4 queries and 3 responses (no response for a dropped query)");
	is_int(wire_bad, 0, "file: no field twice in any Dnstap or Message, on the wire");
	if (n != 7) {
		if (n > 0)
			free_all(d, n);
		return;
	}
	for (int i = 0; i < n; i++)
		check_common(d[i], i);
	check_v4_pair(d, &f[V_V4_UDP]);
	check_v6_pair(d + 2, &f[V_V6_TCP]);

	Dnstap__Message *m = d[4]->message;
	ok(m->type == DNSTAP__MESSAGE__TYPE__AUTH_QUERY && !m->has_query_zone,
		"no reply: a query alone, without a zone");
	ok(text_eq(d[4]->extra, d[4]->has_extra, "{\"seq\":3,\"rrl\":\"drop\"}"),
		"dropped by rate limiting: extra has seq and rrl");
	ok(d[5]->message->query_message.len == SK_EV_QUERY_MAX, "cut: the kept start of the query");
	ok(text_eq(d[5]->extra, d[5]->has_extra, "{\"seq\":4,\"zone\":\"example.com.\",\"rsize\":45,"
		"\"cut\":true,\"rrl\":\"slip\"}"), "cut and slipped: marked in extra");
	ok(d[6]->message->type == DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE &&
		d[6]->message->response_message.len == 12 + 17 + 4, "cut: its response has the question");
	free_all(d, n);

	/* The real consumer. */
	snprintf(cmd, sizeof cmd, "dnstap -y -r '%s'", path);
	is_int(count_lines(cmd, "type: MESSAGE"), 7, "dnstap -y: 7 messages");
	is_int(count_lines(cmd, "type: AUTH_QUERY"), 4, "dnstap -y: 4 AUTH_QUERY");
	is_int(count_lines(cmd, "type: AUTH_RESPONSE"), 3, "dnstap -y: 3 AUTH_RESPONSE");
	ok(count_lines(cmd, "VicTim.Example.COM.") >= 2, "dnstap -y: the query name, as sent");
	ok(count_lines(cmd, "status: NXDOMAIN") >= 1, "dnstap -y: the rebuilt NXDOMAIN reply");
	is_int(count_lines(cmd, "identity: \"node-a\""), 7, "dnstap -y: identity");
	is_int(count_lines(cmd, "parse failed"), 1, "dnstap -y: every message parses but the cut one");
	snprintf(cmd, sizeof cmd, "dnstap -r '%s'", path);
	is_int(count_lines(cmd, NULL), 7, "dnstap -r: one line per message");
	snprintf(cmd, sizeof cmd, "fstrm_dump '%s' 2>&1", path);
	ok(count_lines(cmd, CT) >= 1, "fstrm_dump: content type " CT);
}

/* The node changes (a reload with a new identity): the shared fields are packed again, found by
 * the record's node generation, and every frame names the node of its own record. */
static void test_identity_change(void)
{
	char path[128];
	fx_t f[3];
	void *s = NULL;
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_FILE, .path = path, .responses = true };
	const char *nodes[3] = { "node-a", "node-b2", "node-b2" };
	snprintf(path, sizeof path, "%s/identity.tap", dir);

	is_int(sk_dnstap_ops.open(&s, &conf), 0, "identity: open");
	if (!s)
		return;
	for (int i = 0; i < 3; i++) {
		fx_init(&f[i], V_V4_UDP, (uint64_t)i + 1);
		f[i].rec.node = nodes[i];
		f[i].rec.node_gen = i == 0 ? 1 : 2;
		is_int(sk_dnstap_ops.emit(s, &f[i].rec), 0, "identity: emit record %d", i);
	}
	sk_dnstap_ops.close(s, NULL);
	Dnstap__Dnstap *d[8];
	int n = read_file(path, d, 8);
	is_int(n, 6, "identity: 3 queries and 3 responses");
	int right = n == 6;
	for (int i = 0; right && i < n; i++)
		right = text_eq(d[i]->identity, d[i]->has_identity, nodes[i / 2]);
	ok(right, "identity: each frame names its record's node (a, a, b2, b2, b2, b2)");
	if (n > 0)
		free_all(d, n);
}

static void test_queries_only(void)
{
	char path[128];
	fx_t f;
	void *s = NULL;
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_FILE, .path = path, .responses = false };
	snprintf(path, sizeof path, "%s/queries.tap", dir);
	is_int(sk_dnstap_ops.open(&s, &conf), 0, "queries only: open");
	if (!s)
		return;
	for (int i = 0; i < NVARIANTS; i++) {
		fx_init(&f, i, (uint64_t)i + 1);
		sk_dnstap_ops.emit(s, &f.rec);
	}
	sk_dnstap_ops.close(s, NULL);
	Dnstap__Dnstap *d[16];
	int n = read_file(path, d, 16);
	is_int(n, 4, "queries only: one frame per record");
	bool all_q = n == 4;
	for (int i = 0; i < n; i++)
		all_q = all_q && d[i]->message->type == DNSTAP__MESSAGE__TYPE__AUTH_QUERY;
	ok(all_q, "queries only: all AUTH_QUERY");
	if (n > 0)
		free_all(d, n);
}

/* Files in dir whose name starts with prefix. */
static int count_files(const char *prefix)
{
	int n = 0;
	DIR *dp = opendir(dir);
	struct dirent *e;
	while (dp && (e = readdir(dp)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	if (dp)
		closedir(dp);
	return n;
}

/* A second start at the same path keeps the first file; reopen() after a rename starts anew. */
static void test_file_keep_and_reopen(void)
{
	char path[128], rotated[160], aside[512];
	uint64_t seq = 0;
	int lost = 0;
	void *s = NULL;
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_FILE, .path = path, .responses = true };
	snprintf(path, sizeof path, "%s/keep.tap", dir);

	is_int(sk_dnstap_ops.open(&s, &conf), 0, "keep: first open");
	emit_many(s, 4, &seq, &lost);
	sk_dnstap_ops.close(s, NULL);
	is_int(count_frames(path), 7, "keep: first run wrote 7 frames");

	s = NULL;
	is_int(sk_dnstap_ops.open(&s, &conf), 0, "keep: second open of the same path");
	is_int(count_files("keep.tap."), 1, "keep: the first file was renamed aside, not truncated");
	emit_many(s, 1, &seq, &lost);

	snprintf(rotated, sizeof rotated, "%s.rotated", path);
	ok(rename(path, rotated) == 0, "reopen: logrotate renames the file");
	emit_many(s, 1, &seq, &lost);   /* goes to the renamed file: it is still open */
	is_int(sk_dnstap_ops.reopen(s), 0, "reopen: ok");
	emit_many(s, 2, &seq, &lost);
	sk_dnstap_ops.close(s, NULL);
	is_int(lost, 0, "keep: nothing lost");
	is_int(count_frames(rotated), 4, "reopen: the rotated file was finished with its 4 frames");
	is_int(count_frames(path), 4, "reopen: the new file holds what came after");

	DIR *dp = opendir(dir);
	struct dirent *e;
	aside[0] = 0;
	while (dp && (e = readdir(dp)))
		if (strncmp(e->d_name, "keep.tap.2", 10) == 0)
			snprintf(aside, sizeof aside, "%s/%s", dir, e->d_name);
	if (dp)
		closedir(dp);
	is_int(aside[0] ? count_frames(aside) : -1, 7, "keep: the kept file is whole (%s)", aside);
}

/* ---- sockets ---- */

/* AUTH_QUERY and AUTH_RESPONSE frames in a file; -1 when it does not read as a whole stream. */
static int count_types(const char *path, int *aq, int *ar)
{
	int n = 0;
	*aq = *ar = 0;
	struct fstrm_file_options *fopt = fstrm_file_options_init();
	struct fstrm_reader_options *ropt = fstrm_reader_options_init();
	fstrm_file_options_set_file_path(fopt, path);
	fstrm_reader_options_add_content_type(ropt, CT, strlen(CT));
	struct fstrm_reader *r = fstrm_file_reader_init(fopt, ropt);
	fstrm_file_options_destroy(&fopt);
	fstrm_reader_options_destroy(&ropt);
	if (!r || fstrm_reader_open(r) != fstrm_res_success) {
		if (r)
			fstrm_reader_destroy(&r);
		return -1;
	}
	const uint8_t *data;
	size_t len;
	fstrm_res res;
	while ((res = fstrm_reader_read(r, &data, &len)) == fstrm_res_success) {
		Dnstap__Dnstap *d = dnstap__dnstap__unpack(NULL, len, data);
		if (d && d->message && d->message->type == DNSTAP__MESSAGE__TYPE__AUTH_QUERY)
			(*aq)++;
		else if (d && d->message && d->message->type == DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE)
			(*ar)++;
		dnstap__dnstap__free_unpacked(d, NULL);
		n++;
	}
	fstrm_reader_destroy(&r);
	return res == fstrm_res_stop ? n : -1;
}

/* Start fstrm_capture with the given destination arguments, writing to `out`. */
static pid_t start_capture(const char *a1, const char *a2, const char *a3, const char *a4,
	const char *out)
{
	char log[160];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	snprintf(log, sizeof log, "%s/capture.log", dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	char *argv[] = { "fstrm_capture", "-t", CT, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
		"-w", (char *)out, NULL };
	if (!a3) {  /* unix: two arguments fewer */
		argv[5] = "-w";
		argv[6] = (char *)out;
		argv[7] = NULL;
	}
	int rc = posix_spawnp(&pid, "fstrm_capture", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc == 0 ? pid : -1;
}

/* Stop it the way an operator would (SIGTERM: it finishes the file) and wait for it. */
static int stop_capture(pid_t pid)
{
	int status;
	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool wait_socket(const char *path, double secs)
{
	struct stat sb;
	double end = now_s() + secs;
	while (now_s() < end) {
		if (stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
			return true;
		usleep(20000);
	}
	return false;
}

static bool wait_tcp(const struct sockaddr_in *sa, double secs)
{
	double end = now_s() + secs;
	while (now_s() < end) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
		close(fd);
		if (rc == 0)
			return true;
		usleep(20000);
	}
	return false;
}

/* N records to a live reader: all written, all there, and the dnstap CLI agrees. */
static void run_reader(const char *what, sk_dnstap_conf_t *conf)
{
	enum { N = 200 };
	void *s = NULL;
	uint64_t seq = 0;
	int lost = 0;
	is_int(sk_dnstap_ops.open(&s, conf), 0, "%s: open", what);
	if (!s)
		return;
	emit_many(s, N, &seq, &lost);
	is_int(lost, 0, "%s: every emit queued", what);
	sk_sink_stats_t st = settle(s, N, 10);
	is_int(st.written, N, "%s: stats: %d written", what, N);
	is_int(st.failed, 0, "%s: stats: none failed", what);
	sk_dnstap_ops.close(s, NULL);
}

static void check_capture(const char *what, const char *out)
{
	enum { N = 200 };
	char cmd[512];
	int aq = 0, ar = 0;
	/* Of every 4 records, 3 have a response (the variant without a reply has none). */
	is_int(count_types(out, &aq, &ar), N + N / 4 * 3, "%s: capture file reads back whole", what);
	is_int(aq, N, "%s: %d AUTH_QUERY captured", what, N);
	is_int(ar, N / 4 * 3, "%s: %d AUTH_RESPONSE captured", what, N / 4 * 3);
	snprintf(cmd, sizeof cmd, "dnstap -r '%s' 2>/dev/null", out);
	is_int(count_lines(cmd, NULL), N + N / 4 * 3, "%s: dnstap -r counts the same", what);
}

static void test_unix_reader(void)
{
	char sock[128], out[128];
	snprintf(sock, sizeof sock, "%s/cap.sock", dir);
	snprintf(out, sizeof out, "%s/cap.tap", dir);
	pid_t pid = start_capture("-u", sock, NULL, NULL, out);
	ok(pid > 0 && wait_socket(sock, 10), "unix: fstrm_capture listens on %s", sock);
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_UNIX, .path = sock, .responses = true };
	run_reader("unix", &conf);
	is_int(stop_capture(pid), 0, "unix: fstrm_capture exits cleanly");
	check_capture("unix", out);
}

static void test_tcp_reader(void)
{
	char out[128], port[16];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);   /* a free port, for a moment */
	close(fd);
	snprintf(port, sizeof port, "%u", ntohs(sa.sin_port));
	snprintf(out, sizeof out, "%s/tcp.tap", dir);
	pid_t pid = start_capture("-a", "127.0.0.1", "-p", port, out);
	ok(pid > 0 && wait_tcp(&sa, 10), "tcp: fstrm_capture listens on 127.0.0.1@%s", port);
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_TCP, .responses = true };
	memcpy(&conf.addr, &sa, sizeof sa);
	conf.addrlen = sizeof sa;
	run_reader("tcp", &conf);
	is_int(stop_capture(pid), 0, "tcp: fstrm_capture exits cleanly");
	check_capture("tcp", out);
}

/* Nobody listens: emits stay instant, every record counts as failed, close does not wait. */
static void test_no_reader(void)
{
	enum { N = 2000 };
	char sock[128];
	void *s = NULL;
	uint64_t seq = 0;
	int lost = 0;
	snprintf(sock, sizeof sock, "%s/nobody.sock", dir);
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_UNIX, .path = sock, .responses = true };
	is_int(sk_dnstap_ops.open(&s, &conf), 0, "no reader: open succeeds (a reader may come later)");
	if (!s)
		return;
	double worst = emit_many(s, N, &seq, &lost);
	ok(worst < 0.5, "no reader: emit never blocks (slowest %.6f s)", worst);
	sk_sink_stats_t st = settle(s, N, 10);
	is_int(st.written, 0, "no reader: nothing counted written");
	is_int(st.failed, N, "no reader: every record counted failed");
	double t = now_s();
	sk_dnstap_ops.close(s, NULL);
	ok(now_s() - t < 5, "no reader: close returns at once (%.3f s)", now_s() - t);
}

/* The reader comes later: records fail until it does, then are written without a restart. */
static void test_reader_comes_later(void)
{
	char sock[128], out[128];
	void *s = NULL;
	uint64_t seq = 0;
	int lost = 0, aq = 0, ar = 0;
	snprintf(sock, sizeof sock, "%s/later.sock", dir);
	snprintf(out, sizeof out, "%s/later.tap", dir);
	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_UNIX, .path = sock, .responses = true };
	is_int(sk_dnstap_ops.open(&s, &conf), 0, "later: open with no reader");
	if (!s)
		return;
	emit_many(s, 10, &seq, &lost);
	sk_sink_stats_t st = settle(s, 10, 10);
	is_int(st.failed, 10, "later: 10 failed while nobody listened");

	pid_t pid = start_capture("-u", sock, NULL, NULL, out);
	ok(pid > 0 && wait_socket(sock, 10), "later: fstrm_capture starts");
	double end = now_s() + 15;
	while (stats_of(s).written == 0 && now_s() < end) {
		emit_many(s, 1, &seq, &lost);
		usleep(100000);
	}
	ok(stats_of(s).written > 0, "later: writing resumed by itself");
	emit_many(s, 20, &seq, &lost);
	st = settle(s, seq, 10);
	is_int(st.written + st.failed, seq, "later: every record settled (%llu written, %llu failed)",
		(unsigned long long)st.written, (unsigned long long)st.failed);
	ok(st.written >= 21, "later: the records after the reconnect were written");
	sk_dnstap_ops.close(s, NULL);
	is_int(stop_capture(pid), 0, "later: fstrm_capture exits cleanly");
	int frames = count_types(out, &aq, &ar);
	ok(frames > 0 && (uint64_t)aq == st.written,
		"later: the capture holds exactly the records counted written (%d)", aq);
}

/*
 * A reader that completes the handshake and then never reads: writes stall, the sink gives the
 * connection up after the time limit and reconnects, emits never wait, and what cannot be
 * queued is counted failed.
 */
typedef struct staller {
	int lfd;
	atomic_bool stop;
	int fds[256];
	int nfds;
	pthread_t thr;
} staller_t;

static bool read_exact(int fd, void *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return false;
		p = (char *)p + r;
		n -= (size_t)r;
	}
	return true;
}

/* Read one control frame (escape, length, body). */
static bool read_control(int fd)
{
	uint8_t hdr[8], body[512];
	if (!read_exact(fd, hdr, 8))
		return false;
	uint32_t len = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];
	return len <= sizeof body && read_exact(fd, body, len);
}

static bool handshake(int fd)
{
	uint8_t buf[256];
	size_t n = sizeof buf;
	bool good = false;
	struct fstrm_control *c = fstrm_control_init();
	if (!read_control(fd))   /* READY */
		goto done;
	if (fstrm_control_set_type(c, FSTRM_CONTROL_ACCEPT) != fstrm_res_success ||
		fstrm_control_add_field_content_type(c, (const uint8_t *)CT, strlen(CT)) !=
			fstrm_res_success ||
		fstrm_control_encode(c, buf, &n, FSTRM_CONTROL_FLAG_WITH_HEADER) != fstrm_res_success)
		goto done;
	good = write(fd, buf, n) == (ssize_t)n && read_control(fd);   /* START */
done:
	fstrm_control_destroy(&c);
	return good;
}

static void *stall_main(void *arg)
{
	staller_t *st = arg;
	struct timeval tv = { .tv_sec = 5 };
	while (!atomic_load(&st->stop)) {
		struct pollfd p = { .fd = st->lfd, .events = POLLIN };
		if (poll(&p, 1, 50) != 1)
			continue;
		int fd = accept(st->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if (!handshake(fd) || st->nfds == 256) {
			close(fd);
			continue;
		}
		st->fds[st->nfds++] = fd;   /* and never read from it again */
	}
	return NULL;
}

static void test_stalled_reader(void)
{
	enum { BURSTS = 24, PER = 1500, N = BURSTS * PER };
	char sock[100];
	void *s = NULL;
	uint64_t seq = 0;
	int lost = 0;
	staller_t st = { .lfd = socket(AF_UNIX, SOCK_STREAM, 0) };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sock, sizeof sock, "%s/stall.sock", dir);
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	ok(bind(st.lfd, (struct sockaddr *)&sun, sizeof sun) == 0 && listen(st.lfd, 16) == 0 &&
		pthread_create(&st.thr, NULL, stall_main, &st) == 0, "stall: a reader that stops reading");

	sk_dnstap_conf_t conf = { .mode = SK_DNSTAP_UNIX, .path = sock, .responses = true };
	is_int(sk_dnstap_ops.open(&s, &conf), 0, "stall: open");
	if (!s)
		return;
	double worst = 0, t0 = now_s();
	for (int i = 0; i < BURSTS; i++) {
		double w = emit_many(s, PER, &seq, &lost);
		worst = w > worst ? w : worst;
		usleep(250000);
	}
	ok(worst < 0.5, "stall: emit never blocks (slowest %.6f s over %.1f s)", worst, now_s() - t0);
	double t1 = now_s();
	sk_sink_stats_t stats = settle(s, N, 30);
	t1 = now_s() - t1;
	ok(stats.failed > 0 && lost > 0, "stall: records lost (%llu failed, %d at the queue)",
		(unsigned long long)stats.failed, lost);
	is_int(stats.written + stats.failed, N, "stall: every record settled (in %.1f s)", t1);
	double t = now_s();
	sk_dnstap_ops.close(s, NULL);
	ok(now_s() - t < 10, "stall: close gives up on the reader (%.3f s)", now_s() - t);

	atomic_store(&st.stop, true);
	pthread_join(st.thr, NULL);
	ok(st.nfds >= 2, "stall: the sink reconnected after giving up (%d connections)", st.nfds);
	for (int i = 0; i < st.nfds; i++)
		close(st.fds[i]);
	close(st.lfd);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	if (getenv("SK_KEEP_TMP"))
		printf("# files kept in %s\n", dir);
	else
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/sk-dnstap-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* The real consumers are part of the test, not optional: CI installs them. */
	ok(system("for p in dnstap fstrm_capture fstrm_dump; do command -v $p >/dev/null || exit 1; done") == 0,
		"dnstap, fstrm_capture and fstrm_dump are installed (packages "
		"golang-github-dnstap-golang-dnstap-cli, fstrm-bin)");
	fflush(stdout);
	test_file();
	test_identity_change();
	test_queries_only();
	test_file_keep_and_reopen();
	test_unix_reader();
	test_tcp_reader();
	test_no_reader();
	test_reader_comes_later();
	test_stalled_reader();
	cleanup();
	return tap_done();
}
