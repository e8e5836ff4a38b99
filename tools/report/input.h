/* input.h -- the lines of a file, plain or gzip (told by its first bytes), read in big blocks */
#ifndef RP_INPUT_H
#define RP_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* Called for every line, without its newline (a last line without one included). Return 0 to go
 * on, non-zero to stop (rp_input_lines then returns that value). */
typedef int rp_line_fn(const char *line, size_t len, uint64_t lineno, void *arg);

/*
 * Read `path` ("-": standard input) and call fn for each line. gzip input (one or more members,
 * as `cat a.gz b.gz` makes) is decompressed on the way; anything else is read as it is. Memory:
 * two 8 MiB blocks, whatever the file's size. A line longer than 4 MiB is passed cut to its
 * first 4 MiB (it cannot be a telemetry record). Returns 0, fn's non-zero value, or a negative
 * errno (-EBADMSG: corrupt gzip data), with *lines the number of lines read.
 */
int rp_input_lines(const char *path, rp_line_fn *fn, void *arg, uint64_t *lines);

/* The bytes of `path` (decompressed when it is gzip) in blocks of up to 8 MiB: fn(buf, len, arg)
 * for each. Returns 0, fn's non-zero value or a negative errno. */
typedef int rp_block_fn(const char *buf, size_t len, void *arg);
int rp_input_blocks(const char *path, rp_block_fn *fn, void *arg, int *was_gzip);

/* The same one read at a time, for a caller that manages its own buffers (pipe.c). */
#include <sys/types.h>
typedef struct rp_src rp_src_t;
int rp_src_open(const char *path, rp_src_t **out);        /* 0 or a negative errno */
ssize_t rp_src_read(rp_src_t *s, char *buf, size_t cap);  /* bytes of text, 0 at the end, -errno */
void rp_src_close(rp_src_t *s);                           /* accepts NULL */

#endif
