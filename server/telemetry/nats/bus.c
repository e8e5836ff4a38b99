/* bus.c -- the NATS sink's I/O: publish to JetStream with acknowledgements, spool, replay, drain */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "telemetry/nats/nats_int.h"
#include "util/log.h"

/*
 * Threads. The I/O thread (sk-nats-io) owns the backlog and the spool and is the only one that
 * publishes; it never waits on the network: a publication is handed to libnats, which writes it
 * on its own thread, and its acknowledgement (or its failure: an error from JetStream, no
 * responders, no answer within ack_timeout_ms) comes back on libnats's delivery thread, to
 * on_ack(). The admin thread (sk-nats-admin) does what does block: the first connection and the
 * JetStream requests that look up or create the stream, each bounded by API_WAIT_MS. libnats
 * reconnects by itself, forever, and says so through the callbacks below.
 */
#define API_WAIT_MS 2000          /* a JetStream API request (stream info, create) */
#define CONNECT_TIMEOUT_MS 2000   /* one connection attempt to one server */
#define RECONNECT_WAIT_MS 1000    /* between two attempts at the same server */
#define PING_INTERVAL_MS 2000     /* a server that stops answering is given up after 2 more */
#define BACKOFF_MIN_MS 250        /* after records were not acknowledged: spool for this long, */
#define BACKOFF_MAX_MS 8000       /* doubling at each failure that follows, up to this */
#define STREAM_RETRY_MS 2000      /* a stream look-up that failed is tried again after this */
#define SLICE 256                 /* records published from one source before the other's turn */
#define BACKLOG_MAX 64u           /* chunks held in memory while the window is full; the oldest
                                     past that go to the spool */
#define WAIT_MS 50                /* the I/O thread's longest sleep */

struct sk_nats_bus {
	sk_nats_t *n;
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	pthread_t admin;
	bool admin_started;
	pthread_cond_t admin_wake;     /* under n->mu */

	/* Set by libnats's callbacks and the admin thread, read by the I/O thread. */
	atomic_bool up;                /* nc and js exist (set once, by the admin thread) */
	atomic_bool connected;
	atomic_bool stream_ok;         /* the stream was found or created since the last doubt */
	atomic_bool want_check;        /* the admin thread should look the stream up (again) */
	_Atomic uint64_t inflight;     /* published, neither acknowledged nor failed yet */
	atomic_bool waiting;           /* the I/O thread waits for acknowledgements to make room */
	atomic_bool closing;           /* the sink is closing the connection: a disconnect is no news */
	atomic_uint fails, oks;        /* acknowledgement results since the I/O thread last looked */
	char last_error[160];          /* of the last failed acknowledgement, under n->mu */

	/* The I/O thread's. */
	sk_nats_list_t backlog;        /* chunks taken from the queue, oldest first */
	uint64_t pause_until, backoff_ms, next_sync;
	bool stopping;                 /* draining: the spool is not replayed any more */
	bool published;                /* js_PublishMsgAsync took a message once (before that,
	                                  libnats 3.4 crashes in js_PublishAsyncGetPendingList) */
	bool said_down, said_spool_full, said_failing;
	uint64_t failing_since_written;
	char node[SK_RECORD_NODE_ID_MAX + 1]; /* the node part the cached subject was built for */
	size_t node_len;
	char subject[512];
	char msg_id[SK_RECORD_NODE_ID_MAX + 64];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wake_io(sk_nats_t *n)
{
	pthread_mutex_lock(&n->mu);
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->mu);
}

static void want_check(sk_nats_bus_t *b)
{
	atomic_store(&b->want_check, true);
	pthread_mutex_lock(&b->n->mu);
	pthread_cond_signal(&b->admin_wake);
	pthread_mutex_unlock(&b->n->mu);
}

/* ---- libnats's callbacks (its threads) ---- */

static void on_connected(natsConnection *nc, void *closure)
{
	sk_nats_bus_t *b = closure;
	char url[256] = "?";
	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	sk_info("nats: connected to %s", url);
	atomic_store(&b->connected, true);
	want_check(b);
	wake_io(b->n);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	sk_nats_bus_t *b = closure;
	(void)nc;
	/* libnats says this again after each failed round of reconnection: one line per outage. */
	if (atomic_exchange(&b->connected, false) && !atomic_load(&b->closing))
		sk_warn("nats: disconnected from the bus; records go to the spool until it is back");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	sk_nats_bus_t *b = closure;
	atomic_fetch_add(&b->n->reconnects, 1);
	on_connected(nc, closure);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	sk_warn("nats: %s", natsStatus_GetText(err));
}

