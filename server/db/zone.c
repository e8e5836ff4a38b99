/* zone.c -- one RFC 1035 zone file, with its $INCLUDEs, to records (the only user of ldns's parser) */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "db/db_internal.h"
#include "dns/name.h"
#include "util/err.h"
#include "util/log.h"

#define INCLUDE_DEPTH_MAX 8
#define ENTRY_MAX (1u << 20)    /* a record longer than this is an unclosed '(' eating the file */
#define ERRORS_MAX 50           /* past this, more messages would only bury the first ones */
#define DEFAULT_TTL 3600        /* before any $TTL or explicit TTL: Knot's default-ttl */

/* The zone being parsed: what every file of it shares. */
typedef struct zparse {
	sk_zsrc_t *src;
	ldns_rdf *apex;          /* set from `name:`, else decided by the first record */
	bool tmpl;               /* a seized list's template: RDATA names must be absolute */
	bool have_soa;
	bool stop;               /* an error that every later record would repeat */
	unsigned errors;
	int code;                /* the first error's code */
	char *line;              /* the record as handed to ldns */
	size_t line_cap;
} zparse_t;

/* One file being read. RFC 1035 scopes the origin (and we also the previous owner and the default
 * TTL) to the file: an $INCLUDE starts from its parent's and never changes them for the parent. */
typedef struct zfile {
	FILE *fp;
	const char *path;
	uint16_t idx;            /* of path in src->files */
	unsigned line;           /* physical line being read */
	unsigned start;          /* first line of the entry in buf */
	char *buf;
	size_t len, cap;
	ldns_rdf *origin;        /* owned */
	ldns_rdf *prev;          /* owned: the last owner, for records that start with a blank */
	uint32_t ttl;            /* $TTL, or else the last explicit TTL (RFC 1035 5.1, RFC 2308 4) */
	bool ttl_dollar;
} zfile_t;

static int parse_file(zparse_t *p, const char *path, const ldns_rdf *origin, const zfile_t *parent,
	unsigned depth);

