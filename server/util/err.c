/* err.c -- text for the project's error codes */
#include <string.h>

#include "util/err.h"

const char *sk_strerror(int code)
{
	switch (code) {
	case 0: return "success";
	case SK_EPARSE: return "syntax error";
	case SK_EZONE: return "invalid zone";
	case SK_ETOOBIG: return "too large";
	case SK_EMALFORMED: return "malformed message";
	case SK_ECRYPTO: return "the cryptography library cannot be initialised";
	}
	if (code < 0 && code > -1000)
		return strerror(-code);
	return "unknown error";
}
