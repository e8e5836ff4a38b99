/* event_zone.c -- the matched zone of an event, as an offset into the query name and interned tags */
#include "telemetry/telemetry.h"

/* The zone is stored as an offset into the query name, not as a pointer: the zone lives in a
 * snapshot that a reload may free before the telemetry thread reads the event. For a seized
 * domain the "zone" is the domain itself, with its list's tags. */
uint8_t sk_event_zone(const sk_resp_info_t *info, const sk_tagset_t **tags)
{
	const sk_query_t *q = &info->q;

	*tags = NULL;
	if (!info->zone || !q->has_question || q->qname_len == 0 || info->apex_off >= q->qname_len)
		return SK_EV_NO_ZONE;
	*tags = info->tags;
	return info->apex_off;
}
