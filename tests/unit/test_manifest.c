/* test_manifest.c -- the JSON lines sink's manifest: sealed segments, the hash chain, signatures,
 * continuing a chain, refusing a broken one; the sink rotating, stopping, reopening and restarting */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "telemetry/manifest.h"
#include "telemetry/sinks.h"
#include "util/err.h"
#include "tap.h"

static char tmpdir[256];

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	if (!f)
		return NULL;
	do {
		if (n + 65536 > cap && !(buf = realloc(buf, cap = cap * 2 + 65536 + 1)))
			break;
		got = fread(buf + n, 1, 65536, f);
		n += got;
	} while (got > 0);
	fclose(f);
	if (buf)
		buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* The lines of a file (NUL-terminated copies); returns the count. */
static int lines_of(const char *path, char lines[][1024], int max)
{
	char *text = slurp(path, NULL);
	int n = 0;
	for (char *p = text; p && *p && n < max;) {
		char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(lines[n++], 1024, "%.*s", (int)l, p);
		p += l + (nl != NULL);
	}
	free(text);
	return n;
}

/* The string value of "key" in a manifest line, into out; "" when absent or null. */
static const char *field(const char *line, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(line, pat);
	out[0] = '\0';
	if (!p)
		return out;
	p += strlen(pat);
	if (*p == '"') {
		const char *e = strchr(p + 1, '"');
		snprintf(out, cap, "%.*s", (int)(e - p - 1), p + 1);
	} else {
		size_t l = strcspn(p, ",}");
		snprintf(out, cap, "%.*s", (int)l, p);
	}
	return out;
}

static unsigned long long num(const char *line, const char *key)
{
	char v[80];
	return strtoull(field(line, key, v, sizeof v), NULL, 10);
}

static void hex_of(const void *data, size_t len, char out[SK_SHA256_HEX_LEN + 1])
{
	uint8_t d[SK_SHA256_LEN];
	sk_sha256(d, data, len);
	sk_sha256_hex(out, d);
}

static void file_hash(const char *path, char out[SK_SHA256_HEX_LEN + 1])
{
	size_t len;
	char *text = slurp(path, &len);
	hex_of(text ? text : "", text ? len : 0, out);
	free(text);
}

static void record_line(char *out, size_t cap, unsigned sec, unsigned long long seq)
{
	snprintf(out, cap, "{\"time\":\"2026-11-22T10:00:%02u.000001Z\",\"node\":\"n\\\",\\\"seq\\\":9\","
		"\"seq\":%llu,\"src\":\"192.0.2.1\"}\n", sec, seq);
}

