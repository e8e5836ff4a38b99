/* conf.h -- the YAML configuration file, validated into a read-only struct */
#ifndef SK_CONF_H
#define SK_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One `key: value` of a zone's or seized list's `tags` map, in file order. */
typedef struct sk_tag {
	char *key;
	char *value;
} sk_tag_t;

/* One entry of `zones:`. */
typedef struct sk_zone_conf {
	char *file;        /* path as resolved: relative paths are taken from the config file's folder */
	char *name;        /* `name:` as written (text, may lack the final dot), or NULL: from $ORIGIN/SOA */
	sk_tag_t *tags;    /* `tags:` map; NULL when ntags == 0 */
	size_t ntags;
	unsigned line;     /* line of this entry in the config file, for diagnostics */
} sk_zone_conf_t;

/* One entry of `seized:`: a list of seized domains answered from a template zone. */
typedef struct sk_seized_conf {
	char *list;        /* the list file: one domain per line; paths resolved like zone files */
	char *template;    /* the template zone file: owners relative to each listed domain */
	sk_tag_t *tags;    /* `tags:` map; NULL when ntags == 0 */
	size_t ntags;
	unsigned line;     /* line of this entry in the config file, for diagnostics */
} sk_seized_conf_t;

/* One `server.listen` entry, "address@port" (port defaults to 53). */
typedef struct sk_listen {
	char *text;                    /* as written, for logs */
	struct sockaddr_storage addr;  /* parsed address and port */
	socklen_t addrlen;
} sk_listen_t;

/* telemetry.jsonl: one JSON object per query, in files rotated by size. */
typedef struct sk_jsonl_conf {
	char *path;             /* resolved like zone files */
	unsigned rotate_mb;     /* rotate when the file reaches this size; default 256 (0: never) */
	unsigned keep;          /* rotated files kept (path.1 ... path.N); default 20 */
	bool manifest;          /* seal each finished file into path.manifest (hash chain) */
	char *sign_key;         /* Ed25519 secret key file to sign manifest lines with, or NULL */
} sk_jsonl_conf_t;

typedef enum { SK_DNSTAP_FILE = 0, SK_DNSTAP_UNIX, SK_DNSTAP_TCP } sk_dnstap_mode_t;

/* telemetry.dnstap: exactly one of file:, unix: or tcp: HOST@PORT. */
typedef struct sk_dnstap_conf {
	sk_dnstap_mode_t mode;
	char *path;                    /* file or unix socket path (resolved like zone files) */
	struct sockaddr_storage addr;  /* tcp: */
	socklen_t addrlen;
	bool responses;                /* `messages: all` (default): AUTH_QUERY and AUTH_RESPONSE; `queries`: AUTH_QUERY only */
} sk_dnstap_conf_t;

typedef struct sk_telemetry_conf {
	unsigned ring_size;        /* events per worker ring, a power of two; default 16384 */
	unsigned flush_ms;         /* sinks write buffered records at least this often; default 1000 */
	unsigned stats_interval_s; /* counters logged this often; default 60 (0: never) */
	sk_jsonl_conf_t *jsonl;    /* NULL when not configured */
	sk_dnstap_conf_t *dnstap;  /* NULL when not configured */
} sk_telemetry_conf_t;

/* cookies: DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018). */
#define SK_COOKIE_SECRET_LEN 16
#define SK_COOKIE_PREVIOUS_MAX 4
typedef struct sk_cookie_conf {
	bool enabled;           /* answer cookies; default true (false: the option is ignored) */
	bool require;           /* UDP queries that carry a cookie need a valid server cookie, or get
	                           BADCOOKIE; default false. TCP never needs one. */
	bool secret_given;      /* `secret:` was in the file; if not, the server fills `secret` with its
	                           own random one (made at start, kept across reloads) */
	uint8_t secret[SK_COOKIE_SECRET_LEN];   /* creates and verifies server cookies */
	uint8_t previous[SK_COOKIE_PREVIOUS_MAX][SK_COOKIE_SECRET_LEN]; /* verify only (rollover) */
	unsigned nprevious;
} sk_cookie_conf_t;

/* One address prefix (`rrl.exempt`): the network address and its length. */
typedef struct sk_prefix {
	int family;             /* AF_INET or AF_INET6 */
	unsigned len;           /* prefix length: 0..32 or 0..128 */
	uint8_t addr[16];       /* the network, bits past `len` zero; IPv4 in the first 4 bytes */
} sk_prefix_t;

