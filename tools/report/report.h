/* report.h -- `sinkhole-report report`: the run's state and the files it writes */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include <stdio.h>

#include "agg.h"
#include "privacy.h"

typedef struct rp_input_stat {
	const char *path;
	uint64_t lines, malformed;
	uint64_t first_bad;       /* line number of the first malformed line, 0 if none */
} rp_input_stat_t;

typedef struct rp_asn_name {
	uint32_t asn, name;       /* name: a string id */
} rp_asn_name_t;

typedef struct rp_report {
	rp_agg_t agg;
	rp_privacy_t priv;
	const char *outdir;
	const char *title;        /* for the HTML heading, or NULL */
	unsigned top;             /* list length per day and dimension in summary.json and the HTML */
	rp_input_stat_t *inputs;
	size_t ninputs;
	/* Prepared after the sums, for the writers: */
	char **victim_out;        /* per victim id: the exported (privacy) form */
	char **network_out;       /* per network id */
	char **domain_out;        /* per domain id: the name, escapes undone */
	rp_asn_name_t *asn_names; /* sorted by asn */
	size_t nasn_names;
	uint64_t *dim_start;      /* cells sorted by (day, dim, rank): where each (day rank, dim) starts */
	uint32_t *str_rank, *dom_rank, *net_rank;   /* each text's place in byte order, for ties */
} rp_report_t;

/* Everything above, from the finished sums. Returns 0 or -ENOMEM. */
int rp_prepare(rp_report_t *r);
void rp_report_free(rp_report_t *r);

/* Where `asn` is in r->asn_names, or r->nasn_names when it has no name. */
size_t rp_asn_index(const rp_report_t *r, uint32_t asn);
/* The name of an ASN ("" when no record named it). */
const char *rp_asn_name(const rp_report_t *r, uint32_t asn);
/* The text of a cell's value for its dimension, as exported (privacy applied to networks). */
void rp_cell_key(const rp_report_t *r, const rp_cell_t *c, char *out, size_t cap);
/* The cells of (day rank or RP_ALL_DAYS, dim), most victims first: *n of them. */
const rp_cell_t *rp_cells(const rp_report_t *r, uint32_t day, unsigned dim, uint64_t *n);
/* The name of a dimension as in the files: "country", "asn", ... */
const char *rp_dim_name(unsigned dim);

/* The writers (out_csv.c, out_json.c, out_html.c). Return 0 or -1 after printing why. */
int rp_write_csv(const rp_report_t *r);
int rp_write_summary(const rp_report_t *r);
int rp_write_html(const rp_report_t *r);

/* Small helpers shared by the writers (out_util.c). */
FILE *rp_create(const rp_report_t *r, const char *name);   /* outdir/name, with a big buffer */
int rp_close(FILE *f, const rp_report_t *r, const char *name);
void rp_json_str(FILE *f, const char *s);                  /* a JSON string, escaped, "</" as "<\/" */
void rp_csv_field(FILE *f, const char *s);                 /* RFC 4180, formula characters guarded */
void rp_time_text(int64_t us, char out[32]);

#endif
