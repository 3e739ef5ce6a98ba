/*
 * gateway: the exporter as the filesystem sees it.  One struct gw owns the
 * source, the state database, the vault and the cache, and answers in terms
 * of destinations, teams, dates, data files and control files.  fs/ calls
 * exactly one gw_ function per FUSE request and maps the result.
 *
 * Errors are negative errno values: -ENOENT for names that do not exist,
 * -EINVAL for refused input (the reason is kept for the destination's
 * .status), -EIO for failures whose detail is in the log.  A transient
 * failure is never -ENOENT.
 *
 * Threads: every function may be called from any thread at once.
 *
 * Who implements what: engine.c gw_open/gw_start/gw_free; tree.c the root,
 * destination, team and date directories (gw_*_stat, gw_list_*,
 * gw_dest_create/delete, gw_generation); files.c data files (gw_file_*);
 * control.c control files and the root's hidden files (gw_control_*,
 * gw_root_*, gw_sync_report), with their text from status.c.
 */
#ifndef WAREHOUSEFS_GATEWAY_H
#define WAREHOUSEFS_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "sync.h"

struct gw;

/* Runs and schedules (mount options). */
struct gw_run_options {
	unsigned backfill_span;  /* most days one run may cover (default 400) */
	unsigned max_failures;   /* failed runs in a row that pause (default 5) */
	unsigned runners;        /* runs enumerated at once (default 2) */
	unsigned tick_ms;        /* scheduler period in real milliseconds (1000) */
};

struct gw_options {
	const char *source_path;
	const char *state_path;
	const char *cache_dir;
	const char *keyfile;
	uint64_t cache_max_bytes;
	unsigned source_check_ms;
	unsigned max_sync_waiters; /* readers of .sync blocked at once (default 8) */
	struct sync_options sync;
	struct gw_run_options runs;
};

/* Who asked: recorded in the audit log. */
struct gw_caller {
	unsigned uid;
	int pid;
};

enum gw_kind {
	GW_DIR,
	GW_DATA,    /* a generated, read-only data file */
	GW_CONTROL, /* a control or status file */
};

struct gw_attr {
	enum gw_kind kind;
	unsigned mode; /* permission bits */
	uint64_t size;
	int64_t mtime;
};

/* The control and status files of a destination directory. */
enum gw_control {
	GW_CONFIG,
	GW_STATUS,
	GW_HISTORY,
	GW_RUN_NOW,
	GW_PAUSE,
	GW_RESUME,
	GW_SYNC,
	GW_NCONTROLS,
};

/*
 * Process-wide set-up of the libraries the exporter uses (libcurl), once
 * before any thread starts; and its undoing, last.  0 or -EIO.
 */
int gw_global_init(void);
void gw_global_cleanup(void);

/*
 * Takes the lock that lets one daemon own the state database at path (a
 * flock, kept across fork, held until exit).  -EBUSY with a message in
 * err when another daemon has it.
 */
int gw_lock_state(const char *path, struct buf *err);

/*
 * Opens everything (source, state, key file, cache).  Creates the state
 * database and the key file on first use.  On failure returns a negative
 * errno with a message for the user in err.
 */
int gw_open(const struct gw_options *opts, struct gw **out, struct buf *err);

/*
 * Starts the background work (sync workers).  Separate from gw_open so a
 * daemon can check everything before it forks and start threads after.
 */
int gw_start(struct gw *gw, struct buf *err);

/* Stops the background work, keeping what is pending, and frees. */
void gw_free(struct gw *gw);

/* Receives one directory entry name; non-zero stops the listing. */
typedef int (*gw_name_fn)(void *ctx, const char *name);

/* The mount root. */
int gw_root_stat(struct gw *gw, struct gw_attr *a);
int gw_list_dests(struct gw *gw, gw_name_fn fn, void *ctx);

/* A destination directory: -ENOENT when there is no such destination. */
int gw_dest_stat(struct gw *gw, const char *dest, struct gw_attr *a);

/* mkdir: -EINVAL for a bad name, -EEXIST, or 0. */
int gw_dest_create(struct gw *gw, const char *dest, const struct gw_caller *who);

/* rmdir: deletes the configuration and history; the bucket is untouched. */
int gw_dest_delete(struct gw *gw, const char *dest, const struct gw_caller *who);

