/*
 * hmap: an intrusive chained hash table.  Callers embed struct hmap_entry
 * in their own structs and keep ownership of them; the table only links
 * them.  Not thread-safe: the owner's lock protects it.
 */
#ifndef WAREHOUSEFS_HMAP_H
#define WAREHOUSEFS_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
	struct hmap_entry *next;
	uint64_t hash;
};

struct hmap {
	struct hmap_entry **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
};

#define HMAP_INIT {NULL, 0, 0}

/* FNV-1a over len bytes. */
uint64_t hmap_hash(const void *data, size_t len);

/* Compares an entry with a lookup key: non-zero when equal. */
typedef int (*hmap_eq_fn)(const struct hmap_entry *e, const void *key);

struct hmap_entry *hmap_find(const struct hmap *m, uint64_t hash, hmap_eq_fn eq,
			     const void *key);

/* Links e (not already in m) under hash. */
void hmap_insert(struct hmap *m, struct hmap_entry *e, uint64_t hash);

/* Unlinks e, which must be in m. */
void hmap_remove(struct hmap *m, struct hmap_entry *e);

/*
 * Iteration: start with *bucket = 0 and *e = NULL; returns each entry once,
 * then NULL.  The table must not change during the walk.
 */
struct hmap_entry *hmap_next(const struct hmap *m, size_t *bucket,
			     struct hmap_entry *e);

/* Frees the table's own memory (not the entries). */
void hmap_release(struct hmap *m);

#endif