static void report(zparse_t *p, const char *path, unsigned line, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* An error (code < 0) or a warning (code == 0) about `path`:`line`. */
static void report(zparse_t *p, const char *path, unsigned line, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (code < 0 && p->errors++ >= ERRORS_MAX)
		return;
	sk_diag(code == 0, path, line, "%s", msg);
	if (code < 0 && p->code == 0)
		p->code = code;
}

static int append(zfile_t *f, char c)
{
	if (f->len + 1 >= f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		char *b = realloc(f->buf, cap);
		if (!b)
			return -ENOMEM;
		f->buf = b;
		f->cap = cap;
	}
	f->buf[f->len++] = c;
	f->buf[f->len] = '\0';
	return 0;
}

/*
 * Read one entry (a record or directive): comments removed, parentheses joined into one line,
 * quotes and backslash escapes kept for ldns, a leading blank kept (it means "same owner").
 * Returns its length with f->start set to its first line, 0 at the end of the file, or a negative
 * code after reporting a syntax error (the rest of that line is skipped).
 */
static int read_entry(zparse_t *p, zfile_t *f)
{
	int c, paren = 0;
	bool quoted = false, comment = false, esc = false, content = false;

	f->len = 0;
	if (append(f, '\0') < 0)   /* buf is a string from here on, if an empty one */
		return -ENOMEM;
	f->len = 0;
	while ((c = getc(f->fp)) != EOF) {
		if (c == '\n') {
			f->line++;
			comment = esc = false;
			if (quoted && !paren) {
				report(p, f->path, f->start, SK_EPARSE, "missing closing quote");
				return SK_EPARSE;
			}
			if (paren) {
				c = ' ';
			} else if (content) {
				return (int)f->len;
			} else {
				f->len = 0;   /* blank or comment line: its blanks do not start the next entry */
				continue;
			}
		} else if (comment) {
			continue;
		} else if (c == '\0') {
			report(p, f->path, f->line, SK_EPARSE, "NUL byte in zone file");
			goto skip_line;
		} else if (c == '\r') {
			c = ' ';
		} else if (esc) {
			esc = false;
		} else if (c == '\\') {
			esc = true;
		} else if (quoted) {
			quoted = c != '"';
		} else if (c == '"') {
			quoted = true;
		} else if (c == ';') {
			comment = true;
			continue;
		} else if (c == '(' || c == ')') {
			if (c == ')' && paren == 0) {
				report(p, f->path, f->line, SK_EPARSE, "')' without '('");
				goto skip_line;
			}
			paren += c == '(' ? 1 : -1;
			c = ' ';
		}
		if (!content && c != ' ' && c != '\t') {
			content = true;
			f->start = f->line;
		}
		if (f->len >= ENTRY_MAX) {
			report(p, f->path, f->start, SK_EPARSE, "record too long (missing ')'?)");
			goto skip_line;
		}
		if (append(f, (char)c) < 0)
			return -ENOMEM;
	}
	if (ferror(f->fp)) {
		report(p, f->path, f->line, -EIO, "read error");
		return -EIO;
	}
	if (paren || quoted) {
		report(p, f->path, f->start, SK_EPARSE, "end of file inside %s", paren ? "'('" : "quotes");
		return SK_EPARSE;
	}
	return content ? (int)f->len : 0;

skip_line:
	while ((c = getc(f->fp)) != EOF && c != '\n')
		;
	if (c == '\n')
		f->line++;
	return SK_EPARSE;
}

/* Next blank-separated token of s (quotes and escapes respected): *tok and *len, 0 at the end.
 * Returns where the scan stopped. */
static const char *token(const char *s, const char **tok, size_t *len)
{
	bool quoted = false;
	while (*s == ' ' || *s == '\t')
		s++;
	*tok = s;
	for (; *s && (quoted || (*s != ' ' && *s != '\t')); s++) {
		if (*s == '\\' && s[1])
			s++;
		else if (*s == '"')
			quoted = !quoted;
	}
	*len = (size_t)(s - *tok);
	return s;
}

/* A TTL as "3600" or with units ("1h30m"): 0, or -1 if it is not one, or past 2^31-1 (RFC 2181 8). */
static int parse_ttl(const char *tok, size_t len, uint32_t *out)
{
	char buf[32];
	const char *end;
	if (len == 0 || len >= sizeof buf || !isdigit((unsigned char)tok[0]))
		return -1;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	if (strspn(buf, "0123456789") == len) {
		unsigned long long v = strtoull(buf, NULL, 10);
		if (len > 10 || v > 0x7fffffffULL)
			return -1;
		*out = (uint32_t)v;
		return 0;
	}
	*out = ldns_str2period(buf, &end);
	return *end == '\0' && *out <= 0x7fffffffu ? 0 : -1;
}

/* A class mnemonic ("IN", "CH", "CLASS1", ...): its number, or 0 if the token is not one. */
static int class_of(const char *tok, size_t len)
{
	char buf[16];
	if (len >= sizeof buf)
		return 0;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	return ldns_get_rr_class_by_name(buf);
}

/* A domain name token, relative ones (and "@") taken from `origin`: a new rdf, or NULL. */
static ldns_rdf *name_from_token(const char *tok, size_t len, const ldns_rdf *origin)
{
	char buf[1024];
	ldns_rdf *name;
	if (len == 0 || len >= sizeof buf)
		return NULL;
	if (len == 1 && tok[0] == '@')
		return origin ? ldns_rdf_clone(origin) : NULL;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	name = ldns_dname_new_frm_str(buf);
	if (name && !ldns_dname_str_absolute(buf)) {
		if (!origin || ldns_dname_cat(name, origin) != LDNS_STATUS_OK) {
			ldns_rdf_deep_free(name);
			return NULL;
		}
	}
	return name;
}

/* True when wire name `n` is `apex` or below it; both lowercased. */
static bool name_in_zone(const uint8_t *n, size_t nlen, const uint8_t *apex, size_t alen)
{
	size_t i = 0;
	while (nlen - i > alen)
		i += (size_t)n[i] + 1;
	return nlen - i == alen && memcmp(n + i, apex, alen) == 0;
}

/* Room in the source for one more record of `need` arena bytes. */
static int zsrc_room(sk_zsrc_t *s, size_t need)
{
	if (s->arena_len + need > UINT32_MAX)
		return -ENOMEM;
	if (s->arena_len + need > s->arena_cap) {
		size_t cap = s->arena_cap ? s->arena_cap : 4096;
		while (cap < s->arena_len + need)
			cap *= 2;
		uint8_t *a = realloc(s->arena, cap);
		if (!a)
			return -ENOMEM;
		s->arena = a;
		s->arena_cap = cap;
	}
	if (s->nrec == s->caprec) {
		size_t cap = s->caprec ? s->caprec * 2 : 64;
		sk_zrec_t *rec = realloc(s->rec, cap * sizeof *rec);
		if (!rec)
			return -ENOMEM;
		s->rec = rec;
		s->caprec = cap;
	}
	return 0;
}

int sk_zsrc_add(sk_zsrc_t *s, const uint8_t *owner, size_t olen, uint16_t type, uint32_t ttl,
	const uint8_t *rdata, size_t rdlen)
{
	int rc;
	if (rdlen > 65535 || olen > SK_NAME_MAX)
		return -EINVAL;
	if ((rc = zsrc_room(s, olen + rdlen)) < 0)
		return rc;
	s->rec[s->nrec++] = (sk_zrec_t){ .off = (uint32_t)s->arena_len, .ttl = ttl, .type = type,
		.rdlen = (uint16_t)rdlen, .owner_len = (uint8_t)olen };
	memcpy(s->arena + s->arena_len, owner, olen);
	memcpy(s->arena + s->arena_len + olen, rdata, rdlen);
	s->arena_len += olen + rdlen;
	return 0;
}

/*
 * The types whose RDATA the answer builder walks as names, to compress them (the RFC 1035 types
 * RFC 3597 s4 allows it for; dns/writer.c): fixed bytes before the names, how many names, fixed
 * bytes after. Each such RDATA must be exactly that: the "\#" form (RFC 3597 s5) lets a zone file
 * write any bytes for any type, and the builder reads these names without a length.
 */
static bool rdata_layout(uint16_t type, size_t *before, unsigned *names, size_t *after)
{
	*before = *after = 0;
	switch (type) {
	case SK_TYPE_NS: case SK_TYPE_MD: case SK_TYPE_MF: case SK_TYPE_CNAME:
	case SK_TYPE_MB: case SK_TYPE_MG: case SK_TYPE_MR: case SK_TYPE_PTR:
		*names = 1;
		return true;
	case SK_TYPE_MINFO:
		*names = 2;
		return true;
	case SK_TYPE_SOA:
		*names = 2, *after = 20;
		return true;
	case SK_TYPE_MX:
		*before = 2, *names = 1;
		return true;
	}
	return false;
}

/* True when `rd` (`rdlen` bytes) holds the names of its type's layout, whole and uncompressed. */
static bool rdata_names_ok(uint16_t type, const uint8_t *rd, size_t rdlen)
{
	size_t pos, after;
	unsigned names;
	if (!rdata_layout(type, &pos, &names, &after))
		return true;
	for (unsigned k = 0; k < names; k++) {
		size_t start = pos;
		while (pos < rdlen && rd[pos] && rd[pos] <= SK_LABEL_MAX)
			pos += rd[pos] + 1u;
		if (pos >= rdlen || rd[pos] || pos + 1 - start > SK_NAME_MAX)
			return false;
		pos++;
	}
	return pos + after == rdlen;
}

/* Copy an accepted record into the source: lowercased owner, then RDATA with names lowercased. */
static int store_record(zparse_t *p, zfile_t *f, ldns_rr *rr, uint32_t ttl)
{
	sk_zsrc_t *s = p->src;
	ldns_rdf *owner = ldns_rr_owner(rr);
	size_t olen = ldns_rdf_size(owner), rdlen = 0, need;
	sk_zrec_t *r;
	int rc;

	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++)
		rdlen += ldns_rdf_size(ldns_rr_rdf(rr, i));
	if (rdlen > 65535) {
		report(p, f->path, f->start, SK_EPARSE, "RDATA longer than 65535 bytes");
		return 0;
	}
	need = olen + rdlen;
	if ((rc = zsrc_room(s, need)) < 0)
		return rc;
	r = &s->rec[s->nrec++];
	*r = (sk_zrec_t){ .off = (uint32_t)s->arena_len, .ttl = ttl, .line = f->start,
		.type = ldns_rr_get_type(rr), .rdlen = (uint16_t)rdlen, .file = f->idx,
		.owner_len = (uint8_t)olen };
	ldns_dname2canonical(owner);
	memcpy(s->arena + s->arena_len, ldns_rdf_data(owner), olen);
	s->arena_len += olen;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		/* Lowercase names in RDATA (as RFC 4034 6.2 does): CNAME targets and the like are then
		 * lookup keys as they stand, and owners that point into RDATA are lowercase too. */
		if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME)
			ldns_dname2canonical(rdf);
		memcpy(s->arena + s->arena_len, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
		s->arena_len += ldns_rdf_size(rdf);
	}
	if (!rdata_names_ok(r->type, sk_zrec_rdata(s, r), r->rdlen)) {
		const ldns_rr_descriptor *d = ldns_rr_descript(r->type);
		report(p, f->path, f->start, SK_EPARSE, "%s record: RDATA does not hold the domain "
			"names its type has", d && d->_name ? d->_name : "this");
		s->arena_len = r->off;    /* taken back */
		s->nrec--;
	}
	return 0;
}

