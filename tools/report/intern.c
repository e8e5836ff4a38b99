/* intern.c -- an open-addressing table of byte strings kept in one growing arena */
#include <stdlib.h>
#include <string.h>

#include "intern.h"

/* A slot is one cache line and holds a short key itself: a lookup of an address costs one
 * cache miss, not three (slot, entry, arena). Longer keys are compared in the arena. */
#define INLINE_KEY 50

typedef struct slot {
	uint64_t hash;      /* 0: empty (a real hash of 0 is stored as 1) */
	uint32_t id;
	uint16_t len;       /* the key's length when it is at most INLINE_KEY, else 0xFFFF */
	char key[INLINE_KEY];
} slot_t;

_Static_assert(sizeof(slot_t) == 64, "a slot is a cache line");

typedef struct entry {
	uint64_t off;       /* into the arena */
	uint32_t len;
	uint32_t pad;
} entry_t;

struct rp_intern {
	slot_t *slots;
	size_t mask;
	entry_t *entries;
	uint32_t n, cap;
	char *arena;
	size_t used, size;
};

uint64_t rp_hash(const void *s, size_t len)
{
	const unsigned char *p = s;
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ (len * 0xff51afd7ed558ccdULL);
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = 0;
		memcpy(&v, p, len);
		h = (h ^ v) * 0x94d049bb133111ebULL;
	}
	return rp_mix(h);
}

rp_intern_t *rp_intern_new(void)
{
	rp_intern_t *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->mask = 255;
	t->slots = calloc(t->mask + 1, sizeof *t->slots);
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

void rp_intern_free(rp_intern_t *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->entries);
	free(t->arena);
	free(t);
}

static int grow_slots(rp_intern_t *t)
{
	size_t nmask = t->mask * 2 + 1;
	slot_t *ns = calloc(nmask + 1, sizeof *ns);
	if (!ns)
		return -1;
	for (size_t i = 0; i <= t->mask; i++) {
		if (!t->slots[i].hash)
			continue;
		size_t j = t->slots[i].hash & nmask;
		while (ns[j].hash)
			j = (j + 1) & nmask;
		ns[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = ns;
	t->mask = nmask;
	return 0;
}

static int add_entry(rp_intern_t *t, const void *s, size_t len)
{
	if (t->n == t->cap) {
		uint32_t ncap = t->cap ? t->cap * 2 : 1024;
		entry_t *ne = realloc(t->entries, ncap * sizeof *ne);
		if (!ne)
			return -1;
		t->entries = ne;
		t->cap = ncap;
	}
	if (t->used + len + 1 > t->size) {
		size_t nsize = t->size ? t->size * 2 : 65536;
		while (nsize < t->used + len + 1)
			nsize *= 2;
		char *na = realloc(t->arena, nsize);
		if (!na)
			return -1;
		t->arena = na;
		t->size = nsize;
	}
	memcpy(t->arena + t->used, s, len);
	t->arena[t->used + len] = '\0';
	t->entries[t->n] = (entry_t){ t->used, (uint32_t)len, 0 };
	t->used += len + 1;
	return 0;
}

uint32_t rp_intern(rp_intern_t *t, const void *s, size_t len, int *added)
{
	return rp_intern_h(t, s, len, rp_hash(s, len), added);
}

uint32_t rp_intern_h(rp_intern_t *t, const void *s, size_t len, uint64_t h, int *added)
{
	h += !h;
	size_t i = h & t->mask;
	if (added)
		*added = 0;
	for (;; i = (i + 1) & t->mask) {
		slot_t *sl = &t->slots[i];
		if (!sl->hash)
			break;
		if (sl->hash != h)
			continue;
		if (sl->len != 0xFFFF) {
			if (sl->len == len && !memcmp(sl->key, s, len))
				return sl->id;
			continue;
		}
		const entry_t *e = &t->entries[sl->id];
		if (e->len == len && !memcmp(t->arena + e->off, s, len))
			return sl->id;
	}
	if (add_entry(t, s, len) < 0)
		return UINT32_MAX;
	slot_t *sl = &t->slots[i];
	sl->hash = h;
	sl->id = t->n;
	sl->len = len <= INLINE_KEY ? (uint16_t)len : 0xFFFF;
	if (len <= INLINE_KEY)
		memcpy(sl->key, s, len);
	if (added)
		*added = 1;
	uint32_t id = t->n++;
	if ((size_t)t->n * 2 > t->mask && grow_slots(t) < 0)
		return UINT32_MAX;
	return id;
}

uint32_t rp_intern_count(const rp_intern_t *t)
{
	return t->n;
}

const char *rp_intern_str(const rp_intern_t *t, uint32_t id, uint32_t *len)
{
	if (len)
		*len = t->entries[id].len;
	return t->arena + t->entries[id].off;
}
