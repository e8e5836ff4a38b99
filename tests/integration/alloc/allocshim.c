/* allocshim.c -- LD_PRELOAD'ed into sinkholed by test_query_path.py: counts the heap allocations
 * made by the threads that answer queries (the TCP workers, named "sk-worker-N", and the UDP
 * threads, "sk-udp-N.M") and writes the count to $SK_ALLOC_OUT at exit. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong worker_allocs;
static __thread int is_worker;   /* cached once seen: a thread is named before it serves */

static void count(void)
{
	if (!is_worker) {
		char name[16] = "";
		prctl(PR_GET_NAME, name, 0, 0, 0);
		if (strncmp(name, "sk-worker-", 10) != 0 && strncmp(name, "sk-udp-", 7) != 0)
			return;
		is_worker = 1;
	}
	atomic_fetch_add(&worker_allocs, 1);
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t al, size_t n) { count(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { count(); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n)
{
	count();
	void *p = __libc_memalign(al, n);
	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("SK_ALLOC_OUT");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%lu\n", (unsigned long)atomic_load(&worker_allocs));
		fclose(f);
	}
}