/* Run f with stderr in buf. */
static int captured(int (*f)(void *), void *arg, char *buf, size_t cap)
{
	FILE *tmp = tmpfile();
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(tmp), 2);
	int rc = f(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(buf, 1, cap - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	printf("# stderr: %s", buf);
	return rc;
}

static void test_chain(void)
{
	char path[300], mpath[320], text[2048], want[SK_SHA256_HEX_LEN + 1], v[128];
	char lines[8][1024];
	sk_manifest_t *m = NULL;
	sk_segment_t seg;

	snprintf(path, sizeof path, "%s/chain.jsonl", tmpdir);
	snprintf(mpath, sizeof mpath, "%s.manifest", path);
	is_int(sk_manifest_open(path, NULL, 5, &m), 0, "a new manifest opens");
	ok(m && !strcmp(sk_manifest_head(m), "0000000000000000000000000000000000000000000000000000000000000000"),
		"its head is 64 zeros");

	/* Three records written in two pieces, as the sink does. */
	size_t off = 0;
	for (unsigned i = 1; i <= 3; i++) {
		record_line(text + off, sizeof text - off, i, 100 + i);
		off += strlen(text + off);
	}
	size_t cut = strlen(text) - strlen(strchr(strchr(text, '\n') + 1, '\n') + 1);   /* two lines */
	sk_segment_start(&seg, 1, 2);
	sk_segment_add(&seg, text, cut, 2);
	sk_segment_add(&seg, text + cut, off - cut, 1);
	is_int(sk_manifest_seal(m, &seg, SK_SEG_ROTATE, "chain.jsonl.1", 0, -1), 0, "segment 1 sealed");
	ok(!seg.open, "the segment is closed");
	sk_manifest_flush(m);
	int n = lines_of(mpath, lines, 8);
	is_int(n, 1, "one manifest line");
	is_int(num(lines[0], "seg"), 1, "seg 1");
	is_int(strcmp(field(lines[0], "file", v, sizeof v), "chain.jsonl.1"), 0, "file named");
	is_int(strcmp(field(lines[0], "end", v, sizeof v), "rotate"), 0, "end: rotate");
	is_int(num(lines[0], "keep"), 5, "keep recorded");
	is_int(num(lines[0], "records"), 3, "3 records");
	is_int(num(lines[0], "bytes"), off, "bytes");
	is_int(num(lines[0], "first_seq"), 101, "first_seq (not fooled by a node holding \",\"seq\":)");
	is_int(num(lines[0], "last_seq"), 103, "last_seq");
	is_int(strcmp(field(lines[0], "first", v, sizeof v), "2026-11-22T10:00:01.000001Z"), 0, "first time");
	is_int(strcmp(field(lines[0], "last", v, sizeof v), "2026-11-22T10:00:03.000001Z"), 0, "last time");
	hex_of(text, off, want);
	is_int(strcmp(field(lines[0], "sha256", v, sizeof v), want), 0, "sha256 of the bytes written");
	is_int(strcmp(field(lines[0], "prev", v, sizeof v), "0000000000000000000000000000000000000000000000000000000000000000"),
		0, "prev of the first line: zeros");
	ok(!strstr(lines[0], "\"sig\""), "unsigned without a key");
	hex_of(lines[0], strlen(lines[0]), want);
	is_int(strcmp(sk_manifest_head(m), want), 0, "head = SHA-256 of the line without its newline");

	sk_segment_start(&seg, 1, 3);
	sk_segment_add(&seg, text, off, 3);
	is_int(sk_manifest_seal(m, &seg, SK_SEG_STOP, "chain.jsonl.1", 0, -1), 0, "segment 2 sealed");
	is_int(sk_manifest_seal(m, NULL, SK_SEG_UNSEALED, "chain.jsonl.1", 4242, -1), 0, "an unsealed file noted");
	sk_manifest_free(m);
	n = lines_of(mpath, lines, 8);
	is_int(n, 3, "three lines");
	hex_of(lines[0], strlen(lines[0]), want);
	is_int(strcmp(field(lines[1], "prev", v, sizeof v), want), 0, "line 2's prev is line 1's hash");
	is_int(strcmp(field(lines[1], "end", v, sizeof v), "stop"), 0, "end: stop");
	is_int(strcmp(field(lines[2], "end", v, sizeof v), "unsealed"), 0, "end: unsealed");
	is_int(num(lines[2], "bytes"), 4242, "with the size found");
	ok(strstr(lines[2], "\"sha256\":null") && strstr(lines[2], "\"records\":null"), "and no hash or count");

	/* Continuing the chain in a new run. */
	m = NULL;
	is_int(sk_manifest_open(path, NULL, 5, &m), 0, "the manifest opens again");
	hex_of(lines[2], strlen(lines[2]), want);
	ok(m && !strcmp(sk_manifest_head(m), want), "head continues from the last line");
	sk_segment_start(&seg, 1, 4);
	sk_segment_add(&seg, text, off, 3);
	sk_manifest_seal(m, &seg, SK_SEG_REOPEN, "chain.jsonl", 0, -1);
	sk_manifest_free(m);
	n = lines_of(mpath, lines, 8);
	is_int(num(lines[3], "seg"), 4, "numbering continues: seg 4");
	is_int(strcmp(field(lines[3], "prev", v, sizeof v), want), 0, "prev continues");
}

static int open_quiet(void *arg)
{
	sk_manifest_t *m = NULL;
	int rc = sk_manifest_open(arg, NULL, 1, &m);
	sk_manifest_free(m);
	return rc;
}

static void test_broken_chain(void)
{
	char path[300], mpath[320], err[2048];
	snprintf(path, sizeof path, "%s/cut.jsonl", tmpdir);
	snprintf(mpath, sizeof mpath, "%s.manifest", path);
	FILE *f = fopen(mpath, "w");
	fputs("{\"seg\":1,\"file\":\"cut.jsonl.1\"}\n{\"seg\":2,\"fi", f);
	fclose(f);
	is_int(captured(open_quiet, path, err, sizeof err), SK_EPARSE, "a cut last line: the chain is not continued");
	ok(strstr(err, "cut.jsonl.manifest:2:") && strstr(err, "cut short"), "file:line and why");

	f = fopen(mpath, "w");
	fputs("{\"seg\":1,\"file\":\"cut.jsonl.1\"}\nhello\n", f);
	fclose(f);
	is_int(captured(open_quiet, path, err, sizeof err), SK_EPARSE, "a last line that is no manifest line");
	ok(strstr(err, "cut.jsonl.manifest:2:") && strstr(err, "not a manifest line"), "file:line and why");
}

static int open_keyed(void *arg)
{
	char path[300];
	sk_manifest_t *m = NULL;
	snprintf(path, sizeof path, "%s/badkey.jsonl", tmpdir);
	int rc = sk_manifest_open(path, arg, 1, &m);
	sk_manifest_free(m);
	return rc;
}

static void test_signed(void)
{
	char path[300], mpath[320], kpath[320], line64[100], err[2048];
	char lines[4][1024];
	uint8_t pk[SK_SIGN_PUBLIC_LEN], sk[SK_SIGN_SECRET_LEN], sig[SK_SIGN_LEN];
	sk_manifest_t *m = NULL;
	sk_segment_t seg;

	snprintf(path, sizeof path, "%s/signed.jsonl", tmpdir);
	snprintf(mpath, sizeof mpath, "%s.manifest", path);
	snprintf(kpath, sizeof kpath, "%s/sign.key", tmpdir);
	sk_sign_keypair(pk, sk);
	sk_base64_encode(line64, sizeof line64, sk, sizeof sk);
	FILE *f = fopen(kpath, "w");
	fprintf(f, "# test key\n%s\n", line64);
	fclose(f);
	is_int(sk_manifest_open(path, kpath, 2, &m), 0, "opens with a signing key");
	sk_segment_start(&seg, 1, 2);
	sk_segment_add(&seg, "{\"time\":\"x\"}\n", 13, 1);
	sk_manifest_seal(m, &seg, SK_SEG_ROTATE, "signed.jsonl.1", 0, -1);
	sk_manifest_free(m);
	is_int(lines_of(mpath, lines, 4), 1, "one line");
	char *s = strstr(lines[0], ",\"sig\":\"");
	ok(s != NULL, "it carries a signature");
	if (!s)
		return;
	size_t body = (size_t)(s - lines[0]);
	char *b64 = s + 8, *end = strchr(b64, '"');
	ok(end && !strcmp(end, "\"}"), "the signature is the last member");
	is_int(sk_base64_decode(sig, sizeof sig, b64, (size_t)(end - b64)), SK_SIGN_LEN, "64 bytes of base64");
	ok(sk_sign_verify(sig, lines[0], body, pk), "it verifies over the bytes before ,\"sig\"");
	lines[0][10] ^= 1;
	ok(!sk_sign_verify(sig, lines[0], body, pk), "and not over changed bytes");

	f = fopen(kpath, "w");
	fprintf(f, "%s\n", "c2hvcnQ=");
	fclose(f);
	is_int(captured(open_keyed, kpath, err, sizeof err), -EINVAL, "a wrong key file stops the open");
	ok(strstr(err, "sign.key") && strstr(err, "64-byte"), "naming the file and what it should hold");
	is_int(captured(open_keyed, "/nonexistent/key", err, sizeof err), -ENOENT, "a missing key file too");
}

/* ---- the sink ---- */

static sk_event_t ev;

static void emit_n(void *s, unsigned from, unsigned n)
{
	sk_record_t rec = { .ev = &ev, .node = "ns9", .qname = "a.example.", .zone = "example.",
		.src = "192.0.2.1", .dst = "127.0.0.1" };
	char pad[400];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	rec.qname = pad;      /* a long record: about 700 bytes */
	for (unsigned i = from; i < from + n; i++) {
		rec.seq = i;
		ev.time_us = 1795000000000000ull + (uint64_t)i * 1000;
		sk_jsonl_ops.emit(s, &rec);
		if (i % 500 == 0)
			sk_jsonl_ops.flush(s);
	}
}

static void name_of(char *out, size_t cap, const char *path, int i)
{
	if (i)
		snprintf(out, cap, "%s.%d", path, i);
	else
		snprintf(out, cap, "%s", path);
}

static void test_sink(void)
{
	char path[300], mpath[320], name[340], moved[340], h[SK_SHA256_HEX_LEN + 1], v[128];
	static char lines[64][1024];
	sk_jsonl_conf_t jc = { .rotate_mb = 1, .keep = 10, .manifest = true };
	void *s = NULL;
	struct stat st;

	snprintf(path, sizeof path, "%s/sink.jsonl", tmpdir);
	snprintf(mpath, sizeof mpath, "%s.manifest", path);
	jc.path = path;
	memset(&ev, 0, sizeof ev);
	ev.flags = SK_EV_PARSED;
	ev.qname_len = 1;
	if (sk_jsonl_ops.open(&s, &jc) < 0) {
		ok(0, "the sink opens with manifest: true");
		return;
	}
	emit_n(s, 1, 4000);        /* about 2.8 MB: two rotations at 1 MiB */
	sk_jsonl_ops.close(s, NULL);
	int n = lines_of(mpath, lines, 64);
	ok(n >= 3, "rotations and the stop sealed %d segments", n);
	is_int(strcmp(field(lines[n - 1], "end", v, sizeof v), "stop"), 0, "the last one at the stop");
	ok(stat(path, &st) < 0 && errno == ENOENT, "after the stop nothing is left at the path");
	unsigned long long total = 0, next = 1;
	int hashes_ok = 1, seqs_ok = 1;
	for (int i = 0; i < n; i++) {
		name_of(name, sizeof name, path, n - i);     /* the newest is .1 */
		file_hash(name, h);
		hashes_ok &= !strcmp(field(lines[i], "sha256", v, sizeof v), h);
		seqs_ok &= num(lines[i], "first_seq") == next;
		next = num(lines[i], "last_seq") + 1;
		total += num(lines[i], "records");
		if (i + 1 < n)
			is_int(strcmp(field(lines[i], "end", v, sizeof v), "rotate"), 0, "segment %d ended by rotation", i + 1);
	}
	ok(hashes_ok, "each sealed file's SHA-256 is the one in its line, at the place rotation put it");
	ok(seqs_ok, "segments follow each other: first_seq = last_seq + 1");
	is_int(total, 4000, "all records counted");

	/* A crash leaves an unsealed file: the next start moves it aside and notes it. */
	FILE *f = fopen(path, "w");
	fputs("{\"time\":\"left over\"}\n", f);
	fclose(f);
	if (sk_jsonl_ops.open(&s, &jc) < 0) {
		ok(0, "the sink opens over a leftover file");
		return;
	}
	int before = n;
	for (int tries = 0; tries < 100 && lines_of(mpath, lines, 64) == before; tries++)
		usleep(50000);
	n = lines_of(mpath, lines, 64);
	is_int(n, before + 1, "one line more at start");
	is_int(strcmp(field(lines[n - 1], "end", v, sizeof v), "unsealed"), 0, "end: unsealed");
	is_int(num(lines[n - 1], "bytes"), 21, "with its size");
	name_of(name, sizeof name, path, 1);
	char *text = slurp(name, NULL);
	ok(text && !strcmp(text, "{\"time\":\"left over\"}\n"), "the leftover is now .1");
	free(text);

	/* SIGUSR1 without a move: the segment goes on. */
	emit_n(s, 5000, 10);
	sk_jsonl_ops.reopen(s);
	usleep(200000);     /* a seal would be written by the manifest's thread by now */
	is_int(lines_of(mpath, lines, 64), n, "a reopen that finds the same file seals nothing");
	/* SIGUSR1 after logrotate moved the file: sealed as reopen, the new file is a new segment. */
	emit_n(s, 5010, 10);
	sk_jsonl_ops.flush(s);
	snprintf(moved, sizeof moved, "%s-moved", path);
	rename(path, moved);
	sk_jsonl_ops.reopen(s);
	for (int tries = 0; tries < 100 && lines_of(mpath, lines, 64) == n; tries++)
		usleep(50000);     /* written by the manifest's thread */
	n = lines_of(mpath, lines, 64);
	is_int(strcmp(field(lines[n - 1], "end", v, sizeof v), "reopen"), 0, "a moved file is sealed at reopen");
	is_int(num(lines[n - 1], "records"), 20, "with the 20 records written before");
	file_hash(moved, h);
	is_int(strcmp(field(lines[n - 1], "sha256", v, sizeof v), h), 0, "and the moved file's hash");
	emit_n(s, 5020, 5);
	sk_jsonl_ops.close(s, NULL);
	n = lines_of(mpath, lines, 64);
	is_int(num(lines[n - 1], "first_seq"), 5020, "the next segment starts after it");
	is_int(num(lines[n - 1], "records"), 5, "and holds the rest");
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sk-test-manifest-XXXXXX");
	if (!mkdtemp(tmpdir) || sk_crypto_init()) {
		ok(0, "temporary folder and libsodium");
		return tap_done();
	}
	test_chain();
	test_broken_chain();
	test_signed();
	test_sink();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return tap_done();
}
