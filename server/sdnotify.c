/* sdnotify.c -- the sd_notify datagram protocol, without libsystemd */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"
#include "util/log.h"

static int notify_fd = -1;

int sk_notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || !path[0])
		return 0;
	size_t len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path) {
		sk_warn("NOTIFY_SOCKET=%s: not a socket path; systemd will not hear from us", path);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';     /* the abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&sa,
			(socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		int err = errno;
		sk_warn("NOTIFY_SOCKET=%s: %s; systemd will not hear from us", path, strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	notify_fd = fd;
	return 0;
}

void sk_notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (send(notify_fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1, MSG_NOSIGNAL) < 0)
		sk_debug("sd_notify: %s", strerror(errno));
}

void sk_notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sk_notify("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)ts.tv_sec * 1000000ull +
		(unsigned long long)ts.tv_nsec / 1000u);
}

void sk_notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
