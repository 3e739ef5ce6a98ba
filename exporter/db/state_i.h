/*
 * state_i: what db/state.c shares with db/queue.c and db/runs.c, the other
 * tables of the state database: the connection and the call skeleton.
 * Private to db/: nothing else includes it, so sqlite3.h stays out of every
 * other module.
 */
#ifndef WAREHOUSEFS_STATE_I_H
#define WAREHOUSEFS_STATE_I_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

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

/* Runs a statement without results: 0 or a negative errno. */
int state_exec(struct state *st, const char *sql);

/*
 * Ends the transaction begun with BEGIN IMMEDIATE: COMMIT when ret is 0,
 * ROLLBACK otherwise (or when the commit fails).  Returns the outcome.
 */
int state_end(struct state *st, int ret);

/*
 * The call skeleton, written once (SQLite's own sqlite3_exec() is the
 * model): prepare, bind, step, call back per row, finalize, translate the
 * result code.  Each db/ function is left its SQL, its parameters and its
 * row reader.
 *
 * Parameters are an array of struct state_arg, ?1 first, most easily
 * written with STATE_ARGS(STATE_INT(id), STATE_TEXT(name)) (STATE_NO_ARGS
 * for none).  A NULL STATE_TEXT binds SQL NULL.  Strings and blobs are
 * borrowed for the length of the call.
 */
struct state_arg {
	enum { STATE_ARG_NULL, STATE_ARG_TEXT, STATE_ARG_INT, STATE_ARG_BLOB } type;
	const void *p; /* TEXT (NUL-terminated) or BLOB */
	int64_t i;     /* INT */
	size_t len;    /* BLOB */
};

#define STATE_NULL ((struct state_arg){.type = STATE_ARG_NULL})
#define STATE_TEXT(v) ((struct state_arg){.type = STATE_ARG_TEXT, .p = (v)})
#define STATE_INT(v) ((struct state_arg){.type = STATE_ARG_INT, .i = (int64_t)(v)})
#define STATE_BLOB(v, n) ((struct state_arg){.type = STATE_ARG_BLOB, .p = (v), .len = (n)})
#define STATE_ARGS(...)                                                              \
	(const struct state_arg[]){__VA_ARGS__},                                     \
		sizeof((const struct state_arg[]){__VA_ARGS__}) / sizeof(struct state_arg)
#define STATE_NO_ARGS NULL, 0

/*
 * Reads one result row.  A non-zero return stops the statement and becomes
 * the call's result.  Called with st->lock held: it must not call back
 * into the same struct state.
 */
typedef int (*state_row_fn)(void *ctx, sqlite3_stmt *s);

/* A row of (nullable text, time), as "last error" columns come: */
struct state_text_at {
	struct buf *text; /* the text is appended; nothing for NULL */
	int64_t *at;
};

/* The state_row_fn that reads one; ctx is a struct state_text_at. */
int state_row_text_at(void *ctx, sqlite3_stmt *s);

enum state_run_flags {
	/*
	 * Step once: row() reads the first row, and a statement without one
	 * is -ENOENT.  Without it the statement runs to its end, row() (when
	 * not NULL) reading each row, and no row is 0.
	 */
	STATE_FIRST = 1 << 0,
	/* A constraint failure is -EEXIST, and not logged: the caller expects it. */
	STATE_EXISTS_QUIET = 1 << 1,
};

/*
 * Runs one statement on st, whose lock the caller holds (inside a
 * state_tx() function, say).  Returns row()'s first non-zero result, 0
 * when the statement ran to its end, -ENOENT as STATE_FIRST says, -EIO
 * when sql does not prepare, or the translated SQLite error (logged with
 * what).
 */
int state_run(struct state *st, unsigned flags, const char *what, const char *sql,
	      state_row_fn row, void *ctx, const struct state_arg *args, size_t nargs);

/* state_run() under st->lock: one statement, one short transaction. */
int state_query(struct state *st, unsigned flags, const char *what, const char *sql,
		state_row_fn row, void *ctx, const struct state_arg *args, size_t nargs);

/*
 * Runs again a statement prepared once for a loop (caller holds the lock):
 * resets it, binds args, steps once.  0 or a negative errno (logged).
 */
int state_rerun(struct state *st, sqlite3_stmt *s, const char *what,
		const struct state_arg *args, size_t nargs);

/*
 * One write transaction: takes st->lock, BEGIN IMMEDIATE, fn(st, ctx),
 * then COMMIT when fn returned 0 or ROLLBACK otherwise, and unlocks.
 * Returns fn's error or the commit's.
 */
int state_tx(struct state *st, int (*fn)(struct state *st, void *ctx), void *ctx);

#endif
