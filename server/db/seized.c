/* seized.c -- lists of seized domains, each answered from one compiled template: data, not zones */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db_internal.h"
#include "dns/name.h"
#include "util/err.h"
#include "util/log.h"

/*
 * A list costs one entry per domain in one name table (the domain's wire name, the line it came
 * from and its list), nothing per template record: memory and load time grow with the names.
 * A template is compiled once, as a zone whose apex is the root; lookup.c answers a name under a
 * seized domain by looking up the same name with the domain replaced by the root.
 */

#define WARN_MAX 20   /* warnings printed per list; the rest are only counted */

/* ---- the template ---- */

/*
 * Move every record of a template read under SK_TEMPLATE_ORIGIN to the root: "www.<origin>"
 * becomes "www.", the origin itself ".". Owners shrink in place; each keeps ending where its
 * RDATA starts, which is how sk_zrec_rdata() finds it.
 */
static void to_root(sk_zsrc_t *s)
{
	size_t olen = s->apex_len;
	for (size_t i = 0; i < s->nrec; i++) {
		sk_zrec_t *r = &s->rec[i];
		size_t prefix = r->owner_len - olen;          /* the labels before the origin */
		uint32_t off = r->off + r->owner_len - (uint32_t)prefix - 1;
		memmove(s->arena + off, s->arena + r->off, prefix);
		s->arena[off + prefix] = 0;
		r->off = off;
		r->owner_len = (uint8_t)(prefix + 1);
	}
	s->apex[0] = 0;
	s->apex_len = 1;
}

static int load_template(sk_slist_t *l, const sk_seized_conf_t *sc, const char *conf_path)
{
	sk_zsrc_t src = { 0 };
	sk_zone_conf_t zc = { .file = sc->template, .tags = sc->tags, .ntags = sc->ntags, .line = sc->line };
	int rc = sk_zsrc_load_template(sc->template, conf_path, sc->line, &src);
	if (rc == 0) {
		to_root(&src);
		rc = sk_zone_compile(&src, &zc, &l->tmpl);
	}
	sk_zsrc_free(&src);
	return rc;
}

/* ---- the list file ---- */

