/* manifest.c -- the chain of sealed JSON lines segments: one signed, hash-linked line per segment */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "telemetry/manifest.h"
#include "util/err.h"
#include "util/log.h"

#define FILE_MODE 0640
#define LINE_MAX_LEN 2048       /* a line is about 450 bytes, 540 signed */
#define KEY_FILE_MAX 4096

/*
 * Sealing waits for the disk twice (the segment's data, then the manifest line): tens or hundreds
 * of milliseconds on a busy disk, during which the telemetry thread would not drain the rings and
 * workers would drop records. So the telemetry thread formats and signs the line (the chain is
 * built in order there) and queues it; a sealer thread syncs the segment, appends the line and
 * syncs the manifest, in queue order.
 */
typedef struct job {
	struct job *next;
	int sync_fd;            /* the segment's file, fdatasync'ed then closed; -1: none */
	uint64_t seg, records;
	sk_seg_end_t end;
	char head[SK_SHA256_HEX_LEN + 1];
	size_t len;
	char file[256];
	char line[];
} job_t;

struct sk_manifest {
	char *path;
	int fd;
	unsigned keep;
	uint64_t next_seg;
	char head[SK_SHA256_HEX_LEN + 1];   /* hash of the last line formatted */
	bool sign;
	uint8_t key[SK_SIGN_SECRET_LEN];
	/* the sealer */
	pthread_t thread;
	bool started, stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job_t *first, *last;
	unsigned pending;       /* queued or being written */
};

static const char *end_name(sk_seg_end_t end)
{
	switch (end) {
	case SK_SEG_ROTATE: return "rotate";
	case SK_SEG_STOP: return "stop";
	case SK_SEG_REOPEN: return "reopen";
	case SK_SEG_LOST: return "lost";
	case SK_SEG_UNSEALED: return "unsealed";
	}
	return "?";
}

/* ---- continuing a chain ---- */

/* Read the whole manifest (small: one line per segment) for the last line and its number. */
static int read_tail(sk_manifest_t *m, char *last, size_t cap, size_t *last_len, unsigned *lineno)
{
	char buf[65536], carry[LINE_MAX_LEN];
	size_t clen = 0;
	bool too_long = false;
	ssize_t got;

	*last_len = 0;
	*lineno = 0;
	while ((got = read(m->fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			char c = buf[i];
			if (c == '\n') {
				(*lineno)++;
				if (too_long)
					return -E2BIG;
				memcpy(last, carry, clen);
				*last_len = clen;
				clen = 0;
				continue;
			}
			if (clen + 1 >= cap || clen + 1 >= sizeof carry)
				too_long = true;
			else
				carry[clen++] = c;
		}
	}
	if (got < 0)
		return -errno;
	if (clen || too_long) {
		(*lineno)++;
		return -EPIPE;   /* a last line without its newline */
	}
	return 0;
}

static int resume(sk_manifest_t *m)
{
	char last[LINE_MAX_LEN];
	size_t len;
	unsigned line;
	uint8_t d[SK_SHA256_LEN];
	int rc = read_tail(m, last, sizeof last, &len, &line);

	if (rc == -EPIPE) {
		sk_diag(0, m->path, line, "the last line is cut short (no newline): the chain cannot be "
			"continued; keep this file as it is, move it away and start a new chain "
			"(README, Reports and evidence)");
		return SK_EPARSE;
	}
	if (rc == -E2BIG) {
		sk_diag(0, m->path, line, "a line longer than %d bytes: not a manifest", LINE_MAX_LEN);
		return SK_EPARSE;
	}
	if (rc < 0) {
		sk_err("telemetry: jsonl: cannot read %s: %s", m->path, sk_strerror(rc));
		return rc;
	}
	memset(m->head, '0', SK_SHA256_HEX_LEN);
	m->head[SK_SHA256_HEX_LEN] = '\0';
	m->next_seg = 1;
	if (line == 0)
		return 0;
	unsigned long long seg;
	last[len] = '\0';
	if (sscanf(last, "{\"seg\":%llu,", &seg) != 1 || last[len - 1] != '}') {
		sk_diag(0, m->path, line, "the last line is not a manifest line ({\"seg\":N,...}): the chain "
			"cannot be continued; move the file away to start a new chain");
		return SK_EPARSE;
	}
	sk_sha256(d, last, len);
	sk_sha256_hex(m->head, d);
	m->next_seg = seg + 1;
	return 0;
}

static int load_key(sk_manifest_t *m, const char *path)
{
	char text[KEY_FILE_MAX];
	const char *why = NULL;
	ssize_t n;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		rc = -errno;
		sk_err("telemetry: jsonl: sign_key %s: %s", path, sk_strerror(rc));
		return rc;
	}
	n = read(fd, text, sizeof text);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc == 0 && (size_t)n == sizeof text)
		why = "longer than a key file";
	else if (rc == 0 && sk_sign_secret_parse(text, (size_t)n, m->key, &why) == 0)
		m->sign = true;
	sk_crypto_wipe(text, sizeof text);
	if (rc < 0) {
		sk_err("telemetry: jsonl: sign_key %s: %s", path, sk_strerror(rc));
		return rc;
	}
	if (!m->sign) {
		sk_err("telemetry: jsonl: sign_key %s: %s (sinkhole-report keygen writes one)", path, why);
		return -EINVAL;
	}
	return 0;
}

