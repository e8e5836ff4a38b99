/* tagset.c -- interned tag sets: one copy of each distinct set, kept until exit */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/tagset.h"

/*
 * Each set is one allocation: the node, the sk_tag_t array, then the key and value strings and
 * the JSON text. Nodes sit in a chained hash table that only grows; a node is never moved, so
 * the pointer handed out stays valid however the table is resized.
 */
typedef struct node {
	struct node *next;
	uint64_t hash;
	sk_tagset_t set;
} node_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static node_t **table;
static size_t nbuckets, nsets;
static const sk_tagset_t **by_id;   /* by_id[id - 1]: the set with that id, for the counters' reader */
static size_t by_id_cap;

static const sk_tagset_t empty = { 0, NULL, "{}", 2, 0 };

/* Room for one more id; false on ENOMEM (the set is then not interned). */
static bool by_id_reserve(void)
{
	if (nsets < by_id_cap)
		return true;
	size_t cap = by_id_cap ? by_id_cap * 2 : 64;
	const sk_tagset_t **n = realloc(by_id, cap * sizeof *n);
	if (!n)
		return false;
	by_id = n;
	by_id_cap = cap;
	return true;
}

/* FNV-1a over keys and values with their lengths, so {"ab":"c"} and {"a":"bc"} differ. */
static uint64_t hash_tags(const sk_tag_t *tags, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		const char *parts[2] = { tags[i].key, tags[i].value };
		for (int k = 0; k < 2; k++) {
			size_t len = strlen(parts[k]);
			for (size_t j = 0; j < len; j++)
				h = (h ^ (unsigned char)parts[k][j]) * 0x100000001b3ull;
			h = (h ^ (len & 0xff) ^ 0x100) * 0x100000001b3ull;
		}
	}
	return h;
}

static int same_tags(const sk_tagset_t *set, const sk_tag_t *tags, size_t n)
{
	if (set->n != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(set->tags[i].key, tags[i].key) || strcmp(set->tags[i].value, tags[i].value))
			return 0;
	return 1;
}

/* Build the node for a set not seen before. The JSON text is written at its exact size. */
static node_t *make_node(const sk_tag_t *tags, size_t n, uint64_t hash)
{
	size_t strings = 0, json = 2; /* {} */
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(tags[i].key), vl = strlen(tags[i].value);
		strings += kl + vl + 2;
		json += SK_JSON_ESCAPE_MAX(kl) + SK_JSON_ESCAPE_MAX(vl) + 6; /* "k":"v", */
	}
	node_t *nd = malloc(sizeof *nd + n * sizeof(sk_tag_t) + strings + json + 1);
	if (!nd)
		return NULL;
	sk_tag_t *copy = (sk_tag_t *)(nd + 1);
	char *p = (char *)(copy + n);
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(tags[i].key) + 1, vl = strlen(tags[i].value) + 1;
		copy[i].key = memcpy(p, tags[i].key, kl);
		p += kl;
		copy[i].value = memcpy(p, tags[i].value, vl);
		p += vl;
	}
	char *j = p, *end = p + json + 1;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		p += sk_json_escape(p, (size_t)(end - p), copy[i].key, strlen(copy[i].key));
		*p++ = '"';
		*p++ = ':';
		*p++ = '"';
		p += sk_json_escape(p, (size_t)(end - p), copy[i].value, strlen(copy[i].value));
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	nd->next = NULL;
	nd->hash = hash;
	nd->set = (sk_tagset_t){ .n = n, .tags = copy, .json = j, .json_len = (size_t)(p - j) };
	return nd;
}

/* Double the bucket array when sets outnumber buckets; on ENOMEM keep the old, longer chains. */
static void maybe_grow(void)
{
	size_t nb = nbuckets ? nbuckets * 2 : 64;
	if (nsets < nbuckets)
		return;
	node_t **nt = calloc(nb, sizeof *nt);
	if (!nt)
		return;
	for (size_t b = 0; b < nbuckets; b++) {
		for (node_t *nd = table[b], *next; nd; nd = next) {
			next = nd->next;
			nd->next = nt[nd->hash & (nb - 1)];
			nt[nd->hash & (nb - 1)] = nd;
		}
	}
	free(table);
	table = nt;
	nbuckets = nb;
}

const sk_tagset_t *sk_tagset_intern(const sk_tag_t *tags, size_t n)
{
	const sk_tagset_t *found = NULL;
	uint64_t h;

	if (n == 0)
		return &empty;
	h = hash_tags(tags, n);
	pthread_mutex_lock(&lock);
	maybe_grow();
	if (!table)
		goto out;
	for (node_t *nd = table[h & (nbuckets - 1)]; nd; nd = nd->next) {
		if (nd->hash == h && same_tags(&nd->set, tags, n)) {
			found = &nd->set;
			goto out;
		}
	}
	if (!by_id_reserve())
		goto out;
	node_t *nd = make_node(tags, n, h);
	if (!nd)
		goto out;
	nd->next = table[h & (nbuckets - 1)];
	table[h & (nbuckets - 1)] = nd;
	by_id[nsets++] = &nd->set;
	nd->set.id = (unsigned)nsets;
	found = &nd->set;
out:
	pthread_mutex_unlock(&lock);
	return found;
}

const sk_tagset_t *sk_tagset_by_id(unsigned id)
{
	if (id == 0)
		return &empty;
	pthread_mutex_lock(&lock);
	const sk_tagset_t *set = id <= nsets ? by_id[id - 1] : NULL;
	pthread_mutex_unlock(&lock);
	return set;
}

unsigned sk_tagset_count(void)
{
	pthread_mutex_lock(&lock);
	unsigned n = (unsigned)nsets + 1;
	pthread_mutex_unlock(&lock);
	return n;
}

void sk_tagset_free_all(void)
{
	pthread_mutex_lock(&lock);
	for (size_t b = 0; b < nbuckets; b++) {
		for (node_t *nd = table[b], *next; nd; nd = next) {
			next = nd->next;
			free(nd);
		}
	}
	free(table);
	table = NULL;
	free(by_id);
	by_id = NULL;
	nbuckets = nsets = by_id_cap = 0;
	pthread_mutex_unlock(&lock);
}