/*
 * In a template, a name in RDATA that ended up under the template's origin was written relative
 * (without a final dot): it would have to change with every seized domain, which the compiled
 * template cannot do. Reported with the name as written; true when there was one.
 */
static bool relative_rdata(zparse_t *p, zfile_t *f, ldns_rr *rr)
{
	const uint8_t *apex = ldns_rdf_data(p->apex);
	size_t alen = ldns_rdf_size(p->apex);
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		const uint8_t *n = ldns_rdf_data(rdf);
		size_t nlen = ldns_rdf_size(rdf);
		if (ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME || !name_in_zone(n, nlen, apex, alen))
			continue;
		/* As written: the labels before the origin without the final dot, or "@". */
		uint8_t rel[SK_NAME_MAX];
		char written[SK_NAME_TEXT_MAX] = "@";
		size_t k = nlen - alen;
		if (k) {
			memcpy(rel, n, k);
			rel[k] = 0;
			int tl = sk_name_to_text(rel, written, sizeof written);
			if (tl > 1)
				written[tl - 1] = '\0';
		}
		report(p, f->path, f->start, SK_EZONE, "%s is relative to the seized domain: names in a "
			"template's RDATA must be absolute (end them with a dot)", written);
		return true;
	}
	return false;
}

/* ldns appends the origin to a relative name without checking the result against the 255 bytes
 * a name may hold (RFC 1035 3.1), so a long $ORIGIN makes longer names: checked here, before
 * anything copies a name into a 255-byte buffer or its length into a byte. */
