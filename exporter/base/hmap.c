/*
 * hmap: intrusive chained hash table (see hmap.h).
 *
 * Invariant: count <= nbuckets after every insert (the table doubles
 * before it gets fuller), so chains stay short.
 */
#include "hmap.h"

#include <stdio.h>
#include <stdlib.h>

uint64_t hmap_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void grow(struct hmap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
	struct hmap_entry **b = calloc(n, sizeof(*b));

	if (!b) {
		fputs("warehousefs: out of memory\n", stderr);
		abort();
	}
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_entry *e = m->buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			size_t j = e->hash & (n - 1);
			e->next = b[j];
			b[j] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

struct hmap_entry *hmap_find(const struct hmap *m, uint64_t hash, hmap_eq_fn eq,
			     const void *key)
{
	if (!m->nbuckets)
		return NULL;
	for (struct hmap_entry *e = m->buckets[hash & (m->nbuckets - 1)]; e; e = e->next)
		if (e->hash == hash && eq(e, key))
			return e;
	return NULL;
}

void hmap_insert(struct hmap *m, struct hmap_entry *e, uint64_t hash)
{
	if (m->count + 1 > m->nbuckets)
		grow(m);
	size_t i = hash & (m->nbuckets - 1);
	e->hash = hash;
	e->next = m->buckets[i];
	m->buckets[i] = e;
	m->count++;
}

void hmap_remove(struct hmap *m, struct hmap_entry *e)
{
	struct hmap_entry **pp = &m->buckets[e->hash & (m->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = e->next;
		m->count--;
	}
}

struct hmap_entry *hmap_next(const struct hmap *m, size_t *bucket,
			     struct hmap_entry *e)
{
	if (e && e->next)
		return e->next;
	size_t i = e ? *bucket + 1 : *bucket;
	for (; i < m->nbuckets; i++) {
		if (m->buckets[i]) {
			*bucket = i;
			return m->buckets[i];
		}
	}
	*bucket = m->nbuckets;
	return NULL;
}

void hmap_release(struct hmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}
