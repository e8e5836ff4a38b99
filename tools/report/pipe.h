/* pipe.h -- read and scan the input files on a second thread while the calling one counts */
#ifndef RP_PIPE_H
#define RP_PIPE_H

#include <stddef.h>

#include "report.h"

/*
 * Read every file in r->inputs (their `path` set) into r->agg: a reader thread reads blocks
 * (input.c), cuts them into lines, scans and prepares each record (scan.c, rp_agg_prepare), and
 * hands blocks of prepared records to the calling thread, which counts them (rp_agg_add_item).
 * Four blocks of 8 MiB circulate: memory does not grow with the input. Lines that are not
 * records are counted per file (the first few named on stderr). Returns 0, or -1 after printing
 * why (a file that cannot be read, corrupt gzip data, no memory); then nothing is half-counted
 * that matters, the caller stops.
 */
int rp_read_inputs(rp_report_t *r);

#endif
