/* io.c -- the dnstap sink's destinations (file, unix socket, TCP) as a libfstrm transport */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "telemetry/dnstap/dnstap_int.h"
#include "util/log.h"
#include "util/pagecache.h"

/*
 * Why not fstrm_file_writer, fstrm_unix_writer and fstrm_tcp_writer: they say nothing to the
 * caller about what was delivered (the I/O thread silently discards frames while a reader is
 * away), they block without a time limit on a reader that stops reading, which would hang
 * shutdown, and the file writer truncates the file each time it reopens it after an error.
 * The framing, the handshake and the I/O thread are still libfstrm's; this file only moves
 * bytes, with time limits, and keeps `ok` so the sink can count what arrived.
 */

/* A Frame Streams file that holds no data frame: a START with our content type (escape, length,
 * type, field type, field length, content type) and perhaps a STOP (escape, length, type). */
#define FILE_EMPTY_MAX (20 + sizeof SK_DNSTAP_CONTENT_TYPE - 1 + 12)

int sk_dtio_init(sk_dtio_t *io, const sk_dnstap_conf_t *conf)
{
	memset(io, 0, sizeof *io);
	io->fd = -1;
	io->mode = conf->mode;
	switch (conf->mode) {
	case SK_DNSTAP_UNIX:
		if (!conf->path)
			return -EINVAL;
		if (strlen(conf->path) >= sizeof ((struct sockaddr_un *)0)->sun_path)
			return -ENAMETOOLONG;
		/* fall through */
	case SK_DNSTAP_FILE:
		if (!conf->path || !conf->path[0])
			return -EINVAL;
		io->path = strdup(conf->path);
		if (!io->path)
			return -ENOMEM;
		snprintf(io->where, sizeof io->where, "%s", io->path);
		return 0;
	case SK_DNSTAP_TCP: {
		char host[INET6_ADDRSTRLEN] = "?";
		unsigned port;
		if (conf->addr.ss_family == AF_INET && conf->addrlen >= sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&conf->addr;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
			port = ntohs(a->sin_port);
		} else if (conf->addr.ss_family == AF_INET6 &&
			conf->addrlen >= sizeof(struct sockaddr_in6)) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&conf->addr;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
			port = ntohs(a->sin6_port);
		} else {
			return -EINVAL;
		}
		io->addr = conf->addr;
		io->addrlen = conf->addrlen;
		snprintf(io->where, sizeof io->where, "%s@%u", host, port);
		return 0;
	}
	}
	return -EINVAL;
}

void sk_dtio_fini(sk_dtio_t *io)
{
	if (!io)
		return;
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	free(io->path);
	io->path = NULL;
}

