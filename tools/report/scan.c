/* scan.c -- a JSON object walker for telemetry lines: only the members a report reads are kept */
#include <stdio.h>
#include <string.h>

#include "scan.h"

/*
 * Why not a JSON library: a report reads ten million lines of about 750 bytes and needs eight of
 * their thirty-odd values. Building a tree (jansson, json-c) allocates for every member: on
 * 125,000 of these lines (94 MB, from the page cache) jansson 2.14 took 2.0-3.7 s, 25-46 MB/s,
 * to parse them and fetch two values; this walker 0.15 s, about 600 MB/s, reading included. At
 * jansson's speed 10 million records would take three to five minutes. It is strict where that is
 * cheap (structure, quotes, nesting) and leaves the rest to the producer, sinkholed, whose output
 * is valid UTF-8 JSON by construction.
 */

typedef struct cur {
	const char *p, *end;
} cur_t;

static inline void skip_ws(cur_t *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

/* At the opening quote: move past the closing one; the contents go to *s. A quote ends the string
 * when an even number of backslashes precede it. */
static int take_string(cur_t *c, rp_slice_t *s)
{
	const char *start = ++c->p;
	for (;;) {
		const char *q = memchr(c->p, '"', (size_t)(c->end - c->p));
		if (!q)
			return -1;
		const char *b = q;
		while (b > start && b[-1] == '\\')
			b--;
		c->p = q + 1;
		if (((q - b) & 1) == 0) {
			if (s) {
				s->p = start;
				s->n = (uint32_t)(q - start);
			}
			return 0;
		}
	}
}

/* Past an object or array, strings inside respected. */
static int skip_nested(cur_t *c)
{
	int depth = 0;
	while (c->p < c->end) {
		char ch = *c->p;
		if (ch == '"') {
			if (take_string(c, NULL) < 0)
				return -1;
			continue;
		}
		c->p++;
		if (ch == '{' || ch == '[')
			depth++;
		else if ((ch == '}' || ch == ']') && --depth == 0)
			return 0;
	}
	return -1;
}

/* A number, true, false or null: up to the next delimiter. */
static int skip_scalar(cur_t *c)
{
	const char *s = c->p;
	while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']' && *c->p != ' ')
		c->p++;
	return c->p > s ? 0 : -1;
}

enum { V_STRING, V_OBJECT, V_NULL, V_OTHER };

/* One value: its kind, and its slice for a string (contents) or an object (whole text). */
static int take_value(cur_t *c, rp_slice_t *s, int *kind)
{
	const char *start = c->p;
	if (c->p >= c->end)
		return -1;
	switch (*c->p) {
	case '"':
		*kind = V_STRING;
		return take_string(c, s);
	case '{':
	case '[':
		*kind = *c->p == '{' ? V_OBJECT : V_OTHER;
		if (skip_nested(c) < 0)
			return -1;
		s->p = start;
		s->n = (uint32_t)(c->p - start);
		return 0;
	case 'n':
		*kind = V_NULL;
		return skip_scalar(c);
	default:
		*kind = V_OTHER;
		if (skip_scalar(c) < 0)
			return -1;
		s->p = start;
		s->n = (uint32_t)(c->p - start);
		return 0;
	}
}

static inline bool key_is(rp_slice_t k, const char *name, size_t n)
{
	return k.n == n && !memcmp(k.p, name, n);
}
#define KEY(k, lit) key_is((k), (lit), sizeof(lit) - 1)

static uint32_t to_u32(rp_slice_t s)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++)
		v = v * 10 + (uint32_t)(s.p[i] - '0');
	return v;
}

typedef void member_cb(rp_slice_t key, rp_slice_t val, int kind, void *arg);

/* Walk the members of the object at c->p; fn sees each. */
static int walk(cur_t *c, member_cb *fn, void *arg)
{
	skip_ws(c);
	if (c->p >= c->end || *c->p != '{')
		return -1;
	c->p++;
	skip_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		return 0;
	}
	for (;;) {
		rp_slice_t key, val = { NULL, 0 };
		int kind;
		skip_ws(c);
		if (c->p >= c->end || *c->p != '"' || take_string(c, &key) < 0)
			return -1;
		skip_ws(c);
		if (c->p >= c->end || *c->p != ':')
			return -1;
		c->p++;
		skip_ws(c);
		if (take_value(c, &val, &kind) < 0)
			return -1;
		fn(key, val, kind, arg);
		skip_ws(c);
		if (c->p >= c->end)
			return -1;
		if (*c->p == '}') {
			c->p++;
			return 0;
		}
		if (*c->p != ',')
			return -1;
		c->p++;
	}
}

static void edns_member(rp_slice_t key, rp_slice_t val, int kind, void *arg)
{
	rp_rec_t *r = arg;
	if (kind == V_STRING && KEY(key, "ecs"))
		r->ecs = val;
}

