/* test_nats.c -- the NATS sink without a bus: the spool file, record ids and subjects, and the
 * sink spooling every record while no server answers (a closed loopback port) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "telemetry/nats.h"
#include "telemetry/nats/nats_int.h"
#include "telemetry/nats/spool.h"
#include "util/log.h"

static char tmpdir[256];

static void path_in(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Every line of the spool from its head, joined with '|'. */
static void read_all(sk_spool_t *s, char *out, size_t cap)
{
	const char *line;
	size_t len, o = 0;
	out[0] = '\0';
	while (sk_spool_peek(s, &line, &len) == 1) {
		o += (size_t)snprintf(out + o, cap - o, "%s%.*s", o ? "|" : "", (int)len, line);
		sk_spool_advance(s);
		if (o >= cap)
			break;
	}
}

static void test_spool_basic(void)
{
	char path[512], got[1024];
	sk_spool_t s;

	path_in(path, sizeof path, "basic.spool");
	is_int(sk_spool_open(&s, path, 1 << 20), 0, "a new spool opens");
	is_int(s.pending, 0, "empty");
	is_int(sk_spool_append(&s, "one\ntwo\nthree\n", 14), 3, "three lines appended at once");
	is_int(sk_spool_append_line(&s, "four", 4), 1, "one line appended");
	is_int(s.pending, 4, "4 pending");
	const char *line;
	size_t len;
	ok(sk_spool_peek(&s, &line, &len) == 1 && len == 3 && !memcmp(line, "one", 3), "peek: the oldest");
	ok(sk_spool_peek(&s, &line, &len) == 1 && len == 3 && !memcmp(line, "one", 3),
		"peek again without advancing: the same line");
	read_all(&s, got, sizeof got);
	ok(!strcmp(got, "one|two|three|four"), "read back in order: %s", got);
	is_int(file_size(path), 0, "read back to the end: the file is cut to nothing");
	is_int(s.pending, 0, "nothing pending");
	is_int(sk_spool_append_line(&s, "five", 4), 1, "appending after the cut");
	read_all(&s, got, sizeof got);
	ok(!strcmp(got, "five"), "only the new line: %s", got);
	sk_spool_close(&s);
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "mode 0640");
}

static void test_spool_bounded(void)
{
	char path[512], got[1024];
	sk_spool_t s;
	char lines[121];

	path_in(path, sizeof path, "small.spool");
	is_int(sk_spool_open(&s, path, 100), 0, "a spool of 100 bytes");
	for (int i = 0; i < 4; i++)
		snprintf(lines + i * 30, 31, "%029d\n", i);
	is_int(sk_spool_append(&s, lines, 120), 3, "of four 30-byte lines, three fit");
	is_int(file_size(path), 90, "90 bytes: whole lines only");
	is_int(sk_spool_append_line(&s, "0123456789", 10), 0, "an 11-byte line does not fit in the 10 left");
	is_int(sk_spool_append_line(&s, "012345678", 9), 1, "a 10-byte one does");
	is_int(sk_spool_append(&s, "x\n", 2), 0, "full: nothing more");
	read_all(&s, got, sizeof got);
	ok(strlen(got) == 3 * 29 + 9 + 3, "everything that fit reads back");
	is_int(sk_spool_append(&s, lines, 120), 3, "read back and cut: room again");
	sk_spool_close(&s);
}

