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

/* telemetry.nats: every record published to NATS JetStream, spooled to a file while the bus is
 * away (telemetry/nats.h). */
#define SK_NATS_SERVERS_MAX 16
typedef struct sk_nats_conf {
	char **servers;            /* "nats://host:port" (or tls://) URLs, 1..SK_NATS_SERVERS_MAX */
	size_t nservers;
	char *subject;             /* records go to "<subject>.<node>"; default "sinkhole.events" */
	char *stream;              /* the JetStream stream; default "SINKHOLE" */
	bool create_stream;        /* create the stream when it is missing; default true */
	unsigned replicas;         /* a created stream's replicas, 1..5; default 1 */
	unsigned duplicate_window_s; /* a created stream's duplicate window; default 120 */
	unsigned max_pending;      /* records published and not yet acknowledged, at most; default 4096 */
	unsigned ack_timeout_ms;   /* no acknowledgement by then: the record goes to the spool; default 5000 */
	unsigned drain_ms;         /* at stop, wait this long for acknowledgements; default 5000 */
	char *spool_path;          /* spool.path (required), resolved like zone files */
	unsigned spool_max_mb;     /* spool.max_mb; default 1024 */
	unsigned spool_fsync_ms;   /* spool.fsync_ms; default 1000 */
} sk_nats_conf_t;

/* A deep copy of `c` in *out (free it with sk_nats_conf_free). 0 or -ENOMEM. */
int sk_nats_conf_copy(const sk_nats_conf_t *c, sk_nats_conf_t **out);

/* Free a telemetry.nats struct and its strings. Accepts NULL. */
void sk_nats_conf_free(sk_nats_conf_t *c);

/* True when two telemetry.nats settings are the same in every key. */
bool sk_nats_conf_equal(const sk_nats_conf_t *a, const sk_nats_conf_t *b);

typedef struct sk_telemetry_conf {
	unsigned ring_size;        /* events per worker ring, a power of two; default 16384 */
	unsigned flush_ms;         /* sinks write buffered records at least this often; default 1000 */
	unsigned stats_interval_s; /* counters logged this often; default 60 (0: never) */
	sk_jsonl_conf_t *jsonl;    /* NULL when not configured */
	sk_dnstap_conf_t *dnstap;  /* NULL when not configured */
	sk_nats_conf_t *nats;      /* NULL when not configured */
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

/* control: the unix socket sinkholectl talks to (server/ctl/). Off when the section is absent. */
#define SK_CONTROL_PATH_MAX 107     /* sun_path's size less its NUL */
#define SK_CONTROL_DEFAULT_MODE 0660
typedef struct sk_control_conf {
	char *socket;           /* absolute path, as seen outside any chroot; NULL: no control socket */
	unsigned mode;          /* permission bits of the socket file; default 0660 */
	char *group;            /* the socket file's group; NULL: server.group (or the user's group) */
	unsigned line, group_line;  /* where socket and group were given, for diagnostics */
} sk_control_conf_t;

/* metrics: the Prometheus text endpoint (GET /metrics). Off when the section is absent. */
typedef struct sk_metrics_conf {
	bool enabled;
	sk_listen_t listen;     /* address@port (the port is required) */
} sk_metrics_conf_t;
/*
 * transfer: zone transfers out (AXFR; IXFR answered with the whole zone), TSIG keys, NOTIFY to
 * secondaries, and the catalog zone (RFC 9432) of every zone and seized domain.
 * Off (nothing transferred, no TSIG key known) when the section is absent.
 */
#define SK_TSIG_SECRET_MAX 128      /* bytes of a key's secret */
#define SK_TSIG_KEYS_MAX 64
#define SK_CATALOG_DEFAULT "catalog.sinkhole.invalid."

/* A TSIG algorithm; the values are crypto/'s sk_hmac_alg_t (conf/ cannot include it). */
typedef enum { SK_TSIG_HMAC_SHA256 = 1, SK_TSIG_HMAC_SHA512 = 2 } sk_tsig_alg_t;

/* One `transfer.keys` entry. */
typedef struct sk_tsig_key {
	char *name;                     /* as written, with a final dot, for logs */
	uint8_t wire[255];              /* the name in lowercased wire form: what a TSIG RR carries */
	uint8_t wire_len;
	sk_tsig_alg_t alg;
	uint8_t secret[SK_TSIG_SECRET_MAX];
	size_t secret_len;
	unsigned line;
} sk_tsig_key_t;

/* One `transfer.allow` entry: who may transfer. */
typedef struct sk_xfr_acl {
	sk_prefix_t *addrs;             /* the client must be in one of these; none: any address */
	size_t naddrs;
	int key;                        /* index into keys: the request must be signed with it;
	                                   -1: any request (signed ones are verified all the same) */
	unsigned line;
} sk_xfr_acl_t;

/* One `transfer.notify` entry: a secondary told of every new serial. */
typedef struct sk_notify_target {
	char *text;                     /* "address@port" as written */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int key;                        /* index into keys to sign the NOTIFY with; -1: unsigned */
	unsigned line;
} sk_notify_target_t;

typedef struct sk_xfr_conf {
	bool enabled;                   /* the section is present */
	sk_tsig_key_t *keys;            /* NULL when nkeys == 0 */
	size_t nkeys;
	sk_xfr_acl_t *allow;
	size_t nallow;
	sk_notify_target_t *notify;
	size_t nnotify;
	bool seized;                    /* seized domains may be transferred; default true */
	bool catalog;                   /* `catalog:` present: the catalog zone is served */
	char *catalog_name;             /* default SK_CATALOG_DEFAULT, with a final dot */
	unsigned catalog_line;          /* where `catalog:` is, for diagnostics */
	bool catalog_zones;             /* members: `all` (default): zone files and seized domains;
	                                   `seized`: seized domains only */
} sk_xfr_conf_t;

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

	/* control: and metrics: read at start only (their sockets are bound before the privilege
	 * drop); a reload that changes them warns that a restart is needed */
	sk_control_conf_t control;
	sk_metrics_conf_t metrics;
	/* transfer: zone transfers, TSIG, NOTIFY, catalog (enabled false when absent) */
	sk_xfr_conf_t xfr;

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
