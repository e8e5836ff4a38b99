/* rsort.c -- LSD radix sort, a byte at a time, skipping bytes that never vary */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rsort.h"

/* Why not qsort: ten million rows through a comparison function take seconds; eight counting
 * passes (usually fewer: keys rarely use all their bytes) take a fraction of one. */
int rp_radix_sort(rp_kv_t *a, size_t n)
{
	if (n < 2)
		return 0;
	rp_kv_t *tmp = malloc(n * sizeof *tmp), *src = a, *dst = tmp;
	size_t (*count)[256] = calloc(8, sizeof *count);
	if (!tmp || !count) {
		free(tmp);
		free(count);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		for (unsigned b = 0; b < 8; b++)
			count[b][(a[i].key >> (8 * b)) & 0xFF]++;
	for (unsigned b = 0; b < 8; b++) {
		size_t *c = count[b], sum = 0;
		if (c[(src[0].key >> (8 * b)) & 0xFF] == n)
			continue;     /* every key has this byte: nothing to do */
		for (unsigned v = 0; v < 256; v++) {
			size_t k = c[v];
			c[v] = sum;
			sum += k;
		}
		for (size_t i = 0; i < n; i++)
			dst[c[(src[i].key >> (8 * b)) & 0xFF]++] = src[i];
		rp_kv_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof *a);
	free(tmp);
	free(count);
	return 0;
}
