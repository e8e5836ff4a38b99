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

/* geo.c: read the fields of `role` from one data record into info, exactly as a lookup does.
 * Returns MMDB_SUCCESS or the libmaxminddb error that stopped it. Never allocates. */
int sk_geo_read_record(enum sk_geo_role role, MMDB_entry_s *e, sk_geo_info_t *info);

/* geo.c: the sockaddr libmaxminddb wants for a raw address (AF_INET 4 bytes, AF_INET6 16); in ss. */
const struct sockaddr *sk_geo_sockaddr(int family, const uint8_t *addr, struct sockaddr_storage *ss);

/*
 * verify.c: decide whether a freshly opened database may be used in `role`: its type (unless
 * SK_GEO_SKIP_TYPE) and its structure -- metadata, every node, every data item -- (unless
 * SK_GEO_SKIP_VERIFY). Reports each problem with sk_diag(0, path, 0, ...). Returns 0, -EINVAL (wrong
 * type), SK_EPARSE (corrupt) or -ENOMEM. Reads mm only; temporary memory is freed before return.
 */
int sk_geo_verify(const MMDB_s *mm, const char *path, enum sk_geo_role role, unsigned flags);

#endif
