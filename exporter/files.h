/*
 * files: a data file's version.  Resolves a data file of a destination to
 * its dataset, brings its cached version up to date with the source (one
 * generation at a time per file), keeps its mtime unless its bytes change,
 * and queues it for upload.  The data-file part of gateway.h
 * (gw_file_stat, gw_file_open, gw_file_xattr*) is implemented here too.
 *
 * Threads: any thread may call in (see files.c for the locks).
 */
#ifndef WAREHOUSEFS_FILES_H
#define WAREHOUSEFS_FILES_H

#include "gw_i.h"

/*
 * Resolves a data file, materializes it and queues it for upload (for a
 * run, always through the queue, so the run's id is attached; run NULL for
 * a read).  force: generate again even if the version looks current (its
 * cache file was evicted).  -ENOENT when the destination, team, date or
 * file does not exist.
 */
int gw_file_version(struct gw *gw, const char *dest, const char *team, const char *date,
		    const char *name, int force, const struct gw_run_ctx *run,
		    struct state_file *out);

/* .status lines about a full cache disk, if the last generation hit one. */
void gw_cache_status(struct gw *gw, struct buf *out);

#endif