static void test_spool_restart(void)
{
	char path[512], pos[600], got[1024];
	sk_spool_t s;
	const char *line;
	size_t len;

	path_in(path, sizeof path, "restart.spool");
	snprintf(pos, sizeof pos, "%s.pos", path);
	sk_spool_open(&s, path, 1 << 20);
	sk_spool_append(&s, "r1\nr2\nr3\nr4\nr5\n", 15);
	for (int i = 0; i < 2 && sk_spool_peek(&s, &line, &len) == 1; i++)
		sk_spool_advance(&s);
	sk_spool_close(&s);
	is_int(sk_spool_open(&s, path, 1 << 20), 0, "reopened");
	is_int(s.pending, 3, "3 lines left after reading 2 of 5 (the head was kept in .pos)");
	read_all(&s, got, sizeof got);
	ok(!strcmp(got, "r3|r4|r5"), "the rest, in order: %s", got);
	sk_spool_close(&s);

	/* A crash in the middle of a write: the last line has no newline. */
	write_file(path, "a\nb\nhalf a li");
	write_file(pos, "0\n");
	is_int(sk_spool_open(&s, path, 1 << 20), 0, "a spool with a cut last line opens");
	is_int(s.pending, 2, "the cut line is not counted");
	is_int(file_size(path), 4, "and cut off the file");
	sk_spool_close(&s);

	/* A stale .pos that names the middle of a line, or more than the file holds. */
	write_file(path, "first\nsecond\n");
	write_file(pos, "3\n");
	sk_spool_open(&s, path, 1 << 20);
	is_int(s.pending, 2, ".pos inside a line: read from the start");
	sk_spool_close(&s);
	write_file(pos, "999\n");
	sk_spool_open(&s, path, 1 << 20);
	is_int(s.pending, 2, ".pos past the end: read from the start");
	sk_spool_close(&s);
	write_file(pos, "6\n");
	sk_spool_open(&s, path, 1 << 20);
	read_all(&s, got, sizeof got);
	ok(!strcmp(got, "second"), ".pos at a line start is kept: %s", got);
	sk_spool_close(&s);

	char dir[512];
	path_in(dir, sizeof dir, "no-such-dir/x.spool");
	ok(sk_spool_open(&s, dir, 100) == -ENOENT, "a spool in a missing folder: -ENOENT");
}

static void test_ids(void)
{
	const char *line = "{\"time\":\"x\",\"node\":\"a\\\",\\\"record_id\\\":\\\"evil\",\"seq\":7,"
		"\"record_id\":\"ns1.example:1700000000000000:7\",\"transport\":\"udp\"}";
	size_t n;
	const char *id = sk_nats_record_id(line, strlen(line), &n);
	ok(id && n == strlen("ns1.example:1700000000000000:7") && !memcmp(id, "ns1.example:1700000000000000:7", n),
		"the record id is found past an escaped look-alike in the node");
	size_t none = 1;
	ok(!sk_nats_record_id("{\"seq\":1}", 9, &none) && none == 0, "no record_id: NULL");
	char subj[64];
	is_int(sk_nats_subject(subj, sizeof subj, "sinkhole.events", id, n), strlen("sinkhole.events.ns1_example"),
		"subject length");
	ok(!strcmp(subj, "sinkhole.events.ns1_example"), "subject: prefix, node with '_' for '.': %s", subj);
	sk_nats_subject(subj, sizeof subj, "s", NULL, 0);
	ok(!strcmp(subj, "s._"), "no id: the node token is '_'");
	is_int(sk_nats_subject(subj, 10, "sinkhole.events", id, n), 0, "too long for the buffer: 0");
}

/* A loopback port with nothing behind it: connections are refused at once. */
static unsigned closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 9;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void emit_n(void *s, unsigned from, unsigned n)
{
	sk_event_t ev;
	memset(&ev, 0, sizeof ev);
	ev.time_us = 1795305675123456ull;
	sk_record_t rec = { .ev = &ev, .node = "n1", .rid_prefix = "n1:42", .src = "192.0.2.1",
		.dst = "127.0.0.1" };
	for (unsigned i = from; i < from + n; i++) {
		rec.seq = i;
		sk_nats_ops.emit(s, &rec);
		if (i % 100 == 0)
			sk_nats_ops.flush(s);
	}
}

