/*
 * gateway_int: what the two halves of the gateway share (gateway.c: the
 * tree and data files; gateway_control.c: the control and status files).
 * Private to those files.  Locks are described in gateway.c.
 */
#ifndef WAREHOUSEFS_GATEWAY_INT_H
#define WAREHOUSEFS_GATEWAY_INT_H

#include <pthread.h>

#include "data/cache.h"
#include "config.h"
#include "data/format.h"
#include "gateway.h"
#include "base/hmap.h"
#include "data/source.h"
#include "db/state.h"
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
	unsigned max_sync_waiters;
	unsigned sync_waiters; /* protected by dest_lock */
	unsigned settings_gen; /* protected by dest_lock: bumped by every .config change */

	/* runs and schedules (gateway_runs.c) */
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

	pthread_mutex_t dest_lock;
	struct hmap dests;

	/*
	 * The last team whose dates were listed, as of source generation
	 * dates_gen: ls -l of a team directory stats every date in it, and
	 * this answers those without a query each.  Protected by file_lock.
	 */
	char dates_team[256];
	uint64_t dates_gen;
	char *dates;   /* n * 11 bytes: "YYYY-MM-DD\0", sorted */
	size_t ndates;

	/* The last cache-disk failure, until a generation succeeds. */
	char cache_error[512];
	int64_t cache_error_at;

	pthread_mutex_t file_lock;
	pthread_cond_t file_cond;
	struct hmap files;
};

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

/* Records a configuration change or control action in the audit log. */
void gw_audit(struct gw *gw, const struct gw_caller *who, const char *dest,
	      const char *action, const char *detail);

/* Fills a directory's attributes. */
void gw_dir_attr(struct gw_attr *a, unsigned mode, int64_t mtime);

/* Why a version is being materialized: a read (NULL) or a run. */
struct gw_run_ctx {
	int64_t run_id;
	int manual; /* run-now or backfill: uploads even while paused */
	struct state *state; /* the runner's own connection (relaxed: a lost
				enumeration is redone), or NULL */
};

/*
 * Resolves a data file, materializes it and queues it for upload (for a
 * run, always through the queue, so the run's id is attached).
 */
int gw_file_version(struct gw *gw, const char *dest, const char *team, const char *date,
		    const char *name, int force, const struct gw_run_ctx *run,
		    struct state_file *out);

/* Starts and stops the scheduler and runner threads (gateway_runs.c). */
int gw_runs_start(struct gw *gw, struct buf *err);
void gw_runs_stop(struct gw *gw);

/* .status lines about a full cache disk, if the last generation hit one. */
void gw_cache_status(struct gw *gw, struct buf *out);

/* Finishes the runs whose uploads are all done (also done every tick). */
void gw_runs_finish(struct gw *gw);

/* The .history of a destination. */
int gw_history_read(struct gw *gw, int64_t dest_id, struct buf *out);

/* .status lines about the schedule and the last run. */
void gw_schedule_status(struct gw *gw, int64_t dest_id, struct buf *out);

/* Input to .run-now: check as it arrives, apply at close (see gateway.h). */
int gw_run_now_check(struct gw *gw, const char *dest, const char *data, size_t len);
int gw_run_now_write(struct gw *gw, const char *dest, const char *data, size_t len,
		     const struct gw_caller *who);

/* A schedule was written to .config: restart the destination's clock. */
void gw_schedule_changed(struct gw *gw, int64_t dest_id, const char *schedule);

/* Records why input to a destination's control file was refused. */
void gw_refuse(struct gw *gw, const char *dest, enum gw_control c, const struct buf *why);

/*
 * Input to .config or .run-now (a touch included) was accepted: forgets the
 * refusal gw_refuse() recorded, so that .status shows last_config_error
 * only while a refusal is the latest outcome of a write to those files.
 */
void gw_input_accepted(struct gw *gw, int64_t dest_id);

#endif