/* The exported tree under a destination. */
int gw_list_teams(struct gw *gw, const char *dest, gw_name_fn fn, void *ctx);
int gw_team_stat(struct gw *gw, const char *dest, const char *team, struct gw_attr *a);
int gw_list_dates(struct gw *gw, const char *dest, const char *team, gw_name_fn fn,
		  void *ctx);
int gw_date_stat(struct gw *gw, const char *dest, const char *team, const char *date,
		 struct gw_attr *a);
int gw_list_files(struct gw *gw, const char *dest, const char *team, const char *date,
		  gw_name_fn fn, void *ctx);

/* Materializes the file (if needed) and gives its true size and mtime. */
int gw_file_stat(struct gw *gw, const char *dest, const char *team, const char *date,
		 const char *name, struct gw_attr *a);

/*
 * Materializes the file and opens its cached version: *fd (owned by the
 * caller) or a negative errno (-ENOSPC when the cache disk is full).
 */
int gw_file_open(struct gw *gw, const char *dest, const char *team, const char *date,
		 const char *name, int *fd, struct gw_attr *a);

/*
 * Extended attributes of a data file, for the destination it is read
 * through: user.warehousefs.sync (pending, uploading, uploaded, failed,
 * or "none" when the destination is not configured), .sha256, .etag and
 * .uploaded_at.  -ENODATA for an attribute that has no value yet.
 */
int gw_file_xattr(struct gw *gw, const char *dest, const char *team, const char *date,
		  const char *name, const char *attr, struct buf *out);

/*
 * Calls fn with the name of each extended attribute that the data file has
 * a value for now (gw_file_xattr() of it succeeds): .sync and .sha256
 * always, .etag and .uploaded_at once the version is in the bucket.
 */
int gw_file_xattr_list(struct gw *gw, const char *dest, const char *team,
		       const char *date, const char *name, gw_name_fn fn, void *ctx);

/*
 * Numbers that change whenever what the tree shows may have changed: the
 * source's content (looked at most every source_check_ms) and any
 * destination's settings.  Cheap; for callers that cache listings.
 */
void gw_generation(struct gw *gw, uint64_t *source, uint64_t *settings);

/* Tells a waiting .sync reader whether its caller gave up (Ctrl-C). */
typedef int (*gw_interrupted_fn)(void *ctx);

/*
 * The .sync report: blocks until the destination has nothing pending that
 * may upload now, then describes the outcome.  Returns at once (with the
 * reason) when the destination is paused or not fully configured.  -EIO
 * when a version failed, -EINTR when interrupted, -EAGAIN when too many
 * readers already wait.
 */
int gw_sync_report(struct gw *gw, const char *dest, gw_interrupted_fn interrupted,
		   void *ctx, struct buf *out);

/*
 * A control file touched: opened and closed with nothing written, or its
 * times set.  .run-now starts a run of the latest complete period,
 * .pause and .resume act; others do nothing.
 */
int gw_control_touch(struct gw *gw, const char *dest, enum gw_control c,
		     const struct gw_caller *who);

/* The hidden files of the mount root. */
enum gw_root_file {
	GW_ROOT_STATUS,
	GW_ROOT_METRICS,
	GW_ROOT_AUDIT,
	GW_NROOT,
};

/* The root file called name, or -1. */
int gw_root_find(const char *name);

/* Its mode (the audit log is 0400: the mount owner only). */
unsigned gw_root_mode(enum gw_root_file f);

/* Its current content. */
int gw_root_read(struct gw *gw, enum gw_root_file f, struct buf *out);

/* The control file called name, or -1. */
int gw_control_find(const char *name);

/* Attributes of a control file (size of its current content). */
int gw_control_stat(struct gw *gw, const char *dest, enum gw_control c,
		    struct gw_attr *a);

/* Current content of a readable control file. */
int gw_control_read(struct gw *gw, const char *dest, enum gw_control c,
		    struct buf *out);

/*
 * Checks input received so far for a writable control file (the last line
 * may be incomplete): -EINVAL as soon as a line is known to be bad, with the
 * reason recorded for .status.  Nothing is applied.
 */
int gw_control_check(struct gw *gw, const char *dest, enum gw_control c,
		     const char *data, size_t len);

/*
 * Applies the whole input of a writable control file (at close).  All or
 * nothing: -EINVAL with the reason in .status, and nothing changed.
 */
int gw_control_write(struct gw *gw, const char *dest, enum gw_control c,
		     const char *data, size_t len, const struct gw_caller *who);

#endif