/* Bytes a domain in a list may hold, lowercased: letters, digits, '-' and '_'. */
static const uint8_t domain_char[256] = {
	['-'] = '-', ['_'] = '_',
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
	['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g',
	['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n',
	['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u',
	['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z',
	['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g',
	['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n',
	['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u',
	['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y', ['Z'] = 'z',
};

/*
 * One domain as text (`n` bytes, an optional final dot) into lowercase wire form. A domain is
 * two labels or more of 1 to 63 of the bytes above, none starting or ending with '-'. Returns
 * the wire length, or 0 when the text is not such a domain.
 */
static size_t parse_domain(const char *s, size_t n, uint8_t out[SK_NAME_MAX])
{
	size_t lab = 0, len = 0;   /* where the current label's length byte is, and its length */
	unsigned labels = 0;

	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n + 2 > SK_NAME_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (len == 0 || out[lab + len] == '-')
				return 0;
			out[lab] = (uint8_t)len;
			lab += len + 1;
			len = 0;
			labels++;
			continue;
		}
		uint8_t c = domain_char[(uint8_t)s[i]];
		if (!c || (len == 0 && c == '-') || ++len > SK_LABEL_MAX)
			return 0;
		out[lab + len] = c;
	}
	out[lab] = 0;
	return labels >= 2 ? lab + 1 : 0;
}

/* A list file mapped read-only; an empty file maps nothing. */
typedef struct mapped {
	const char *p;
	size_t len;
} mapped_t;

static int map_file(const char *path, mapped_t *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	m->p = NULL;
	m->len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
	} else if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			rc = -errno;
		} else {
			madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
			m->p = p;
			m->len = (size_t)st.st_size;
		}
	}
	close(fd);
	return rc;
}

static void unmap_file(mapped_t *m)
{
	if (m->p)
		munmap((void *)m->p, m->len);
}

static size_t count_lines(const mapped_t *m)
{
	size_t n = 1;
	if (!m->len)
		return n;   /* nothing mapped: m->p is NULL, and NULL + 0 is undefined behaviour */
	for (const char *p = m->p, *e = m->p + m->len; p && (p = memchr(p, '\n', (size_t)(e - p))); p++)
		n++;
	return n;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Loading one list: where it goes and what it found. */
typedef struct lload {
	sk_db_t *db;
	const sk_conf_t *conf;
	unsigned idx;             /* of the list in db->lists */
	sk_slist_t *l;
	unsigned warnings;
	size_t entries;           /* lines that were neither blank nor comments */
} lload_t;

/* A warning about line `line` of the list, while fewer than WARN_MAX were printed. */
static void list_warn(lload_t *ld, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void list_warn(lload_t *ld, unsigned line, const char *fmt, ...)
{
	if (ld->warnings < WARN_MAX) {
		char msg[2 * SK_NAME_TEXT_MAX];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		sk_diag(1, ld->l->list, line, "%s", msg);
	} else if (ld->warnings == WARN_MAX) {
		sk_diag(1, ld->l->list, 0, "further problems in this list are only counted");
	}
	ld->warnings++;
}

/* Enter one valid domain: unless a zone file or an earlier entry has it. */
static int add_domain(lload_t *ld, const uint8_t *name, size_t len, unsigned line)
{
	sk_db_t *db = ld->db;
	uint8_t off[SK_LABELS_MAX];
	uint64_t h[SK_LABELS_MAX];
	int labels = sk_db_name_hashes(name, len, off, h);
	uint64_t hash = h[0];
	const sk_nameent_t *e;
	char text[SK_NAME_TEXT_MAX], zone[SK_NAME_TEXT_MAX];

	if ((e = sk_nametab_find(&db->apexes, name, len, hash))) {
		ld->l->st.shadowed++;
		sk_name_to_text(name, text, sizeof text);
		if (sk_db_is_catalog(db, e))
			list_warn(ld, line, "%s is the catalog zone's name (the catalog wins)", text);
		else
			list_warn(ld, line, "%s is served by the zone file %s (the zone file wins)", text,
				ld->conf->zones[e->value].file);
		return 0;
	}
	if ((e = sk_nametab_find(&db->seized, name, len, hash))) {
		ld->l->st.duplicates++;
		sk_name_to_text(name, text, sizeof text);
		list_warn(ld, line, "%s is already listed at %s:%u (the first wins)", text,
			db->lists[e->aux].list, e->value);
		return 0;
	}
	/* Inside a zone the operator serves (its own nameservers' names, say): the list takes the
	 * name over, which is worth a look. */
	for (int k = 1; k < labels; k++) {
		if (!(e = sk_nametab_find(&db->apexes, name + off[k], len - off[k], h[k])))
			continue;
		sk_name_to_text(name, text, sizeof text);
		sk_name_to_text(name + off[k], zone, sizeof zone);
		list_warn(ld, line, "%s is inside the zone %s of %s: the list answers for it (the longer "
			"name wins)", text, zone, sk_db_is_catalog(db, e) ? "the catalog" :
			ld->conf->zones[e->value].file);
		break;
	}
	size_t at;
	int rc = sk_nametab_add(&db->seized, name, len, hash, &at);
	if (rc < 0)
		return rc;
	sk_nameent_t *ne = sk_nametab_ent(&db->seized, at);
	ne->value = line;
	ne->aux = (uint16_t)ld->idx;
	if (labels < db->seized_min_labels)
		db->seized_min_labels = (uint8_t)labels;
	if (labels > db->seized_max_labels)
		db->seized_max_labels = (uint8_t)labels;
	ld->l->st.domains++;
	return 0;
}

/* Every line of the mapped list: blank and '#' lines skipped, one domain per other line, a
 * comment after it allowed. */
static int parse_list(lload_t *ld, const mapped_t *m)
{
	const char *p = m->p, *end;
	unsigned line = 0;
	uint8_t wire[SK_NAME_MAX];
	int rc;

	if (!m->len)
		return 0;   /* an empty file maps nothing (m->p NULL) */
	end = m->p + m->len;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end, *s = p;
		line++;
		p = eol ? eol + 1 : NULL;
		while (s < le && is_space(*s))
			s++;
		if (s == le || *s == '#')
			continue;
		ld->entries++;
		const char *t = s;
		while (t < le && !is_space(*t) && *t != '#')
			t++;
		const char *rest = t;
		while (rest < le && is_space(*rest))
			rest++;
		size_t len = (rest == le || *rest == '#') ? parse_domain(s, (size_t)(t - s), wire) : 0;
		if (!len) {
			/* Shown as written without the blanks around it, up to a sane length, control
			 * bytes as '?'. */
			char shown[80];
			size_t k = 0;
			const char *te = le;
			while (te > s && is_space(te[-1]))
				te--;
			for (const char *c = s; c < te && k < sizeof shown - 4; c++)
				shown[k++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
			if (te - s > (long)k)
				shown[k++] = '.', shown[k++] = '.', shown[k++] = '.';
			shown[k] = '\0';
			ld->l->st.invalid++;
			list_warn(ld, line, "not a domain name: '%s' (line skipped)", shown);
			continue;
		}
		if ((rc = add_domain(ld, wire, len, line)) < 0)
			return rc;
	}
	return 0;
}

/* ---- the lists ---- */

static int load_list(sk_db_t *db, const sk_conf_t *conf, unsigned idx)
{
	const sk_seized_conf_t *sc = &conf->seized[idx];
	sk_slist_t *l = &db->lists[idx];
	lload_t ld = { .db = db, .conf = conf, .idx = idx, .l = l };
	mapped_t m;
	int rc;

	if (!(l->list = strdup(sc->list)) || !(l->template = strdup(sc->template)))
		return -ENOMEM;
	l->st.list = l->list;
	l->st.template = l->template;
	if ((rc = load_template(l, sc, conf->path)) < 0)
		return rc;
	if ((rc = map_file(sc->list, &m)) < 0) {
		sk_diag(0, conf->path, sc->line, "cannot read seized list %s: %s", sc->list, sk_strerror(rc));
		return rc == -ENOMEM ? rc : SK_EPARSE;
	}
	/* Room for every line as a domain: 8 bytes of entry header, up to 7 of padding, and the wire
	 * form, at most two bytes longer than the text. */
	size_t lines = count_lines(&m);
	if ((rc = sk_nametab_reserve(&db->seized, db->seized.count + lines,
		db->seized.ents_len + m.len + lines * 17)) == 0)
		rc = parse_list(&ld, &m);
	unmap_file(&m);
	if (rc < 0)
		return rc;
	if (l->st.invalid * 2 > ld.entries) {
		sk_diag(0, l->list, 0, "%zu of its %zu entries are not domain names: list refused",
			l->st.invalid, ld.entries);
		return SK_EPARSE;
	}
	return 0;
}

int sk_seized_build(sk_db_t *db, const sk_conf_t *conf)
{
	int rc, first = 0;

	if ((rc = sk_nametab_init(&db->seized)) < 0)
		return rc;
	db->seized_min_labels = SK_LABELS_MAX;
	if (conf->nseized > UINT16_MAX) {
		sk_diag(0, conf->path, conf->seized[UINT16_MAX].line, "more than %u seized lists", UINT16_MAX);
		return SK_EPARSE;
	}
	if (conf->nseized && !(db->lists = calloc(conf->nseized, sizeof *db->lists)))
		return -ENOMEM;
	db->nlists = conf->nseized;
	/* Go on after a bad list so that one run reports the problems of every list. */
	for (unsigned i = 0; i < conf->nseized; i++) {
		rc = load_list(db, conf, i);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0 && first == 0)
			first = rc;
	}
	if (first < 0)
		return first;
	if ((rc = sk_nametab_seal(&db->seized)) < 0)
		return rc;
	for (size_t i = 0; i < db->nlists; i++) {
		const sk_db_list_stats_t *st = &db->lists[i].st;
		sk_info("seized: %s: %zu domains, template %s (%zu invalid, %zu duplicates, %zu served by "
			"zone files)", st->list, st->domains, st->template, st->invalid, st->duplicates,
			st->shadowed);
	}
	return 0;
}

void sk_seized_free(sk_db_t *db)
{
	for (size_t i = 0; i < db->nlists; i++) {
		sk_zone_release(&db->lists[i].tmpl);
		free(db->lists[i].list);
		free(db->lists[i].template);
	}
	free(db->lists);
	db->lists = NULL;
	db->nlists = 0;
	sk_nametab_free(&db->seized);
}