static bool names_fit(ldns_rr *rr)
{
	if (ldns_rdf_size(ldns_rr_owner(rr)) > SK_NAME_MAX)
		return false;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME && ldns_rdf_size(rdf) > SK_NAME_MAX)
			return false;
	}
	return true;
}

/* The zone-level rules that one record can be checked against on its own. `guessed`: the origin
 * was taken from this record's owner, so it must be the SOA that decides the apex. */
static int accept_record(zparse_t *p, zfile_t *f, ldns_rr *rr, uint32_t ttl, bool guessed)
{
	ldns_rr_type type = ldns_rr_get_type(rr);
	ldns_rdf *owner = ldns_rr_owner(rr);
	char *text;

	ldns_dname2canonical(owner);
	if (type == 0) {
		report(p, f->path, f->start, SK_EPARSE, "unknown record type");
		return 0;
	}
	if (!names_fit(rr)) {
		report(p, f->path, f->start, SK_EPARSE, "a name longer than 255 bytes once the origin "
			"is appended (RFC 1035 3.1)");
		return 0;
	}
	if (!p->apex) {
		if (type != LDNS_RR_TYPE_SOA && guessed) {
			report(p, f->path, f->start, SK_EZONE, "the first record must be the SOA when "
				"neither the config's name: nor $ORIGIN gives the zone's origin");
			return 0;
		}
		p->apex = ldns_rdf_clone(type == LDNS_RR_TYPE_SOA ? owner : f->origin);
		if (!p->apex)
			return -ENOMEM;
		ldns_dname2canonical(p->apex);
	}
	if (type == LDNS_RR_TYPE_SOA && ldns_dname_compare(owner, p->apex) != 0) {
		char *apex = ldns_rdf2str(p->apex);
		text = ldns_rdf2str(owner);
		report(p, f->path, f->start, SK_EZONE, "SOA record of %s is not at the zone apex %s",
			text ? text : "?", apex ? apex : "?");
		free(apex);
		free(text);
		return 0;
	}
	if (!name_in_zone(ldns_rdf_data(owner), ldns_rdf_size(owner), ldns_rdf_data(p->apex),
		ldns_rdf_size(p->apex))) {
		text = ldns_rdf2str(owner);
		report(p, f->path, f->start, 0, "%s is outside the zone, record ignored", text ? text : "owner");
		free(text);
		return 0;
	}
	if (type == LDNS_RR_TYPE_SOA) {
		if (p->have_soa) {
			report(p, f->path, f->start, SK_EZONE, "more than one SOA record");
			return 0;
		}
		p->have_soa = true;
	}
	if (p->tmpl && relative_rdata(p, f, rr))
		return 0;
	return store_record(p, f, rr, ttl);
}

