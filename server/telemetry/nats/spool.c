/* spool.c -- the NATS sink's spool: a bounded append-only file of JSON lines, read back in order */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "telemetry/nats/spool.h"
#include "util/fdio.h"
#include "util/log.h"

#define FILE_MODE 0640
#define RBUF_SIZE (SK_SPOOL_LINE_MAX + 1)

static ssize_t pread_some(int fd, char *buf, size_t n, uint64_t off)
{
	ssize_t r;
	do
		r = pread(fd, buf, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* PATH.pos replaced whole (write to PATH.pos.tmp, rename), so a crash leaves the old or the new. */
static int save_head(sk_spool_t *s)
{
	char text[32];
	int n = snprintf(text, sizeof text, "%" PRIu64 "\n", s->head);
	int fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
	int rc;
	if (fd < 0)
		return -errno;
	rc = sk_write_all(fd, text, (size_t)n);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(s->tmp_path, s->pos_path) < 0)
		rc = -errno;
	if (rc == 0)
		s->saved_head = s->head;
	return rc;
}

/* The head PATH.pos names, if it is the start of a line inside the file; else 0. */
static uint64_t load_head(sk_spool_t *s)
{
	char text[32], last;
	uint64_t head = 0;
	FILE *f = fopen(s->pos_path, "re");
	if (!f)
		return 0;
	if (!fgets(text, sizeof text, f) || sscanf(text, "%" SCNu64, &head) != 1)
		head = 0;
	fclose(f);
	if (head > s->size || (head > 0 && pread_some(s->fd, &last, 1, head - 1) != 1) ||
	    (head > 0 && last != '\n'))
		return 0;
	return head;
}

/* A crash can leave the last line without its newline: cut it off, it was never whole. */
static int cut_partial_tail(sk_spool_t *s)
{
	uint64_t end = s->size;
	while (end > 0) {
		size_t n = end < RBUF_SIZE ? (size_t)end : RBUF_SIZE;
		ssize_t r = pread_some(s->fd, s->rbuf, n, end - n);
		if (r < 0)
			return (int)r;
		if ((size_t)r != n)
			return -EIO;
		char *nl = memrchr(s->rbuf, '\n', n);
		if (nl) {
			end = end - n + (uint64_t)(nl - s->rbuf) + 1;
			break;
		}
		end -= n;
	}
	if (end == s->size)
		return 0;
	sk_warn("nats: spool %s: cut a partly written last line (%" PRIu64 " bytes)", s->path,
		s->size - end);
	if (ftruncate(s->fd, (off_t)end) < 0)
		return -errno;
	s->size = end;
	return 0;
}

static int count_pending(sk_spool_t *s)
{
	s->pending = 0;
	for (uint64_t off = s->head; off < s->size; ) {
		size_t n = s->size - off < RBUF_SIZE ? (size_t)(s->size - off) : RBUF_SIZE;
		ssize_t r = pread_some(s->fd, s->rbuf, n, off);
		if (r <= 0)
			return r < 0 ? (int)r : -EIO;
		for (const char *p = s->rbuf, *e = s->rbuf + r; (p = memchr(p, '\n', (size_t)(e - p))); p++)
			s->pending++;
		off += (uint64_t)r;
	}
	return 0;
}

int sk_spool_open(sk_spool_t *s, const char *path, uint64_t max)
{
	struct stat st;
	size_t plen = strlen(path);
	int rc = -ENOMEM;

	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->max = max;
	if (!(s->path = strdup(path)) || !(s->pos_path = malloc(plen + 5)) ||
	    !(s->tmp_path = malloc(plen + 9)) || !(s->rbuf = malloc(RBUF_SIZE)))
		goto fail;
	snprintf(s->pos_path, plen + 5, "%s.pos", path);
	snprintf(s->tmp_path, plen + 9, "%s.pos.tmp", path);
	s->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, FILE_MODE);
	if (s->fd < 0 || fstat(s->fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto fail;
	}
	s->size = (uint64_t)st.st_size;
	if ((rc = cut_partial_tail(s)) < 0)
		goto fail;
	s->head = s->saved_head = load_head(s);
	if ((rc = count_pending(s)) < 0)
		goto fail;
	return 0;
fail:
	sk_spool_close(s);
	return rc;
}

static uint64_t room(const sk_spool_t *s)
{
	return s->size < s->max ? s->max - s->size : 0;
}

/* Write buf[0..n) at the end; on failure cut the file back so that it stays whole lines. */
static int append_bytes(sk_spool_t *s, const char *buf, size_t n)
{
	int rc = sk_write_all(s->fd, buf, n);
	if (rc < 0) {
		if (ftruncate(s->fd, (off_t)s->size) < 0)
			sk_debug("nats: spool %s: cannot cut back to whole lines: %s", s->path, strerror(errno));
		return rc;
	}
	s->size += n;
	s->dirty = true;
	return 0;
}

long sk_spool_append(sk_spool_t *s, const char *buf, size_t len)
{
	uint64_t r = room(s);
	size_t n = len;
	long lines = 0;
	int rc;

	if (n > r) {
		n = (size_t)r;
		while (n > 0 && buf[n - 1] != '\n')
			n--;
	}
	if (n == 0)
		return 0;
	for (const char *p = buf, *e = buf + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		lines++;
	if ((rc = append_bytes(s, buf, n)) < 0)
		return rc;
	s->pending += (uint64_t)lines;
	return lines;
}

long sk_spool_append_line(sk_spool_t *s, const char *line, size_t len)
{
	struct iovec v[2] = { { (void *)line, len }, { "\n", 1 } };
	ssize_t w;

	if ((uint64_t)len + 1 > room(s))
		return 0;
	/* One writev: a line is never split between two writes that a crash could separate. */
	do
		w = writev(s->fd, v, 2);
	while (w < 0 && errno == EINTR);
	if (w < 0 || (size_t)w != len + 1) {
		int rc = w < 0 ? -errno : -EIO;
		if (ftruncate(s->fd, (off_t)s->size) < 0)
			sk_debug("nats: spool %s: cannot cut back to whole lines: %s", s->path, strerror(errno));
		return rc;
	}
	s->size += len + 1;
	s->dirty = true;
	s->pending++;
	return 1;
}

/* Read from the head on into rbuf. */
static int refill(sk_spool_t *s)
{
	size_t n = s->size - s->head < RBUF_SIZE ? (size_t)(s->size - s->head) : RBUF_SIZE;
	ssize_t r = pread_some(s->fd, s->rbuf, n, s->head);
	if (r < 0)
		return (int)r;
	s->rbase = s->head;
	s->rlen = (size_t)r;
	return 0;
}

int sk_spool_peek(sk_spool_t *s, const char **line, size_t *len)
{
	for (;;) {
		if (s->head >= s->size)
			return 0;
		if (s->head < s->rbase || s->head >= s->rbase + s->rlen) {
			int rc = refill(s);
			if (rc < 0)
				return rc;
			if (s->rlen == 0)
				return 0;
		}
		const char *p = s->rbuf + (s->head - s->rbase);
		size_t avail = s->rlen - (size_t)(s->head - s->rbase);
		const char *nl = memchr(p, '\n', avail);
		if (nl) {
			*line = p;
			*len = (size_t)(nl - p);
			return 1;
		}
		if (s->head > s->rbase || s->rlen < RBUF_SIZE) {
			/* The line goes on past what was read: read again from its start. */
			int rc = refill(s);
			if (rc < 0)
				return rc;
			if (s->rlen < RBUF_SIZE && !memchr(s->rbuf, '\n', s->rlen))
				return 0;   /* the file ends without a newline: nothing whole to read */
			continue;
		}
		/* A line longer than the buffer was not written by the sink: skip it. */
		sk_warn("nats: spool %s: skipped a line longer than %u bytes at offset %" PRIu64,
			s->path, SK_SPOOL_LINE_MAX, s->head);
		s->head += s->rlen;
		while (s->head < s->size) {
			int rc = refill(s);
			if (rc < 0)
				return rc;
			nl = memchr(s->rbuf, '\n', s->rlen);
			if (nl) {
				s->head += (uint64_t)(nl - s->rbuf) + 1;
				if (s->pending)
					s->pending--;
				break;
			}
			s->head += s->rlen;
		}
	}
}

void sk_spool_advance(sk_spool_t *s)
{
	const char *nl;
	if (s->head < s->rbase || s->head >= s->rbase + s->rlen)
		return;
	nl = memchr(s->rbuf + (s->head - s->rbase), '\n', s->rlen - (size_t)(s->head - s->rbase));
	if (!nl)
		return;
	s->head = s->rbase + (uint64_t)(nl - s->rbuf) + 1;
	if (s->pending)
		s->pending--;
	if (s->head < s->size)
		return;
	/* Everything was read back: start the file again from nothing. PATH.pos follows at once,
	 * so it never names an offset inside lines written after the cut. */
	if (ftruncate(s->fd, 0) < 0) {
		sk_warn("nats: spool %s: cannot empty it: %s", s->path, strerror(errno));
		return;
	}
	s->size = s->head = s->rbase = 0;
	s->rlen = 0;
	s->pending = 0;
	s->dirty = true;
	int rc = save_head(s);
	if (rc < 0)
		sk_warn("nats: spool %s: cannot write %s: %s", s->path, s->pos_path, strerror(-rc));
}

int sk_spool_sync(sk_spool_t *s)
{
	int rc = 0;
	if (s->fd < 0)
		return 0;
	if (s->dirty) {
		if (fdatasync(s->fd) < 0)
			rc = -errno;
		else
			s->dirty = false;
	}
	if (rc == 0 && s->head != s->saved_head)
		rc = save_head(s);
	return rc;
}

void sk_spool_close(sk_spool_t *s)
{
	if (s->fd >= 0) {
		int rc = sk_spool_sync(s);
		if (rc < 0)
			sk_warn("nats: spool %s: sync at close: %s", s->path, strerror(-rc));
		close(s->fd);
	}
	s->fd = -1;
	free(s->rbuf);
	free(s->tmp_path);
	free(s->pos_path);
	free(s->path);
	s->rbuf = s->tmp_path = s->pos_path = s->path = NULL;
}
