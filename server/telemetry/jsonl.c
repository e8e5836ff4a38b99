/* jsonl.c -- the JSON lines sink: buffered appends, size rotation, reopen, and losing data loudly */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telemetry/jsonl.h"
#include "telemetry/sinks.h"
#include "util/err.h"
#include "util/fdio.h"
#include "util/log.h"
#include "util/pagecache.h"

/* One write(2) per megabyte at most: at 100k queries a second about 60 writes a second. */
#define BUF_SIZE (1u << 20)
#define FILE_MODE 0640

typedef struct jsonl {
	char *path;
	uint64_t limit;         /* rotate when a file would grow past this many bytes; 0: never */
	unsigned keep;          /* rotated files kept: path.1 (newest) ... path.keep */
	int fd;                 /* -1 while the file cannot be opened: retried at every write */
	sk_pagecache_t pc;      /* bytes in the open file (pc.size), kept out of the page cache */
	char *buf;              /* whole records only, never more than BUF_SIZE */
	size_t len;
	uint64_t nrec;          /* records in buf */
	uint64_t written, failed;
	uint64_t lost_since;    /* records lost since writing last worked, for the recovery message */
	bool failing;           /* the last attempt failed: said once, not once per buffer */
	uint64_t recoveries;    /* times writing worked again after failing */
	bool said_too_big;
	sk_jsonl_clock_t clock;
} jsonl_t;

/* Open (or create) the file for appending, mode 0640 whatever the umask, and learn its size so
 * that rotation counts what an earlier run already wrote. */
static int open_file(jsonl_t *j)
{
	struct stat st;
	int fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	if (fd < 0)
		return -errno;
	/* fchmod only a regular file: the path may name a device or a FIFO on purpose. */
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && fchmod(fd, FILE_MODE) < 0)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	j->fd = fd;
	sk_pagecache_init(&j->pc, (uint64_t)st.st_size);
	return 0;
}