static void *sealer_main(void *arg);

int sk_manifest_open(const char *jsonl_path, const char *sign_key_path, unsigned keep, sk_manifest_t **out)
{
	sk_manifest_t *m = calloc(1, sizeof *m);
	size_t n = strlen(jsonl_path) + sizeof ".manifest";
	int rc = -ENOMEM;

	if (!m)
		return -ENOMEM;
	m->fd = -1;
	m->keep = keep;
	if (!(m->path = malloc(n)))
		goto fail;
	snprintf(m->path, n, "%s.manifest", jsonl_path);
	if (sign_key_path && (rc = load_key(m, sign_key_path)) < 0)
		goto fail;
	m->fd = open(m->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	if (m->fd < 0 || fchmod(m->fd, FILE_MODE) < 0) {
		rc = -errno;
		sk_err("telemetry: jsonl: cannot open %s: %s", m->path, sk_strerror(rc));
		goto fail;
	}
	if ((rc = resume(m)) < 0)
		goto fail;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if ((rc = -pthread_create(&m->thread, NULL, sealer_main, m)) < 0) {
		sk_err("telemetry: jsonl: cannot start the manifest thread: %s", sk_strerror(rc));
		pthread_cond_destroy(&m->cv);
		pthread_mutex_destroy(&m->mu);
		goto fail;
	}
	m->started = true;
	*out = m;
	return 0;
fail:
	sk_manifest_free(m);
	return rc;
}

void sk_manifest_free(sk_manifest_t *m)
{
	if (!m)
		return;
	if (m->started) {
		/* Everything queued is written first: a stop seals the last segment. */
		pthread_mutex_lock(&m->mu);
		m->stopping = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
		pthread_cond_destroy(&m->cv);
		pthread_mutex_destroy(&m->mu);
	}
	if (m->fd >= 0)
		close(m->fd);
	sk_crypto_wipe(m->key, sizeof m->key);
	free(m->path);
	free(m);
}

void sk_manifest_flush(sk_manifest_t *m)
{
	pthread_mutex_lock(&m->mu);
	while (m->pending)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
}

const char *sk_manifest_head(const sk_manifest_t *m)
{
	return m->head;
}

/* ---- segments ---- */

void sk_segment_start(sk_segment_t *s, dev_t dev, ino_t ino)
{
	memset(s, 0, sizeof *s);
	s->open = true;
	s->dev = dev;
	s->ino = ino;
	sk_sha256_init(&s->sha);
}

/* A record line starts {"time":"2026-11-21T21:41:15.123456Z","node":"...","seq":N (README,
 * Telemetry). The node string cannot hold a bare `","seq":` (a quote in it is escaped), so the
 * first match is the field. */
static void line_stamp(const char *line, size_t len, char time[32], uint64_t *seq)
{
	static const char pre[] = "{\"time\":\"", key[] = ",\"seq\":";
	const size_t plen = sizeof pre - 1, klen = sizeof key - 1;
	time[0] = '\0';
	if (len > plen && !memcmp(line, pre, plen)) {
		size_t room = len - plen < 31 ? len - plen : 31;
		const char *q = memchr(line + plen, '"', room);
		if (q) {
			memcpy(time, line + plen, (size_t)(q - line - plen));
			time[q - line - plen] = '\0';
		}
	}
	const char *k = memmem(line, len, key, klen);
	uint64_t v = 0;
	if (k)
		for (const char *p = k + klen; p < line + len && *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (uint64_t)(*p - '0');
	*seq = v;
}

void sk_segment_add(sk_segment_t *s, const char *buf, size_t n, uint64_t records)
{
	if (n == 0)
		return;
	sk_sha256_update(&s->sha, buf, n);
	if (s->records == 0) {
		const char *nl = memchr(buf, '\n', n);
		line_stamp(buf, nl ? (size_t)(nl - buf) : n, s->first, &s->first_seq);
	}
	/* The last line: from after the newline before the final one. */
	size_t end = buf[n - 1] == '\n' ? n - 1 : n;
	const char *prev = end ? memrchr(buf, '\n', end) : NULL;
	size_t start = prev ? (size_t)(prev - buf) + 1 : 0;
	line_stamp(buf + start, end - start, s->last, &s->last_seq);
	s->bytes += n;
	s->records += records;
}

/* ---- sealing ---- */

static size_t put_time_now(char *out, size_t cap)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	return strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The line without its closing brace (what a signature covers). Strings here need no escaping:
 * file names are the sink's own (its path's last part: printable, checked at open), times and
 * hex are ours. */
static int format_body(const sk_manifest_t *m, sk_segment_t *s, sk_seg_end_t end, const char *file,
	uint64_t unsealed_bytes, char *out, size_t cap)
{
	char sealed[32];
	put_time_now(sealed, sizeof sealed);
	if (end == SK_SEG_UNSEALED)
		return snprintf(out, cap, "{\"seg\":%llu,\"file\":\"%s\",\"end\":\"%s\",\"keep\":%u,\"bytes\":%llu,"
			"\"records\":null,\"first\":null,\"last\":null,\"first_seq\":null,\"last_seq\":null,"
			"\"sha256\":null,\"sealed\":\"%s\",\"prev\":\"%s\"",
			(unsigned long long)m->next_seg, file, end_name(end), m->keep,
			(unsigned long long)unsealed_bytes, sealed, m->head);
	uint8_t d[SK_SHA256_LEN];
	char hex[SK_SHA256_HEX_LEN + 1];
	sk_sha256_final(&s->sha, d);
	sk_sha256_hex(hex, d);
	return snprintf(out, cap, "{\"seg\":%llu,\"file\":\"%s\",\"end\":\"%s\",\"keep\":%u,\"bytes\":%llu,"
		"\"records\":%llu,\"first\":\"%s\",\"last\":\"%s\",\"first_seq\":%llu,\"last_seq\":%llu,"
		"\"sha256\":\"%s\",\"sealed\":\"%s\",\"prev\":\"%s\"",
		(unsigned long long)m->next_seg, file, end_name(end), m->keep, (unsigned long long)s->bytes,
		(unsigned long long)s->records, s->first, s->last, (unsigned long long)s->first_seq,
		(unsigned long long)s->last_seq, hex, sealed, m->head);
}

static int append_line(sk_manifest_t *m, const char *line, size_t len)
{
	/* One write of a whole line to an O_APPEND file: a crash leaves it whole or absent (or, at
	 * worst, cut: then the next start refuses to continue the chain rather than hide it). */
	ssize_t w = write(m->fd, line, len);
	if (w < 0)
		return -errno;
	if ((size_t)w != len)
		return -EIO;
	if (fsync(m->fd) < 0)
		return -errno;
	return 0;
}

/* The sealer's work for one segment: its data on the disk, then its line. */
static void write_job(sk_manifest_t *m, job_t *j)
{
	int rc;
	/* Evidence is on the disk before the manifest says it is sealed. */
	if (j->sync_fd >= 0) {
		if (fdatasync(j->sync_fd) < 0 && errno != EINVAL)
			sk_warn("telemetry: jsonl: fdatasync %s: %s", j->file, strerror(errno));
		close(j->sync_fd);
	}
	if ((rc = append_line(m, j->line, j->len)) < 0) {
		sk_err("telemetry: jsonl: cannot append to %s: %s; segment %llu (%s) is not sealed, and the "
			"chain has a gap there", m->path, sk_strerror(rc), (unsigned long long)j->seg, j->file);
		return;
	}
	if (j->end == SK_SEG_UNSEALED)
		sk_warn("telemetry: jsonl: %s was not sealed by the run that wrote it; noted as segment %llu "
			"(unsealed), manifest head %s", j->file, (unsigned long long)j->seg, j->head);
	else
		sk_info("telemetry: jsonl: sealed segment %llu (%s, %s, %llu records); manifest head %s",
			(unsigned long long)j->seg, j->file, end_name(j->end), (unsigned long long)j->records, j->head);
}

static void *sealer_main(void *arg)
{
	sk_manifest_t *m = arg;
	pthread_setname_np(pthread_self(), "sk-manifest");
	pthread_mutex_lock(&m->mu);
	for (;;) {
		job_t *j = m->first;
		if (!j) {
			if (m->stopping)
				break;
			pthread_cond_wait(&m->cv, &m->mu);
			continue;
		}
		m->first = j->next;
		if (!m->first)
			m->last = NULL;
		pthread_mutex_unlock(&m->mu);
		write_job(m, j);
		free(j);
		pthread_mutex_lock(&m->mu);
		m->pending--;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

int sk_manifest_seal(sk_manifest_t *m, sk_segment_t *s, sk_seg_end_t end, const char *file,
	uint64_t unsealed_bytes, int sync_fd)
{
	job_t *j = malloc(sizeof *j + LINE_MAX_LEN);
	uint64_t records = s ? s->records : 0;

	if (s)
		s->open = false;
	if (!j) {
		if (sync_fd >= 0)
			close(sync_fd);
		sk_err("telemetry: jsonl: out of memory: segment %llu (%s) is not sealed",
			(unsigned long long)m->next_seg, file);
		return -ENOMEM;
	}
	int n = format_body(m, s, end, file, unsealed_bytes, j->line, LINE_MAX_LEN - 120);
	if (n < 0 || n >= LINE_MAX_LEN - 120) {
		if (sync_fd >= 0)
			close(sync_fd);
		free(j);
		return SK_ETOOBIG;
	}
	size_t len = (size_t)n;
	if (m->sign) {
		uint8_t sig[SK_SIGN_LEN];
		sk_sign(sig, j->line, len, m->key);
		memcpy(j->line + len, ",\"sig\":\"", 8);
		len += 8;
		len += sk_base64_encode(j->line + len, LINE_MAX_LEN - len, sig, sizeof sig);
		j->line[len++] = '"';
	}
	j->line[len++] = '}';
	uint8_t d[SK_SHA256_LEN];
	sk_sha256(d, j->line, len);
	j->line[len++] = '\n';
	/* The chain moves on here, in order, whatever the disk does later. */
	sk_sha256_hex(m->head, d);
	j->len = len;
	j->next = NULL;
	j->sync_fd = sync_fd;
	j->seg = m->next_seg++;
	j->records = records;
	j->end = end;
	memcpy(j->head, m->head, sizeof j->head);
	snprintf(j->file, sizeof j->file, "%s", file);
	pthread_mutex_lock(&m->mu);
	if (m->last)
		m->last->next = j;
	else
		m->first = j;
	m->last = j;
	m->pending++;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return 0;
}
