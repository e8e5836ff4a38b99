/* main.c -- sinkholed: command line, start-up, signals, reload on SIGHUP, orderly shutdown */
#include <getopt.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "conf/conf.h"
#include "crypto/crypto.h"
#include "ctl/ctl.h"
#include "db/db.h"
#include "db/snapshot.h"
#include "net/net.h"
#include "net/notify.h"
#include "priv.h"
#include "sdnotify.h"
#include "telemetry/telemetry.h"
#include "util/err.h"
#include "util/log.h"
#include "util/tagset.h"

/* How long replies already built may take to reach TCP clients after SIGTERM. */
#define SK_DRAIN_MS 5000

/* What the running sockets and threads were made from: a reload cannot change these. */
typedef struct sk_running {
	unsigned workers;
	uint64_t cpus;          /* server.cpus under 64 as a bit set, for the reload check */
	size_t ncpus;
	unsigned tcp_max_clients, tcp_idle_timeout_ms, tcp_query_timeout_ms, tcp_max_pending;
	unsigned rrl_table_size;  /* 0: rate limiting was off at start, and stays off */
	size_t nlisten;
	struct sockaddr_storage *addr;
	char *user, *group, *chroot;    /* as configured at start; NULL when not */
	unsigned stats_interval_s;
	char *ctl_socket, *ctl_group, *metrics;   /* control.socket, control.group, metrics.listen */
	unsigned ctl_mode;
} sk_running_t;

/* What the loader thread found, for the main thread to read after joining it. */
typedef struct sk_load_result {
	int rc;
	uint64_t generation;
	size_t zones, seized;
	char msg[SK_RELOAD_MSG_MAX];    /* its warnings and errors (util/log.h capture) */
} sk_load_result_t;

/*
 * The main thread's state. Everything here is touched by the main thread's loop only, except
 * what the loader thread reads (path, reg, running: all fixed while it runs).
 */
typedef struct sk_app {
	const char *path;       /* the config file; inside the chroot once there */
	sk_snapreg_t *reg;
	sk_telemetry_t *tm;     /* NULL when no sink is configured */
	sk_net_t *net;
	sk_notifier_t *notifier; /* NOTIFY to secondaries; fed by whoever loads a snapshot */
	sk_running_t running;
	uv_loop_t loop;
	bool loop_open;
	uv_signal_t sig_hup, sig_term, sig_int, sig_usr1;
	uv_timer_t stats;       /* logs the net counters every telemetry.stats_interval_s */
	sk_ctl_t *ctl;          /* control socket and /metrics; NULL when neither is configured */
	sk_reload_status_t reloads;   /* read by ctl */
	sk_load_result_t load;  /* written by the loader thread, read after pthread_join */
	double started;         /* wall clock at start, seconds */
	uv_async_t loaded;      /* the loader thread has finished */
	pthread_t loader;
	bool loading;           /* a loader thread exists and has not been joined */
	bool again;             /* SIGHUP during a reload: one more reload after it */
	bool stopping;
	/* Server cookies' secret when the config gives none: random, made once at start, so that
	 * a reload does not invalidate every cookie handed out. */
	uint8_t cookie_secret[SK_COOKIE_SECRET_LEN];
} sk_app_t;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sinkholed -c FILE [-d]     serve in the foreground, logging to stderr\n"
		"       sinkholed --check -c FILE  load the config and every zone, report, exit\n"
		"       sinkholed -V | -h\n"
		"  -c, --config FILE  configuration file (YAML)\n"
		"      --check        check only: exit 0 when everything loads, 1 otherwise\n"
		"  -d, --debug        debug logging\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this text\n"
		"signals: SIGHUP reloads the config and zones, SIGUSR1 reopens telemetry files,\n"
		"         SIGTERM or SIGINT stops.\n");
}

static int check(const char *path)
{
	sk_snapshot_t *snap = NULL;
	sk_priv_t priv;
	int rc = sk_snapshot_load(path, &snap);
	/* The user, group and chroot as the start would look them up. */
	if (!rc && !(rc = sk_priv_resolve(snap->conf, &priv)))
		sk_priv_free(&priv);
	if (rc) {
		sk_snapshot_free(snap);
		unsigned long n = sk_diag_errors();
		if (!n) {
			/* Not a problem inside a file (no memory, ...): say what it was. */
			fprintf(stderr, "%s: %s\n", path, sk_strerror(rc));
			n = 1;
		}
		printf("config failed: %lu error%s\n", n, n == 1 ? "" : "s");
		return 1;
	}
	printf("config ok: %zu zones, %zu seized lists, %zu seized domains\n", sk_db_zone_count(snap->db),
		sk_db_list_count(snap->db), sk_db_seized_count(snap->db));
	sk_snapshot_free(snap);
	return 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		!memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
}

