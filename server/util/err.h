/* err.h -- the project's one error convention: 0 for success, a negative code for failure. */
#ifndef SK_ERR_H
#define SK_ERR_H

#include <errno.h>

/*
 * Functions return 0 (or a non-negative count) on success and a negative code on failure:
 * either a negated errno value (-ENOMEM, -EINVAL, ...) or one of the project's own codes
 * below, all under -1000 so the two ranges never meet.
 */
enum {
	SK_EPARSE = -1001,   /* a config, zone or list file does not parse; details went to the log */
	SK_EZONE = -1002,    /* a zone is not usable (no SOA, records outside the origin, ...) */
	SK_ETOOBIG = -1003,  /* the data does not fit the buffer or a protocol limit */
	SK_EMALFORMED = -1004, /* bytes from the network are not a valid DNS message */
	SK_ECRYPTO = -1005,  /* the cryptography library cannot be initialised */
};

/* A static, human-readable text for any code this project returns. Never NULL. */
const char *sk_strerror(int code);

#endif
