/*
 * dests: the in-memory destinations (struct gw_dest in gw_i.h) and what
 * the tree needs of one (struct dest_view).  The rules a setting follows
 * (defaults, required keys) are config.h's; this table only holds values.
 *
 * Threads: gw_dest_find() and gw_dest_value() expect gw->dest_lock held;
 * every other function takes it itself.
 */
#ifndef WAREHOUSEFS_DESTS_H
#define WAREHOUSEFS_DESTS_H

#include "gw_i.h"

/* Loads every destination with its settings into gw->dests (at open). */
int gw_dests_load(struct gw *gw);

/* Frees one (NULL is fine). */
void gw_dest_free(struct gw_dest *d);

/* The destination called name, or NULL.  Caller holds dest_lock. */
struct gw_dest *gw_dest_find(struct gw *gw, const char *name);

/* The effective value of a plain setting: stored, or its default. */
const char *gw_dest_value(const struct gw_dest *d, const char *name);

/*
 * How many required settings are missing; their names, comma-separated,
 * are appended to out unless it is NULL.
 */
int gw_missing_keys(const struct gw_dest *d, struct buf *out);

/* Copies what the tree needs of a destination: 0 or -ENOENT. */
int gw_dest_view(struct gw *gw, const char *name, struct dest_view *v);

/* Sets the in-memory paused flag of the destination with this id. */
void gw_dest_set_paused(struct gw *gw, int64_t dest_id, int paused);

/* Does the destination export this team?  1 or 0. */
int gw_team_visible(const struct dest_view *v, const char *team);

/*
 * gw_dest_view() of a destination that exports team: 0, or -ENOENT when
 * there is no such destination or it does not export that team.
 */
int gw_team_view(struct gw *gw, const char *dest, const char *team, struct dest_view *v);

/*
 * Calls fn with each data file a date directory of the destination holds:
 * its dataset and its file name (dataset name + the format's extension),
 * in the order of the datasets setting.  A non-zero return stops.
 */
int gw_each_file(const struct dest_view *v,
		 int (*fn)(void *ctx, const struct dataset *ds, const char *name),
		 void *ctx);

/* Records a configuration change or control action in the audit log. */
void gw_audit(struct gw *gw, const struct gw_caller *who, const char *dest,
	      const char *action, const char *detail);

#endif
