/* fuzz_common.h -- what the libFuzzer targets share: a scratch folder, files written from the
 * input, and one checked call of the answer builder */
#ifndef SK_FUZZ_COMMON_H
#define SK_FUZZ_COMMON_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "dns/respond.h"

/* Stop the run with a message: libFuzzer keeps the input that got here (abort is a crash). The
 * message goes to stdout, which -close_fd_mask=2 (tests/run.sh) leaves open. */
#define FUZZ_CHECK(cond) do { if (!(cond)) { \
	printf("%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
	fflush(stdout); \
	abort(); } } while (0)

/* A folder of our own for the files a target writes (config, zone, list), made once, removed
 * at exit. Every file the loaders may open lies in it, so input cannot reach other files. */
static inline const char *fuzz_dir(void)
{
	static char dir[256];
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/sk-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			abort();
		}
	}
	return dir;
}

/* `name` inside fuzz_dir(), into buf. */
static inline const char *fuzz_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", fuzz_dir(), name);
	return buf;
}

/* Write `len` bytes to `path`, replacing the file. */
static inline void fuzz_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;
	if (fd < 0) {
		perror(path);
		abort();
	}
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0) {
			perror(path);
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

/* Remove the scratch folder and the files named in `names` (NULL-terminated) inside it. */
static inline void fuzz_cleanup(const char *const *names)
{
	char path[512];
	for (; *names; names++)
		unlink(fuzz_path(path, sizeof path, *names));
	rmdir(fuzz_dir());
}

#define FUZZ_CLIENT "\xc0\x00\x02\x01"     /* 192.0.2.1, the client of every query */

/*
 * Answer `msg` from `snap` into `out` (`cap` bytes) and check what every reply must be: no longer
 * than cap, a header at least, the query's ID, QR set. The one place the targets call the answer
 * builder, so a change of its signature is one edit here. Returns the reply's length (0: none);
 * `info_out` (may be NULL) receives what sk_respond said about it. The client is FUZZ_CLIENT.
 */
static inline size_t fuzz_answer(const sk_snapshot_t *snap, const uint8_t *msg, size_t len,
	int transport, uint8_t *out, size_t cap, sk_resp_info_t *info_out)
{
	sk_resp_info_t info;
	/* A fixed client and time: cookies are made and checked like any other part of the answer. */
	struct sockaddr_in from = { .sin_family = AF_INET };
	memcpy(&from.sin_addr, FUZZ_CLIENT, 4);
	const sk_client_t client = { .addr = (const struct sockaddr *)&from, .now = 1700000000 };
	size_t n = sk_respond(snap, &client, msg, len, transport, out, cap, &info);
	if (info_out)
		*info_out = info;
	if (!n)
		return 0;
	FUZZ_CHECK(n >= 12 && n <= cap && len >= 12);
	FUZZ_CHECK(out[0] == msg[0] && out[1] == msg[1]);
	FUZZ_CHECK(out[2] & 0x80);
	FUZZ_CHECK(info.size == n);
	return n;
}

#endif
