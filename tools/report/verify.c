/* verify.c -- check the manifest chain and every segment it seals; keygen for its signing key */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "input.h"
#include "scan.h"
#include "verify.h"

/*
 * Where segments are: the server renames files in one way only (path -> path.1 -> ... ->
 * path.keep, the oldest deleted), and writes a manifest line for every such rename (`rotate`,
 * `stop`, `unsealed`). Replaying the lines in order gives each sealed segment's expected name
 * now, or tells that rotation deleted it (beyond `keep`). Segments sealed at `reopen` or `lost`
 * left the rotation (an outside tool moved them) and are looked for by content.
 */

#define POS_UNKNOWN (-1)
#define POS_PRUNED (-2)

enum { SIG_NONE, SIG_GOOD, SIG_BAD };
enum { ST_OK, ST_PRUNED, ST_UNSEALED, ST_ALTERED, ST_TRUNCATED, ST_MISSING, ST_REORDERED };

typedef struct mline {
	unsigned lineno;
	unsigned long long seg;
	char file[256], end[16];
	unsigned keep;
	unsigned long long bytes, records, first_seq;
	bool has_sha, has_sig, has_first_seq;
	char first[40], last[40];
	char sha[SK_SHA256_HEX_LEN + 1], prev[SK_SHA256_HEX_LEN + 1], self[SK_SHA256_HEX_LEN + 1];
	char sig[128];
	int sig_state;         /* SIG_* */
	int pos;               /* replayed position: 0 = base, N = base.N, or POS_* */
	int pruned_keep;
	int status;
	int found;             /* index of the file it is in, -1 */
} mline_t;

typedef struct vfile {
	char name[256];
	char sha[SK_SHA256_HEX_LEN + 1];
	unsigned long long bytes, lines, first_seq;
	char first[40];
	bool gz, used;
	int rank;              /* N of base.N, 0 for base, -1 for other names */
} vfile_t;

typedef struct vstate {
	char dir[4096], base[256], manifest[4096 + 256 + 16];
	mline_t *lines;
	size_t nlines;
	vfile_t *files;
	size_t nfiles;
	unsigned problems;
} vstate_t;

/* ---- the manifest ---- */

typedef struct mparse {
	mline_t *m;
	int seen;
} mparse_t;

static void copy_slice(char *out, size_t cap, rp_slice_t v)
{
	size_t n = v.n < cap - 1 ? v.n : cap - 1;
	memcpy(out, v.p, n);
	out[n] = '\0';
}

static void mline_member(rp_slice_t k, rp_slice_t v, bool is_string, void *arg)
{
	mparse_t *mp = arg;
	mline_t *m = mp->m;
	char num[32];
#define IS(lit) (k.n == sizeof(lit) - 1 && !memcmp(k.p, lit, k.n))
	if (!is_string) {
		copy_slice(num, sizeof num, v);
		if (!strcmp(num, "null"))
			return;
		unsigned long long x = strtoull(num, NULL, 10);
		if (IS("seg")) { m->seg = x; mp->seen |= 1; }
		else if (IS("keep")) m->keep = (unsigned)x;
		else if (IS("bytes")) m->bytes = x;
		else if (IS("records")) m->records = x;
		else if (IS("first_seq")) { m->first_seq = x; m->has_first_seq = true; }
		return;
	}
	if (IS("file")) { copy_slice(m->file, sizeof m->file, v); mp->seen |= 2; }
	else if (IS("end")) { copy_slice(m->end, sizeof m->end, v); mp->seen |= 4; }
	else if (IS("first")) copy_slice(m->first, sizeof m->first, v);
	else if (IS("last")) copy_slice(m->last, sizeof m->last, v);
	else if (IS("sha256") && v.n == SK_SHA256_HEX_LEN) { copy_slice(m->sha, sizeof m->sha, v); m->has_sha = true; }
	else if (IS("prev") && v.n == SK_SHA256_HEX_LEN) { copy_slice(m->prev, sizeof m->prev, v); mp->seen |= 8; }
	else if (IS("sig")) { copy_slice(m->sig, sizeof m->sig, v); m->has_sig = true; }
#undef IS
}

