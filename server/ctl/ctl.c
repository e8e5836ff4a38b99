/* ctl.c -- the control socket and the metrics listener: binding, connections, deadlines */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctl_int.h"
#include "util/err.h"
#include "util/log.h"

/* ---- binding (before the privilege drop) ---- */

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path)
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/*
 * A socket file already at `path`: a server answering there is an error (two servers must not
 * share one control socket); a socket nobody answers on was left by a server that died, and is
 * replaced; anything else is not ours to remove.
 */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		sk_err("control.socket: %s exists and is not a socket", path);
		return -EEXIST;
	}
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	int rc = connect(probe, (const struct sockaddr *)sa, sizeof *sa);
	int err = errno;
	close(probe);
	if (rc == 0) {
		sk_err("control.socket: %s: another sinkholed answers there", path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED) {
		sk_err("control.socket: %s: %s", path, strerror(err));
		return -err;
	}
	sk_info("control.socket: replacing the stale socket %s", path);
	return unlink(path) < 0 ? -errno : 0;
}

static int open_control(sk_ctl_t *ctl, const sk_control_conf_t *c, uid_t uid, gid_t gid)
{
	struct sockaddr_un sa;
	int rc = unix_addr(c->socket, &sa), fd = -1;
	if (rc || (rc = clear_stale(c->socket, &sa)))
		goto fail;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    bind(fd, (const struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = -errno;
		goto fail;
	}
	/* bind made the file under umask 027; the configured mode and owners are set on the path
	 * while root still can (fchmod on a socket descriptor would not touch the file). */
	if (chmod(c->socket, c->mode) < 0 || chown(c->socket, uid, gid) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		unlink(c->socket);
		goto fail;
	}
	struct stat st;
	if (lstat(c->socket, &st) == 0) {
		ctl->path_dev = st.st_dev;
		ctl->path_ino = st.st_ino;
	}
	if (!(ctl->path = strdup(c->socket))) {
		rc = -ENOMEM;
		unlink(c->socket);
		goto fail;
	}
	ctl->ctl_fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (rc != -EADDRINUSE && rc != -EEXIST)
		sk_err("control.socket: cannot listen on %s: %s", c->socket, sk_strerror(rc));
	return rc;
}

/* "address@port" as the config writes it, and the URL an operator would curl. */
static void format_listen(const struct sockaddr_storage *ss, char *buf, size_t cap, char *url,
	size_t ucap)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		port = ntohs(s4->sin_port);
	}
	snprintf(buf, cap, "%s@%u", a, port);
	snprintf(url, ucap, ss->ss_family == AF_INET6 ? "http://[%s]:%u/metrics" :
		"http://%s:%u/metrics", a, port);
}

static int open_metrics(sk_ctl_t *ctl, const sk_metrics_conf_t *m)
{
	const sk_listen_t *l = &m->listen;
	int one = 1, rc, fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		format_listen(&ss, ctl->http_text, sizeof ctl->http_text, ctl->http_url,
			sizeof ctl->http_url);
	ctl->http_fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	sk_err("metrics.listen: cannot listen on %s: %s", l->text, sk_strerror(rc));
	return rc;
}

int sk_ctl_open(const sk_conf_t *conf, uid_t uid, gid_t gid, sk_ctl_t **out)
{
	int rc;
	*out = NULL;
	if (!conf->control.socket && !conf->metrics.enabled)
		return 0;
	sk_ctl_t *ctl = calloc(1, sizeof *ctl);
	if (!ctl)
		return -ENOMEM;
	ctl->ctl_fd = ctl->http_fd = -1;
	if ((conf->control.socket && (rc = open_control(ctl, &conf->control, uid, gid))) ||
	    (conf->metrics.enabled && (rc = open_metrics(ctl, &conf->metrics)))) {
		sk_ctl_free(ctl);
		return rc;
	}
	/* Read at every scrape; opened now, since /proc may not exist inside a chroot. */
	ctl->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	*out = ctl;
	return 0;
}

