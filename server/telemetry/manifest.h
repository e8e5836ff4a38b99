/* manifest.h -- the chain of sealed JSON lines segments (evidence integrity); internal to the
 * telemetry module, used by the JSON lines sink (jsonl.c) */
#ifndef SK_MANIFEST_H
#define SK_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/crypto.h"

/*
 * A segment is one file's worth of records, exactly as the sink wrote them: a SHA-256 over its
 * bytes kept as they are written (never read back), the number of records and bytes, the first
 * and last record's time and seq. When the segment ends (rotation, shutdown, SIGUSR1, a file that
 * went away), one line is appended to `PATH.manifest`:
 *
 *   {"seg":N,"file":"events.jsonl.1","end":"rotate","keep":20,"bytes":N,"records":N,
 *    "first":"...Z","last":"...Z","first_seq":N,"last_seq":N,"sha256":"hex",
 *    "sealed":"2026-11-22T10:00:00Z","prev":"hex"[,"sig":"base64"]}
 *
 * `prev` is the SHA-256 of the previous line's bytes (without its newline; 64 zeros for the first
 * line), so lines cannot be removed, changed or reordered without breaking the chain; `sig` is the
 * Ed25519 signature of the line's bytes before `,"sig"`. README.md, "Reports and evidence", is the
 * reference; tools/report/verify.c checks it.
 */
typedef enum {
	SK_SEG_ROTATE,    /* the size limit: renamed to PATH.1 */
	SK_SEG_STOP,      /* shutdown: renamed to PATH.1 */
	SK_SEG_REOPEN,    /* SIGUSR1: an outside tool moved the file; where to is not known here */
	SK_SEG_LOST,      /* the file went away or changed under the sink (deleted, replaced) */
	SK_SEG_UNSEALED,  /* a file found at PATH that is no sealed segment of ours (the server died
	                     without sealing it): renamed to PATH.1, its size noted, no hash */
} sk_seg_end_t;

typedef struct sk_segment {
	bool open;                /* a segment is being written */
	dev_t dev;                /* ... into this file */
	ino_t ino;
	sk_sha256_t sha;
	uint64_t bytes, records;
	uint64_t first_seq, last_seq;
	char first[32], last[32]; /* the first and last record's "time", "" when not found */
} sk_segment_t;

typedef struct sk_manifest sk_manifest_t;

/*
 * Open (or create, mode 0640) `jsonl_path`.manifest for appending and continue its chain: the last
 * line gives the next segment number and the `prev` hash; start the thread that writes lines
 * (sk-manifest). `sign_key_path` (NULL: unsigned) names
 * a key file (crypto.h: one base64 line, a 64-byte libsodium Ed25519 secret key), read here.
 * `keep` is the sink's, recorded in every line. Returns 0, or a negative code after logging
 * why as "file:line: message" (a last line that is cut or not a manifest line: the chain cannot
 * be continued, and writing a new one over it would hide that).
 */
int sk_manifest_open(const char *jsonl_path, const char *sign_key_path, unsigned keep, sk_manifest_t **out);

/* Write every queued line, stop the manifest's thread, close and free; the secret key is
 * wiped. Accepts NULL. */
void sk_manifest_free(sk_manifest_t *m);

/* Start a segment in the file (dev, ino), empty so far. */
void sk_segment_start(sk_segment_t *s, dev_t dev, ino_t ino);

/* `n` bytes holding `records` whole lines were written to the segment's file: hash them and note
 * the first and last record's time and seq. Cheap: the hash, and a look at two lines. */
void sk_segment_add(sk_segment_t *s, const char *buf, size_t n, uint64_t records);

/*
 * End the segment: format and sign its line (`file`: the file's name now, without the folder) and
 * queue it for the manifest's thread, which fdatasyncs `sync_fd` (the segment's file; it takes
 * ownership and closes it; -1: nothing to sync), then appends the line and fsyncs the manifest,
 * and logs "sealed segment N ..." with the chain's new head. Never waits for the disk. The segment
 * is closed afterwards whatever happens; a line that cannot be written is logged, and the chain
 * then has a gap that verify reports. SK_SEG_UNSEALED takes `s` NULL and `unsealed_bytes`, the
 * size of the file found. Returns 0 (queued), -ENOMEM or SK_ETOOBIG.
 */
int sk_manifest_seal(sk_manifest_t *m, sk_segment_t *s, sk_seg_end_t end, const char *file,
	uint64_t unsealed_bytes, int sync_fd);

/* Wait until every queued line is written (tests; sk_manifest_free does it too). */
void sk_manifest_flush(sk_manifest_t *m);

/* The head of the chain: the SHA-256 (hex) of the last line written, 64 zeros before any. */
const char *sk_manifest_head(const sk_manifest_t *m);

#endif