/* A failed line joins the retry list, to be spooled by the I/O thread. */
static void keep_failed(sk_nats_t *n, const char *data, size_t len)
{
	sk_nats_chunk_t *c, *fresh = NULL;

	if (len + 1 > SK_NATS_CHUNK_SIZE) {
		atomic_fetch_add(&n->failed, 1);
		return;
	}
	for (;;) {
		pthread_mutex_lock(&n->mu);
		c = n->retry.tail;
		if (c && c->len + len + 1 <= SK_NATS_CHUNK_SIZE)
			break;
		if (fresh) {
			sk_nats_list_push(&n->retry, fresh);
			c = fresh;
			fresh = NULL;
			break;
		}
		pthread_mutex_unlock(&n->mu);
		if (!(fresh = sk_nats_chunk_get(n))) {
			atomic_fetch_add(&n->failed, 1);
			return;
		}
	}
	memcpy(c->buf + c->len, data, len);
	c->buf[c->len + len] = '\n';
	c->len += len + 1;
	c->nrec++;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->mu);
	free(fresh);
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	sk_nats_bus_t *b = closure;
	sk_nats_t *n = b->n;
	(void)js;

	if (pa) {
		/* A duplicate (pa->Duplicate) is in the stream already: delivered all the same. */
		atomic_fetch_add(&n->written, 1);
		atomic_fetch_add(&b->oks, 1);
	} else {
		keep_failed(n, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
		if (pae && pae->Err == NATS_NO_RESPONDERS) {
			/* Nothing listens on the subject: the stream is gone or does not take it. */
			atomic_store(&b->stream_ok, false);
			want_check(b);
		}
		pthread_mutex_lock(&n->mu);
		snprintf(b->last_error, sizeof b->last_error, "%s",
			pae && pae->ErrText ? pae->ErrText : pae ? natsStatus_GetText(pae->Err) : "?");
		pthread_mutex_unlock(&n->mu);
		atomic_fetch_add(&b->fails, 1);
	}
	natsMsg_Destroy(msg);
	uint64_t left = atomic_fetch_sub(&b->inflight, 1) - 1;
	if (atomic_load(&b->waiting) && left <= n->conf->max_pending / 2)
		wake_io(n);
}

/* ---- the admin thread: connect, find or create the stream ---- */

static int make_options(sk_nats_bus_t *b)
{
	const sk_nats_conf_t *c = b->n->conf;
	natsOptions *o = NULL;
	natsStatus s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)c->servers, (int)c->nservers);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "sinkholed");
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, RECONNECT_WAIT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, PING_INTERVAL_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(o, 2);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, b);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, b);
	if (s != NATS_OK) {
		sk_err("nats: cannot set up the connection: %s", natsStatus_GetText(s));
		natsOptions_Destroy(o);
		return -EINVAL;
	}
	b->opts = o;
	return 0;
}

/* The connection and the JetStream context; with retry-on-failed-connect libnats keeps trying in
 * the background when no server answers now. 0, or -EAGAIN to try again later. */
static int connect_bus(sk_nats_bus_t *b)
{
	jsOptions jo;
	natsStatus s = natsConnection_Connect(&b->nc, b->opts);

	if (s == NATS_OK) {
		char url[256] = "?";
		natsConnection_GetConnectedUrl(b->nc, url, sizeof url);
		sk_info("nats: connected to %s", url);
		atomic_store(&b->connected, true);
		atomic_store(&b->want_check, true);
	} else if (s == NATS_NOT_YET_CONNECTED) {
		sk_warn("nats: no server of telemetry.nats.servers answers yet; records go to the spool "
			"while libnats keeps trying");
	} else {
		sk_err("nats: cannot connect: %s (%s); trying again", natsStatus_GetText(s),
			nats_GetLastError(NULL));
		return -EAGAIN;
	}
	jsOptions_Init(&jo);
	jo.Wait = API_WAIT_MS;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = b;
	/* No limit inside libnats (it would make the publisher wait): the sink keeps its own. */
	jo.PublishAsync.MaxPending = 0;
	s = natsConnection_JetStream(&b->js, b->nc, &jo);
	if (s != NATS_OK) {
		sk_err("nats: cannot set up JetStream: %s", natsStatus_GetText(s));
		natsConnection_Destroy(b->nc);
		b->nc = NULL;
		return -EAGAIN;
	}
	atomic_store(&b->up, true);
	return 0;
}

