/*
 * gw_i: the engine's shared record, private to the files that implement
 * gateway.h (engine.c, dests.c, tree.c, files.c, scheduler.c, status.c,
 * control.c).  It holds data only: each group of fields says which file
 * owns it, and the other files reach it through that file's functions
 * (dests.h, files.h, scheduler.h, status.h), whose includes point one way:
 *
 *   engine -> control -> status, scheduler -> files -> dests
 *                        tree ----------------------^
 *
 * Lock order: dest_lock, then file_lock; run_lock alone.  None is held
 * while generating, while writing the cache or during a state call.
 */
#ifndef WAREHOUSEFS_GW_I_H
#define WAREHOUSEFS_GW_I_H

#include <pthread.h>

#include "base/hmap.h"
#include "config.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "data/format.h"
#include "data/source.h"
#include "db/state.h"
#include "gateway.h"
#include "sync.h"
#include "vault.h"

struct gw_dest {
	struct hmap_entry node;
	int64_t id;
	char name[64];
	int64_t created_at;
	int paused;
	char *values[CONFIG_MAX_KEYS]; /* plain settings; NULL when unset */
	int secret_set[CONFIG_MAX_KEYS];
};

/* What the tree of a destination needs, copied out under dest_lock. */
struct dest_view {
	int64_t id;
	int64_t created_at;
	int paused;
	int configured;
	char team_id[256];
	char datasets[256];
	char bucket[64];
	char prefix[1024];
	const struct format_ops *fmt;
	unsigned settings_gen; /* gw->settings_gen when copied */
};

#define GW_ENQUEUED_MAX 4

struct gw_file {
	struct hmap_entry node;
	char *key; /* team \0 date \0 name, as one allocation */
	size_t keylen;
	int busy;      /* a thread is generating it */
	int valid;     /* fields below describe the current version */
	uint64_t gen;  /* source generation it was checked against */
	struct state_file version;
	/*
	 * destinations this version is known to be queued or uploaded for,
	 * with the settings of generation enqueued_gen (a new bucket or
	 * prefix makes that knowledge stale)
	 */
	int64_t enqueued[GW_ENQUEUED_MAX];
	int nenqueued;
	unsigned enqueued_gen;
};

struct gw {
	/* engine.c: opened by gw_open, freed by gw_free */
	struct source *src;
	struct state *state;
	struct vault *vault;
	struct cache *cache;
	struct sync *sync;
	/*
	 * Records of materialized versions (sizes, mtimes), committed without
	 * fsync: one lost to a power cut only means that file gets a new
	 * mtime at its next generation.
	 */
	struct state *files_state;
	char *state_path;
	struct sync_options sync_opts;
	int64_t started_at;

	/* dests.c: the destinations */
	pthread_mutex_t dest_lock;
	struct hmap dests;
	unsigned settings_gen; /* protected by dest_lock: bumped by every .config change */

	/* control.c: readers of .sync blocked at once */
	unsigned max_sync_waiters;
	unsigned sync_waiters; /* protected by dest_lock */

	/* scheduler.c: runs and schedules */
	struct gw_run_options run_opts;
	struct state *sched_state;   /* the scheduler thread's own connection */
	pthread_t sched_thread;
	pthread_t *runners;
	unsigned nrunners;
	int runs_started;
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	int run_stopping;            /* protected by run_lock */
	unsigned run_kicks;          /* protected by run_lock */

	/*
	 * tree.c: the last team whose dates were listed, as of source
	 * generation dates_gen: ls -l of a team directory stats every date in
	 * it, and this answers those without a query each.  Protected by
	 * file_lock.
	 */
	char dates_team[256];
	uint64_t dates_gen;
	char *dates;   /* n * 11 bytes: "YYYY-MM-DD\0", sorted */
	size_t ndates;

	/* files.c: materialized files, and the last cache-disk failure until
	   a generation succeeds (both protected by file_lock) */
	char cache_error[512];
	int64_t cache_error_at;
	pthread_mutex_t file_lock;
	pthread_cond_t file_cond;
	struct hmap files;
};

/* Why a version is being materialized: a read (NULL) or a run. */
struct gw_run_ctx {
	int64_t run_id;
	int manual; /* run-now or backfill: uploads even while paused */
	struct state *state; /* the runner's own connection (relaxed: a lost
				enumeration is redone), or NULL */
};

#endif
