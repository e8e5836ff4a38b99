/* input.c -- plain and gzip files as lines; zlib is used here only */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "input.h"

#define BLOCK (8u << 20)
#define LINE_MAX_BYTES (4u << 20)

typedef struct rp_src {
	int fd;
	bool gz, eof;
	bool mid;               /* inside a gzip member: its end must still come */
	z_stream z;
	unsigned char *in;      /* compressed bytes (gzip only) */
	bool z_ready;
} src_t;

_Static_assert(LINE_MAX_BYTES < BLOCK, "a cut line leaves room for the next");

static ssize_t read_some(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

/* Up to `cap` bytes of text into buf; 0 at the end; negative errno. */
static ssize_t pull(src_t *s, char *buf, size_t cap)
{
	if (!s->gz) {
		ssize_t r = read_some(s->fd, buf, cap);
		return r < 0 ? -errno : r;
	}
	s->z.next_out = (unsigned char *)buf;
	s->z.avail_out = (uInt)cap;
	while (s->z.avail_out == cap) {
		if (s->z.avail_in == 0 && !s->eof) {
			ssize_t r = read_some(s->fd, s->in, BLOCK);
			if (r < 0)
				return -errno;
			if (r == 0)
				s->eof = true;
			s->z.next_in = s->in;
			s->z.avail_in = (uInt)r;
		}
		if (s->z.avail_in == 0 && s->eof) {
			if (s->mid && s->z.avail_out == cap)
				return -EBADMSG;   /* cut short: the member's end never came */
			break;
		}
		int rc = inflate(&s->z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END) {
			/* Another member may follow (concatenated gzip files). */
			s->mid = false;
			if (inflateReset(&s->z) != Z_OK)
				return -EBADMSG;
			continue;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return -EBADMSG;
		s->mid = true;
	}
	return (ssize_t)(cap - s->z.avail_out);
}

static int open_src(src_t *s, const char *path)
{
	unsigned char magic[2];
	memset(s, 0, sizeof *s);
	s->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (s->fd < 0)
		return -errno;
	posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* Peek at two bytes: pread works on files; standard input is read as plain text. */
	if (s->fd != 0 && pread(s->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		s->gz = true;
		/* 15 + 16: a gzip wrapper, not zlib's. */
		if (!(s->in = malloc(BLOCK)) || inflateInit2(&s->z, 15 + 16) != Z_OK) {
			free(s->in);
			s->in = NULL;
			if (s->fd > 0)
				close(s->fd);
			return -ENOMEM;
		}
		s->z_ready = true;
	}
	return 0;
}

static void close_src(src_t *s)
{
	if (s->z_ready)
		inflateEnd(&s->z);
	free(s->in);
	if (s->fd > 0)
		close(s->fd);
}

int rp_input_lines(const char *path, rp_line_fn *fn, void *arg, uint64_t *lines)
{
	src_t s;
	char *buf = malloc(BLOCK + 1);
	size_t have = 0;
	uint64_t n = 0;
	bool skipping = false;     /* inside a line too long to keep: drop up to its newline */
	int rc = buf ? open_src(&s, path) : -ENOMEM;

	if (rc < 0)
		goto out;
	for (;;) {
		ssize_t got = pull(&s, buf + have, BLOCK - have);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		size_t end = have + (size_t)got;
		char *p = buf, *stop = buf + end;
		for (;;) {
			char *nl = memchr(p, '\n', (size_t)(stop - p));
			if (!nl)
				break;
			if (!skipping) {
				n++;
				if ((rc = fn(p, (size_t)(nl - p), n, arg)) != 0)
					goto out_src;
			}
			skipping = false;
			p = nl + 1;
		}
		have = (size_t)(stop - p);
		if (got == 0) {
			if (have && !skipping) {
				n++;
				rc = fn(p, have, n, arg);
			}
			break;
		}
		if (have >= LINE_MAX_BYTES) {
			/* One line filled half the block: pass its start on, drop the rest of it. */
			if (!skipping) {
				n++;
				if ((rc = fn(p, LINE_MAX_BYTES, n, arg)) != 0)
					goto out_src;
			}
			skipping = true;
			have = 0;
			continue;
		}
		memmove(buf, p, have);
	}
out_src:
	close_src(&s);
out:
	free(buf);
	*lines = n;
	return rc;
}

int rp_input_blocks(const char *path, rp_block_fn *fn, void *arg, int *was_gzip)
{
	src_t s;
	char *buf = malloc(BLOCK);
	int rc = buf ? open_src(&s, path) : -ENOMEM;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	if (was_gzip)
		*was_gzip = s.gz;
	for (;;) {
		ssize_t got = pull(&s, buf, BLOCK);
		if (got <= 0) {
			rc = (int)got;
			break;
		}
		if ((rc = fn(buf, (size_t)got, arg)) != 0)
			break;
	}
	close_src(&s);
	free(buf);
	return rc;
}

int rp_src_open(const char *path, rp_src_t **out)
{
	src_t *s = malloc(sizeof *s);
	int rc = s ? open_src(s, path) : -ENOMEM;
	if (rc < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

ssize_t rp_src_read(rp_src_t *s, char *buf, size_t cap)
{
	return pull(s, buf, cap);
}

void rp_src_close(rp_src_t *s)
{
	if (!s)
		return;
	close_src(s);
	free(s);
}