/* Does the stream take "<subject>.<node>"? Only the usual forms are recognised: ">", the same
 * "<subject>.>" or "<subject>.*", or a wildcard ending that covers the prefix. */
static bool covers(const jsStreamConfig *sc, const char *subject)
{
	size_t sl = strlen(subject);
	for (int i = 0; sc && i < sc->SubjectsLen; i++) {
		const char *p = sc->Subjects[i];
		size_t pl = strlen(p);
		if (!strcmp(p, ">"))
			return true;
		if (pl >= 2 && (p[pl - 1] == '>' || p[pl - 1] == '*') && p[pl - 2] == '.' &&
		    pl - 2 == sl && !strncmp(p, subject, sl))
			return true;
		if (pl >= 2 && p[pl - 1] == '>' && p[pl - 2] == '.' && pl - 1 <= sl &&
		    !strncmp(p, subject, pl - 1))
			return true;
	}
	return false;
}

static natsStatus create_stream(sk_nats_bus_t *b, jsErrCode *jerr)
{
	const sk_nats_conf_t *c = b->n->conf;
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	char subj[256];
	const char *subjects[1] = { subj };

	snprintf(subj, sizeof subj, "%s.>", c->subject);
	jsStreamConfig_Init(&sc);
	sc.Name = c->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Replicas = c->replicas;
	sc.Duplicates = (int64_t)c->duplicate_window_s * 1000000000LL;
	natsStatus s = js_AddStream(&si, b->js, &sc, NULL, jerr);
	jsStreamInfo_Destroy(si);
	return s;
}

/* One look at the stream: 0 when records can go to it, or a negative code (said in the log
 * once per kind of trouble). */
static int check_stream(sk_nats_bus_t *b, int *said)
{
	const sk_nats_conf_t *c = b->n->conf;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, b->js, c->stream, NULL, &jerr);

	if (s == NATS_OK) {
		if (!covers(si->Config, c->subject))
			sk_warn("nats: stream %s does not list %s.> among its subjects; records it does "
				"not take are spooled and retried", c->stream, c->subject);
		sk_info("nats: stream %s: %lld replicas, duplicate window %lld s, %llu messages",
			c->stream, si->Config ? (long long)si->Config->Replicas : 0LL,
			si->Config ? (long long)(si->Config->Duplicates / 1000000000LL) : 0LL,
			(unsigned long long)si->State.Msgs);
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		if (!c->create_stream) {
			if (*said != 1)
				sk_err("nats: stream %s does not exist (create_stream: false); records are "
					"spooled until it does", c->stream);
			*said = 1;
			return -ENOENT;
		}
		jerr = 0;
		s = create_stream(b, &jerr);
		if (s == NATS_OK) {
			sk_info("nats: created stream %s (subjects %s.>, file storage, %u replicas, "
				"duplicate window %u s)", c->stream, c->subject, c->replicas,
				c->duplicate_window_s);
			return 0;
		}
	}
	const char *detail = nats_GetLastError(NULL);
	if (*said != 2)
		sk_warn("nats: cannot look up or create stream %s: %s%s%s; records are spooled, trying "
			"again", c->stream, natsStatus_GetText(s), detail && *detail ? ": " : "",
			detail && *detail ? detail : "");
	*said = 2;
	return -EAGAIN;
}

/* Wait on admin_wake until `ms` pass or stop; returns true when stopping. */
static bool admin_sleep(sk_nats_bus_t *b, uint64_t ms)
{
	sk_nats_t *n = b->n;
	struct timespec ts;
	bool stop;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->mu);
	if (!n->stop)
		pthread_cond_timedwait(&b->admin_wake, &n->mu, &ts);
	stop = n->stop;
	pthread_mutex_unlock(&n->mu);
	return stop;
}