static void close_file(jsonl_t *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/* path -> path.1 -> ... -> path.keep; renaming onto path.keep replaces (deletes) the oldest. */
static int rotate(jsonl_t *j)
{
	size_t n = strlen(j->path) + 16;
	char from[n], to[n];

	/* The finished file leaves the cache too (what is still being written out stays). */
	if (j->fd >= 0)
		sk_pagecache_drop(j->fd);
	close_file(j);
	if (j->keep == 0) {
		if (unlink(j->path) < 0 && errno != ENOENT)
			sk_warn("telemetry: jsonl: cannot remove %s to rotate it: %s", j->path, strerror(errno));
	}
	for (unsigned i = j->keep; i >= 1; i--) {
		if (i == 1)
			snprintf(from, n, "%s", j->path);
		else
			snprintf(from, n, "%s.%u", j->path, i - 1);
		snprintf(to, n, "%s.%u", j->path, i);
		/* A missing file in the middle of the chain (keep was raised) is no problem. */
		if (rename(from, to) < 0 && errno != ENOENT)
			sk_warn("telemetry: jsonl: cannot rename %s to %s: %s", from, to, strerror(errno));
	}
	return open_file(j);
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t c = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		c++;
	return c;
}

/* The longest prefix of buf[0..n) that ends a line and is at most `room` bytes; 0 if none. */
static size_t whole_lines(const char *buf, size_t n, uint64_t room)
{
	size_t k = room < n ? (size_t)room : n;
	while (k > 0 && buf[k - 1] != '\n')
		k--;
	return k;
}

static void note_failure(jsonl_t *j, int rc, uint64_t lost)
{
	j->failed += lost;
	j->lost_since += lost;
	if (!j->failing)
		sk_err("telemetry: jsonl: cannot write %s: %s; records are counted as failed until "
			"writing works again", j->path, sk_strerror(rc));
	j->failing = true;
}

static void note_success(jsonl_t *j)
{
	if (j->failing) {
		sk_info("telemetry: jsonl: writing %s again; %llu records were lost", j->path,
			(unsigned long long)j->lost_since);
		j->recoveries++;
	}
	j->failing = false;
	j->lost_since = 0;
}

/*
 * Write the buffer out, rotating at line boundaries so that no file grows past the limit (unless
 * one line alone is longer). On an error the records not yet written are counted as failed and
 * the buffer is dropped: memory never grows and the thread never waits for the disk to recover.
 * A partly written line is cut off again (ftruncate) so the file stays whole lines, and the file
 * is reopened at the next attempt, which also covers a file that went away.
 */
static int write_out(jsonl_t *j)
{
	size_t off = 0;
	uint64_t done = 0;
	int rc = 0;

	if (j->len == 0)
		return 0;
	if (j->fd < 0 && (rc = open_file(j)) < 0)
		goto fail;
	while (off < j->len) {
		size_t n = j->len - off;
		if (j->limit && j->pc.size > 0 && j->pc.size + n > j->limit) {
			uint64_t room = j->limit - (j->pc.size < j->limit ? j->pc.size : j->limit);
			n = whole_lines(j->buf + off, n, room);
			if (n == 0) {
				if ((rc = rotate(j)) < 0)
					goto fail;
				continue;
			}
		}
		if ((rc = sk_write_all(j->fd, j->buf + off, n)) < 0) {
			if (ftruncate(j->fd, (off_t)j->pc.size) < 0)
				sk_debug("telemetry: jsonl: cannot cut %s back to whole lines: %s", j->path,
					strerror(errno));
			close_file(j);
			goto fail;
		}
		uint64_t recs = off + n == j->len ? j->nrec - done : count_lines(j->buf + off, n);
		sk_pagecache_wrote(&j->pc, j->fd, n);
		j->written += recs;
		done += recs;
		off += n;
	}
	note_success(j);
	j->len = 0;
	j->nrec = 0;
	return 0;
fail:
	note_failure(j, rc, j->nrec - done);
	j->len = 0;
	j->nrec = 0;
	return rc;
}

static int jsonl_open(void **state, const void *conf)
{
	const sk_jsonl_conf_t *c = conf;
	jsonl_t *j = calloc(1, sizeof *j);
	int rc = -ENOMEM;

	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->limit = (uint64_t)c->rotate_mb << 20;
	j->keep = c->keep;
	if (!(j->path = strdup(c->path)) || !(j->buf = malloc(BUF_SIZE)))
		goto fail;
	/* At start a file that cannot be opened is an error to fix now, not to retry forever. */
	if ((rc = open_file(j)) < 0) {
		sk_err("telemetry: jsonl: cannot open %s: %s", c->path, sk_strerror(rc));
		goto fail;
	}
	*state = j;
	return 0;
fail:
	free(j->buf);
	free(j->path);
	free(j);
	return rc;
}

static int jsonl_emit(void *state, const sk_record_t *rec)
{
	jsonl_t *j = state;
	size_t n = sk_jsonl_format(j->buf + j->len, BUF_SIZE - j->len, rec, &j->clock);

	if (n == 0 && j->len > 0) {
		write_out(j);
		n = sk_jsonl_format(j->buf, BUF_SIZE, rec, &j->clock);
	}
	if (n == 0) {
		/* Only absurd tags could make one record longer than the whole buffer. */
		if (!j->said_too_big)
			sk_err("telemetry: jsonl: a record longer than %u bytes was dropped", BUF_SIZE);
		j->said_too_big = true;
		j->failed++;
		return SK_ETOOBIG;
	}
	j->len += n;
	j->nrec++;
	return 0;
}

/* Also the retry point for a lost file: with nothing buffered, try to open it again. */
static int jsonl_flush(void *state)
{
	jsonl_t *j = state;
	if (j->len == 0 && j->fd < 0) {
		int rc = open_file(j);
		if (rc == 0)
			note_success(j);
		return rc;
	}
	return write_out(j);
}

/* Whatever is buffered goes to the old file; then the path is opened anew (logrotate moved the
 * old one away). Rotation is not ours to do here. */
static int jsonl_reopen(void *state)
{
	jsonl_t *j = state;
	int rc;
	write_out(j);
	close_file(j);
	if ((rc = open_file(j)) < 0)
		sk_err("telemetry: jsonl: cannot reopen %s: %s; trying again at the next flush", j->path,
			sk_strerror(rc));
	return rc;
}

static void jsonl_close(void *state, sk_sink_stats_t *final)
{
	jsonl_t *j = state;
	if (!j)
		return;
	write_out(j);
	if (j->fd >= 0 && fsync(j->fd) < 0 && errno != EINVAL)
		sk_warn("telemetry: jsonl: fsync %s: %s", j->path, strerror(errno));
	close_file(j);
	if (final)
		*final = (sk_sink_stats_t){ .written = j->written, .failed = j->failed,
			.reconnects = j->recoveries };
	free(j->buf);
	free(j->path);
	free(j);
}

static void jsonl_stats(void *state, sk_sink_stats_t *out)
{
	const jsonl_t *j = state;
	out->written = j->written;
	out->failed = j->failed;
	out->reconnects = j->recoveries;
}

const sk_sink_ops_t sk_jsonl_ops = {
	.name = "jsonl",
	.open = jsonl_open,
	.emit = jsonl_emit,
	.flush = jsonl_flush,
	.reopen = jsonl_reopen,
	.close = jsonl_close,
	.stats = jsonl_stats,
};
