/* event_zone.c -- the matched zone of an event, as an offset and interned tags (needs the db) */
#include <string.h>

#include "db/db.h"
#include "dns/name.h"
#include "telemetry/telemetry.h"

/* The zone is stored as an offset into the query name, not as a pointer: the zone lives in a
 * snapshot that a reload may free before the telemetry thread reads the event. */
uint8_t sk_event_zone(const sk_resp_info_t *info, const sk_tagset_t **tags)
{
	const sk_query_t *q = &info->q;

	*tags = NULL;
	if (!info->zone || !q->has_question || q->qname_len == 0)
		return SK_EV_NO_ZONE;
	const uint8_t *apex = sk_zone_apex(info->zone);
	size_t alen = sk_name_len(apex);
	if (alen > q->qname_len || memcmp(q->lname + (q->qname_len - alen), apex, alen))
		return SK_EV_NO_ZONE;
	*tags = sk_zone_tagset(info->zone);
	return (uint8_t)(q->qname_len - alen);
}