/* ---- connections ---- */

static void conn_free(uv_handle_t *h)
{
	sk_ctl_conn_t *c = h->data;
	sk_strbuf_free(&c->out);
	free(c);
}

static void conn_close(sk_ctl_conn_t *c)
{
	sk_ctl_t *ctl = c->ctl;
	if (uv_is_closing(&c->u.h))
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->http)
		ctl->nhttp--;
	else
		ctl->nctl--;
	uv_close(&c->u.h, conn_free);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close(req->data);
}

static void on_written(uv_write_t *req, int status)
{
	sk_ctl_conn_t *c = req->data;
	/* Half-close, so that the client reads the whole reply before the end. */
	if (status || uv_shutdown(&c->sd, &c->u.s, on_shutdown))
		conn_close(c);
}

/* Send c->out, then close. */
static void conn_reply(sk_ctl_conn_t *c)
{
	c->answered = true;
	c->waiting = false;
	uv_read_stop(&c->u.s);
	if (c->out.nomem) {
		sk_strbuf_free(&c->out);
		sk_strbuf_puts(&c->out, c->http ? "HTTP/1.1 500 Internal Server Error\r\n"
			"Connection: close\r\nContent-Length: 0\r\n\r\n" : "error\nout of memory\n");
	}
	uv_buf_t b = uv_buf_init(c->out.s ? c->out.s : (char *)"", (unsigned)c->out.len);
	c->wr.data = c->sd.data = c;
	if (uv_write(&c->wr, &c->u.s, &b, 1, on_written))
		conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	sk_ctl_conn_t *c = h->data;
	size_t cap = c->http ? SK_HTTP_REQ_MAX : SK_CTL_LINE_MAX;
	(void)hint;
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(cap - c->in_len));
}

/* A control request: one line. A line that does not fit, or a client that ends without a
 * newline, still gets an answer. */
