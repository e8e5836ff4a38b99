/* pagecache.c -- see pagecache.h */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>

#include "util/pagecache.h"

typedef struct advice {
	int fd;                 /* a duplicate, closed once the advice is given */
	bool whole;             /* drop the whole file; else write [at, at+len) and drop the chunk before */
	off_t at;
} advice_t;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	unsigned starts;        /* sk_pagecache_start() calls not yet stopped */
	bool running, stopping;
	advice_t queue[SK_PAGECACHE_QUEUE];
	unsigned head, n;
} adv = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static void give(const advice_t *a)
{
	if (a->whole) {
		(void)posix_fadvise(a->fd, 0, 0, POSIX_FADV_DONTNEED);
		return;
	}
	(void)sync_file_range(a->fd, a->at, SK_PAGECACHE_CHUNK, SYNC_FILE_RANGE_WRITE);
	if (a->at >= (off_t)SK_PAGECACHE_CHUNK)
		(void)posix_fadvise(a->fd, a->at - (off_t)SK_PAGECACHE_CHUNK, SK_PAGECACHE_CHUNK,
			POSIX_FADV_DONTNEED);
}

static void *run(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sk-pagecache");
	pthread_mutex_lock(&adv.lock);
	for (;;) {
		while (adv.n == 0 && !adv.stopping)
			pthread_cond_wait(&adv.wake, &adv.lock);
		if (adv.n == 0)
			break;
		advice_t a = adv.queue[adv.head];
		adv.head = (adv.head + 1) % SK_PAGECACHE_QUEUE;
		adv.n--;
		pthread_mutex_unlock(&adv.lock);
		give(&a);
		close(a.fd);
		pthread_mutex_lock(&adv.lock);
	}
	pthread_mutex_unlock(&adv.lock);
	return NULL;
}

/* Queue the advice for the thread; false when there is no thread (the caller gives it itself). */
static bool post(int fd, bool whole, off_t at)
{
	bool taken = false;
	pthread_mutex_lock(&adv.lock);
	if (adv.running && !adv.stopping) {
		taken = true;   /* queued, or skipped when the queue is full: advice only */
		if (adv.n < SK_PAGECACHE_QUEUE) {
			int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			if (dup_fd >= 0) {
				adv.queue[(adv.head + adv.n) % SK_PAGECACHE_QUEUE] =
					(advice_t){ .fd = dup_fd, .whole = whole, .at = at };
				adv.n++;
				pthread_cond_signal(&adv.wake);
			}
		}
	}
	pthread_mutex_unlock(&adv.lock);
	return taken;
}

void sk_pagecache_wrote(sk_pagecache_t *pc, int fd, uint64_t n)
{
	pc->size += n;
	while (pc->size - pc->chunk_from >= SK_PAGECACHE_CHUNK) {
		off_t at = (off_t)pc->chunk_from;
		if (!post(fd, false, at))
			give(&(advice_t){ .fd = fd, .at = at });
		pc->chunk_from += SK_PAGECACHE_CHUNK;
	}
}

void sk_pagecache_drop(int fd)
{
	if (!post(fd, true, 0))
		give(&(advice_t){ .fd = fd, .whole = true });
}

int sk_pagecache_start(void)
{
	int rc = 0;
	pthread_mutex_lock(&adv.lock);
	if (adv.starts++ == 0) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		adv.stopping = false;
		rc = -pthread_create(&adv.thread, NULL, run, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc == 0)   /* named here too, so it has its name by the time start returns */
			pthread_setname_np(adv.thread, "sk-pagecache");
		adv.running = rc == 0;
		if (rc)
			adv.starts = 0;
	}
	pthread_mutex_unlock(&adv.lock);
	return rc;
}

void sk_pagecache_stop(void)
{
	pthread_mutex_lock(&adv.lock);
	if (adv.starts == 0 || --adv.starts > 0 || !adv.running) {
		pthread_mutex_unlock(&adv.lock);
		return;
	}
	adv.stopping = true;
	pthread_cond_signal(&adv.wake);
	pthread_mutex_unlock(&adv.lock);
	pthread_join(adv.thread, NULL);
	pthread_mutex_lock(&adv.lock);
	adv.running = false;
	adv.stopping = false;
	pthread_mutex_unlock(&adv.lock);
}
