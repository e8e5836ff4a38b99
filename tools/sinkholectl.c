/* sinkholectl.c -- talk to a running sinkholed over its control socket */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"

#define DEFAULT_SOCKET "/run/sinkholed/control.sock"
#define EXIT_USAGE 2
#define EXIT_NOANSWER 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sinkholectl [-s SOCKET | -c CONFIG] [-t SECONDS] COMMAND [ARGS]\n"
		"commands:\n"
		"  status              identity, generation, zones, reloads, listeners\n"
		"  stats               network counters and queries by transport, rcode, qtype, tags\n"
		"  reload              reload config, zones and lists; waits and prints the outcome\n"
		"  zones               zones (serial, names, records, tags) and seized lists\n"
		"  lookup NAME [TYPE]  what the server answers for NAME (default type A)\n"
		"  telemetry           telemetry counters per sink\n"
		"options:\n"
		"  -s, --socket PATH   the control socket (default " DEFAULT_SOCKET ")\n"
		"  -c, --config FILE   take the socket from the server's config (control.socket)\n"
		"  -t, --timeout SEC   give up after this long (default 10; for reload 600)\n"
		"exit status: 0 ok, 1 the server answered with an error, 2 usage, 3 no answer\n");
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* control.socket from a config file; NULL (and a message) when it has none. */
static char *socket_from_config(const char *path)
{
	sk_conf_t *conf;
	if (sk_conf_load(path, &conf)) {
		fprintf(stderr, "sinkholectl: cannot read %s\n", path);
		return NULL;
	}
	char *s = conf->control.socket ? strdup(conf->control.socket) : NULL;
	if (!conf->control.socket)
		fprintf(stderr, "sinkholectl: %s has no control.socket\n", path);
	sk_conf_free(conf);
	return s;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "sinkholectl: %s: path too long for a unix socket\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "sinkholectl: cannot connect to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until the server closes, or the deadline. Returns the reply (NUL-terminated) or NULL. */
static char *read_reply(int fd, double timeout)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	double deadline = mono_now() + timeout;
	while (buf) {
		double left = deadline - mono_now();
		if (left <= 0) {
			fprintf(stderr, "sinkholectl: no complete answer within %.0f s\n", timeout);
			break;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (len + 1 >= cap) {
			char *g = realloc(buf, cap * 2);
			if (!g)
				break;
			buf = g;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "sinkholectl: read: %s\n", strerror(errno));
			break;
		}
		if (n == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)n;
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = NULL, *config = NULL;
	double timeout = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+s:c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'c': config = optarg; break;
		case 't': timeout = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc || (sock && config) || timeout < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* One request line: the words joined by spaces. */
	char line[1024];
	size_t n = 0;
	for (int i = optind; i < argc; i++) {
		if (strpbrk(argv[i], " \t\r\n") || n + strlen(argv[i]) + 2 > sizeof line) {
			fprintf(stderr, "sinkholectl: bad argument '%s'\n", argv[i]);
			return EXIT_USAGE;
		}
		n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", i > optind ? " " : "", argv[i]);
	}
	line[n++] = '\n';
	if (!timeout)
		timeout = !strcmp(argv[optind], "reload") ? 600 : 10;
	char *from_conf = config ? socket_from_config(config) : NULL;
	if (config && !from_conf)
		return EXIT_NOANSWER;
	int fd = connect_to(from_conf ? from_conf : sock ? sock : DEFAULT_SOCKET);
	free(from_conf);
	if (fd < 0)
		return EXIT_NOANSWER;
	char *reply = send_all(fd, line, n) ? NULL : read_reply(fd, timeout);
	close(fd);
	if (!reply) {
		fprintf(stderr, "sinkholectl: the server closed the connection without an answer\n");
		return EXIT_NOANSWER;
	}
	/* "ok" or "error" on the first line, then the body. */
	char *body = strchr(reply, '\n');
	body = body ? body + 1 : reply + strlen(reply);
	int rc;
	if (!strncmp(reply, "ok\n", 3)) {
		fputs(body, stdout);
		rc = 0;
	} else if (!strncmp(reply, "error\n", 6)) {
		fputs(body, stderr);
		rc = 1;
	} else {
		fprintf(stderr, "sinkholectl: unexpected answer:\n%s", reply);
		rc = EXIT_NOANSWER;
	}
	free(reply);
	return rc;
}