/* Make sure the line buffer holds `n` bytes. */
static int line_reserve(zparse_t *p, size_t n)
{
	if (n <= p->line_cap)
		return 0;
	char *b = realloc(p->line, n);
	if (!b)
		return -ENOMEM;
	p->line = b;
	p->line_cap = n;
	return 0;
}

/*
 * A record: find the owner, TTL and class ourselves (RFC 1035 allows TTL and class in either
 * order, ldns only TTL first, and ldns does not say whether the TTL was given), check the class,
 * then let ldns parse "owner TTL IN type rdata".
 */
static int parse_record(zparse_t *p, zfile_t *f)
{
	const char *cur = f->buf, *owner = "", *tok, *save;
	size_t olen = 0, tlen;
	uint32_t ttl = 0;
	bool have_ttl = false, have_class = false, guessed = false;
	ldns_rr *rr = NULL;
	ldns_status st;
	int rc;

	if (*cur != ' ' && *cur != '\t')
		cur = token(cur, &owner, &olen);
	for (int i = 0; i < 2; i++) {
		save = cur;
		cur = token(cur, &tok, &tlen);
		if (!have_ttl && tlen && isdigit((unsigned char)tok[0])) {
			if (parse_ttl(tok, tlen, &ttl) < 0) {
				report(p, f->path, f->start, SK_EPARSE, "invalid TTL '%.*s'", (int)tlen, tok);
				return 0;
			}
			have_ttl = true;
		} else if (!have_class && tlen && class_of(tok, tlen)) {
			if (class_of(tok, tlen) != LDNS_RR_CLASS_IN) {
				report(p, f->path, f->start, SK_EZONE, "class %.*s: only IN is served",
					(int)tlen, tok);
				return 0;
			}
			have_class = true;
		} else {
			cur = save;
			break;
		}
	}
	while (*cur == ' ' || *cur == '\t')
		cur++;
	if (*cur == '\0') {
		report(p, f->path, f->start, SK_EPARSE, "record without a type");
		return 0;
	}

	if (!f->origin) {
		/* Neither name: nor $ORIGIN: the origin is the first record's owner, written in full. */
		if (olen == 0 || owner[olen - 1] != '.' || (olen > 1 && owner[olen - 2] == '\\')) {
			report(p, f->path, f->start, SK_EZONE, "relative name but no origin: set the zone's "
				"name: in the config or start the file with $ORIGIN");
			p->stop = true;
			return 0;
		}
		if (!(f->origin = name_from_token(owner, olen, NULL))) {
			report(p, f->path, f->start, SK_EPARSE, "invalid owner '%.*s'", (int)olen, owner);
			return 0;
		}
		ldns_dname2canonical(f->origin);
		guessed = true;
	}

	if (have_ttl) {
		if (!f->ttl_dollar)
			f->ttl = ttl;
	} else {
		ttl = f->ttl;
	}
	if ((rc = line_reserve(p, olen + strlen(cur) + 32)) < 0)
		return rc;
	snprintf(p->line, p->line_cap, "%.*s %u IN %s", (int)olen, owner, (unsigned)ttl, cur);
	st = ldns_rr_new_frm_str(&rr, p->line, ttl, f->origin, &f->prev);
	if (st == LDNS_STATUS_MEM_ERR)
		return -ENOMEM;
	if (st != LDNS_STATUS_OK) {
		token(cur, &tok, &tlen);
		report(p, f->path, f->start, SK_EPARSE, "%.*s record: %s", (int)tlen, tok,
			ldns_get_errorstr_by_id(st));
		return 0;
	}
	rc = accept_record(p, f, rr, ttl, guessed);
	ldns_rr_free(rr);
	return rc;
}