/* The signature covers the line's bytes before `,"sig"`. */
static int check_sig(const mline_t *m, const char *line, size_t len, const uint8_t *pk)
{
	uint8_t sig[SK_SIGN_LEN + 3];
	const char *s = memmem(line, len, ",\"sig\":\"", 8);
	if (!s || sk_base64_decode(sig, sizeof sig, m->sig, strlen(m->sig)) != SK_SIGN_LEN)
		return SIG_BAD;
	return sk_sign_verify(sig, line, (size_t)(s - line), pk) ? SIG_GOOD : SIG_BAD;
}

static int parse_line(const char *line, size_t len, unsigned lineno, mline_t *m, const uint8_t *pk)
{
	uint8_t d[SK_SHA256_LEN];
	mparse_t mp = { m, 0 };
	memset(m, 0, sizeof *m);
	m->lineno = lineno;
	m->found = -1;
	if (rp_members((rp_slice_t){ line, (uint32_t)len }, mline_member, &mp) < 0 || mp.seen != 15)
		return -1;
	m->sig_state = !m->has_sig ? SIG_NONE : pk ? check_sig(m, line, len, pk) : SIG_NONE;
	sk_sha256(d, line, len);
	sk_sha256_hex(m->self, d);
	return 0;
}

typedef struct mread {
	vstate_t *v;
	const uint8_t *pk;
	size_t cap;
	int bad;
} mread_t;

static int manifest_line(const char *line, size_t len, uint64_t lineno, void *arg)
{
	mread_t *mr = arg;
	vstate_t *v = mr->v;
	if (len == 0)
		return 0;
	if (v->nlines == mr->cap) {
		size_t ncap = mr->cap ? mr->cap * 2 : 64;
		mline_t *nl = realloc(v->lines, ncap * sizeof *nl);
		if (!nl)
			return -ENOMEM;
		v->lines = nl;
		mr->cap = ncap;
	}
	if (parse_line(line, len, (unsigned)lineno, &v->lines[v->nlines], mr->pk) < 0) {
		printf("chain: %s:%llu: not a manifest line\n", v->manifest, (unsigned long long)lineno);
		mr->bad++;
		return 0;
	}
	v->nlines++;
	return 0;
}

/* ---- the chain, the head, the signatures ---- */

static void check_chain(vstate_t *v, const char *head)
{
	static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
	unsigned broken = 0;
	for (size_t i = 0; i < v->nlines; i++) {
		mline_t *m = &v->lines[i];
		const char *want = i ? v->lines[i - 1].self : zeros;
		if (strcmp(m->prev, want)) {
			broken++;
			if (i == 0)
				printf("chain: line %u: prev is not 64 zeros: lines before it are missing\n", m->lineno);
			else
				printf("chain: line %u (seg %llu): prev does not match line %u: lines were removed, "
					"changed or REORDERED here\n", m->lineno, m->seg, v->lines[i - 1].lineno);
		}
		if (i && m->seg != v->lines[i - 1].seg + 1) {
			broken++;
			printf("chain: line %u: segment number %llu follows %llu\n", m->lineno, m->seg,
				v->lines[i - 1].seg);
		}
	}
	v->problems += broken;
	if (!broken)
		printf("chain: intact, %zu line%s (segments %llu..%llu)\n", v->nlines, v->nlines == 1 ? "" : "s",
			v->nlines ? v->lines[0].seg : 0, v->nlines ? v->lines[v->nlines - 1].seg : 0);
	const char *last = v->nlines ? v->lines[v->nlines - 1].self : zeros;
	printf("head: %s\n", last);
	if (head && strcmp(head, last)) {
		v->problems++;
		printf("head: does not match the expected %s: lines were removed from the end, or added\n", head);
	}
}

static int load_pubkey(const char *path, uint8_t pk[SK_SIGN_PUBLIC_LEN])
{
	char text[4096];
	const char *why = "";
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "sinkhole-report: --pubkey %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = fread(text, 1, sizeof text, f);
	fclose(f);
	if (sk_sign_public_parse(text, n, pk, &why) < 0) {
		fprintf(stderr, "sinkhole-report: --pubkey %s: %s\n", path, why);
		return -1;
	}
	return 0;
}

static void report_signatures(vstate_t *v, bool checked)
{
	size_t good = 0, bad = 0, none = 0;
	for (size_t i = 0; i < v->nlines; i++) {
		const mline_t *m = &v->lines[i];
		if (!m->has_sig) {
			none++;
			if (checked)
				printf("signature: line %u (seg %llu): UNSIGNED\n", m->lineno, m->seg);
		} else if (checked && m->sig_state == SIG_BAD) {
			bad++;
			printf("signature: line %u (seg %llu): BAD SIGNATURE\n", m->lineno, m->seg);
		} else {
			good++;
		}
	}
	if (!checked) {
		if (good)
			printf("signatures: on %zu of %zu lines, not checked (give --pubkey)\n", good, v->nlines);
		return;
	}
	v->problems += (unsigned)(bad + none);
	if (!bad && !none)
		printf("signatures: all %zu lines signed by the given key\n", good);
}