/* rrl: response rate limiting over UDP (server/rrl/). Off when the section is absent. */
typedef struct sk_rrl_conf {
	bool enabled;                   /* the section is present */
	unsigned responses_per_second;  /* positive answers per prefix and name; default 20 (0: unlimited) */
	unsigned nxdomains_per_second;  /* NXDOMAIN per prefix and zone; default responses_per_second */
	unsigned errors_per_second;     /* other rcodes per prefix; default responses_per_second */
	unsigned window;                /* seconds of debt a source can run up; default 15 */
	unsigned slip;                  /* every slip-th limited reply goes out truncated; default 2 (0: none) */
	unsigned ipv4_prefix;           /* sources counted together: default /24 */
	unsigned ipv6_prefix;           /* default /56 */
	unsigned table_size;            /* accounts, a power of two; default 65536; read at start only */
	sk_prefix_t *exempt;            /* never limited; NULL when nexempt == 0 */
	size_t nexempt;
} sk_rrl_conf_t;

typedef struct sk_conf {
	char *path;             /* the config file, as given */

	/* server: */
	sk_listen_t *listen;    /* at least one */
	size_t nlisten;
	unsigned workers;       /* >= 1; default: online CPUs */
	unsigned *cpus;         /* server.cpus: worker i runs on cpus[i % ncpus]; NULL: not pinned */
	size_t ncpus;
	char *identity;         /* NSID, CH TXT id.server / hostname.bind; default: gethostname() */
	char *version;          /* CH TXT version.bind / version.server; NULL when hidden (`version: false`) */
	uint16_t edns_size;     /* our EDNS UDP payload size, 512..4096; default 1232 */
	unsigned tcp_max_clients;   /* cap on open TCP connections per worker; default 250 */
	unsigned tcp_idle_timeout_ms; /* close a TCP connection idle this long; default 10000 */
	unsigned tcp_query_timeout_ms; /* a frame must arrive whole this long after its first byte;
	                                  default 5000 */
	unsigned tcp_max_pending;   /* queries answered but not yet written, per connection, before
	                               the connection stops being read; default 32 */
	char *user;             /* server.user: run as this user after binding; NULL: stay as started */
	char *group;            /* server.group; NULL: the user's primary group */
	char *chroot;           /* server.chroot: absolute, normalised (no "..", no trailing /); NULL: none */
	unsigned user_line, group_line, chroot_line;   /* where they were given, for diagnostics */

	/* zones: */
	sk_zone_conf_t *zones;
	size_t nzones;

	/* seized: lists of seized domains, each with its template zone */
	sk_seized_conf_t *seized;
	size_t nseized;

	/* cookies: (the secret is swapped with the snapshot: a reload replaces it atomically) */
	sk_cookie_conf_t cookies;

	/* telemetry: (telemetry is on when at least one sink is configured) */
	sk_telemetry_conf_t telemetry;

	/* rrl: response rate limiting (enabled false when the section is absent) */
	sk_rrl_conf_t rrl;

	/* geoip: databases for the telemetry thread; NULL when not configured */
	char *geoip_city;       /* a City or Country database */
	char *geoip_asn;        /* an ASN database */
} sk_conf_t;

/*
 * Read and validate the config file at `path`. On success stores a new config in *out and
 * returns 0. On failure returns a negative code (SK_EPARSE for any syntax or validation
 * problem, -errno when the file cannot be read); every problem found has been reported with
 * sk_diag() as "file:line: message". *out is untouched on failure.
 */
int sk_conf_load(const char *path, sk_conf_t **out);

/* Free a config from sk_conf_load(). Accepts NULL. */
void sk_conf_free(sk_conf_t *conf);

/*
 * Tell the loader that the process has chrooted to `root` (absolute, normalised; NULL: not
 * chrooted). From then on every sk_conf_load() takes the paths written in a config as seen from
 * outside, as at start: an absolute path must lie under `root` and loses that prefix; a relative
 * one is taken from the config file's folder, which is already inside. Call before any thread
 * that loads configs starts; the string is copied.
 */
int sk_conf_set_root(const char *root);

/*
 * `path` made absolute (from the working directory) and normalised without looking at the disk:
 * no "." or ".." components, no repeated or trailing "/". Returns a new string (free it) or NULL
 * when out of memory. A ".." at the root stays at the root, as the kernel has it.
 */
char *sk_conf_path_normalize(const char *path);

/* When normalised `path` lies under normalised `root` (or is it), the rest of it from its "/"
 * on ("/" for root itself); otherwise NULL. */
const char *sk_conf_path_under(const char *root, const char *path);

#endif
