/* jsonl.c -- the JSON lines sink: buffered appends, size rotation, reopen, losing data loudly, and
 * (with `manifest`) sealing every file it finishes into a hash chain */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telemetry/jsonl.h"
#include "telemetry/manifest.h"
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
	sk_manifest_t *man;     /* NULL without `manifest` */
	sk_segment_t seg;       /* the segment being written (with the manifest) */
	const char *base;       /* path's last part, the name segments are recorded under */
	int old_fd;             /* a finished segment's file, kept open until its seal syncs it; -1 */
} jsonl_t;

static int open_file(jsonl_t *j, sk_seg_end_t why);

/* "base" or "base.N" into out. */
static void rotated_name(const jsonl_t *j, unsigned i, char *out, size_t cap)
{
	if (i)
		snprintf(out, cap, "%s.%u", j->base, i);
	else
		snprintf(out, cap, "%s", j->base);
}

static void close_file(jsonl_t *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/* path -> path.1 -> ... -> path.keep; renaming onto path.keep replaces (deletes) the oldest.
 * tools/report/verify.c follows the same steps to know where each sealed segment is now. */
static void shift_files(jsonl_t *j)
{
	size_t n = strlen(j->path) + 16;
	char from[n], to[n];

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
}

/* The segment's line goes to the manifest's thread with the old file, if still open, to sync. */
static void seal(jsonl_t *j, sk_seg_end_t end, unsigned index)
{
	char name[strlen(j->base) + 16];
	rotated_name(j, index, name, sizeof name);
	sk_manifest_seal(j->man, &j->seg, end, name, 0, j->old_fd);
	j->old_fd = -1;
}

/* Keep the file open for its seal (the sync happens off this thread) instead of closing it. */
static void retire_file(jsonl_t *j)
{
	if (j->old_fd >= 0)
		close(j->old_fd);
	j->old_fd = j->fd;
	j->fd = -1;
}

/*
 * With the manifest, a segment is a whole file. The file just opened (st) either continues the
 * segment being written (the same file, the size we wrote: after a failed write, or a SIGUSR1 that
 * moved nothing), or the segment ends here (`why`) and a new one starts. A non-empty file that
 * is not ours (left by a run that died before sealing it, or put there by someone else) is
 * renamed out of the way and noted as unsealed, so that the new segment starts at byte 0.
 */
static int begin_segment(jsonl_t *j, const struct stat *st, sk_seg_end_t why)
{
	if (j->seg.open) {
		if (st->st_dev == j->seg.dev && st->st_ino == j->seg.ino && (uint64_t)st->st_size == j->seg.bytes)
			return 0;
		if (j->seg.records)
			seal(j, why, 0);
		j->seg.open = false;
	}
	if (st->st_size > 0) {
		char name[strlen(j->base) + 16];
		struct stat again;
		close_file(j);
		shift_files(j);
		rotated_name(j, 1, name, sizeof name);
		sk_manifest_seal(j->man, NULL, SK_SEG_UNSEALED, name, (uint64_t)st->st_size, -1);
		int fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, FILE_MODE);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &again) < 0 || fchmod(fd, FILE_MODE) < 0 || again.st_size > 0) {
			int rc = again.st_size > 0 ? -EEXIST : -errno;
			close(fd);
			return rc;
		}
		j->fd = fd;
		sk_pagecache_init(&j->pc, 0);
		sk_segment_start(&j->seg, again.st_dev, again.st_ino);
		return 0;
	}
	sk_segment_start(&j->seg, st->st_dev, st->st_ino);
	return 0;
}

/* Open (or create) the file for appending, mode 0640 whatever the umask, and learn its size so
 * that rotation counts what an earlier run already wrote. With the manifest, `why` is how the
 * segment being written ends if this is another file. */
static int open_file(jsonl_t *j, sk_seg_end_t why)
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
	if (j->man && !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;    /* said at open: a manifest needs files it can rename */
	}
	j->fd = fd;
	sk_pagecache_init(&j->pc, (uint64_t)st.st_size);
	if (j->man) {
		int rc = begin_segment(j, &st, why);
		if (rc < 0)
			close_file(j);
		return rc;
	}
	return 0;
}

