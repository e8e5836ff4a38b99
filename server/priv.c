/* priv.c -- least privilege for the daemon: descriptor limit, chroot, user and group */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "priv.h"
#include "util/err.h"
#include "util/log.h"

/* Descriptors a worker holds besides its connections: its loop's epoll and wake-up descriptors,
 * and the one connection accepted before the least active one is evicted. */
#define SK_FD_PER_WORKER 4
/* stdio, the main loop, telemetry files and sockets, geo databases while they open, a reload. */
#define SK_FD_SPARE 64

static int lookup_user(const sk_conf_t *conf, sk_priv_t *out)
{
	errno = 0;
	struct passwd *pw = getpwnam(conf->user);
	if (!pw) {
		sk_diag(0, conf->path, conf->user_line, "server.user: no such user '%s'%s%s",
			conf->user, errno ? ": " : "", errno ? strerror(errno) : "");
		return SK_EPARSE;
	}
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	if (!conf->group) {
		/* The user's primary group, named for the log when it has a name. */
		struct group *gr = getgrgid(pw->pw_gid);
		out->group = gr ? strdup(gr->gr_name) : NULL;
		if (!out->group && asprintf(&out->group, "%u", (unsigned)pw->pw_gid) < 0)
			out->group = NULL;
		return out->group ? 0 : -ENOMEM;
	}
	errno = 0;
	struct group *gr = getgrnam(conf->group);
	if (!gr) {
		sk_diag(0, conf->path, conf->group_line, "server.group: no such group '%s'%s%s",
			conf->group, errno ? ": " : "", errno ? strerror(errno) : "");
		return SK_EPARSE;
	}
	out->gid = gr->gr_gid;
	return (out->group = strdup(conf->group)) ? 0 : -ENOMEM;
}

/* The chroot must be a folder, and the config file inside it: reloads read it from there. */
static int check_root(const sk_conf_t *conf, sk_priv_t *out)
{
	struct stat st;
	if (stat(conf->chroot, &st) < 0) {
		sk_diag(0, conf->path, conf->chroot_line, "server.chroot: cannot use '%s': %s",
			conf->chroot, strerror(errno));
		return SK_EPARSE;
	}
	if (!S_ISDIR(st.st_mode)) {
		sk_diag(0, conf->path, conf->chroot_line, "server.chroot: '%s' is not a folder",
			conf->chroot);
		return SK_EPARSE;
	}
	char *conf_abs = sk_conf_path_normalize(conf->path);
	if (!conf_abs)
		return -ENOMEM;
	const char *inside = sk_conf_path_under(conf->chroot, conf_abs);
	int rc = 0;
	if (!inside) {
		sk_diag(0, conf->path, conf->chroot_line, "server.chroot: the config file '%s' is "
			"outside '%s': reloads read it from inside", conf_abs, conf->chroot);
		rc = SK_EPARSE;
	} else if (!(out->root = strdup(conf->chroot)) || !(out->conf_inside = strdup(inside))) {
		rc = -ENOMEM;
	}
	free(conf_abs);
	return rc;
}

/* The control socket belongs to the user the server runs as, and to control.group (the
 * operators allowed to use sinkholectl), else to the server's group. */
static int lookup_ctl_group(const sk_conf_t *conf, sk_priv_t *out)
{
	out->ctl_uid = out->drop ? out->uid : getuid();
	out->ctl_gid = out->drop ? out->gid : getgid();
	if (!conf->control.group)
		return 0;
	errno = 0;
	struct group *gr = getgrnam(conf->control.group);
	if (!gr) {
		sk_diag(0, conf->path, conf->control.group_line, "control.group: no such group '%s'%s%s",
			conf->control.group, errno ? ": " : "", errno ? strerror(errno) : "");
		return SK_EPARSE;
	}
	out->ctl_gid = gr->gr_gid;
	return 0;
}

