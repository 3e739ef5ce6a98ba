/*
 * dataset: what can be exported.  A dataset is a named query over the
 * source with :team_id and :date parameters plus its column names; a
 * format turns its rows into bytes.
 */
#ifndef WAREHOUSEFS_DATASET_H
#define WAREHOUSEFS_DATASET_H

#include <stdint.h>

#include "format.h"
#include "source.h"

struct dataset {
	const char *name; /* as in .config and in file names: "analytics_daily" */
	/*
	 * Two plans for the same rows in the same order: sql drives from the
	 * team's websites and sorts them (best for a small share of a large
	 * source); sql_ordered walks every website in website_id order and
	 * needs no sort (best when the team is most of the source).
	 */
	const char *sql;
	const char *sql_ordered;
	const char *const *columns;
	int ncolumns;
};

/* The built-in dataset called name, or NULL. */
const struct dataset *dataset_find(const char *name);

/* The built-in dataset at index i, or NULL past the end (for listings). */
const struct dataset *dataset_at(int i);

/*
 * Generates the dataset's file for one team and date into fd (streaming,
 * fixed memory).  Fills sha256_hex, *size and *rows.  Returns 0 or a
 * negative errno (-ENOSPC when the cache disk is full).
 */
int dataset_generate(const struct dataset *ds, struct source *src,
		     const struct format_ops *fmt, const char *team, const char *date,
		     int fd, char sha256_hex[65], uint64_t *size, uint64_t *rows);

#endif
