/*
 * queue: the durable upload queue and the ledger, in the state database.
 *
 * Every materialized version a destination must upload is a row here
 * before anything is acknowledged; sync workers claim rows oldest first,
 * and record the outcome.  The ledger remembers which version (SHA-256) of
 * which object key is in which bucket, so a version already there is never
 * uploaded again.
 *
 * Row states: pending -> uploading -> uploaded | pending (retry later) |
 * failed.  A crash leaves rows "uploading"; queue_recover() makes them
 * pending again at the next start.
 *
 * Times: "now" and attempt times are Unix milliseconds here (backoff is
 * finer than a second); other times are Unix seconds.
 *
 * Threads: like state.h, each call is one transaction on the given struct
 * state; sync workers each use their own struct state.
 */
#ifndef WAREHOUSEFS_QUEUE_H
#define WAREHOUSEFS_QUEUE_H

#include <stdint.h>

#include "state.h"

struct queue_new {
	int64_t dest_id;
	const char *key;          /* team/date/file, without the prefix */
	const char *sha256;
	uint64_t size;
	const char *content_type;
	const char *bucket;       /* settings in force now, to consult the ledger */
	const char *object_key;   /* prefix + key */
	int manual;               /* from a manual run: uploads even when paused */
	int64_t run_id;           /* 0 when not part of a run */
	int64_t now;              /* seconds */
};

/*
 * Queues a version unless it is already queued, or in the ledger for this
 * bucket and object key while no other version of the key may have landed
 * since (one is uploading, or was tried and did not succeed: a lost answer
 * may hide a stored object).  The version given is taken as the key's
 * newest: other versions of the key still pending or failed are
 * superseded, queued or not (only the newest content of a key is worth
 * uploading).  Sets *queued to 1 when a row was added.  0 or a negative
 * errno.
 */
int queue_enqueue(struct state *st, const struct queue_new *n, int *queued);

struct queue_item {
	int64_t id;
	int64_t dest_id;
	char key[1024];
	char sha256[65];
	uint64_t size;
	char content_type[64];
	int attempts; /* including the one just claimed */
	int manual;
	int64_t run_id;
};

/*
 * Claims the oldest pending row that may upload now (due, its destination
 * active or the row manual, and no other row of its key uploading: one
 * upload per key at a time, so versions land in the order they were
 * queued), marking it uploading.  0, -ENOENT when there is none, or a
 * negative errno.
 */
int queue_claim(struct state *st, int64_t now_ms, struct queue_item *out);


/* Records a successful upload: row uploaded, ledger, destination counters. */
int queue_done(struct state *st, const struct queue_item *it, const char *bucket,
	       const char *object_key, const char *etag, int64_t now);

/*
 * Puts a row back as pending, to be tried again at next_at_ms (or drops
 * it when a newer version of its key was queued meanwhile), holds the
 * destination's other pending rows back until then too (a transient
 * failure is the store's, not the version's: one version probes it), and
 * records the destination's last sync error (status_text, as for
 * queue_fail).
 */
int queue_retry(struct state *st, const struct queue_item *it, int64_t next_at_ms,
		const char *error, const char *status_text, int64_t now);

/*
 * Marks a row failed (or drops it when a newer version of its key was
 * queued meanwhile) and records the destination's last sync error
 * (status_text: "key = value" lines for .status, with no secret).
 */
int queue_fail(struct state *st, const struct queue_item *it, int64_t now,
	       const char *error, const char *status_text);

/*
 * Gives a claimed row back untouched (shutdown): pending, attempt not
 * counted; dropped when a newer version of its key was queued meanwhile.
 */
int queue_release(struct state *st, int64_t id);

/* At start: rows left uploading by a crash become pending. */
int queue_recover(struct state *st);

/* Failed rows of a destination (all when dest_id is 0) become pending again. */
int queue_retry_failed(struct state *st, int64_t dest_id);

/* 1 when a pending, uploading or failed row needs this version kept. */
int queue_needs(struct state *st, const char *sha256);

/* The earliest attempt time (ms) of pending rows: 0, or -ENOENT when none. */
int queue_next_due(struct state *st, int64_t *at_ms);

struct queue_counts {
	int64_t pending;        /* due now or later */
	int64_t pending_now;    /* due now */
	int64_t uploading;
	int64_t failed;
	int64_t uploads_ok;     /* lifetime counters of the destination */
	int64_t uploads_failed;
	uint64_t bytes_uploaded;
	int64_t last_upload_at; /* 0 when never */
};

int queue_counts(struct state *st, int64_t dest_id, int64_t now_ms,
		 struct queue_counts *c);

/* The last sync error lines and time (empty when none or cleared). */
int queue_last_error(struct state *st, int64_t dest_id, struct buf *text, int64_t *at);

struct queue_file_state {
	char state[16];     /* pending, uploading, uploaded, failed */
	char etag[128];
	int64_t uploaded_at;
};

/*
 * 1 when this version of bucket/object_key is recorded as uploaded, else 0.
 * When found and out is not NULL, out says "uploaded" with the ledger's
 * etag and time (for a version known only from the ledger: no queue row).
 */
int queue_in_ledger(struct state *st, int64_t dest_id, const char *bucket,
		    const char *object_key, const char *sha256, struct queue_file_state *out);

/* The delivery state of one version of a key: 0 or -ENOENT when not queued. */
int queue_lookup(struct state *st, int64_t dest_id, const char *key, const char *sha256,
		 struct queue_file_state *out);

#endif