int sk_priv_resolve(const sk_conf_t *conf, sk_priv_t *out)
{
	int rc = 0, rc2 = 0;
	memset(out, 0, sizeof *out);
	if (conf->group && !conf->user) {
		sk_diag(0, conf->path, conf->group_line, "server.group: needs server.user (the user "
			"to run as)");
		rc = SK_EPARSE;
	} else if (conf->user) {
		out->drop = true;
		if (!(out->user = strdup(conf->user)))
			rc = -ENOMEM;
		else
			rc = lookup_user(conf, out);
	}
	if (conf->chroot)
		rc2 = check_root(conf, out);
	if (!rc && !rc2)
		rc = lookup_ctl_group(conf, out);
	if (rc || rc2) {
		sk_priv_free(out);
		return rc ? rc : rc2;
	}
	return 0;
}

void sk_priv_free(sk_priv_t *p)
{
	free(p->user);
	free(p->group);
	free(p->root);
	free(p->conf_inside);
	memset(p, 0, sizeof *p);
}

void sk_priv_raise_nofile(const sk_conf_t *conf)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		sk_warn("cannot read the open files limit: %s", strerror(errno));
		return;
	}
	rlim_t was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			sk_warn("cannot raise the open files limit from %llu to %llu: %s",
				(unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = was;
		}
	}
	sk_info("open files limit %llu (was %llu, hard limit %llu)", (unsigned long long)rl.rlim_cur,
		(unsigned long long)was, (unsigned long long)rl.rlim_max);
	unsigned workers = conf->workers ? conf->workers : 1;
	unsigned long long need = (unsigned long long)workers *
		(conf->tcp_max_clients + 2 * conf->nlisten + SK_FD_PER_WORKER) + SK_FD_SPARE;
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
		sk_warn("%s: tcp_max_clients %u x %u workers needs about %llu open files, but the limit "
			"is %llu: connections past it are closed as they are accepted; raise the hard "
			"limit (LimitNOFILE=, ulimit -Hn) or lower tcp_max_clients", conf->path,
			conf->tcp_max_clients, workers, need, (unsigned long long)rl.rlim_cur);
}

static int enter_root(const sk_priv_t *p)
{
	int rc;
	if (chroot(p->root) < 0 || chdir("/") < 0) {
		rc = -errno;
		sk_err("cannot chroot to %s: %s", p->root, strerror(errno));
		return rc;
	}
	if ((rc = sk_conf_set_root(p->root)))
		return rc;
	sk_info("chroot: %s (the config is now %s)", p->root, p->conf_inside);
	return 0;
}

/* Order matters: the supplementary groups and the group can only change while still root. */
static int become_user(const sk_priv_t *p)
{
	if (setgroups(0, NULL) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0) {
		int rc = -errno;
		sk_err("cannot switch to user %s (uid %u), group %s (gid %u): %s", p->user,
			(unsigned)p->uid, p->group, (unsigned)p->gid, strerror(errno));
		return rc;
	}
	/* A switch that left a way back (a saved uid 0, a capability kept) is no switch at all. */
	if (p->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		sk_err("switched to user %s, but could become root again: refusing to go on", p->user);
		return -EPERM;
	}
	if (getuid() != p->uid || geteuid() != p->uid || getgid() != p->gid || getegid() != p->gid) {
		sk_err("switched to user %s, but the credentials did not all change", p->user);
		return -EPERM;
	}
	sk_info("running as user %s (uid %u), group %s (gid %u), no supplementary groups", p->user,
		(unsigned)p->uid, p->group, (unsigned)p->gid);
	return 0;
}

int sk_priv_apply(const sk_priv_t *p)
{
	int rc;
	bool root = geteuid() == 0;
	if (p->root) {
		if (!root) {
			sk_err("server.chroot needs the server to start as root (running as uid %u)",
				(unsigned)geteuid());
			return -EPERM;
		}
		if ((rc = enter_root(p)))
			return rc;
	}
	if (!p->drop)
		return 0;
	if (!root) {
		/* Started as that user already (by a service manager, say): nothing to give up. */
		if (geteuid() == p->uid && getegid() == p->gid) {
			sk_info("running as user %s (uid %u) already", p->user, (unsigned)p->uid);
			return 0;
		}
		sk_err("server.user %s: switching users needs the server to start as root (running "
			"as uid %u)", p->user, (unsigned)geteuid());
		return -EPERM;
	}
	return become_user(p);
}