static void *admin_run(void *arg)
{
	sk_nats_bus_t *b = arg;
	int said = 0;
	pthread_setname_np(pthread_self(), "sk-nats-admin");

	/* libnats is first called here, in a thread with every signal blocked, so that the threads it
	 * starts (its timer, its delivery threads, each connection's reader and flusher) have them
	 * blocked too: signals are for the main thread's loop. */
	if (make_options(b) < 0)
		return NULL;
	while (connect_bus(b) < 0)
		if (admin_sleep(b, STREAM_RETRY_MS))
			return NULL;
	wake_io(b->n);
	for (;;) {
		if (atomic_load(&b->want_check) && atomic_load(&b->connected)) {
			atomic_store(&b->want_check, false);
			if (check_stream(b, &said) == 0) {
				said = 0;
				atomic_store(&b->stream_ok, true);
				wake_io(b->n);
			} else {
				atomic_store(&b->stream_ok, false);
				atomic_store(&b->want_check, true);
				if (admin_sleep(b, STREAM_RETRY_MS))
					return NULL;
				continue;
			}
		}
		if (admin_sleep(b, 1000))
			return NULL;
	}
}

/* ---- the I/O thread ---- */

static bool ready(sk_nats_bus_t *b, uint64_t now)
{
	return atomic_load(&b->up) && atomic_load(&b->connected) && atomic_load(&b->stream_ok) &&
		now >= b->pause_until && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

static bool room(const sk_nats_bus_t *b)
{
	return atomic_load(&b->inflight) < b->n->conf->max_pending;
}

/* Hand one line to libnats: 0, or a negative code when it was not taken (the caller keeps it). */
static int publish(sk_nats_bus_t *b, const char *line, size_t len)
{
	const sk_nats_conf_t *c = b->n->conf;
	size_t id_len = 0, node_len = 0;
	const char *id = sk_nats_record_id(line, len, &id_len);
	natsMsg *m = NULL;
	jsPubOptions po;
	natsStatus s;

	while (node_len < id_len && id[node_len] != ':')
		node_len++;
	if (b->subject[0] == '\0' || node_len != b->node_len || memcmp(id, b->node, node_len)) {
		if (node_len > SK_RECORD_NODE_ID_MAX ||
		    !sk_nats_subject(b->subject, sizeof b->subject, c->subject, id, id_len))
			return -EINVAL;
		memcpy(b->node, id, node_len);
		b->node_len = node_len;
	}
	jsPubOptions_Init(&po);
	po.MaxWait = c->ack_timeout_ms;
	if (id && id_len < sizeof b->msg_id) {
		memcpy(b->msg_id, id, id_len);
		b->msg_id[id_len] = '\0';
		po.MsgId = b->msg_id;
	}
	s = natsMsg_Create(&m, b->subject, NULL, line, (int)len);
	if (s != NATS_OK)
		return -ENOMEM;
	atomic_fetch_add(&b->inflight, 1);
	s = js_PublishMsgAsync(b->js, &m, &po);
	if (s != NATS_OK) {
		atomic_fetch_sub(&b->inflight, 1);
		natsMsg_Destroy(m);   /* still ours when it was not taken */
		return s == NATS_MAX_PAYLOAD ? -EMSGSIZE : -EIO;
	}
	b->published = true;
	return 0;
}

/* Spool lines, counting them; what does not fit is lost, loudly. */
static void to_spool(sk_nats_bus_t *b, const char *buf, size_t len, uint64_t nrec)
{
	sk_nats_t *n = b->n;
	long k = sk_spool_append(&n->spool, buf, len);
	if (k < 0) {
		sk_err("nats: cannot write the spool %s: %s; %" PRIu64 " records lost", n->spool.path,
			strerror((int)-k), nrec);
		atomic_fetch_add(&n->failed, nrec);
		return;
	}
	atomic_fetch_add(&n->spooled, (uint64_t)k);
	if ((uint64_t)k < nrec) {
		atomic_fetch_add(&n->failed, nrec - (uint64_t)k);
		if (!b->said_spool_full)
			sk_err("nats: the spool %s is full (%u MiB); records are counted as failed until "
				"the bus takes them again", n->spool.path, n->conf->spool_max_mb);
		b->said_spool_full = true;
	} else if (k > 0) {
		b->said_spool_full = false;
	}
	atomic_store(&n->in_spool, n->spool.pending);
}

/* The rest of a chunk (from its `off`) to the spool. */
static void spool_chunk(sk_nats_bus_t *b, sk_nats_chunk_t *c)
{
	uint64_t left = 0;
	for (const char *p = c->buf + c->off, *e = c->buf + c->len; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		left++;
	if (left)
		to_spool(b, c->buf + c->off, c->len - c->off, left);
	c->off = c->len;
}

/* Publish up to `max` lines of the backlog's first chunk. Returns lines taken; sets *err when a
 * publication was refused (the line stays in the chunk). */
static unsigned publish_backlog(sk_nats_bus_t *b, unsigned max, int *err)
{
	sk_nats_chunk_t *c = b->backlog.head;
	unsigned k = 0;
	while (c && k < max && room(b)) {
		const char *p = c->buf + c->off, *nl = memchr(p, '\n', c->len - c->off);
		if (!nl) {
			c->off = c->len;
		} else {
			int rc = publish(b, p, (size_t)(nl - p));
			if (rc == -EMSGSIZE || rc == -EINVAL) {
				atomic_fetch_add(&b->n->failed, 1);   /* can never be published */
			} else if (rc < 0) {
				*err = rc;
				return k;
			}
			c->off = (size_t)(nl - c->buf) + 1;
			k++;
		}
		if (c->off >= c->len) {
			sk_nats_list_t done = { NULL, NULL, 0 };
			sk_nats_list_push(&done, sk_nats_list_pop(&b->backlog));
			sk_nats_chunk_put_list(b->n, &done);
			c = b->backlog.head;
		}
	}
	return k;
}

/* Publish up to `max` lines from the spool's head (the oldest first). */
static unsigned replay(sk_nats_bus_t *b, unsigned max, int *err)
{
	sk_nats_t *n = b->n;
	unsigned k = 0;
	while (k < max && room(b)) {
		const char *line;
		size_t len;
		int rc = sk_spool_peek(&n->spool, &line, &len);
		if (rc <= 0) {
			if (rc < 0) {
				sk_err("nats: cannot read the spool %s: %s", n->spool.path, strerror(-rc));
				*err = rc;
			}
			break;
		}
		rc = publish(b, line, len);
		if (rc == -EMSGSIZE || rc == -EINVAL) {
			atomic_fetch_add(&n->failed, 1);
		} else if (rc < 0) {
			*err = rc;
			break;
		} else {
			atomic_fetch_add(&n->replayed, 1);
		}
		sk_spool_advance(&n->spool);
		k++;
	}
	atomic_store(&n->in_spool, n->spool.pending);
	return k;
}

/* React to what the acknowledgements said since the last look: failures pause publishing (new
 * records are spooled meanwhile) with a backoff; successes end it. */
static void note_acks(sk_nats_bus_t *b, uint64_t now)
{
	unsigned f = atomic_exchange(&b->fails, 0), o = atomic_exchange(&b->oks, 0);
	if (f) {
		char why[sizeof b->last_error];
		pthread_mutex_lock(&b->n->mu);
		memcpy(why, b->last_error, sizeof why);
		pthread_mutex_unlock(&b->n->mu);
		if (!b->said_failing)
			sk_warn("nats: %u records were not acknowledged (%s); they are spooled and sent "
				"again", f, why);
		b->said_failing = true;
		b->pause_until = now + b->backoff_ms;
		b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
	} else if (o) {
		if (b->said_failing)
			sk_info("nats: records are acknowledged again");
		b->said_failing = false;
		b->backoff_ms = BACKOFF_MIN_MS;
	}
}

/* Publish what can be published now, alternating new records and the spool; or, when the bus
 * cannot take records, spool the backlog. */
static void pump(sk_nats_bus_t *b, uint64_t now)
{
	sk_nats_chunk_t *c;
	int err = 0;

	note_acks(b, now);
	if (ready(b, now)) {
		if (b->said_down)
			sk_info("nats: publishing; %" PRIu64 " records in the spool to replay",
				(uint64_t)b->n->spool.pending);
		b->said_down = false;
		while (!err && room(b)) {
			unsigned k = publish_backlog(b, SLICE, &err);
			if (!err && !b->stopping)
				k += replay(b, SLICE, &err);
			if (k == 0)
				break;
		}
		if (err)
			b->pause_until = now + b->backoff_ms;
	}
	if (!ready(b, now) || err) {
		b->said_down = true;
		while ((c = sk_nats_list_pop(&b->backlog))) {
			sk_nats_list_t done = { NULL, NULL, 0 };
			spool_chunk(b, c);
			sk_nats_list_push(&done, c);
			sk_nats_chunk_put_list(b->n, &done);
		}
	}
	/* The window is full: memory holds a bounded backlog, the rest waits in the spool. */
	while (b->backlog.n > BACKLOG_MAX && (c = sk_nats_list_pop(&b->backlog))) {
		sk_nats_list_t done = { NULL, NULL, 0 };
		spool_chunk(b, c);
		sk_nats_list_push(&done, c);
		sk_nats_chunk_put_list(b->n, &done);
	}
}

/* Take the queue into the backlog and spool the failed lines; sleep first when there is nothing
 * to do. Returns whether the sink is stopping. */
static bool take_work(sk_nats_bus_t *b, uint64_t now)
{
	sk_nats_t *n = b->n;
	sk_nats_list_t retry = { NULL, NULL, 0 };
	bool stop, busy_pub = ready(b, now) && room(b) && (b->backlog.n || n->spool.pending);

	pthread_mutex_lock(&n->mu);
	if (!n->stop && !n->queue.n && !n->retry.n && !busy_pub) {
		struct timespec ts;
		atomic_store(&b->waiting, b->backlog.n || n->spool.pending);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WAIT_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&n->wake, &n->mu, &ts);
		atomic_store(&b->waiting, false);
	}
	sk_nats_list_take(&b->backlog, &n->queue);
	sk_nats_list_take(&retry, &n->retry);
	stop = n->stop;
	pthread_mutex_unlock(&n->mu);
	for (sk_nats_chunk_t *c = retry.head; c; c = c->next)
		spool_chunk(b, c);
	sk_nats_chunk_put_list(n, &retry);
	return stop;
}

static void sync_spool(sk_nats_bus_t *b, uint64_t now, bool force)
{
	sk_nats_t *n = b->n;
	if (!force && now < b->next_sync)
		return;
	int rc = sk_spool_sync(&n->spool);
	if (rc < 0)
		sk_warn("nats: cannot sync the spool %s: %s", n->spool.path, strerror(-rc));
	b->next_sync = now + n->conf->spool_fsync_ms;
}

/* The record sequence in a message's id ("node:run:seq"), for sorting what is spooled at stop. */
static void id_key(natsMsg *m, uint64_t *run, uint64_t *seq)
{
	const char *id = NULL, *p;
	*run = *seq = 0;
	if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK || !id || !(p = strchr(id, ':')))
		return;
	*run = strtoull(p + 1, (char **)&p, 10);
	if (*p == ':')
		*seq = strtoull(p + 1, NULL, 10);
}

