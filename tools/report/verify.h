/* verify.h -- `sinkhole-report verify` and `keygen`: the evidence chain of the JSON lines files */
#ifndef RP_VERIFY_H
#define RP_VERIFY_H

/*
 * Check `target` (a manifest file, or a folder holding exactly one *.manifest) against the files
 * beside it: the chain of lines (prev hashes, numbering), signatures when `pubkey_path` is given,
 * the head when `head` (hex) is given, and every sealed segment's file. Prints one line per
 * segment and per unexplained file, and a last line "verified: ..." or "FAILED: ...". Returns the
 * exit status: 0 intact, 1 a problem found, 2 cannot check (usage, unreadable manifest).
 */
int rp_verify(const char *target, const char *pubkey_path, const char *head);

/* Write PREFIX.key (the secret key, mode 0600, never over an existing file) and PREFIX.pub.
 * Returns the exit status. */
int rp_keygen(const char *prefix);

#endif
