/* capture.h -- run sk_db_build with stderr captured, for tests that check its diagnostics */
#ifndef SK_TEST_CAPTURE_H
#define SK_TEST_CAPTURE_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"

/* sk_db_build(conf, db) with what it writes on stderr stored in buf (NUL-terminated, cut at
 * `cap`) and echoed as TAP comments. Returns what sk_db_build returned. */
static inline int build_captured(const sk_conf_t *conf, sk_db_t **db, char *buf, size_t cap)
{
	FILE *tmp = tmpfile();
	int rc, saved;
	size_t len;

	*db = NULL;
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	rc = sk_db_build(conf, db);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	len = fread(buf, 1, cap - 1, tmp);
	buf[len] = '\0';
	fclose(tmp);
	for (const char *line = buf; *line;) {
		int l = (int)strcspn(line, "\n");
		printf("# stderr: %.*s\n", l, line);
		line += l + (line[l] == '\n');
	}
	return rc;
}

#endif
