/* http.c -- the smallest HTTP that serves /metrics: one GET (or HEAD) per connection */
#include <string.h>

#include "ctl/ctl_int.h"

/* Prometheus text exposition format, version 0.0.4. */
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void status_only(sk_strbuf_t *out, const char *status, const char *extra)
{
	sk_strbuf_printf(out, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n%s"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n", status, extra,
		strlen(status) + 1, status);
}

/* The request line "METHOD SP TARGET SP HTTP/1.x" of `len` bytes: split in place. */
static bool split_line(char *line, size_t len, char **method, char **target, char **version)
{
	line[len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp1 == line || sp2 == sp1 + 1)
		return false;
	*sp1 = *sp2 = '\0';
	*method = line;
	*target = sp1 + 1;
	*version = sp2 + 1;
	return true;
}

static void metrics(sk_ctl_conn_t *c, bool head)
{
	sk_ctl_sample_t s;
	sk_strbuf_t body = { 0 };
	c->ctl->http_requests++;    /* this scrape counts itself */
	if (sk_ctl_sample(c->ctl, &s)) {
		status_only(&c->out, "500 Internal Server Error", "");
		return;
	}
	sk_ctl_metrics(c->ctl, &s, &body);
	sk_ctl_sample_free(&s);
	if (body.nomem) {
		c->out.nomem = true;
	} else {
		sk_strbuf_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: " METRICS_TYPE "\r\n"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n", body.len);
		if (!head)
			sk_strbuf_append(&c->out, body.s, body.len);
	}
	sk_strbuf_free(&body);
}

bool sk_http_request(sk_ctl_conn_t *c)
{
	/* The head ends with an empty line; bare LF line ends are taken too (RFC 9112 2.2). */
	const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	if (!end)
		end = memmem(c->in, c->in_len, "\n\n", 2);
	if (!end) {
		if (c->in_len < SK_HTTP_REQ_MAX)
			return false;
		status_only(&c->out, "431 Request Header Fields Too Large", "");
		return true;
	}
	char *eol = memchr(c->in, '\n', c->in_len), *method, *target, *version;
	if (!split_line(c->in, (size_t)(eol - c->in), &method, &target, &version) ||
	    (strcmp(version, "HTTP/1.0") && strcmp(version, "HTTP/1.1"))) {
		status_only(&c->out, "400 Bad Request", "");
		return true;
	}
	bool head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET")) {
		status_only(&c->out, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
		return true;
	}
	/* The query string, if any, changes nothing. */
	size_t plen = strcspn(target, "?");
	if (plen != strlen("/metrics") || strncmp(target, "/metrics", plen)) {
		status_only(&c->out, "404 Not Found", "");
		return true;
	}
	metrics(c, head);
	return true;
}