/* "$INCLUDE file [origin]": the file is relative to the including file's folder. */
static int include(zparse_t *p, zfile_t *f, const char *args, unsigned depth)
{
	const char *tok, *otok;
	size_t tlen, olen;
	ldns_rdf *origin = NULL;
	char *path = NULL;
	const char *slash;
	int rc = 0;

	args = token(args, &tok, &tlen);
	args = token(args, &otok, &olen);
	if (tlen >= 2 && tok[0] == '"' && tok[tlen - 1] == '"') {
		tok++;
		tlen -= 2;
	}
	if (tlen == 0) {
		report(p, f->path, f->start, SK_EPARSE, "$INCLUDE without a file name");
		return 0;
	}
	if (olen && !(origin = name_from_token(otok, olen, f->origin))) {
		report(p, f->path, f->start, SK_EPARSE, "invalid origin '%.*s'", (int)olen, otok);
		return 0;
	}
	if (depth >= INCLUDE_DEPTH_MAX) {
		report(p, f->path, f->start, SK_EPARSE, "$INCLUDE nested more than %d deep", INCLUDE_DEPTH_MAX);
		goto out;
	}
	slash = strrchr(f->path, '/');
	if (tok[0] == '/' || !slash)
		rc = asprintf(&path, "%.*s", (int)tlen, tok);
	else
		rc = asprintf(&path, "%.*s/%.*s", (int)(slash - f->path), f->path, (int)tlen, tok);
	if (rc < 0) {
		path = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = parse_file(p, path, origin ? origin : f->origin, f, depth + 1);
	if (rc < 0 && rc != -ENOMEM) {
		report(p, f->path, f->start, rc, "cannot read included file %s: %s", path, sk_strerror(rc));
		rc = 0;
	}
out:
	free(path);
	ldns_rdf_deep_free(origin);
	return rc;
}

static int directive(zparse_t *p, zfile_t *f, unsigned depth)
{
	const char *tok, *arg, *rest;
	size_t tlen, alen, xlen;
	const char *x;

	rest = token(f->buf, &tok, &tlen);
	if (tlen == 8 && strncasecmp(tok, "$INCLUDE", 8) == 0)
		return include(p, f, rest, depth);
	rest = token(rest, &arg, &alen);
	token(rest, &x, &xlen);
	if (alen == 0 || xlen != 0) {
		report(p, f->path, f->start, SK_EPARSE, "%.*s takes one argument", (int)tlen, tok);
		return 0;
	}
	if (tlen == 7 && strncasecmp(tok, "$ORIGIN", 7) == 0) {
		ldns_rdf *o = name_from_token(arg, alen, f->origin);
		if (!o) {
			report(p, f->path, f->start, SK_EPARSE, "invalid $ORIGIN '%.*s'", (int)alen, arg);
			return 0;
		}
		ldns_dname2canonical(o);
		ldns_rdf_deep_free(f->origin);
		f->origin = o;
	} else if (tlen == 4 && strncasecmp(tok, "$TTL", 4) == 0) {
		if (parse_ttl(arg, alen, &f->ttl) < 0) {
			report(p, f->path, f->start, SK_EPARSE, "invalid $TTL '%.*s'", (int)alen, arg);
			return 0;
		}
		f->ttl_dollar = true;
	} else {
		report(p, f->path, f->start, SK_EPARSE, "unknown directive %.*s", (int)tlen, tok);
	}
	return 0;
}

/* Parse one file. Returns 0 (errors inside it are counted in p), -ENOMEM, or -errno when it
 * cannot be opened (not reported: the caller knows the line that named it). */
static int parse_file(zparse_t *p, const char *path, const ldns_rdf *origin, const zfile_t *parent,
	unsigned depth)
{
	sk_zsrc_t *s = p->src;
	zfile_t f = { .path = path, .line = 1, .ttl = DEFAULT_TTL };
	char **files;
	int rc = 0;

	if (s->nfiles >= UINT16_MAX)
		return -EMFILE;
	if (!(files = realloc(s->files, (s->nfiles + 1) * sizeof *files)))
		return -ENOMEM;
	s->files = files;
	if (!(files[s->nfiles] = strdup(path)))
		return -ENOMEM;
	f.idx = (uint16_t)s->nfiles++;
	f.path = files[f.idx];
	if (parent) {
		f.ttl = parent->ttl;
		f.ttl_dollar = parent->ttl_dollar;
	}
	if (origin && !(f.origin = ldns_rdf_clone(origin)))
		return -ENOMEM;
	if (!(f.fp = fopen(path, "r"))) {
		rc = -errno;
		goto fail;
	}
	while (p->errors <= ERRORS_MAX && !p->stop) {
		rc = read_entry(p, &f);
		if (rc == 0 || rc == -ENOMEM || rc == -EIO)
			break;
		if (rc < 0)
			continue;
		rc = f.buf[0] == '$' ? directive(p, &f, depth) : parse_record(p, &f);
		if (rc < 0)
			break;
	}
	if (rc != -ENOMEM)
		rc = 0;   /* problems inside the file were reported and counted in p */
fail:
	if (f.fp)
		fclose(f.fp);
	free(f.buf);
	ldns_rdf_deep_free(f.origin);
	ldns_rdf_deep_free(f.prev);
	return rc;
}

static int load(const sk_zone_conf_t *zc, const char *conf_path, bool tmpl, sk_zsrc_t *out)
{
	zparse_t p = { .src = out, .tmpl = tmpl };
	int rc;

	if (zc->name) {
		/* Taken as absolute, final dot or not. */
		p.apex = ldns_dname_new_frm_str(zc->name);
		if (!p.apex) {
			sk_diag(0, conf_path, zc->line, "invalid zone name '%s'", zc->name);
			return SK_EPARSE;
		}
		ldns_dname2canonical(p.apex);
	}
	rc = parse_file(&p, zc->file, p.apex, NULL, 0);
	if (rc < 0 && rc != -ENOMEM)
		sk_diag(0, conf_path, zc->line, "cannot read zone file %s: %s", zc->file, sk_strerror(rc));
	if (rc < 0)
		goto fail;
	if (p.errors > ERRORS_MAX)
		sk_diag(0, zc->file, 0, "too many errors, giving up");
	if (p.errors) {
		rc = p.code;
		goto fail;
	}
	if (!p.have_soa) {
		sk_diag(0, zc->file, 0, "no SOA record at the zone apex");
		rc = SK_EZONE;
		goto fail;
	}
	out->apex_len = (uint8_t)ldns_rdf_size(p.apex);
	memcpy(out->apex, ldns_rdf_data(p.apex), out->apex_len);
	rc = 0;
fail:
	ldns_rdf_deep_free(p.apex);
	free(p.line);
	return rc;
}

int sk_zsrc_load(const sk_zone_conf_t *zc, const char *conf_path, sk_zsrc_t *out)
{
	return load(zc, conf_path, false, out);
}

int sk_zsrc_load_template(const char *file, const char *conf_path, unsigned conf_line, sk_zsrc_t *out)
{
	const sk_zone_conf_t zc = { .file = (char *)file, .name = (char *)SK_TEMPLATE_ORIGIN,
		.line = conf_line };
	return load(&zc, conf_path, true, out);
}

void sk_zsrc_free(sk_zsrc_t *src)
{
	for (size_t i = 0; i < src->nfiles; i++)
		free(src->files[i]);
	free(src->files);
	free(src->rec);
	free(src->arena);
	memset(src, 0, sizeof *src);
}