/* The CPU list as a set (order matters too, but a changed set is what an operator notices). */
static uint64_t cpu_bits(const sk_conf_t *conf)
{
	uint64_t b = 0;
	for (size_t i = 0; i < conf->ncpus; i++)
		b |= conf->cpus[i] < 64 ? 1ull << conf->cpus[i] : 0;
	return b;
}

static int running_init(sk_running_t *r, const sk_conf_t *conf)
{
	r->workers = conf->workers ? conf->workers : 1;
	r->cpus = cpu_bits(conf);
	r->ncpus = conf->ncpus;
	r->tcp_max_clients = conf->tcp_max_clients;
	r->tcp_idle_timeout_ms = conf->tcp_idle_timeout_ms;
	r->tcp_query_timeout_ms = conf->tcp_query_timeout_ms;
	r->tcp_max_pending = conf->tcp_max_pending;
	r->stats_interval_s = conf->telemetry.stats_interval_s;
	r->rrl_table_size = conf->rrl.enabled ? conf->rrl.table_size : 0;
	r->ctl_mode = conf->control.mode;
	if ((conf->control.socket && !(r->ctl_socket = strdup(conf->control.socket))) ||
	    (conf->control.group && !(r->ctl_group = strdup(conf->control.group))) ||
	    (conf->metrics.enabled && !(r->metrics = strdup(conf->metrics.listen.text))))
		return -ENOMEM;
	if ((conf->user && !(r->user = strdup(conf->user))) ||
	    (conf->group && !(r->group = strdup(conf->group))) ||
	    (conf->chroot && !(r->chroot = strdup(conf->chroot))))
		return -ENOMEM;
	r->addr = calloc(conf->nlisten, sizeof *r->addr);
	if (!r->addr)
		return -ENOMEM;
	r->nlisten = conf->nlisten;
	for (size_t i = 0; i < conf->nlisten; i++)
		r->addr[i] = conf->listen[i].addr;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Sockets, threads, TCP limits and credentials stay as started; say so when a reload asks
 * otherwise. */
static void warn_restart(const sk_running_t *r, const sk_conf_t *conf)
{
	bool listen = r->nlisten != conf->nlisten;
	for (size_t i = 0; !listen && i < r->nlisten; i++)
		listen = !same_addr(&r->addr[i], &conf->listen[i].addr);
	if (listen)
		sk_warn("%s: listen addresses changed: they take effect after a restart", conf->path);
	if (r->workers != (conf->workers ? conf->workers : 1))
		sk_warn("%s: workers changed (%u running): takes effect after a restart", conf->path,
			r->workers);
	if (r->ncpus != conf->ncpus || r->cpus != cpu_bits(conf))
		sk_warn("%s: cpus changed: takes effect after a restart", conf->path);
	if (r->tcp_max_clients != conf->tcp_max_clients ||
	    r->tcp_idle_timeout_ms != conf->tcp_idle_timeout_ms ||
	    r->tcp_query_timeout_ms != conf->tcp_query_timeout_ms ||
	    r->tcp_max_pending != conf->tcp_max_pending)
		sk_warn("%s: tcp limits changed: they take effect after a restart", conf->path);
	if (!same_str(r->user, conf->user) || !same_str(r->group, conf->group) ||
	    !same_str(r->chroot, conf->chroot))
		sk_warn("%s: user, group or chroot changed: they take effect after a restart",
			conf->path);
	if (!same_str(r->ctl_socket, conf->control.socket) || !same_str(r->ctl_group, conf->control.group) ||
	    (r->ctl_socket && r->ctl_mode != conf->control.mode) ||
	    !same_str(r->metrics, conf->metrics.enabled ? conf->metrics.listen.text : NULL))
		sk_warn("%s: control or metrics changed: they take effect after a restart", conf->path);
	/* The table is made at start; rates, window, slip, prefixes and exemptions do change. */
	if (!r->rrl_table_size && conf->rrl.enabled)
		sk_warn("%s: rrl was off at start: rate limiting starts after a restart", conf->path);
	else if (r->rrl_table_size && conf->rrl.enabled && r->rrl_table_size != conf->rrl.table_size)
		sk_warn("%s: rrl.table_size changed (%u running): takes effect after a restart",
			conf->path, r->rrl_table_size);
}

static void running_free(sk_running_t *r)
{
	free(r->addr);
	free(r->user);
	free(r->group);
	free(r->chroot);
	free(r->ctl_socket);
	free(r->ctl_group);
	free(r->metrics);
}

/* A config without cookies.secret gets the server's own, before its snapshot is published. */
static void cookie_default(const sk_app_t *app, sk_conf_t *conf)
{
	if (!conf->cookies.secret_given)
		memcpy(conf->cookies.secret, app->cookie_secret, SK_COOKIE_SECRET_LEN);
}

/* What rate limiting does under `conf`, when the running server has its table. */
static void log_rrl(const sk_running_t *r, const sk_conf_t *conf)
{
	const sk_rrl_conf_t *c = &conf->rrl;
	if (!r->rrl_table_size)
		return;
	if (!c->enabled) {
		sk_info("rrl: off (no rrl section)");
		return;
	}
	sk_info("rrl: %u accounts; per second: %u responses, %u nxdomains, %u errors; window %u s, "
		"slip %u, prefixes /%u and /%u, %zu exempt", r->rrl_table_size, c->responses_per_second,
		c->nxdomains_per_second, c->errors_per_second, c->window, c->slip, c->ipv4_prefix,
		c->ipv6_prefix, c->nexempt);
}

/* The loader thread's work: load, compare, publish. Only the loader calls publish or current. */
static void reload(sk_app_t *app)
{
	const sk_snapshot_t *cur = sk_snapreg_current(app->reg);
	sk_snapshot_t *next;
	sk_info("reloading %s", app->path);
	int rc = sk_snapshot_load(app->path, &next);
	app->load.rc = rc;
	if (rc) {
		sk_err("reload failed, keeping generation %llu: %s",
			(unsigned long long)cur->generation, sk_strerror(rc));
		return;
	}
	warn_restart(&app->running, next->conf);
	cookie_default(app, next->conf);
	/* The catalog keeps its serial unless its members changed (the db is not published yet). */
	sk_db_catalog_serial(next->db, cur->db, (uint32_t)time(NULL));
	/* Secondaries hear of every serial that changes; queued now, sent by the notifier thread. */
	sk_notifier_reload(app->notifier, cur, next);
	if (memcmp(cur->conf->cookies.secret, next->conf->cookies.secret, SK_COOKIE_SECRET_LEN))
		sk_info("cookies: new server secret, %u previous secrets still accepted",
			next->conf->cookies.nprevious);
	log_rrl(&app->running, next->conf);
	/* Geo databases are reopened here; a bad one is reported and the old one kept, which
	 * need not hold the zones back. */
	sk_telemetry_reload(app->tm, next->conf);
	next->generation = cur->generation + 1;
	unsigned long long gen = next->generation;
	size_t zones = sk_db_zone_count(next->db), seized = sk_db_seized_count(next->db);
	/* Blocks this thread until no worker can still see the old snapshot; never a worker. */
	sk_snapreg_publish(app->reg, next);
	/* The old snapshot is freed: what its smaller blocks held goes back too. */
	malloc_trim(0);
	sk_info("reloaded: generation %llu, %zu zones, %zu seized domains", gen, zones, seized);
	app->load.generation = gen;
	app->load.zones = zones;
	app->load.seized = seized;
}

static void *loader_main(void *arg)
{
	sk_app_t *app = arg;
	/* What this reload reports goes to the log and, for `sinkholectl reload`, here too. */
	sk_log_capture_t cap = { .buf = app->load.msg, .cap = sizeof app->load.msg };
	pthread_setname_np(pthread_self(), "sk-loader");
	sk_log_capture(&cap);
	reload(app);
	sk_log_capture(NULL);
	if (cap.truncated)
		snprintf(app->load.msg + cap.len, sizeof app->load.msg - cap.len, "(more in the log)\n");
	uv_async_send(&app->loaded);
	return NULL;
}

/* Block the daemon's signals in the calling thread (and the threads it starts meanwhile), so
 * that they reach the main loop; *old receives the mask to restore. */
static void block_signals(sigset_t *old)
{
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, old);
}

