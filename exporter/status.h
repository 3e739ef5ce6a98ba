/*
 * status: the text of the status files.  A destination's .status (its
 * settings in short, schedule, last run, cache-disk trouble, last
 * configuration error, uploads) and the mount root's .status and .metrics
 * (Prometheus text format) are written here and nowhere else, apart from
 * the last_error_* lines the upload workers store (sync.c).
 *
 * Threads: any thread.
 */
#ifndef WAREHOUSEFS_STATUS_H
#define WAREHOUSEFS_STATUS_H

#include "gw_i.h"

/* Appends a destination's .status: 0 or -ENOENT. */
int gw_status_read(struct gw *gw, const char *dest, struct buf *out);

/* Appends the root's .status (GW_ROOT_STATUS) or .metrics (GW_ROOT_METRICS). */
int gw_status_root(struct gw *gw, enum gw_root_file f, struct buf *out);

#endif
