/*
 * state: the state database, warehousefs's own SQLite file (WAL mode).
 *
 * Holds destinations and their settings (secrets only as vault blobs), the
 * materialized versions of files (so sizes and mtimes survive remounts),
 * the audit log, and small metadata.  This is the only module that speaks
 * SQL to the state database.
 *
 * Threads: a struct state is one connection guarded by its own mutex, so
 * any thread may call any function; each call is one short transaction.
 * Threads that work in bulk (sync workers) open their own struct state.
 */
#ifndef WAREHOUSEFS_STATE_H
#define WAREHOUSEFS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct state;

struct state_dest {
	int64_t id;
	char name[64];
	int64_t created_at; /* unix seconds */
	int paused;
};

/* One setting change: a new value, or clear (delete the key). */
struct state_change {
	const char *key;
	const void *value;
	size_t len;
	int clear;
};

/*
 * Takes the exclusive lock that makes one daemon the owner of the state
 * database at path (a lock file beside it, "<path>.lock").  Returns the
 * lock's fd (kept open for the daemon's life) or a negative errno with a
 * message in err (-EBUSY when another process holds it).
 */
int state_lock(const char *path, struct buf *err);

/* Opens (creating when absent) the state database.  Message in err on failure. */
int state_open(const char *path, struct state **out, struct buf *err);

void state_free(struct state *st);

/*
 * Lets this connection's commits skip fsync (SQLite synchronous=NORMAL in
 * WAL mode): they survive a process crash but may be lost to a power cut.
 * Only for work that is simply redone when its record is lost (upload
 * outcomes, run enumeration); what a FUSE request acknowledges always
 * goes through a fully synchronous connection.
 */
void state_relax(struct state *st);

/* Metadata values: 0, -ENOENT, or another negative errno. */
int state_meta_get(struct state *st, const char *key, struct buf *value);
int state_meta_set(struct state *st, const char *key, const void *value, size_t len);

/*
 * Creates a destination whose schedule clock starts at next_run_at:
 * 0, -EEXIST, or a negative errno.  Sets *id.
 */
int state_dest_create(struct state *st, const char *name, int64_t now, int64_t next_run_at,
		      int64_t *id);

/* Deletes a destination with its settings: 0, -ENOENT or a negative errno. */
int state_dest_delete(struct state *st, const char *name);

/* Looks one up by name: 0 or -ENOENT. */
int state_dest_get(struct state *st, const char *name, struct state_dest *out);

/* Looks one up by id: 0 or -ENOENT. */
int state_dest_get_id(struct state *st, int64_t id, struct state_dest *out);

typedef int (*state_dest_fn)(void *ctx, const struct state_dest *dest);

/* Calls fn for every destination, by name. */
int state_dest_list(struct state *st, state_dest_fn fn, void *ctx);

typedef int (*state_setting_fn)(void *ctx, const char *key, const void *value,
				size_t len);

/* Calls fn for each stored setting of a destination, by key. */
int state_settings_get(struct state *st, int64_t dest_id, state_setting_fn fn,
		       void *ctx);

/* Applies all changes in one transaction: all or nothing. */
int state_settings_apply(struct state *st, int64_t dest_id,
			 const struct state_change *changes, size_t n);

/* Records (msg) or clears (NULL) a destination's last configuration error. */
int state_dest_set_error(struct state *st, int64_t dest_id, int64_t at, const char *msg);

/* The last configuration error (empty when none) and its time. */
int state_dest_get_error(struct state *st, int64_t dest_id, struct buf *msg,
			 int64_t *at);

struct state_file {
	char sha256[65];
	uint64_t size;
	int64_t mtime;
};

/* The recorded version of a file: 0 or -ENOENT. */
int state_file_get(struct state *st, const char *team, const char *date,
		   const char *name, struct state_file *out);
int state_file_put(struct state *st, const char *team, const char *date,
		   const char *name, const struct state_file *f);

/* Calls fn with each recorded version's hash (to keep its cache file). */
int state_file_hashes(struct state *st, int (*fn)(void *ctx, const char *sha256),
		      void *ctx);

/* Appends the audit log as CSV (time,uid,pid,destination,action,detail). */
int state_audit_read(struct state *st, struct buf *out);

/* Appends to the audit log.  detail must not hold a secret. */
int state_audit_add(struct state *st, int64_t at, unsigned uid, int pid,
		    const char *dest, const char *action, const char *detail);

#endif
