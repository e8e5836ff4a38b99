/* spool.h -- the NATS sink's spool: a bounded append-only file of JSON lines, read back in order */
#ifndef SK_NATS_SPOOL_H
#define SK_NATS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Records the bus did not take wait here, one JSON line each, oldest first. Lines are appended at
 * the end and read back from the head; the head (the offset of the first line not yet read back)
 * is kept in PATH.pos, so that a restart goes on where the last run stopped rather than sending
 * everything again. When every line has been read back, the file is cut to zero bytes.
 *
 * Crash safety: lines are written with write(2) at once and fdatasync'ed by sk_spool_sync(),
 * which the caller runs periodically; PATH.pos is replaced (write, rename) after the file has
 * been synced. A crash loses at most what was written since the last sync; a line cut by a crash
 * is removed at the next open; a PATH.pos that is lost or stale makes lines be read back again
 * (the bus drops them as duplicates within its duplicate window).
 *
 * One thread uses a spool at a time (the sink's I/O thread). Nothing here blocks on anything but
 * the local disk.
 */
typedef struct sk_spool {
	char *path, *pos_path, *tmp_path;
	int fd;
	uint64_t size;          /* bytes in the file */
	uint64_t head;          /* offset of the first line not read back */
	uint64_t saved_head;    /* the head as PATH.pos has it */
	uint64_t max;           /* the file never grows past this many bytes */
	uint64_t pending;       /* lines between head and size */
	bool dirty;             /* written since the last sync */
	char *rbuf;             /* lines read ahead from head: file offsets [rbase, rbase + rlen) */
	size_t rlen;
	uint64_t rbase;
} sk_spool_t;

/* The longest line the spool reads back; a longer one (never written by the sink) is skipped. */
#define SK_SPOOL_LINE_MAX (1u << 20)

/*
 * Open or create the spool at `path` (mode 0640), at most `max` bytes. A last line without its
 * newline (cut by a crash) is cut off; the head is read from PATH.pos (0 when there is none or it
 * does not fit the file) and the lines after it are counted. 0 or a negative errno.
 */
int sk_spool_open(sk_spool_t *s, const char *path, uint64_t max);

/*
 * Append whole lines: buf[0..len) holds lines each ending in '\n'. As many lines as fit under the
 * size limit are written, in one write(2); returns how many (the rest did not fit: -ENOSPC is
 * not returned, the count says it), or a negative errno when writing failed (nothing was
 * appended: a partly written tail is cut off again).
 */
long sk_spool_append(sk_spool_t *s, const char *buf, size_t len);

/* Append one line given without its newline. 1, 0 when it does not fit, or a negative errno. */
long sk_spool_append_line(sk_spool_t *s, const char *line, size_t len);

/*
 * The line at the head, without its newline, in *line and *len (valid until the next call on
 * the spool). 1 when there is one, 0 when everything was read back, a negative errno on a read
 * error. Does not move the head: sk_spool_advance() does, once the line is taken care of.
 */
int sk_spool_peek(sk_spool_t *s, const char **line, size_t *len);

/* Move the head past the line sk_spool_peek() returned. When that was the last line the file is
 * cut to zero bytes (and PATH.pos updated at the next sync). */
void sk_spool_advance(sk_spool_t *s);

/* fdatasync the file when it changed, then record the head in PATH.pos when it moved. 0 or a
 * negative errno. */
int sk_spool_sync(sk_spool_t *s);

/* Sync and close; accepts a spool that failed to open or was never opened (zeroed). */
void sk_spool_close(sk_spool_t *s);

#endif
