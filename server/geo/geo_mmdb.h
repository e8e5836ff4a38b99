/* geo_mmdb.h -- what geo.c and verify.c share about libmaxminddb; included only inside server/geo/ */
#ifndef SK_GEO_MMDB_H
#define SK_GEO_MMDB_H

#include <sys/socket.h>

#include <maxminddb.h>

#include "geo/geo.h"

/* The two databases of a geo. */
enum sk_geo_role { SK_GEO_CITY = 0, SK_GEO_ASN = 1 };

/* "a City or Country", "an ASN": for messages. */
extern const char *const sk_geo_role_name[2];

/*
 * How a database's records are laid out, decided once at open (see sk_geo_open() in geo.h):
 *   GEOIP2  MaxMind's nested records: country.iso_code, subdivisions[0], city.names.en, location.
 *   FLAT    ip-location-db's flat records: country_code, state1, city, latitude, longitude.
 * ASN databases of both families share one layout (autonomous_system_number/_organization), so
 * for the ASN role the layout only names the family in the log. UNKNOWN: not decided yet.
 */
enum sk_geo_layout { SK_GEO_LAYOUT_UNKNOWN = 0, SK_GEO_LAYOUT_GEOIP2 = 1, SK_GEO_LAYOUT_FLAT = 2 };

/* "unknown", "GeoIP2", "ip-location-db": for messages. */
extern const char *const sk_geo_layout_name[3];

/* geo.c: the layout a database_type names ("GeoLite2-City": GEOIP2, "city ipvAll": FLAT), or
 * UNKNOWN when the name is of neither family and only the records can tell. */
enum sk_geo_layout sk_geo_layout_of_type(const char *database_type);

/*
 * geo.c: the layout one record shows -- FLAT when it has country_code, GEOIP2 when its country is
 * a map -- in *out, or UNKNOWN when it shows neither. Only for a record verify.c has already
 * scanned (libmaxminddb recurses without bound over nested data). Returns MMDB_SUCCESS or the
 * libmaxminddb error that stopped it.
 */
int sk_geo_layout_of_record(MMDB_entry_s *e, enum sk_geo_layout *out);

/* geo.c: read the fields of `role` from one data record laid out as `layout` (not UNKNOWN) into
 * info, exactly as a lookup does. Returns MMDB_SUCCESS or the libmaxminddb error that stopped it.
 * Never allocates. */
int sk_geo_read_record(enum sk_geo_role role, enum sk_geo_layout layout, MMDB_entry_s *e,
	sk_geo_info_t *info);

/* geo.c: the sockaddr libmaxminddb wants for a raw address (AF_INET 4 bytes, AF_INET6 16); in ss. */
const struct sockaddr *sk_geo_sockaddr(int family, const uint8_t *addr, struct sockaddr_storage *ss);

/*
 * verify.c: decide whether a freshly opened database may be used in `role`: its type (unless
 * SK_GEO_SKIP_TYPE) and its structure -- metadata, every node, every data item -- (unless
 * SK_GEO_SKIP_VERIFY). *layout comes in as the type name's answer (sk_geo_layout_of_type()); when
 * that is UNKNOWN, the first record that shows a layout decides it (never UNKNOWN on return: GEOIP2
 * when nothing showed one). Every record is then read as lookups read it in that layout. Reports
 * each problem with sk_diag(0, path, 0, ...). Returns 0, -EINVAL (wrong type), SK_EPARSE (corrupt)
 * or -ENOMEM. Reads mm only; temporary memory is freed before return.
 */
int sk_geo_verify(const MMDB_s *mm, const char *path, enum sk_geo_role role, unsigned flags,
	enum sk_geo_layout *layout);

#endif