/* Start a thread with the daemon's signals blocked. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t old;
	block_signals(&old);
	int rc = -pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start_reload(sk_app_t *app)
{
	int rc = start_thread(&app->loader, loader_main, app);
	if (rc) {
		sk_err("reload: cannot start the loader thread: %s", sk_strerror(rc));
		return;
	}
	app->loading = true;
	app->reloads.started++;
	sk_notify_reloading();
}

/* The loader's outcome into the record that the control socket and /metrics read. */
static void record_reload(sk_app_t *app)
{
	sk_reload_status_t *r = &app->reloads;
	r->done++;
	r->last_done = wall_now();
	r->last_failed = app->load.rc != 0;
	if (app->load.rc) {
		r->failed++;
	} else {
		r->ok++;
		r->last_ok = r->last_done;
		r->generation = app->load.generation;
		r->zones = app->load.zones;
		r->seized = app->load.seized;
	}
	memcpy(r->msg, app->load.msg, sizeof r->msg);
}

static void on_loaded(uv_async_t *a)
{
	sk_app_t *app = a->data;
	if (!app->loading)
		return;
	pthread_join(app->loader, NULL);
	app->loading = false;
	record_reload(app);
	sk_ctl_reload_done(app->ctl);
	if (app->stopping) {
		uv_stop(&app->loop);
	} else if (app->again) {
		app->again = false;
		start_reload(app);
	} else {
		sk_notify("READY=1\nSTATUS=%s generation %llu, %zu zones, %zu seized domains",
			app->load.rc ? "reload failed, serving" : "serving",
			(unsigned long long)app->reloads.generation, app->reloads.zones, app->reloads.seized);
	}
}