static int rotate(jsonl_t *j)
{
	bool sealing = j->man && j->seg.open && j->seg.records && j->fd >= 0;
	/* The finished file leaves the cache too (what is still being written out stays). */
	if (j->fd >= 0)
		sk_pagecache_drop(j->fd);
	if (sealing)
		retire_file(j);
	else
		close_file(j);
	shift_files(j);
	if (sealing)
		seal(j, SK_SEG_ROTATE, j->keep ? 1 : 0);
	return open_file(j, SK_SEG_LOST);
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
	if (j->fd < 0 && (rc = open_file(j, SK_SEG_LOST)) < 0)
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
		if (j->man)
			sk_segment_add(&j->seg, j->buf + off, n, recs);
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
	j->old_fd = -1;
	j->limit = (uint64_t)c->rotate_mb << 20;
	j->keep = c->keep;
	if (!(j->path = strdup(c->path)) || !(j->buf = malloc(BUF_SIZE)))
		goto fail;
	j->base = strrchr(j->path, '/') ? strrchr(j->path, '/') + 1 : j->path;
	if (c->manifest && (rc = sk_manifest_open(c->path, c->sign_key, c->keep, &j->man)) < 0)
		goto fail;
	/* At start a file that cannot be opened is an error to fix now, not to retry forever. */
	if ((rc = open_file(j, SK_SEG_LOST)) < 0) {
		if (rc == -EINVAL && j->man)
			sk_err("telemetry: jsonl: %s is not a regular file: a manifest needs files it can "
				"rotate", c->path);
		else if (rc == -EEXIST)
			sk_err("telemetry: jsonl: %s could not be moved out of the way of a new segment",
				c->path);
		else
			sk_err("telemetry: jsonl: cannot open %s: %s", c->path, sk_strerror(rc));
		goto fail;
	}
	*state = j;
	return 0;
fail:
	sk_manifest_free(j->man);
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
		int rc = open_file(j, SK_SEG_LOST);
		if (rc == 0)
			note_success(j);
		return rc;
	}
	return write_out(j);
}

/* Whatever is buffered goes to the old file; then the path is opened anew (logrotate moved the
 * old one away). Rotation is not ours to do here. With the manifest the old file's segment is
 * sealed, unless the path still names that same file (nothing was moved). */
static int jsonl_reopen(void *state)
{
	jsonl_t *j = state;
	int rc;
	write_out(j);
	/* If the path now names another file, the old one is sealed (and synced) by open_file. */
	if (j->man && j->fd >= 0 && j->seg.records)
		retire_file(j);
	else
		close_file(j);
	rc = open_file(j, SK_SEG_REOPEN);
	if (j->old_fd >= 0) {
		/* The same file: the segment goes on, nothing to seal. */
		close(j->old_fd);
		j->old_fd = -1;
	}
	if (rc < 0)
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
	/* With the manifest the last segment is sealed (its seal syncs it) and moved to path.1, so
	 * that the next start finds no file at path and every segment it writes starts empty. */
	if (j->man && j->seg.open && j->seg.records) {
		if (j->fd >= 0) {
			retire_file(j);
			shift_files(j);
			seal(j, SK_SEG_STOP, j->keep ? 1 : 0);
		} else {
			seal(j, SK_SEG_LOST, 0);
		}
	}
	if (j->fd >= 0 && fsync(j->fd) < 0 && errno != EINVAL)
		sk_warn("telemetry: jsonl: fsync %s: %s", j->path, strerror(errno));
	close_file(j);
	if (j->old_fd >= 0)
		close(j->old_fd);
	/* Waits for the manifest's thread to write every queued line. */
	sk_manifest_free(j->man);
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
	.texts = true,
	.open = jsonl_open,
	.emit = jsonl_emit,
	.flush = jsonl_flush,
	.reopen = jsonl_reopen,
	.close = jsonl_close,
	.stats = jsonl_stats,
};
