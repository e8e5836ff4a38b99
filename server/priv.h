/* priv.h -- least privilege for the daemon: descriptor limit, chroot, user and group */
#ifndef SK_PRIV_H
#define SK_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf/conf.h"

/* What server.user, server.group and server.chroot resolve to, looked up once at start. */
typedef struct sk_priv {
	bool drop;              /* server.user is set: switch to uid/gid */
	uid_t uid;
	gid_t gid;
	char *user, *group;     /* names, for the log */
	char *root;             /* server.chroot, normalised; NULL: no chroot */
	char *conf_inside;      /* the config file's path seen from inside root; NULL without root */
	uid_t ctl_uid;          /* the control socket's owner and group: uid, and control.group, */
	gid_t ctl_gid;          /* else gid, else the process's own ids */
} sk_priv_t;

/*
 * Look up the user and group named in `conf` and check the chroot folder, before anything is
 * bound. A user or group that does not exist, a group without a user, a chroot that is not a
 * folder, or a config file outside the chroot is reported as "file:line: message" (sk_diag) and
 * fails with SK_EPARSE; memory: -ENOMEM. So is a `control.group` that does not exist. Also used
 * by --check. On success *out holds copies
 * (free with sk_priv_free); on failure nothing is held.
 */
int sk_priv_resolve(const sk_conf_t *conf, sk_priv_t *out);

/* Free what sk_priv_resolve stored. Accepts a zeroed struct. */
void sk_priv_free(sk_priv_t *p);

/*
 * Raise the soft RLIMIT_NOFILE to the hard limit and log what it is, then warn when the TCP
 * caps of `conf` (tcp_max_clients per worker) cannot be met with that many descriptors.
 */
void sk_priv_raise_nofile(const sk_conf_t *conf);

/*
 * Give up what the process no longer needs once every socket is bound: chroot to p->root (and
 * tell the config loader, sk_conf_set_root), then, with p->drop, setgroups(0) (no supplementary
 * groups), setgid, setuid, and a check that setuid(0) now fails. Must run while the process has
 * one thread: the credentials of threads started before would not all change together.
 * Returns 0, or a negative code after logging why (the daemon must not go on).
 */
int sk_priv_apply(const sk_priv_t *p);

#endif
