/*
 * state_db: what state.c shares with queue.c, the other half of the state
 * database.  Private to those two files: nothing else includes it, so
 * sqlite3.h stays out of every other module.
 */
#ifndef WAREHOUSEFS_STATE_DB_H
#define WAREHOUSEFS_STATE_DB_H

#include <pthread.h>
#include <sqlite3.h>

#include "state.h"

struct state {
	sqlite3 *db;
	pthread_mutex_t lock; /* serializes every use of db */
};

/* Translates a SQLite result code once; the detail goes to the log. */
int state_errno(struct state *st, int rc, const char *what);

/* Prepares sql on st's connection, or NULL (logged). */
sqlite3_stmt *state_prepare(struct state *st, const char *sql);

/* Copies column col of the current row as text into out ("" for NULL). */
void state_column_text(sqlite3_stmt *s, int col, char *out, size_t size);

/* Binds a borrowed string. */
void state_bind_text(sqlite3_stmt *s, int i, const char *v);

/* Runs a statement without results: 0 or a negative errno. */
int state_exec(struct state *st, const char *sql);

/* Steps a prepared statement once and finalizes it; NULL (a failed prepare) is -EIO. */
int state_step_once(struct state *st, sqlite3_stmt *s, const char *what);

/*
 * Ends the transaction begun with BEGIN IMMEDIATE: COMMIT when ret is 0,
 * ROLLBACK otherwise (or when the commit fails).  Returns the outcome.
 */
int state_end(struct state *st, int ret);

#endif