/* ---- where each segment should be ---- */

static bool renames(const mline_t *m)
{
	return !strcmp(m->end, "rotate") || !strcmp(m->end, "stop") || !strcmp(m->end, "unsealed");
}

static void replay(vstate_t *v)
{
	for (size_t i = 0; i < v->nlines; i++) {
		mline_t *m = &v->lines[i];
		if (!renames(m)) {
			m->pos = POS_UNKNOWN;
			continue;
		}
		/* path.(k-1) -> path.k for every kept file; beyond keep it is gone. */
		for (size_t j = 0; j < i; j++) {
			mline_t *o = &v->lines[j];
			if (o->pos < 1)
				continue;
			if (++o->pos > (int)m->keep) {
				o->pos = POS_PRUNED;
				o->pruned_keep = (int)m->keep;
			}
		}
		m->pos = m->keep >= 1 ? 1 : POS_PRUNED;
		m->pruned_keep = (int)m->keep;
	}
}

/* ---- the files ---- */

typedef struct hashing {
	sk_sha256_t sha;
	vfile_t *f;
	bool at_start, in_first;
	char first_line[512];
	size_t first_len;
} hashing_t;

static int hash_block(const char *buf, size_t len, void *arg)
{
	hashing_t *h = arg;
	sk_sha256_update(&h->sha, buf, len);
	h->f->bytes += len;
	for (const char *p = buf, *e = buf + len; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		h->f->lines++;
	if (h->in_first) {
		const char *nl = memchr(buf, '\n', len);
		size_t take = nl ? (size_t)(nl - buf) : len;
		if (take > sizeof h->first_line - 1 - h->first_len)
			take = sizeof h->first_line - 1 - h->first_len;
		memcpy(h->first_line + h->first_len, buf, take);
		h->first_len += take;
		h->in_first = !nl && h->first_len < sizeof h->first_line - 1;
	}
	return 0;
}

/* The first record's time and seq, as the sink recorded them. */
static void first_stamp(vfile_t *f, const char *line, size_t len)
{
	const char *k = memmem(line, len, ",\"seq\":", 7);
	if (len > 9 && !memcmp(line, "{\"time\":\"", 9)) {
		const char *q = memchr(line + 9, '"', len - 9);
		if (q && (size_t)(q - line - 9) < sizeof f->first)
			snprintf(f->first, sizeof f->first, "%.*s", (int)(q - line - 9), line + 9);
	}
	if (k)
		f->first_seq = strtoull(k + 7, NULL, 10);
}

static int rank_of(const char *name, const char *base, bool *gz)
{
	size_t bl = strlen(base), nl = strlen(name);
	*gz = nl > 3 && !strcmp(name + nl - 3, ".gz");
	if (*gz)
		nl -= 3;
	if (strncmp(name, base, bl))
		return -2;
	if (nl == bl)
		return 0;
	if (name[bl] != '.')
		return -1;
	int n = 0;
	for (size_t i = bl + 1; i < nl; i++) {
		if (name[i] < '0' || name[i] > '9' || n > 100000)
			return -1;
		n = n * 10 + (name[i] - '0');
	}
	return nl > bl + 1 ? n : -1;
}

static int scan_files(vstate_t *v)
{
	DIR *d = opendir(v->dir);
	struct dirent *e;
	size_t cap = 0;
	if (!d) {
		fprintf(stderr, "sinkhole-report: cannot read %s: %s\n", v->dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		bool gz;
		int rank = rank_of(e->d_name, v->base, &gz);
		size_t nl = strlen(e->d_name);
		if (rank == -2 || (nl >= 9 && !strcmp(e->d_name + nl - 9, ".manifest")) || nl >= 256)
			continue;
		char path[4400];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", v->dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (v->nfiles == cap) {
			cap = cap ? cap * 2 : 64;
			vfile_t *nf = realloc(v->files, cap * sizeof *nf);
			if (!nf) {
				closedir(d);
				return -1;
			}
			v->files = nf;
		}
		vfile_t *f = &v->files[v->nfiles];
		memset(f, 0, sizeof *f);
		snprintf(f->name, sizeof f->name, "%s", e->d_name);
		f->rank = rank;
		hashing_t h = { .f = f, .in_first = true };
		sk_sha256_init(&h.sha);
		int isgz = 0;
		int rc = rp_input_blocks(path, hash_block, &h, &isgz);
		if (rc < 0) {
			printf("file %s: cannot be read whole (%s): treated as altered\n", f->name,
				rc == -EBADMSG ? "corrupt or cut gzip data" : strerror(-rc));
			snprintf(f->sha, sizeof f->sha, "unreadable");
		} else {
			uint8_t dg[SK_SHA256_LEN];
			sk_sha256_final(&h.sha, dg);
			sk_sha256_hex(f->sha, dg);
		}
		f->gz = isgz;
		first_stamp(f, h.first_line, h.first_len);
		v->nfiles++;
	}
	closedir(d);
	return 0;
}

static void name_at(const vstate_t *v, int pos, char *out, size_t cap)
{
	if (pos == 0)
		snprintf(out, cap, "%s", v->base);
	else
		snprintf(out, cap, "%s.%d", v->base, pos);
}

/* The file named as position `pos` would be (plain or .gz). */
static int file_at(const vstate_t *v, int pos)
{
	for (size_t i = 0; i < v->nfiles; i++)
		if (v->files[i].rank == pos)
			return (int)i;
	return -1;
}

/* A file with this content that no other line has claimed; the one at `prefer` first. */
static int file_by_hash(const vstate_t *v, const char *sha, int prefer)
{
	if (prefer >= 0 && !strcmp(v->files[prefer].sha, sha))
		return prefer;
	for (size_t i = 0; i < v->nfiles; i++)
		if (!v->files[i].used && !strcmp(v->files[i].sha, sha))
			return (int)i;
	return -1;
}

static bool hash_of_any_line(const vstate_t *v, const char *sha)
{
	for (size_t i = 0; i < v->nlines; i++)
		if (v->lines[i].has_sha && !strcmp(v->lines[i].sha, sha))
			return true;
	return false;
}

/* A file whose first record is this segment's first record: the segment, changed. */
static int file_by_first(const vstate_t *v, const mline_t *m)
{
	for (size_t i = 0; i < v->nfiles; i++) {
		const vfile_t *f = &v->files[i];
		if (!f->used && m->first[0] && !strcmp(f->first, m->first) && f->first_seq == m->first_seq &&
		    !hash_of_any_line(v, f->sha))
			return (int)i;
	}
	return -1;
}

static void changed(vstate_t *v, mline_t *m, int fi)
{
	vfile_t *f = &v->files[fi];
	f->used = true;
	m->found = fi;
	m->status = f->bytes < m->bytes ? ST_TRUNCATED : ST_ALTERED;
}

/* Pass 1: a sealed segment found intact, preferably where rotation put it. Its place is judged
 * afterwards, by order (check_order). */
static bool match_intact(vstate_t *v, mline_t *m)
{
	int at = m->pos >= 0 ? file_at(v, m->pos) : -1;
	int fi = file_by_hash(v, m->sha, at);
	if (fi < 0)
		return false;
	v->files[fi].used = true;
	m->found = fi;
	m->status = ST_OK;
	return true;
}

/* An unused numbered file between the nearest older and newer segments found (their numbers
 * bound it): when there is exactly one, it is this segment's file, whatever it holds now. This
 * also covers names shifted by renames the manifest did not record (a crash between a rename and
 * its line). */
static int file_between(const vstate_t *v, size_t i)
{
	int older = -1, newer = -1, cand = -1, n = 0;
	for (size_t j = i; j-- > 0;)
		if (v->lines[j].found >= 0 && v->files[v->lines[j].found].rank >= 0) {
			older = v->files[v->lines[j].found].rank;
			break;
		}
	for (size_t j = i + 1; j < v->nlines; j++)
		if (v->lines[j].found >= 0 && v->files[v->lines[j].found].rank >= 0) {
			newer = v->files[v->lines[j].found].rank;
			break;
		}
	for (size_t k = 0; k < v->nfiles; k++) {
		const vfile_t *f = &v->files[k];
		if (f->used || f->rank <= newer || (older >= 0 && f->rank >= older) || hash_of_any_line(v, f->sha))
			continue;
		cand = (int)k;
		n++;
	}
	return n == 1 && older >= 0 ? cand : -1;
}

/* Pass 2: not found intact. The file where rotation put it (unless that is another segment,
 * intact), else one that starts with its first record, else the one between its neighbours:
 * changed. Else it is gone (judge_gone). */
static void match_changed(vstate_t *v, size_t i)
{
	mline_t *m = &v->lines[i];
	int at = m->pos >= 0 ? file_at(v, m->pos) : -1;
	if (at >= 0 && !v->files[at].used && !hash_of_any_line(v, v->files[at].sha)) {
		changed(v, m, at);
		return;
	}
	int fi = file_by_first(v, m);
	if (fi < 0)
		fi = file_between(v, i);
	if (fi >= 0)
		changed(v, m, fi);
	else
		m->status = ST_MISSING;
}

/* An unsealed file has no hash, only the size it had when the next run moved it aside (it is
 * never written again): looked for where rotation put it, else by that size, else between its
 * neighbours. */
static void match_unsealed(vstate_t *v, size_t i)
{
	mline_t *m = &v->lines[i];
	int at = m->pos >= 0 ? file_at(v, m->pos) : -1, fi = -1;
	m->status = ST_UNSEALED;
	if (at >= 0 && !v->files[at].used && v->files[at].bytes == m->bytes)
		fi = at;
	for (size_t k = 0; fi < 0 && k < v->nfiles; k++)
		if (!v->files[k].used && v->files[k].bytes == m->bytes && !hash_of_any_line(v, v->files[k].sha))
			fi = (int)k;
	if (fi < 0)
		fi = file_between(v, i);
	if (fi < 0 && at >= 0 && !v->files[at].used && !hash_of_any_line(v, v->files[at].sha))
		fi = at;
	if (fi >= 0) {
		v->files[fi].used = true;
		m->found = fi;
	} else {
		m->status = ST_MISSING;
	}
}

/*
 * Order: rotation only ever moves every file up by one, so older segments have higher numbers,
 * whatever the names the replay expects (a rename the manifest did not record, after a crash,
 * shifts names but not order). Two segments whose files are in the wrong order were swapped or
 * renamed: both are reordered.
 */
static void check_order(vstate_t *v)
{
	for (size_t i = 0; i < v->nlines; i++) {
		mline_t *a = &v->lines[i];
		if (a->found < 0 || v->files[a->found].rank < 0)
			continue;
		for (size_t j = i + 1; j < v->nlines; j++) {
			mline_t *b = &v->lines[j];
			if (b->found < 0 || v->files[b->found].rank < 0)
				continue;
			if (v->files[a->found].rank > v->files[b->found].rank)
				continue;
			if (a->status == ST_OK || a->status == ST_UNSEALED)
				a->status = ST_REORDERED;
			if (b->status == ST_OK || b->status == ST_UNSEALED)
				b->status = ST_REORDERED;
		}
	}
}

/*
 * A segment not found at all: deleted by rotation (pruned) when the replay says so, or when it is
 * older than every segment found and the rotation window is full (a file numbered `keep` exists:
 * anything older was pushed out, even if a crash left a rename unrecorded). Else missing.
 */
static void judge_gone(vstate_t *v)
{
	size_t oldest_found = v->nlines;
	unsigned keep = 0;
	bool full = false;
	for (size_t i = 0; i < v->nlines; i++) {
		if (v->lines[i].found >= 0 && oldest_found == v->nlines)
			oldest_found = i;
		if (renames(&v->lines[i]))
			keep = v->lines[i].keep;
	}
	for (size_t k = 0; k < v->nfiles; k++)
		full |= keep && v->files[k].rank == (int)keep;
	for (size_t i = 0; i < v->nlines; i++) {
		mline_t *m = &v->lines[i];
		if (m->status != ST_MISSING)
			continue;
		if (m->pos == POS_PRUNED || (i < oldest_found && full)) {
			m->status = ST_PRUNED;
			if (m->pos != POS_PRUNED)
				m->pruned_keep = (int)keep;
		}
	}
}

static int match_all(vstate_t *v)
{
	bool *pending = calloc(v->nlines + 1, sizeof *pending);
	if (!pending)
		return -1;
	/* Intact ones first, so that no changed file is taken for a segment that is elsewhere. */
	for (size_t i = 0; i < v->nlines; i++)
		if (v->lines[i].has_sha && !match_intact(v, &v->lines[i]))
			pending[i] = true;
	for (size_t i = 0; i < v->nlines; i++) {
		if (!v->lines[i].has_sha)
			match_unsealed(v, i);
		else if (pending[i])
			match_changed(v, i);
	}
	free(pending);
	check_order(v);
	judge_gone(v);
	return 0;
}

/* ---- the verdict ---- */

static void print_segment(vstate_t *v, const mline_t *m)
{
	char expect[300] = "-";
	const vfile_t *f = m->found >= 0 ? &v->files[m->found] : NULL;
	if (m->pos >= 0)
		name_at(v, m->pos, expect, sizeof expect);
	printf("seg %llu  %s  ", m->seg, f ? f->name : "-");
	switch (m->status) {
	case ST_OK:
		printf("ok: %llu records, %s .. %s\n", m->records, m->first, m->last);
		break;
	case ST_PRUNED:
		printf("pruned: deleted by rotation (keep %d), as the manifest shows\n", m->pruned_keep);
		break;
	case ST_UNSEALED:
		printf("unsealed: left by a run that did not seal it (%llu bytes at the next start, %llu now); "
			"not evidence-checked\n", m->bytes, f->bytes);
		break;
	case ST_ALTERED:
		printf("ALTERED: SHA-256 differs (%llu bytes and %llu records now, %llu and %llu sealed)\n",
			f->bytes, f->lines, m->bytes, m->records);
		break;
	case ST_TRUNCATED:
		printf("TRUNCATED: %llu of %llu bytes, %llu of %llu records\n", f->bytes, m->bytes, f->lines,
			m->records);
		break;
	case ST_MISSING:
		if (!m->has_sha)
			printf("MISSING: an unsealed file of %llu bytes, expected as %s\n", m->bytes, expect);
		else if (m->pos >= 0)
			printf("MISSING: expected as %s (%llu records, %s .. %s)\n", expect, m->records, m->first, m->last);
		else
			printf("MISSING: sealed at %s as %s and moved; no file here has its content\n", m->end, m->file);
		break;
	case ST_REORDERED:
		printf("REORDERED: its content is in %s, out of order with the segments around it (rotation put "
			"it at %s)\n", f->name, expect);
		break;
	}
}

static void print_files(const vstate_t *v)
{
	for (size_t i = 0; i < v->nfiles; i++) {
		const vfile_t *f = &v->files[i];
		if (f->used)
			continue;
		if (f->rank == 0)
			printf("file %s  unsealed: the segment being written (or the server stopped without sealing "
				"it); %llu records, not evidence-checked\n", f->name, f->lines);
		else
			printf("file %s  not in the manifest: written before the chain began, or not by this "
				"server; not evidence-checked\n", f->name);
	}
}

static unsigned verdict(const vstate_t *v)
{
	unsigned n[ST_REORDERED + 1] = { 0 };
	for (size_t i = 0; i < v->nlines; i++)
		n[v->lines[i].status]++;
	unsigned bad = n[ST_ALTERED] + n[ST_TRUNCATED] + n[ST_MISSING] + n[ST_REORDERED] + v->problems;
	if (!bad) {
		printf("verified: %u segment%s intact", n[ST_OK], n[ST_OK] == 1 ? "" : "s");
		if (n[ST_PRUNED])
			printf(", %u pruned by rotation", n[ST_PRUNED]);
		if (n[ST_UNSEALED])
			printf(", %u unsealed", n[ST_UNSEALED]);
		printf("\n");
		return 0;
	}
	printf("FAILED: %u altered, %u truncated, %u missing, %u reordered, %u chain or signature "
		"problem%s (%u intact)\n", n[ST_ALTERED], n[ST_TRUNCATED], n[ST_MISSING], n[ST_REORDERED],
		v->problems, v->problems == 1 ? "" : "s", n[ST_OK]);
	return bad;
}

/* target: a manifest, or a folder with exactly one. */
static int locate(vstate_t *v, const char *target)
{
	struct stat st;
	if (stat(target, &st) < 0) {
		fprintf(stderr, "sinkhole-report: %s: %s\n", target, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(target);
		struct dirent *e;
		int found = 0;
		if (!d) {
			fprintf(stderr, "sinkhole-report: %s: %s\n", target, strerror(errno));
			return -1;
		}
		while ((e = readdir(d))) {
			size_t n = strlen(e->d_name);
			if (n > 9 && !strcmp(e->d_name + n - 9, ".manifest") && n < sizeof v->base + 9) {
				found++;
				snprintf(v->base, sizeof v->base, "%.*s", (int)(n - 9), e->d_name);
			}
		}
		closedir(d);
		if (found != 1) {
			fprintf(stderr, "sinkhole-report: %s holds %d *.manifest files: name the one to verify\n",
				target, found);
			return -1;
		}
		snprintf(v->dir, sizeof v->dir, "%s", target);
	} else {
		const char *slash = strrchr(target, '/');
		const char *name = slash ? slash + 1 : target;
		size_t n = strlen(name);
		if (n <= 9 || strcmp(name + n - 9, ".manifest") || n >= sizeof v->base + 9) {
			fprintf(stderr, "sinkhole-report: %s: expected PATH.manifest or a folder\n", target);
			return -1;
		}
		snprintf(v->base, sizeof v->base, "%.*s", (int)(n - 9), name);
		if (slash)
			snprintf(v->dir, sizeof v->dir, "%.*s", (int)(slash - target), target);
		else
			snprintf(v->dir, sizeof v->dir, ".");
		if (!v->dir[0])
			snprintf(v->dir, sizeof v->dir, "/");
	}
	snprintf(v->manifest, sizeof v->manifest, "%s/%s.manifest", v->dir, v->base);
	return 0;
}

int rp_verify(const char *target, const char *pubkey_path, const char *head)
{
	vstate_t v;
	uint8_t pk[SK_SIGN_PUBLIC_LEN];
	uint64_t nlines = 0;
	int status = 2;

	memset(&v, 0, sizeof v);
	if (locate(&v, target) < 0 || (pubkey_path && load_pubkey(pubkey_path, pk) < 0))
		return 2;
	mread_t mr = { &v, pubkey_path ? pk : NULL, 0, 0 };
	int rc = rp_input_lines(v.manifest, manifest_line, &mr, &nlines);
	if (rc < 0) {
		fprintf(stderr, "sinkhole-report: cannot read %s: %s\n", v.manifest, strerror(-rc));
		goto out;
	}
	printf("manifest: %s (%zu segment lines)\n", v.manifest, v.nlines);
	v.problems += (unsigned)mr.bad;
	check_chain(&v, head);
	report_signatures(&v, pubkey_path != NULL);
	replay(&v);
	if (scan_files(&v) < 0 || match_all(&v) < 0)
		goto out;
	for (size_t i = 0; i < v.nlines; i++)
		print_segment(&v, &v.lines[i]);
	print_files(&v);
	status = verdict(&v) ? 1 : 0;
out:
	free(v.lines);
	free(v.files);
	return status;
}

/* ---- keygen ---- */

static int write_key_file(const char *path, const char *comment, const char *b64, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		fprintf(stderr, "sinkhole-report: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	fprintf(f, "# %s\n%s\n", comment, b64);
	if (ferror(f) | fclose(f)) {
		fprintf(stderr, "sinkhole-report: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

int rp_keygen(const char *prefix)
{
	uint8_t pk[SK_SIGN_PUBLIC_LEN], sk[SK_SIGN_SECRET_LEN];
	char sk64[128], pk64[64];
	size_t n = strlen(prefix) + 8;
	char kpath[n], ppath[n];
	int rc = 1;

	snprintf(kpath, n, "%s.key", prefix);
	snprintf(ppath, n, "%s.pub", prefix);
	sk_sign_keypair(pk, sk);
	sk_base64_encode(sk64, sizeof sk64, sk, sizeof sk);
	sk_base64_encode(pk64, sizeof pk64, pk, sizeof pk);
	if (write_key_file(kpath, "sinkholed manifest signing key: Ed25519 secret key (libsodium crypto_sign "
			"format: 32-byte seed, then the public key), base64. Keep it secret.", sk64, 0600) == 0) {
		if (write_key_file(ppath, "sinkholed manifest signing key: Ed25519 public key, base64 "
				"(sinkhole-report verify --pubkey)", pk64, 0644) == 0) {
			printf("%s: secret key (mode 0600): telemetry.jsonl.sign_key\n%s: public key: %s\n", kpath,
				ppath, pk64);
			rc = 0;
		} else {
			unlink(kpath);
		}
	}
	sk_crypto_wipe(sk, sizeof sk);
	sk_crypto_wipe(sk64, sizeof sk64);
	return rc;
}
