/* sinks.h -- the table of built-in sinks; internal to the telemetry module */
#ifndef SK_SINKS_H
#define SK_SINKS_H

#include <stddef.h>

#include "conf/conf.h"
#include "telemetry/sink.h"

/* One built-in sink: its functions, and where its settings are in a config (NULL: not
 * configured, so the sink is not opened). */
typedef struct sk_sink_row {
	const sk_sink_ops_t *ops;
	const void *(*conf)(const sk_conf_t *conf);
} sk_sink_row_t;

/* Every sink this build has, in the order they are opened and called. */
extern const sk_sink_row_t sk_sink_table[];
extern const size_t sk_sink_table_len;

/* The JSON lines sink (jsonl.c); its conf is an sk_jsonl_conf_t. */
extern const sk_sink_ops_t sk_jsonl_ops;

#endif