static void ctl_input(sk_ctl_conn_t *c, bool eof)
{
	char *nl = memchr(c->in, '\n', c->in_len);
	if (nl) {
		*nl = '\0';
	} else if (c->in_len >= SK_CTL_LINE_MAX) {
		sk_strbuf_puts(&c->out, "error\nrequest line longer than 1024 bytes\n");
		conn_reply(c);
		return;
	} else if (eof && c->in_len) {
		c->in[c->in_len] = '\0';
	} else {
		if (eof)
			conn_close(c);
		return;
	}
	c->ctl->requests++;
	sk_ctl_command(c, c->in);
	if (c->waiting)
		uv_read_stop(&c->u.s);
	else
		conn_reply(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	sk_ctl_conn_t *c = s->data;
	(void)buf;
	if (c->answered || c->waiting)
		return;
	if (n < 0 && n != UV_EOF) {
		conn_close(c);
		return;
	}
	if (n > 0)
		c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (!c->http) {
		ctl_input(c, n == UV_EOF);
		return;
	}
	if (sk_http_request(c)) {
		conn_reply(c);
	} else if (n == UV_EOF) {
		conn_close(c);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	sk_ctl_t *ctl = server->data;
	bool http = server == (uv_stream_t *)&ctl->http_h;
	if (status < 0)
		return;
	sk_ctl_conn_t *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->ctl = ctl;
	c->http = http;
	if (http)
		uv_tcp_init(ctl->loop, &c->u.tcp);
	else
		uv_pipe_init(ctl->loop, &c->u.pipe, 0);
	c->u.h.data = c;
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	unsigned *n = http ? &ctl->nhttp : &ctl->nctl;
	(*n)++;
	if (uv_accept(server, &c->u.s)) {
		conn_close(c);
		return;
	}
	/* Over the cap: the newest waits for nobody. */
	if (*n > (http ? SK_HTTP_CONN_MAX : SK_CTL_CONN_MAX) || ctl->stopping) {
		ctl->rejected++;
		conn_close(c);
		return;
	}
	c->deadline = uv_now(ctl->loop) + SK_CTL_TIMEOUT_MS;
	if (uv_read_start(&c->u.s, on_alloc, on_read))
		conn_close(c);
}

/* A request not sent whole within the deadline is dropped; replies being written and reload
 * requests waiting are not (a reload of millions of names may take a while). */
static void on_sweep(uv_timer_t *t)
{
	sk_ctl_t *ctl = t->data;
	uint64_t now = uv_now(ctl->loop);
	for (sk_ctl_conn_t *c = ctl->conns, *next; c; c = next) {
		next = c->next;
		if (!c->answered && !c->waiting && now >= c->deadline)
			conn_close(c);
	}
}

int sk_ctl_start(sk_ctl_t *ctl, struct uv_loop_s *loop, const sk_ctl_env_t *env)
{
	int rc;
	if (!ctl)
		return 0;
	ctl->loop = loop;
	ctl->env = *env;
	uv_timer_init(loop, &ctl->sweep);
	ctl->sweep.data = ctl;
	ctl->sweep_open = true;
	uv_timer_start(&ctl->sweep, on_sweep, 1000, 1000);
	if (ctl->ctl_fd >= 0) {
		uv_pipe_init(loop, &ctl->ctl_h, 0);
		ctl->ctl_h.data = ctl;
		ctl->ctl_open = true;
		if ((rc = uv_pipe_open(&ctl->ctl_h, ctl->ctl_fd)))
			goto fail;
		ctl->ctl_fd = -1;   /* libuv's now */
		if ((rc = uv_listen((uv_stream_t *)&ctl->ctl_h, 16, on_connection)))
			goto fail;
		sk_info("control socket on %s", ctl->path);
	}
	if (ctl->http_fd >= 0) {
		uv_tcp_init(loop, &ctl->http_h);
		ctl->http_h.data = ctl;
		ctl->http_open = true;
		if ((rc = uv_tcp_open(&ctl->http_h, ctl->http_fd)))
			goto fail;
		ctl->http_fd = -1;
		if ((rc = uv_listen((uv_stream_t *)&ctl->http_h, 64, on_connection)))
			goto fail;
		sk_info("metrics on %s", ctl->http_url);
	}
	return 0;
fail:
	sk_err("control: cannot serve: %s", sk_strerror(rc));
	return rc;
}

void sk_ctl_reload_done(sk_ctl_t *ctl)
{
	if (!ctl)
		return;
	for (sk_ctl_conn_t *c = ctl->conns, *next; c; c = next) {
		next = c->next;
		if (c->waiting && ctl->env.reload->done >= c->want) {
			sk_ctl_reload_answer(ctl, &c->out);
			conn_reply(c);
		}
	}
}

void sk_ctl_stop(sk_ctl_t *ctl)
{
	if (!ctl || ctl->stopping)
		return;
	ctl->stopping = true;
	for (sk_ctl_conn_t *c = ctl->conns, *next; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	if (ctl->ctl_open)
		uv_close((uv_handle_t *)&ctl->ctl_h, NULL);
	if (ctl->http_open)
		uv_close((uv_handle_t *)&ctl->http_h, NULL);
	if (ctl->sweep_open)
		uv_close((uv_handle_t *)&ctl->sweep, NULL);
}

void sk_ctl_free(sk_ctl_t *ctl)
{
	if (!ctl)
		return;
	if (ctl->ctl_fd >= 0)
		close(ctl->ctl_fd);
	if (ctl->http_fd >= 0)
		close(ctl->http_fd);
	if (ctl->statm_fd >= 0)
		close(ctl->statm_fd);
	/* Best effort: after a chroot or the switch of user the path may be out of reach, or inside
	 * a chroot name something else: only the very file that was bound is removed. */
	struct stat st;
	if (ctl->path && lstat(ctl->path, &st) == 0 && st.st_dev == ctl->path_dev &&
	    st.st_ino == ctl->path_ino && unlink(ctl->path) < 0)
		sk_debug("control.socket: cannot remove %s: %s", ctl->path, strerror(errno));
	free(ctl->path);
	free(ctl);
}
