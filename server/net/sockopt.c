/* sockopt.c -- open, configure and bind the sockets the workers serve on */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/net_int.h"
#include "util/err.h"

/* Large enough to ride out a burst while a worker is busy; the kernel caps it at rmem_max. */
#define SK_UDP_RCVBUF (4 << 20)
#define SK_TCP_BACKLOG 1024
/* Pending TCP Fast Open requests (RFC 7766 s7 recommends TFO); failure to enable is harmless. */
#define SK_TCP_FASTOPEN_QLEN 256

static int setopt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof value) ? -errno : 0;
}

static bool is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* Options every serving socket gets, before bind. */
static int open_common(const struct sockaddr *sa, int type, int *out)
{
	int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* One socket per worker on the same address: the kernel hashes each client to one of them,
	 * so the workers share nothing and need no lock. */
	int rc = setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (rc)
		goto fail;
	/* An IPv6 wildcard must not take IPv4 too: 0.0.0.0 has its own sockets, and a mapped
	 * address would make both fight over the same port. */
	if (sa->sa_family == AF_INET6 && (rc = setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)))
		goto fail;
	*out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

int sk_sock_udp(const struct sockaddr *sa, socklen_t len, int *out, bool *pktinfo)
{
	int fd = -1, rc = open_common(sa, SOCK_DGRAM, &fd);
	if (rc)
		return rc;
	bool wild = is_wildcard(sa);
	/* On a wildcard the kernel would pick the reply's source address by routing, which is not
	 * always the address the query went to; the resolver would drop such a reply. Ask for the
	 * destination of each datagram so the reply can name it as its source. */
	if (wild && sa->sa_family == AF_INET)
		rc = setopt(fd, IPPROTO_IP, IP_PKTINFO, 1);
	else if (wild)
		rc = setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	if (rc)
		goto fail;
	/* Never fragment (RFC 9715): replies go with DF set (IPv4) and are never split at the
	 * source (IPv6), whatever the path MTU ICMP says (a forged "fragmentation needed" could
	 * otherwise make us send fragments an attacker can replace). A reply larger than the
	 * interface's MTU is refused with EMSGSIZE and sent truncated instead (udp.c). DF also
	 * spares the kernel an IP ID per reply (__ip_select_ident: about 1% of a worker). */
	if (sa->sa_family == AF_INET)
		rc = setopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
	else
		rc = setopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE);
	if (rc)
		goto fail;
	(void)setopt(fd, SOL_SOCKET, SO_RCVBUF, SK_UDP_RCVBUF);
	if (bind(fd, sa, len)) {
		rc = -errno;
		goto fail;
	}
	*pktinfo = wild;
	*out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

int sk_sock_tcp(const struct sockaddr *sa, socklen_t len, int *out)
{
	int fd = -1, rc = open_common(sa, SOCK_STREAM, &fd);
	if (rc)
		return rc;
	/* Restart while old connections sit in TIME_WAIT. */
	if ((rc = setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)))
		goto fail;
	(void)setopt(fd, IPPROTO_TCP, TCP_FASTOPEN, SK_TCP_FASTOPEN_QLEN);
	if (bind(fd, sa, len) || listen(fd, SK_TCP_BACKLOG)) {
		rc = -errno;
		goto fail;
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

void sk_sock_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, size, "%s@%u", host, port);
}
