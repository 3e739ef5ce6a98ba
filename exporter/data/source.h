/*
 * source: the analytics database, opened read-only.
 *
 * Owns the connections to the source SQLite file (a small pool, one
 * connection per concurrent caller) and notices when the source changes:
 * a commit by another process (PRAGMA data_version) or the file being
 * replaced (a new inode at the same path, as `mv new.db analytics.db`
 * does).  warehousefs never writes to the source.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef WAREHOUSEFS_SOURCE_H
#define WAREHOUSEFS_SOURCE_H

#include <stdint.h>

#include "base/buf.h"
#include "format.h"
#include "sink.h"

struct source;

/*
 * Opens the source at path and checks that it holds the expected tables.
 * check_interval_ms bounds how often source_generation() looks for
 * changes.  On failure returns a negative errno and puts a message
 * ("cannot open source 'a.db': file is not a database") in err.
 */
int source_open(const char *path, unsigned check_interval_ms, struct source **out,
		struct buf *err);

void source_free(struct source *src);

/*
 * A number that changes whenever the source's content may have changed
 * since it was last returned.  Looks at the file at most once per check
 * interval, so it is cheap to call on every access.
 */
uint64_t source_generation(struct source *src);

/* Receives one name; a non-zero return stops the listing and is returned. */
typedef int (*source_name_fn)(void *ctx, const char *name);

/* Calls fn for each team id that has websites, in byte order. */
int source_list_teams(struct source *src, source_name_fn fn, void *ctx);

/* Calls fn for each date (YYYY-MM-DD) with rows for team, in order. */
int source_list_dates(struct source *src, const char *team, source_name_fn fn,
		      void *ctx);

/* 1 when team has websites, 0 when not, or a negative errno. */
int source_team_exists(struct source *src, const char *team);

/*
 * The team's share of all websites, 0..1 (an estimate: cheap, for
 * choosing a query plan); 0 on error.
 */
double source_team_share(struct source *src, const char *team);

/* 1 when team has rows on date, 0 when not, or a negative errno. */
int source_date_exists(struct source *src, const char *team, const char *date);

/*
 * Runs sql with :team_id and :date bound and formats its rows into sink:
 * a header of columns, then each row as SQLite's own text for its values.
 * Sets *rows.  Returns 0 or a negative errno (query errors are logged).
 */
int source_export(struct source *src, const char *sql, const char *team,
		  const char *date, const struct format_ops *fmt,
		  const char *const *columns, int ncolumns, struct sink *sink,
		  uint64_t *rows);

#endif