/* `sinkholectl reload`: as SIGHUP, and says which reload's end answers the request. */
static uint64_t ctl_reload(void *arg)
{
	sk_app_t *app = arg;
	if (app->stopping)
		return 0;
	uint64_t want = app->reloads.started + 1;
	if (app->loading)
		app->again = true;
	else
		start_reload(app);
	return app->loading ? want : 0;
}

/* SIGHUP: reloads never overlap; any number of SIGHUPs during one make exactly one more. */
static void on_hup(uv_signal_t *s, int signum)
{
	sk_app_t *app = s->data;
	(void)signum;
	if (app->stopping)
		return;
	if (app->loading)
		app->again = true;
	else
		start_reload(app);
}

/* SIGUSR1: logrotate has moved the telemetry files; open new ones. */
static void on_usr1(uv_signal_t *s, int signum)
{
	sk_app_t *app = s->data;
	(void)signum;
	sk_info("SIGUSR1: reopening telemetry files");
	sk_telemetry_reopen(app->tm);
}

static void on_term(uv_signal_t *s, int signum)
{
	sk_app_t *app = s->data;
	if (app->stopping)
		return;
	app->stopping = true;
	sk_info("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	sk_notify("STOPPING=1");
	sk_net_stop(app->net, SK_DRAIN_MS);
	/* A reload in progress is let finish (on_loaded stops the loop then): its thread must be
	 * joined, and its publish waits only for workers, which are ending anyway. */
	if (!app->loading)
		uv_stop(&app->loop);
}

static int signals_init(sk_app_t *app)
{
	int rc;
	if ((rc = uv_loop_init(&app->loop)))
		return rc;
	app->loop_open = true;
	uv_signal_init(&app->loop, &app->sig_hup);
	uv_signal_init(&app->loop, &app->sig_term);
	uv_signal_init(&app->loop, &app->sig_int);
	uv_signal_init(&app->loop, &app->sig_usr1);
	uv_async_init(&app->loop, &app->loaded, on_loaded);
	uv_timer_init(&app->loop, &app->stats);
	app->stats.data = app;
	app->sig_hup.data = app->sig_term.data = app->sig_int.data = app->sig_usr1.data = app;
	app->loaded.data = app;
	if ((rc = uv_signal_start(&app->sig_hup, on_hup, SIGHUP)) ||
	    (rc = uv_signal_start(&app->sig_term, on_term, SIGTERM)) ||
	    (rc = uv_signal_start(&app->sig_int, on_term, SIGINT)) ||
	    (rc = uv_signal_start(&app->sig_usr1, on_usr1, SIGUSR1)))
		return rc;
	return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void log_ready(const sk_app_t *app, size_t zones, size_t seized)
{
	char addrs[512] = "";
	size_t n = 0;
	for (size_t i = 0; i < sk_net_listen_count(app->net) && n < sizeof addrs; i++)
		n += (size_t)snprintf(addrs + n, sizeof addrs - n, "%s%s", i ? ", " : "",
			sk_net_listen_text(app->net, i));
	sk_info("ready: generation 1, %zu zones, %zu seized domains, %u workers, udp and tcp on %s",
		zones, seized, app->running.workers, addrs);
}

/*
 * The net counters in one line. The start, up to "replies", is the line parsers already know;
 * the connection limits follow. `what` is "stats" (every stats_interval_s) or "stopped".
 */
static void log_stats(const sk_app_t *app, const char *what)
{
	sk_net_stats_t s;
	char rrl[96] = "";
	sk_net_stats(app->net, &s);
	if (app->running.rrl_table_size)
		snprintf(rrl, sizeof rrl, "; rrl %llu dropped, %llu slipped",
			(unsigned long long)s.rrl_dropped, (unsigned long long)s.rrl_slipped);
	sk_info("%s: udp %llu queries, %llu replies, %llu dropped, %llu send errors; "
		"tcp %llu connections, %llu rejected, %llu timed out, %llu queries, %llu replies; "
		"tcp limits: %llu open, %llu evicted, %llu idle timeouts, %llu query timeouts, "
		"%llu errors%s", what,
		(unsigned long long)s.udp_rx, (unsigned long long)s.udp_tx,
		(unsigned long long)(s.udp_dropped + s.udp_truncated),
		(unsigned long long)s.udp_send_errors, (unsigned long long)s.tcp_accepted,
		(unsigned long long)s.tcp_rejected,
		(unsigned long long)(s.tcp_timeouts + s.tcp_query_timeouts),
		(unsigned long long)s.tcp_rx, (unsigned long long)s.tcp_tx,
		(unsigned long long)s.tcp_open, (unsigned long long)s.tcp_evicted,
		(unsigned long long)s.tcp_timeouts, (unsigned long long)s.tcp_query_timeouts,
		(unsigned long long)s.tcp_errors, rrl);
}

static void on_stats(uv_timer_t *t)
{
	log_stats(t->data, "stats");
}

/*
 * Everything that needs root happens first: read the config, raise the descriptor limit, bind
 * every socket. Then the chroot and the switch to server.user, and only then, as that user and
 * from inside the chroot, the first load of zones and lists and the opening of telemetry files:
 * exactly what every reload will do, so a file the user cannot read fails the start, not the
 * first SIGHUP, and the telemetry files belong to the user that rotates and reopens them.
 */
static int bind_and_drop(sk_app_t *app, sk_priv_t *priv)
{
	sk_conf_t *conf;
	int rc = sk_conf_load(app->path, &conf);
	if (rc) {
		sk_err("%s: cannot start: %s", app->path, sk_strerror(rc));
		return rc;
	}
	if ((rc = sk_priv_resolve(conf, priv))) {
		sk_err("%s: cannot start: %s", app->path, sk_strerror(rc));
		goto out;
	}
	sk_priv_raise_nofile(conf);
	if ((rc = running_init(&app->running, conf)) ||
	    (rc = sk_net_new(conf, &app->net)) ||
	    (rc = sk_ctl_open(conf, priv->ctl_uid, priv->ctl_gid, &app->ctl)))
		goto out;
	/* $NOTIFY_SOCKET lies outside any chroot: connected now, it is reachable from inside. */
	sk_notify_open();
	if ((rc = sk_priv_apply(priv)))
		goto out;
	if (priv->root)
		app->path = priv->conf_inside;
out:
	sk_conf_free(conf);
	return rc;
}

static int run(const char *path)
{
	sk_app_t app = { .path = path, .started = wall_now() };
	sk_priv_t priv = { 0 };
	sk_snapshot_t *snap;
	int rc = sk_crypto_init();
	if (rc) {
		sk_err("cannot start: %s", sk_strerror(rc));
		return 1;
	}
	sk_random_bytes(app.cookie_secret, sizeof app.cookie_secret);
	if ((rc = bind_and_drop(&app, &priv)))
		goto fail;
	if ((rc = sk_snapshot_load(app.path, &snap))) {
		sk_err("%s: cannot start: %s", app.path, sk_strerror(rc));
		goto fail;
	}
	cookie_default(&app, snap->conf);
	sk_db_catalog_serial(snap->db, NULL, (uint32_t)time(NULL));
	/* The file was read twice: say so if it changed in between. */
	warn_restart(&app.running, snap->conf);
	size_t zones = sk_db_zone_count(snap->db), seized = sk_db_seized_count(snap->db);
	app.reloads.generation = 1;
	app.reloads.zones = zones;
	app.reloads.seized = seized;
	app.reloads.last_ok = wall_now();
	/* One reader per answering thread (workers and UDP threads), and one for the main thread
	 * (the control socket's reads). */
	unsigned readers = sk_net_readers(app.net);
	if ((rc = sk_snapreg_new(readers + 1, snap, &app.reg))) {   /* owns snap, even failing */
		sk_err("cannot start: %s", sk_strerror(rc));
		goto fail;
	}
	/* snap->conf stays valid here: nothing can publish before the loop runs. */
	sigset_t old;
	block_signals(&old);
	rc = sk_telemetry_start(snap->conf, readers, &app.tm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto fail;
	if ((rc = signals_init(&app))) {
		sk_err("signals: %s", sk_strerror(rc));
		goto fail;
	}
	if ((rc = sk_notifier_new(&app.notifier))) {
		sk_err("notify: cannot start: %s", sk_strerror(rc));
		goto fail;
	}
	if ((rc = sk_net_start(app.net, app.reg, app.tm)))
		goto fail;
	sk_ctl_env_t env = { .net = app.net, .reg = app.reg, .reader = readers,
		.tm = app.tm, .reload = &app.reloads, .started = app.started,
		.request_reload = ctl_reload, .app = &app };
	if ((rc = sk_ctl_start(app.ctl, &app.loop, &env)))
		goto fail;
	/* Every zone is announced at start: a secondary may have missed changes while we were down. */
	sk_notifier_reload(app.notifier, NULL, snap);
	if (app.running.stats_interval_s) {
		uint64_t ms = (uint64_t)app.running.stats_interval_s * 1000u;
		uv_timer_start(&app.stats, on_stats, ms, ms);
	}
	log_rrl(&app.running, snap->conf);
	log_ready(&app, zones, seized);
	sk_notify("READY=1\nSTATUS=serving generation 1, %zu zones, %zu seized domains", zones, seized);
	uv_run(&app.loop, UV_RUN_DEFAULT);
	sk_net_join(app.net);
	log_stats(&app, "stopped");
fail:
	/* Each step that failed has said why; sk_net_new names the address it could not bind. */
	sk_net_free(app.net);
	sk_notifier_free(app.notifier);
	/* After the workers: drain every ring, flush and close the sinks (nothing accepted is lost). */
	sk_telemetry_stop(app.tm);
	sk_ctl_stop(app.ctl);
	if (app.loop_open) {
		uv_walk(&app.loop, close_any, NULL);
		uv_run(&app.loop, UV_RUN_DEFAULT);
		uv_loop_close(&app.loop);
	}
	sk_ctl_free(app.ctl);
	sk_notify_close();
	sk_snapreg_free(app.reg);
	sk_tagset_free_all();
	running_free(&app.running);
	sk_priv_free(&priv);
	sk_conf_set_root(NULL);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'C' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL;
	bool check_only = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:dVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'C': check_only = true; break;
		case 'd': sk_log_set_level(SK_LOG_DEBUG); break;
		case 'V': printf("sinkholed %s\n", SK_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check_only)
		return check(path);
	/* Blocks of 256 KiB and more (a db's tables, rings, buffers) get their own mappings, which go
	 * back to the system when freed. By default glibc raises this threshold after each such free,
	 * up to 32 MiB, and the next db of a reload (built on a new loader thread, in another arena)
	 * then keeps tens of megabytes after the old one is gone. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	/* A client that resets its TCP connection, or a dnstap reader that goes away, must cost an
	 * EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	/* Files the daemon creates (telemetry) are asked for with mode 0640; whatever umask it was
	 * started with, that is what they get (and never more for anything else). */
	umask(027);
	return run(path);
}