/* Rename a file with data at `path` to path.YYYYMMDDTHHMMSSZ (with .N added when that exists). */
static int move_aside(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size <= FILE_EMPTY_MAX)
		return 0;

	char stamp[32], aside[4096];
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	for (unsigned i = 0; i < 100; i++) {
		int n = i ? snprintf(aside, sizeof aside, "%s.%s.%u", path, stamp, i)
			: snprintf(aside, sizeof aside, "%s.%s", path, stamp);
		if (n < 0 || (size_t)n >= sizeof aside)
			return -ENAMETOOLONG;
		int rc = renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE);
		if (rc != 0 && errno == EINVAL) {
			/* The file system cannot refuse to replace; check first instead (one
			 * writer per path, so nobody races us to the new name). */
			if (access(aside, F_OK) == 0)
				continue;
			rc = rename(path, aside);
		}
		if (rc == 0) {
			sk_info("dnstap: kept the previous %s as %s", path, aside);
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int open_file(sk_dtio_t *io)
{
	int err = move_aside(io->path);
	if (err)
		return err;
	int fd = open(io->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	/* Kept out of the page cache as the JSON lines are: a busy server writes 100 MB a second. */
	sk_pagecache_init(&io->pc, 0);
	return fd;
}

/* Wait for a non-blocking connect. 0 or a negative errno. */
static int wait_connected(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n;
	do
		n = poll(&p, 1, SK_DNSTAP_IO_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	int soerr = 0;
	socklen_t len = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		return -errno;
	return -soerr;
}

/* Connect without blocking for longer than the time limit, then switch to blocking writes and
 * reads that give up after the time limit. A unix listener with a full backlog refuses at once
 * (EAGAIN) rather than making us wait. */
static int open_socket(sk_dtio_t *io)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const struct sockaddr *sa = (const struct sockaddr *)&io->addr;
	socklen_t salen = io->addrlen;
	if (io->mode == SK_DNSTAP_UNIX) {
		memcpy(sun.sun_path, io->path, strlen(io->path) + 1);
		sa = (const struct sockaddr *)&sun;
		salen = sizeof sun;
	}

	int err, fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, sa, salen) != 0) {
		err = errno == EINPROGRESS ? wait_connected(fd) : -errno;
		if (err)
			goto fail;
	}
	struct timeval tv = {
		.tv_sec = SK_DNSTAP_IO_TIMEOUT_MS / 1000,
		.tv_usec = SK_DNSTAP_IO_TIMEOUT_MS % 1000 * 1000,
	};
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
		err = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The destination failed: drop the connection (or file), so that the next open starts afresh
 * rather than retrying a handshake on a socket that is half gone; refuse to reopen for a while,
 * so that the queue is emptied (and counted failed) instead of trickling into a reader that has
 * just stalled; and log the outage once. Runs on the I/O thread.
 */
static void io_failed(sk_dtio_t *io, const char *what, int err)
{
	io->ok = false;
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	io->lost = true;
	uint64_t now = now_ms();
	if (io->retry_ms < SK_DNSTAP_RETRY_MS)
		io->retry_ms = SK_DNSTAP_RETRY_MS;
	io->retry_at_ms = now + io->retry_ms;
	io->retry_ms = io->retry_ms * 2 > SK_DNSTAP_RETRY_MAX_MS ? SK_DNSTAP_RETRY_MAX_MS
		: io->retry_ms * 2;
	/* One line per outage, and per minute at most for a reader that keeps coming and going
	 * (its recoveries then go unlogged too). */
	if (io->down_logged || (io->warned_ms && now - io->warned_ms < 60000))
		return;
	io->down_logged = true;
	io->warned_ms = now;
	sk_warn("dnstap: %s: %s: %s; records count as failed until it works again",
		io->where, what, strerror(-err));
}

static fstrm_res op_open(void *obj)
{
	sk_dtio_t *io = obj;
	/* A socket's writer runs on libfstrm's I/O thread: name it for top -H and perf. (A file is
	 * written by the telemetry thread itself: direct.c.) */
	if (io->mode != SK_DNSTAP_FILE)
		pthread_setname_np(pthread_self(), "sk-dnstap-io");
	/* Only a file opened by sk_dtio_preopen() is taken as it is; anything else left open is
	 * from a handshake that failed without an I/O error (content type refused). */
	if (io->fd >= 0 && !io->preopened) {
		close(io->fd);
		io->fd = -1;
	}
	io->preopened = false;
	if (io->fd < 0) {
		if (now_ms() < io->retry_at_ms)
			return fstrm_res_failure;
		int fd = io->mode == SK_DNSTAP_FILE ? open_file(io) : open_socket(io);
		if (fd < 0) {
			io_failed(io, io->mode == SK_DNSTAP_FILE ? "cannot open" : "cannot connect", fd);
			return fstrm_res_failure;
		}
		io->fd = fd;
		if (io->lost)
			atomic_fetch_add_explicit(&io->reconnects, 1, memory_order_relaxed);
		io->lost = false;
	}
	io->ok = true;
	return fstrm_res_success;
}

static fstrm_res op_close(void *obj)
{
	sk_dtio_t *io = obj;
	io->ok = false;
	if (io->fd < 0)
		return fstrm_res_failure;
	if (io->mode == SK_DNSTAP_FILE)
		sk_pagecache_drop(io->fd);
	int rc = close(io->fd);
	io->fd = -1;
	return rc == 0 ? fstrm_res_success : fstrm_res_failure;
}

/* The struct belongs to the sink, which frees it after the I/O thread has gone. */
static fstrm_res op_destroy(void *obj)
{
	(void)obj;
	return fstrm_res_success;
}

/* Write every byte of v[0..n), which it consumes. 0 or a negative errno. */
static int write_all(sk_dtio_t *io, struct iovec *v, int n)
{
	while (n > 0) {
		while (n > 0 && v->iov_len == 0) {
			v++;
			n--;
		}
		if (n == 0)
			break;
		ssize_t w;
		if (io->mode == SK_DNSTAP_FILE) {
			w = writev(io->fd, v, n);
		} else {
			struct msghdr msg = { .msg_iov = v, .msg_iovlen = (size_t)n };
			w = sendmsg(io->fd, &msg, MSG_NOSIGNAL);
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* SO_SNDTIMEO expired: a reader that stalls this long is gone. */
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (w == 0)
			return -EIO;
		if (io->mode == SK_DNSTAP_FILE)
			sk_pagecache_wrote(&io->pc, io->fd, (uint64_t)w);
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static fstrm_res op_write(void *obj, const struct iovec *iov, int iovcnt)
{
	sk_dtio_t *io = obj;
	int err = 0;
	/* Closed by a failure already counted (the STOP frame of a writer being discarded). */
	if (io->fd < 0)
		return fstrm_res_failure;

	/* write_all() moves through the vector, so it gets a copy, a slice at a time: one
	 * system call for a whole batch of the I/O thread (two entries per frame). */
	for (int i = 0; !err && i < iovcnt; i += SK_DNSTAP_IOV) {
		int n = iovcnt - i < SK_DNSTAP_IOV ? iovcnt - i : SK_DNSTAP_IOV;
		memcpy(io->iov, iov + i, (size_t)n * sizeof *io->iov);
		err = write_all(io, io->iov, n);
	}
	if (err) {
		io_failed(io, "write failed", err);
		return fstrm_res_failure;
	}
	/* Recovered only once records went through, not the handshake alone: a reader that
	 * completes the handshake and then stalls again is one outage, not a line per attempt.
	 * Control frames start with a zero escape word, data frames with their non-zero length. */
	uint8_t lead[4] = { 0, 0, 0, 0 };
	if (iovcnt > 0 && iov[0].iov_len >= sizeof lead)
		memcpy(lead, iov[0].iov_base, sizeof lead);
	if (lead[0] | lead[1] | lead[2] | lead[3]) {
		io->retry_ms = SK_DNSTAP_RETRY_MS;
		if (io->down_logged) {
			sk_info("dnstap: %s: writing again", io->where);
			io->down_logged = false;
		}
	}
	return fstrm_res_success;
}

int sk_dtio_write_frames(sk_dtio_t *io, const void *frames, size_t len)
{
	struct iovec v = { .iov_base = (void *)(uintptr_t)frames, .iov_len = len };
	return op_write(io, &v, 1) == fstrm_res_success ? 0 : -EIO;
}

/* The handshake's reads (ACCEPT, FINISH): exactly `count` bytes, or failure. */
static fstrm_res op_read(void *obj, void *data, size_t count)
{
	sk_dtio_t *io = obj;
	uint8_t *p = data;
	while (io->fd >= 0 && count > 0) {
		ssize_t r = recv(io->fd, p, count, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			io_failed(io, r == 0 ? "reader closed the connection" : "read failed",
				r == 0 ? -ECONNRESET : (errno == EAGAIN ? -ETIMEDOUT : -errno));
			return fstrm_res_failure;
		}
		p += r;
		count -= (size_t)r;
	}
	return count == 0 ? fstrm_res_success : fstrm_res_failure;
}

int sk_dtio_preopen(sk_dtio_t *io)
{
	if (io->mode != SK_DNSTAP_FILE || io->fd >= 0)
		return 0;
	int fd = open_file(io);
	if (fd < 0)
		return fd;
	io->fd = fd;
	io->preopened = true;
	return 0;
}

struct fstrm_writer *sk_dtio_writer(sk_dtio_t *io)
{
	struct fstrm_writer *w = NULL;
	struct fstrm_writer_options *wopt = fstrm_writer_options_init();
	struct fstrm_rdwr *rdwr = fstrm_rdwr_init(io);
	if (!wopt || !rdwr)
		goto done;
	if (fstrm_writer_options_add_content_type(wopt, SK_DNSTAP_CONTENT_TYPE,
		sizeof SK_DNSTAP_CONTENT_TYPE - 1) != fstrm_res_success)
		goto done;
	fstrm_rdwr_set_destroy(rdwr, op_destroy);
	fstrm_rdwr_set_open(rdwr, op_open);
	fstrm_rdwr_set_close(rdwr, op_close);
	fstrm_rdwr_set_write(rdwr, op_write);
	/* A read operation is what makes libfstrm do the bidirectional handshake. */
	if (io->mode != SK_DNSTAP_FILE)
		fstrm_rdwr_set_read(rdwr, op_read);
	w = fstrm_writer_init(wopt, &rdwr);
done:
	if (rdwr)
		fstrm_rdwr_destroy(&rdwr);
	fstrm_writer_options_destroy(&wopt);
	return w;
}
