/*
 * scheduler: runs and schedules.  A scheduler thread starts the runs of
 * due destinations each tick and finishes runs whose uploads are done; a
 * few runner threads enumerate queued runs (materialize and queue every
 * file of the run's period through files.h).  The actions below start,
 * pause and resume runs for control.c.
 *
 * Threads: gw_runs_start/stop from the thread that opened the engine; the
 * others from any thread.  No lock is held across a state call.
 */
#ifndef WAREHOUSEFS_SCHEDULER_H
#define WAREHOUSEFS_SCHEDULER_H

#include "gw_i.h"

/* Starts and stops the scheduler and runner threads. */
int gw_runs_start(struct gw *gw, struct buf *err);
void gw_runs_stop(struct gw *gw);

/* Finishes the runs whose uploads are all done (also done every tick). */
void gw_runs_finish(struct gw *gw);

/* The latest complete period of a schedule ("daily", "hourly"), for a touch. */
void gw_sched_latest_period(const char *schedule, struct buf *out);

/* Queues a run of period for the destination (durably) and wakes a runner. */
int gw_sched_run(struct gw *gw, int64_t dest_id, const char *trigger, const char *period);

/* Pauses scheduled uploads of the destination. */
int gw_sched_pause(struct gw *gw, int64_t dest_id);

/*
 * Resumes it: the clock keeps its phase (slots that fell while paused are
 * skipped), failed uploads are tried again.
 */
int gw_sched_resume(struct gw *gw, int64_t dest_id, const char *schedule);

/* A schedule was written to .config: restart the destination's clock. */
void gw_schedule_changed(struct gw *gw, int64_t dest_id, const char *schedule);

#endif