typedef struct top {
	rp_rec_t *r;
	int bad;
} top_t;

static void top_member(rp_slice_t key, rp_slice_t val, int kind, void *arg)
{
	top_t *t = arg;
	rp_rec_t *r = t->r;
	switch (key.n) {
	case 3:
		if (kind == V_STRING && KEY(key, "src"))
			r->src = val;
		else if (kind == V_OBJECT && KEY(key, "geo"))
			r->geo = val;
		break;
	case 4:
		if (kind == V_STRING && KEY(key, "time"))
			r->time = val;
		else if (kind == V_STRING && KEY(key, "zone"))
			r->zone = val;
		else if (kind == V_OBJECT && KEY(key, "tags"))
			r->tags = val;
		else if (kind == V_OBJECT && KEY(key, "edns")) {
			cur_t e = { val.p, val.p + val.n };
			if (walk(&e, edns_member, r) < 0)
				t->bad = 1;
		}
		break;
	case 5:
		if (kind == V_OTHER && KEY(key, "sport"))
			r->sport = to_u32(val);
		break;
	case 7:
		if (kind == V_OBJECT && KEY(key, "ecs_geo"))
			r->ecs_geo = val;
		break;
	}
}

int rp_scan(const char *line, size_t len, rp_rec_t *out)
{
	cur_t c = { line, line + len };
	top_t t = { out, 0 };
	memset(out, 0, sizeof *out);
	if (walk(&c, top_member, &t) < 0 || t.bad)
		return -1;
	skip_ws(&c);
	return c.p == c.end ? 0 : -1;
}

typedef struct members {
	rp_member_fn *fn;
	void *arg;
} members_t;

static void flat_member(rp_slice_t key, rp_slice_t val, int kind, void *arg)
{
	members_t *m = arg;
	if (kind == V_STRING || kind == V_OTHER)
		m->fn(key, val, kind == V_STRING, m->arg);
}

int rp_members(rp_slice_t obj, rp_member_fn *fn, void *arg)
{
	cur_t c = { obj.p, obj.p + obj.n };
	members_t m = { fn, arg };
	return obj.p ? walk(&c, flat_member, &m) : -1;
}

/* ---- strings and times ---- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static long hex4(const char *p, const char *end)
{
	long v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

size_t rp_unescape(rp_slice_t s, char *out, size_t cap)
{
	const char *p = s.p, *end = s.p + s.n;
	size_t n = 0;
	if (cap == 0)
		return 0;
	while (p < end && n + 4 < cap) {
		if (*p != '\\') {
			out[n++] = *p++;
			continue;
		}
		if (++p >= end)
			break;
		char e = *p++;
		switch (e) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'u': {
			long cp = hex4(p, end);
			if (cp < 0) {
				out[n++] = '?';
				break;
			}
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
				long lo = hex4(p + 2, end);
				if (lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					p += 6;
				}
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
			n += put_utf8(out + n, (unsigned long)cp);
			break;
		}
		default: out[n++] = e; break;   /* \" \\ \/ */
		}
	}
	out[n] = '\0';
	return n;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

int64_t rp_parse_time(rp_slice_t t)
{
	const char *p = t.p;
	if (!p || t.n < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':')
		return -1;
	int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
	int h = digits(p + 11, 2), mi = digits(p + 14, 2), s = digits(p + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    s < 0 || s > 60)
		return -1;
	int64_t us = 0;
	uint32_t i = 19;
	if (p[i] == '.') {
		int64_t scale = 100000;
		for (i++; i < t.n && p[i] >= '0' && p[i] <= '9'; i++) {
			us += (p[i] - '0') * scale;
			scale /= 10;
		}
	}
	if (i + 1 != t.n || p[i] != 'Z')
		return -1;
	int64_t sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
	return sec * 1000000 + us;
}

/* Year, month, day of a day number (the inverse of days_from_civil). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* By hand: reports format two times per CSV row, millions of them, and strftime is slow. */
void rp_format_time(int64_t us, char out[32])
{
	int64_t sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t frac = us - sec * 1000000, days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	int64_t rem = sec - days * 86400, y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = 0;
	put_digits(out, (unsigned)y, 4);
	out[4] = '-';
	put_digits(out + 5, m, 2);
	out[7] = '-';
	put_digits(out + 8, d, 2);
	out[10] = 'T';
	put_digits(out + 11, (unsigned)(rem / 3600), 2);
	out[13] = ':';
	put_digits(out + 14, (unsigned)(rem / 60 % 60), 2);
	out[16] = ':';
	put_digits(out + 17, (unsigned)(rem % 60), 2);
	out[19] = '.';
	put_digits(out + 20, (unsigned)frac, 6);
	out[26] = 'Z';
	out[27] = '\0';
}
