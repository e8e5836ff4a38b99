/* intern.h -- byte strings to dense ids (0, 1, 2 ...), the bytes kept once */
#ifndef RP_INTERN_H
#define RP_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct rp_intern rp_intern_t;

/* An empty table, or NULL without memory. */
rp_intern_t *rp_intern_new(void);
void rp_intern_free(rp_intern_t *t);   /* accepts NULL */

/* The id of `len` bytes at `s`, adding them if new (*added set to 1 then, else 0; added may be
 * NULL). Returns UINT32_MAX without memory. */
uint32_t rp_intern(rp_intern_t *t, const void *s, size_t len, int *added);

/* The same with the hash computed by the caller (on another thread, ahead of time): any
 * function of the bytes will do, as long as a table always gets the same one for the same bytes. */
uint32_t rp_intern_h(rp_intern_t *t, const void *s, size_t len, uint64_t hash, int *added);

/* How many strings; the bytes and length of one (valid until the table is freed). */
uint32_t rp_intern_count(const rp_intern_t *t);
const char *rp_intern_str(const rp_intern_t *t, uint32_t id, uint32_t *len);

/* A fast 64-bit hash of bytes (not keyed: the data is our own log, not an adversary's choice of
 * collisions... mostly; a flood of crafted names costs time, never correctness). */
uint64_t rp_hash(const void *s, size_t len);
static inline uint64_t rp_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif
