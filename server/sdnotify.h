/* sdnotify.h -- tell systemd (Type=notify) when the daemon is ready, reloading or stopping */
#ifndef SK_SDNOTIFY_H
#define SK_SDNOTIFY_H

/*
 * The sd_notify protocol written out (a datagram of "KEY=VALUE" lines to the unix socket named by
 * $NOTIFY_SOCKET, a path or "@abstract"), so that the daemon does not depend on libsystemd for
 * one sendto. Without $NOTIFY_SOCKET every call does nothing.
 */

/* Open and connect the socket. Call before chroot and before giving up root: the socket's path
 * lies outside any chroot, and once connected a datagram reaches it from anywhere. Logs and
 * returns a negative code when $NOTIFY_SOCKET is set but unusable (the daemon goes on). */
int sk_notify_open(void);

/* Send one message, such as "READY=1\nSTATUS=serving". Never blocks; errors are logged at debug. */
void sk_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "RELOADING=1" with MONOTONIC_USEC, as systemd 253's Type=notify-reload wants it too. */
void sk_notify_reloading(void);

void sk_notify_close(void);

#endif