static int by_id(const void *a, const void *b)
{
	uint64_t ra, sa, rb, sb;
	id_key(*(natsMsg *const *)a, &ra, &sa);
	id_key(*(natsMsg *const *)b, &rb, &sb);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return sa < sb ? -1 : sa > sb;
}

/*
 * Stopping: what is queued goes to the bus if it is there, else to the spool; acknowledgements
 * are awaited up to drain_ms (while connected: otherwise none can come); whatever is still
 * unacknowledged then is taken back from libnats and spooled in record order, so a restart
 * sends it again (the bus drops those it had stored as duplicates).
 */
static void drain(sk_nats_bus_t *b)
{
	sk_nats_t *n = b->n;
	uint64_t deadline = mono_ms() + n->conf->drain_ms;
	natsMsgList pending = { NULL, 0 };

	b->stopping = true;
	for (;;) {
		uint64_t now = mono_ms();
		take_work(b, now);   /* does not sleep while stopping */
		pump(b, now);
		if (now >= deadline || !atomic_load(&b->connected) ||
		    (!b->backlog.n && atomic_load(&b->inflight) == 0))
			break;
		if (!ready(b, now) && !atomic_load(&b->inflight))
			break;
		struct timespec ts = { 0, 5000000L };   /* acknowledgements come back meanwhile */
		nanosleep(&ts, NULL);
	}
	while (b->backlog.n) {
		sk_nats_chunk_t *c = sk_nats_list_pop(&b->backlog);
		sk_nats_list_t done = { NULL, NULL, 0 };
		spool_chunk(b, c);
		sk_nats_list_push(&done, c);
		sk_nats_chunk_put_list(n, &done);
	}
	if (b->published && js_PublishAsyncGetPendingList(&pending, b->js) == NATS_OK) {
		qsort(pending.Msgs, (size_t)pending.Count, sizeof *pending.Msgs, by_id);
		for (int i = 0; i < pending.Count; i++) {
			natsMsg *m = pending.Msgs[i];
			long k = sk_spool_append_line(&n->spool, natsMsg_GetData(m),
				(size_t)natsMsg_GetDataLength(m));
			atomic_fetch_add(k == 1 ? &n->spooled : &n->failed, 1);
		}
		atomic_fetch_sub(&b->inflight, (uint64_t)pending.Count);
		natsMsgList_Destroy(&pending);
	}
	/* An acknowledgement being handled as the list was taken finishes in a moment. */
	for (int i = 0; i < 100 && atomic_load(&b->inflight); i++) {
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
	take_work(b, mono_ms());
	atomic_store(&n->in_spool, n->spool.pending);
	sync_spool(b, mono_ms(), true);
}

static void *io_run(void *arg)
{
	sk_nats_t *n = arg;
	sk_nats_bus_t *b = n->bus;
	pthread_setname_np(pthread_self(), "sk-nats-io");

	for (;;) {
		uint64_t now = mono_ms();
		bool stop = take_work(b, now);
		if (stop)
			break;
		pump(b, mono_ms());
		sync_spool(b, mono_ms(), false);
	}
	drain(b);
	return NULL;
}

/* ---- start and stop ---- */

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

int sk_nats_bus_start(sk_nats_t *n)
{
	sk_nats_bus_t *b = calloc(1, sizeof *b);
	int rc;
	if (!b)
		return -ENOMEM;
	b->n = n;
	b->backoff_ms = BACKOFF_MIN_MS;
	pthread_cond_init(&b->admin_wake, NULL);
	n->bus = b;
	if ((rc = start_thread(&b->admin, admin_run, b)) < 0)
		goto fail;
	b->admin_started = true;
	if ((rc = start_thread(&n->thread, io_run, n)) < 0)
		goto fail;
	n->started = true;
	return 0;
fail:
	sk_nats_bus_stop(n);
	return rc;
}

void sk_nats_bus_stop(sk_nats_t *n)
{
	sk_nats_bus_t *b = n->bus;
	if (!b)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = true;
	pthread_cond_broadcast(&n->wake);
	pthread_cond_broadcast(&b->admin_wake);
	pthread_mutex_unlock(&n->mu);
	if (n->started)
		pthread_join(n->thread, NULL);
	if (b->admin_started)
		pthread_join(b->admin, NULL);
	n->started = b->admin_started = false;
	atomic_store(&b->closing, true);
	if (b->js)
		jsCtx_Destroy(b->js);
	if (b->nc) {
		natsConnection_Close(b->nc);
		natsConnection_Destroy(b->nc);
	}
	if (b->opts) {
		natsOptions_Destroy(b->opts);
		/* Every libnats thread ends here: no acknowledgement can come after the sink is freed. */
		nats_CloseAndWait(2000);
	}
	/* Lines whose failure was reported after the I/O thread's last look. */
	sk_nats_list_t retry = { NULL, NULL, 0 };
	pthread_mutex_lock(&n->mu);
	sk_nats_list_take(&retry, &n->retry);
	pthread_mutex_unlock(&n->mu);
	for (sk_nats_chunk_t *c = retry.head; c; c = c->next)
		spool_chunk(b, c);
	sk_nats_chunk_put_list(n, &retry);
	sk_spool_close(&n->spool);
	atomic_store(&n->in_spool, n->spool.pending);
	pthread_cond_destroy(&b->admin_wake);
	free(b);
	n->bus = NULL;
}
