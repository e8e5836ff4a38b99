/* ctl.h -- the control socket (sinkholectl) and the /metrics endpoint, served on the main loop */
#ifndef SK_CTL_H
#define SK_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/conf.h"
#include "db/snapshot.h"
#include "net/net.h"
#include "telemetry/telemetry.h"

/*
 * Two listeners, both optional (config sections `control` and `metrics`), both served by the
 * main thread's libuv loop, never by a worker:
 *
 *   control socket  a unix stream socket; a client sends one request line ("status", "stats",
 *                   "reload", "zones", "lookup NAME [TYPE]", "telemetry"), the server answers
 *                   "ok" or "error" on the first line, then the body, and closes. `reload` waits
 *                   for the reload it asked for and answers with its outcome and file:line
 *                   messages. tools/sinkholectl.c is the client.
 *   /metrics        HTTP/1.0 and 1.1 GET of the Prometheus text format (0.0.4); any other path
 *                   is 404, another method 405; one request per connection.
 *
 * Both have bounded connections (16 control, 32 HTTP; more are closed at once), bounded requests
 * (1 KiB line, 8 KiB of HTTP headers) and a 10 s deadline to send the request.
 */
typedef struct sk_ctl sk_ctl_t;

/* What main records about reloads; ctl reads it on the main thread only. */
#define SK_RELOAD_MSG_MAX 8192
typedef struct sk_reload_status {
	uint64_t started;       /* reloads started since start */
	uint64_t done;          /* reloads finished (done <= started) */
	uint64_t ok, failed;    /* how those finished */
	double last_ok;         /* wall-clock seconds of the last successful load (the first load counts) */
	double last_done;       /* ... of the last reload's end, 0 before the first */
	bool last_failed;
	uint64_t generation;    /* the generation served after the last reload */
	size_t zones, seized;   /* what the last successful load holds */
	char msg[SK_RELOAD_MSG_MAX];  /* the last reload's warnings and errors, one per line */
} sk_reload_status_t;

/* What the listeners read and may ask for: main's, borrowed, valid until sk_ctl_stop. */
typedef struct sk_ctl_env {
	sk_net_t *net;
	sk_snapreg_t *reg;
	unsigned reader;        /* the registry reader reserved for the main thread */
	sk_telemetry_t *tm;     /* NULL when telemetry is off */
	const sk_reload_status_t *reload;
	double started;         /* wall-clock seconds at start */
	/* Ask for a reload (as SIGHUP does). Returns the number (sk_reload_status_t.started) of the
	 * reload whose end answers the request: the one it started, or the one that will follow
	 * the reload running now; 0 when none can be started (the server is stopping). */
	uint64_t (*request_reload)(void *app);
	void *app;
} sk_ctl_env_t;

/*
 * Bind what `conf` asks for, before the privilege drop (so a port under 1024 works and the socket
 * file can be given away): the control socket at control.socket, owned by uid:gid with
 * control.mode (a stale socket is replaced; one where a server still answers fails the start),
 * and the metrics listener. Opens /proc/self/statm too (for the resident memory metric, inside a
 * chroot as well). Logs why and returns a negative code on failure, with nothing left open;
 * stores NULL in *out when neither section is configured. `conf` is only read.
 */
int sk_ctl_open(const sk_conf_t *conf, uid_t uid, gid_t gid, sk_ctl_t **out);

/* Start serving on `loop` (the main thread's). `env` is copied. NULL ctl: nothing to do. */
struct uv_loop_s;
int sk_ctl_start(sk_ctl_t *ctl, struct uv_loop_s *loop, const sk_ctl_env_t *env);

/* A reload has finished and env->reload says how: answer every request that waited for it. */
void sk_ctl_reload_done(sk_ctl_t *ctl);

/* Stop: close every connection (a reload request still waiting sees the end of the connection
 * without a reply) and every handle; the loop must run once more to finish closing. Accepts NULL. */
void sk_ctl_stop(sk_ctl_t *ctl);

/* Free, after the loop has finished closing; removes the socket file when it can (the folder may
 * not be writable once root is given up: the next start replaces a stale one). Accepts NULL. */
void sk_ctl_free(sk_ctl_t *ctl);

#endif