/* The spool's lines' record ids, checked to be n1:42:from..to in order. */
static bool spool_holds(const char *path, unsigned from, unsigned to)
{
	sk_spool_t s;
	const char *line;
	size_t len, idl;
	unsigned want = from;
	bool good = true;
	if (sk_spool_open(&s, path, 1ull << 30) < 0)
		return false;
	while (sk_spool_peek(&s, &line, &len) == 1) {
		char id[64];
		const char *p = sk_nats_record_id(line, len, &idl);
		snprintf(id, sizeof id, "n1:42:%u", want);
		if (!p || idl != strlen(id) || memcmp(p, id, idl) || line[0] != '{' || line[len - 1] != '}')
			good = false;
		want++;
		sk_spool_advance(&s);
	}
	sk_spool_close(&s);
	return good && want == to + 1;
}

static void test_sink_without_bus(void)
{
	char spool[512], url[64], copy[600];
	char *servers[1] = { url };
	sk_nats_conf_t c = {
		.servers = servers, .nservers = 1, .subject = "sinkhole.events", .stream = "SINKHOLE",
		.create_stream = true, .replicas = 1, .duplicate_window_s = 120, .max_pending = 100,
		.ack_timeout_ms = 1000, .drain_ms = 500, .spool_path = spool, .spool_max_mb = 64,
		.spool_fsync_ms = 100,
	};
	sk_sink_stats_t st;
	void *s = NULL;

	snprintf(url, sizeof url, "nats://127.0.0.1:%u", closed_port());
	path_in(spool, sizeof spool, "sink.spool");
	is_int(sk_nats_ops.open(&s, &c), 0, "the sink opens with no server answering");
	if (!s)
		return;
	emit_n(s, 1, 1000);
	sk_nats_ops.close(s, &st);
	is_int(st.written, 0, "nothing written");
	is_int(st.spooled, 1000, "1000 records spooled");
	is_int(st.failed, 0, "none failed");
	snprintf(copy, sizeof copy, "%s.check", spool);
	/* Read a copy: reading the spool itself would empty it. */
	char cmd[3000];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s.pos' '%s.pos' 2>/dev/null; true", spool, copy,
		spool, copy);
	ok(system(cmd) == 0, "copied the spool");
	ok(spool_holds(copy, 1, 1000), "the spool holds records 1..1000, JSON objects, in order");

	is_int(sk_nats_ops.open(&s, &c), 0, "opened again over the spool of the last run");
	if (!s)
		return;
	emit_n(s, 1001, 10);
	sk_nats_ops.close(s, &st);
	is_int(st.spooled, 10, "10 more spooled");
	ok(system(cmd) == 0, "copied the spool again");
	ok(spool_holds(copy, 1, 1010), "the old records first, then the new ones: 1..1010");

	/* A full spool: records past max_mb are counted failed, none is lost silently. */
	path_in(spool, sizeof spool, "full.spool");
	c.spool_max_mb = 1;
	is_int(sk_nats_ops.open(&s, &c), 0, "a sink with a 1 MiB spool");
	if (s) {
		emit_n(s, 1, 5000);
		sk_nats_ops.close(s, &st);
		ok(st.spooled > 1000 && st.spooled < 5000, "some records spooled (%llu)",
			(unsigned long long)st.spooled);
		is_int(st.spooled + st.failed, 5000, "the rest counted failed: spooled + failed = 5000");
		ok(file_size(spool) <= (1 << 20) && file_size(spool) > (1 << 20) - 1024,
			"the spool is filled up to its limit, not past it (%ld bytes)", file_size(spool));
	}
	c.spool_max_mb = 64;

	/* A spool that cannot be opened fails the start: an outage would lose records otherwise. */
	path_in(spool, sizeof spool, "missing-dir/sink.spool");
	s = NULL;
	ok(sk_nats_ops.open(&s, &c) < 0 && s == NULL, "a spool in a missing folder: open fails");
}

static void rm_tmpdir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sk-test-nats-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_spool_basic();
	test_spool_bounded();
	test_spool_restart();
	test_ids();
	test_sink_without_bus();
	rm_tmpdir();
	return tap_done();
}
