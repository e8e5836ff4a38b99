/* ctl_int.h -- what ctl.c, http.c, commands.c and metrics.c share; not for use outside ctl/ */
#ifndef SK_CTL_INT_H
#define SK_CTL_INT_H

#include <uv.h>

#include "ctl/ctl.h"
#include "stats/qstats.h"
#include "util/strbuf.h"

#define SK_CTL_LINE_MAX 1024
#define SK_CTL_CONN_MAX 16
#define SK_HTTP_REQ_MAX 8192
#define SK_HTTP_CONN_MAX 32
#define SK_CTL_TIMEOUT_MS 10000

/* One accepted connection, on the control socket or the metrics listener. */
typedef struct sk_ctl_conn {
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} u;
	struct sk_ctl *ctl;
	struct sk_ctl_conn *prev, *next;
	bool http;
	bool answered;          /* the reply is built (or being written): read nothing more */
	bool waiting;           /* a reload request waiting for reload number `want` */
	uint64_t want;
	uint64_t deadline;      /* uv_now() after which an unanswered request is dropped */
	size_t in_len;
	char in[SK_HTTP_REQ_MAX + 1];
	sk_strbuf_t out;
	uv_write_t wr;
	uv_shutdown_t sd;
} sk_ctl_conn_t;

struct sk_ctl {
	int ctl_fd, http_fd, statm_fd;      /* -1 when absent; owned until handed to libuv */
	char *path;             /* the control socket's path as bound */
	dev_t path_dev;         /* and its file, to remove exactly that one at exit */
	ino_t path_ino;
	char http_text[64];     /* the metrics listener, "address@port" */
	char http_url[96];      /* and its URL, for the log */
	uv_loop_t *loop;
	sk_ctl_env_t env;
	uv_pipe_t ctl_h;
	uv_tcp_t http_h;
	uv_timer_t sweep;       /* once a second: drop connections past their deadline */
	bool ctl_open, http_open, sweep_open, stopping;
	sk_ctl_conn_t *conns;
	unsigned nctl, nhttp;
	uint64_t requests, http_requests, rejected;   /* control requests, /metrics scrapes */
	uint64_t facts_gen;     /* the generation facts_* were counted for (commands.c) */
	size_t facts_records, facts_bytes;
};

/* Everything `stats`, `status` and /metrics report, read at one moment on the main thread. */
typedef struct sk_ctl_sample {
	sk_net_stats_t net;
	sk_qstats_t *qs;        /* heap: summed over the workers */
	bool telemetry;
	sk_telemetry_stats_t tm;
	uint64_t generation;
	size_t zones, lists, seized, records, db_bytes;
	char identity[256];
	char version[128];      /* "" when hidden */
	double now, uptime;
	long rss;               /* resident bytes, -1 when unknown */
	double cpu;             /* user + system seconds */
} sk_ctl_sample_t;

/* commands.c */

/* Fill `s` (s->qs allocated; free with sk_ctl_sample_free). Returns 0 or -ENOMEM. */
int sk_ctl_sample(sk_ctl_t *ctl, sk_ctl_sample_t *s);
void sk_ctl_sample_free(sk_ctl_sample_t *s);

/* Run one control request line; the reply goes to c->out ("ok\n..." or "error\n..."). A reload
 * request sets c->waiting instead and is answered by sk_ctl_reload_answer. */
void sk_ctl_command(sk_ctl_conn_t *c, char *line);

/* The reply to a reload request, from env.reload. */
void sk_ctl_reload_answer(sk_ctl_t *ctl, sk_strbuf_t *out);

/* metrics.c: the Prometheus text exposition of a sample. */
void sk_ctl_metrics(const sk_ctl_t *ctl, const sk_ctl_sample_t *s, sk_strbuf_t *out);

/* http.c: once c->in holds a whole request head, build the HTTP reply in c->out and return true;
 * false while more is needed. Oversized heads are answered 431. */
bool sk_http_request(sk_ctl_conn_t *c);

#endif
