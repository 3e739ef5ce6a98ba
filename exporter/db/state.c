/*
 * state: the state database (see state.h).
 *
 * Threads: st->lock serializes use of the one connection; it is held for
 * the length of one public call (one short transaction) and never while
 * calling out of this module, except the listing callbacks, which must not
 * call back into the same struct state.
 *
 * Durability: WAL mode with synchronous=FULL, so a commit is on disk when
 * the call returns: nothing acknowledged is lost to a crash.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/csv.h"
#include "base/log.h"
#include "state_i.h"

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS meta("
	"  key TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS destinations("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  config_error TEXT,"
	"  config_error_at INTEGER,"
	"  next_run_at INTEGER,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  uploads_ok INTEGER NOT NULL DEFAULT 0,"
	"  uploads_failed INTEGER NOT NULL DEFAULT 0,"
	"  bytes_uploaded INTEGER NOT NULL DEFAULT 0,"
	"  last_upload_at INTEGER,"
	"  sync_error TEXT,"
	"  sync_error_at INTEGER,"
	"  last_sched_day INTEGER,"
	"  pause_reason TEXT);"
	"CREATE INDEX IF NOT EXISTS destinations_due ON destinations(paused, next_run_at);"
	"CREATE TABLE IF NOT EXISTS settings("
	"  dest_id INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  PRIMARY KEY(dest_id, key)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS files("
	"  team_id TEXT NOT NULL, date TEXT NOT NULL, name TEXT NOT NULL,"
	"  sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,"
	"  PRIMARY KEY(team_id, date, name)) WITHOUT ROWID;"
	/*
	 * The upload queue: one row per version to upload to a destination.
	 * key is team/date/file; the object key is the prefix in force at
	 * upload time plus key.  state: pending, uploading, uploaded, failed.
	 */
	"CREATE TABLE IF NOT EXISTS uploads("
	"  id INTEGER PRIMARY KEY,"
	"  dest_id INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
	"  content_type TEXT NOT NULL,"
	"  manual INTEGER NOT NULL DEFAULT 0, run_id INTEGER,"
	"  state TEXT NOT NULL DEFAULT 'pending',"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL, finished_at INTEGER,"
	"  bucket TEXT, object_key TEXT, etag TEXT, error TEXT);"
	"CREATE INDEX IF NOT EXISTS uploads_state ON uploads(state, id);"
	"CREATE INDEX IF NOT EXISTS uploads_dest ON uploads(dest_id, key);"
	"CREATE INDEX IF NOT EXISTS uploads_sha ON uploads(sha256);"
	"CREATE INDEX IF NOT EXISTS uploads_run ON uploads(run_id);"
	/*
	 * Runs: status queued -> running (enumerating files) -> uploading ->
	 * done; result ok, partial or failed once done.
	 */
	"CREATE TABLE IF NOT EXISTS runs("
	"  id INTEGER PRIMARY KEY,"
	"  dest_id INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,"
	"  trigger TEXT NOT NULL, period TEXT NOT NULL,"
	"  first_day INTEGER, last_day INTEGER,"
	"  status TEXT NOT NULL DEFAULT 'queued', result TEXT,"
	"  created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,"
	"  files INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
	"  skipped INTEGER NOT NULL DEFAULT 0, error TEXT, note TEXT);"
	"CREATE INDEX IF NOT EXISTS runs_status ON runs(status, id);"
	"CREATE INDEX IF NOT EXISTS runs_dest ON runs(dest_id, id);"
	/* The ledger: which version of which object is in which bucket. */
	"CREATE TABLE IF NOT EXISTS ledger("
	"  dest_id INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,"
	"  bucket TEXT NOT NULL, object_key TEXT NOT NULL,"
	"  sha256 TEXT NOT NULL, etag TEXT, uploaded_at INTEGER NOT NULL,"
	"  PRIMARY KEY(dest_id, bucket, object_key)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS audit("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL, uid INTEGER NOT NULL, pid INTEGER NOT NULL,"
	"  destination TEXT, action TEXT NOT NULL, detail TEXT);";

/*
 * Columns added to a table after its first release: a database made by an
 * older version gains them at open.  Every connection checks; the first to
 * find one missing adds it under the write lock, checking again there.
 */
static const struct {
	const char *table, *column, *decl;
} ADDED_COLUMNS[] = {
	{"runs", "note", "TEXT"},
};

static int has_column(sqlite3 *db, const char *table, const char *column, int *has)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM pragma_table_info(?1) "
				    "WHERE name = ?2", -1, &s, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, column, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*has = sqlite3_column_int(s, 0) > 0;
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

static int add_missing_columns(sqlite3 *db, char **msg)
{
	size_t n = sizeof(ADDED_COLUMNS) / sizeof(ADDED_COLUMNS[0]);
	char sql[256];
	int rc = SQLITE_OK, has = 1;

	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		rc = has_column(db, ADDED_COLUMNS[i].table, ADDED_COLUMNS[i].column, &has);
		if (rc != SQLITE_OK || has)
			continue;
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, msg);
		if (rc != SQLITE_OK)
			break;
		rc = has_column(db, ADDED_COLUMNS[i].table, ADDED_COLUMNS[i].column, &has);
		if (rc == SQLITE_OK && !has) {
			snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s",
				 ADDED_COLUMNS[i].table, ADDED_COLUMNS[i].column,
				 ADDED_COLUMNS[i].decl);
			rc = sqlite3_exec(db, sql, NULL, NULL, msg);
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, msg);
		if (rc != SQLITE_OK)
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

int state_errno(struct state *st, int rc, const char *what)
{
	if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	log_error("state database: cannot %s: %s", what, sqlite3_errmsg(st->db));
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/*
 * SQLite's own busy timeout sleeps in steps of up to 100 ms; the state's
 * transactions last well under a millisecond, so waiting for one in short
 * sleeps keeps sync workers and FUSE threads from idling behind each
 * other.  Gives up after about ten seconds.
 */
static int wait_briefly(void *ctx, int count)
{
	struct timespec ts = {0, count < 20 ? 100000 : 1000000};

	(void)ctx;
	if (count >= 10000)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

int state_lock(const char *path, struct buf *err)
{
	char lockpath[4096];
	char pid[32];

	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	int fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		buf_addf(err, "cannot open lock file '%s': %s", lockpath, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		ssize_t n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			buf_addf(err, "state database '%s' is already in use by another "
				 "warehousefs (pid %s); unmount that one first", path,
				 pid[0] ? pid : "unknown");
		else
			buf_addf(err, "cannot lock '%s': %s", lockpath, strerror(e));
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	/* The pid is for the message above; the lock itself is the flock. */
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0)
		log_warn("cannot write pid to '%s'", lockpath);
	return fd;
}

/*
 * The state database holds encrypted secrets, the history and the audit
 * log: it is created 0600 whatever the umask (SQLite would create it 0644
 * and gives its -wal and -shm files the database's mode), and one left
 * readable by others by an older version is made private.
 */
static int make_private(const char *path, struct buf *err)
{
	struct stat sb;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		int e = errno;
		buf_addf(err, "cannot open state database '%s': %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077)) {
		if (fchmod(fd, sb.st_mode & 0700) == 0)
			log_warn("state database '%s' was readable by others; made it 0600",
				 path);
		else
			log_warn("state database '%s' is readable by others and cannot be "
				 "made private: %s", path, strerror(errno));
	}
	close(fd);
	return 0;
}

int state_open(const char *path, struct state **out, struct buf *err)
{
	char *msg = NULL;
	int ret = make_private(path, err);

	if (ret)
		return ret;
	struct state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	int rc = sqlite3_open_v2(path, &st->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		buf_addf(err, "cannot open state database '%s': %s", path,
			 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		ret = -EIO;
		goto out;
	}
	sqlite3_busy_handler(st->db, wait_briefly, NULL);
	rc = sqlite3_exec(st->db,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			  "PRAGMA foreign_keys=ON;",
			  NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, SCHEMA, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = add_missing_columns(st->db, &msg);
	if (rc != SQLITE_OK) {
		buf_addf(err, "cannot use state database '%s': %s", path,
			 msg ? msg : sqlite3_errstr(rc));
		ret = rc == SQLITE_NOTADB ? -EINVAL : -EIO;
		goto out;
	}
	*out = st;
	st = NULL;
out:
	sqlite3_free(msg);
	state_free(st);
	return ret;
}

void state_relax(struct state *st)
{
	pthread_mutex_lock(&st->lock);
	sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	pthread_mutex_unlock(&st->lock);
}

void state_free(struct state *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

sqlite3_stmt *state_prepare(struct state *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		log_error("state database: cannot prepare '%s': %s", sql,
			  sqlite3_errmsg(st->db));
		return NULL;
	}
	return s;
}

void state_column_text(sqlite3_stmt *s, int col, char *out, size_t size)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	snprintf(out, size, "%s", v ? v : "");
}

int state_exec(struct state *st, const char *sql)
{
	return state_errno(st, sqlite3_exec(st->db, sql, NULL, NULL, NULL), sql);
}

int state_end(struct state *st, int ret)
{
	if (!ret)
		ret = state_exec(st, "COMMIT");
	if (ret)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

static void bind_args(sqlite3_stmt *s, const struct state_arg *args, size_t nargs)
{
	for (size_t i = 0; i < nargs; i++) {
		const struct state_arg *a = &args[i];
		int at = (int)i + 1;
		switch (a->type) {
		case STATE_ARG_TEXT:
			sqlite3_bind_text(s, at, a->p, -1, SQLITE_STATIC);
			break;
		case STATE_ARG_INT:
			sqlite3_bind_int64(s, at, a->i);
			break;
		case STATE_ARG_BLOB:
			sqlite3_bind_blob(s, at, a->p, (int)a->len, SQLITE_STATIC);
			break;
		case STATE_ARG_NULL:
			sqlite3_bind_null(s, at);
			break;
		}
	}
}

static int result(struct state *st, unsigned flags, int rc, const char *what)
{
	if ((flags & STATE_EXISTS_QUIET) && (rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	return state_errno(st, rc, what);
}

int state_run(struct state *st, unsigned flags, const char *what, const char *sql,
	      state_row_fn row, void *ctx, const struct state_arg *args, size_t nargs)
{
	sqlite3_stmt *s = state_prepare(st, sql);
	int ret = 0, rc;

	if (!s)
		return -EIO;
	bind_args(s, args, nargs);
	if (flags & STATE_FIRST) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			ret = row ? row(ctx, s) : 0;
		else
			ret = rc == SQLITE_DONE ? -ENOENT : result(st, flags, rc, what);
		sqlite3_finalize(s);
		return ret;
	}
	for (;;) {
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		ret = row ? row(ctx, s) : 0;
		if (ret)
			break;
	}
	if (!ret)
		ret = result(st, flags, rc, what);
	sqlite3_finalize(s);
	return ret;
}

int state_query(struct state *st, unsigned flags, const char *what, const char *sql,
		state_row_fn row, void *ctx, const struct state_arg *args, size_t nargs)
{
	pthread_mutex_lock(&st->lock);
	int ret = state_run(st, flags, what, sql, row, ctx, args, nargs);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_rerun(struct state *st, sqlite3_stmt *s, const char *what,
		const struct state_arg *args, size_t nargs)
{
	sqlite3_reset(s);
	bind_args(s, args, nargs);
	return state_errno(st, sqlite3_step(s), what);
}

int state_tx(struct state *st, int (*fn)(struct state *st, void *ctx), void *ctx)
{
	pthread_mutex_lock(&st->lock);
	int ret = state_exec(st, "BEGIN IMMEDIATE");
	if (!ret)
		ret = state_end(st, fn(st, ctx));
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static int read_blob(void *ctx, sqlite3_stmt *s)
{
	buf_add(ctx, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	return 0;
}

int state_meta_get(struct state *st, const char *key, struct buf *value)
{
	return state_query(st, STATE_FIRST, "read meta",
			   "SELECT value FROM meta WHERE key = ?1", read_blob, value,
			   STATE_ARGS(STATE_TEXT(key)));
}

int state_meta_set(struct state *st, const char *key, const void *value, size_t len)
{
	return state_query(st, 0, "write meta",
			   "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", NULL,
			   NULL, STATE_ARGS(STATE_TEXT(key), STATE_BLOB(value, len)));
}

int state_dest_create(struct state *st, const char *name, int64_t now, int64_t next_run_at,
		      int64_t *id)
{
	pthread_mutex_lock(&st->lock);
	int ret = state_run(st, STATE_EXISTS_QUIET, "create destination",
			    "INSERT INTO destinations(name, created_at, next_run_at) "
			    "VALUES(?1, ?2, ?3)", NULL, NULL,
			    STATE_ARGS(STATE_TEXT(name), STATE_INT(now), STATE_INT(next_run_at)));
	if (!ret)
		*id = sqlite3_last_insert_rowid(st->db);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_dest_delete(struct state *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	int ret = state_run(st, 0, "delete destination",
			    "DELETE FROM destinations WHERE name = ?1", NULL, NULL,
			    STATE_ARGS(STATE_TEXT(name)));
	if (!ret && sqlite3_changes(st->db) == 0)
		ret = -ENOENT;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static void dest_from_row(sqlite3_stmt *s, struct state_dest *d)
{
	d->id = sqlite3_column_int64(s, 0);
	snprintf(d->name, sizeof(d->name), "%s", (const char *)sqlite3_column_text(s, 1));
	d->created_at = sqlite3_column_int64(s, 2);
	d->paused = sqlite3_column_int(s, 3);
}

static int read_dest(void *ctx, sqlite3_stmt *s)
{
	dest_from_row(s, ctx);
	return 0;
}

static int dest_get(struct state *st, const char *name, int64_t id, struct state_dest *out)
{
	return state_query(st, STATE_FIRST, "read destination",
			   "SELECT id, name, created_at, paused FROM destinations "
			   "WHERE name = ?1 OR id = ?2", read_dest, out,
			   STATE_ARGS(STATE_TEXT(name), STATE_INT(id)));
}

int state_dest_get(struct state *st, const char *name, struct state_dest *out)
{
	return dest_get(st, name, -1, out);
}

int state_dest_get_id(struct state *st, int64_t id, struct state_dest *out)
{
	return dest_get(st, NULL, id, out);
}

struct each_dest {
	state_dest_fn fn;
	void *ctx;
};

static int pass_dest(void *ctx, sqlite3_stmt *s)
{
	struct each_dest *e = ctx;
	struct state_dest d;

	dest_from_row(s, &d);
	return e->fn(e->ctx, &d);
}

int state_dest_list(struct state *st, state_dest_fn fn, void *ctx)
{
	struct each_dest e = {fn, ctx};

	return state_query(st, 0, "list destinations",
			   "SELECT id, name, created_at, paused FROM destinations "
			   "ORDER BY name", pass_dest, &e, STATE_NO_ARGS);
}

struct each_setting {
	state_setting_fn fn;
	void *ctx;
};

static int pass_setting(void *ctx, sqlite3_stmt *s)
{
	struct each_setting *e = ctx;

	return e->fn(e->ctx, (const char *)sqlite3_column_text(s, 0),
		     sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
}

int state_settings_get(struct state *st, int64_t dest_id, state_setting_fn fn,
		       void *ctx)
{
	struct each_setting e = {fn, ctx};

	return state_query(st, 0, "read settings",
			   "SELECT key, value FROM settings WHERE dest_id = ?1 ORDER BY key",
			   pass_setting, &e, STATE_ARGS(STATE_INT(dest_id)));
}

struct settings_change {
	int64_t dest_id;
	const struct state_change *changes;
	size_t n;
};

static int apply_changes(struct state *st, void *ctx)
{
	const struct settings_change *c = ctx;
	sqlite3_stmt *set = state_prepare(st, "INSERT OR REPLACE INTO settings(dest_id, "
					      "key, value) VALUES(?1, ?2, ?3)");
	sqlite3_stmt *del = state_prepare(st, "DELETE FROM settings WHERE dest_id = ?1 "
					      "AND key = ?2");
	int ret = set && del ? 0 : -EIO;

	for (size_t i = 0; i < c->n && !ret; i++) {
		const struct state_change *ch = &c->changes[i];
		if (ch->clear)
			ret = state_rerun(st, del, "write settings",
					  STATE_ARGS(STATE_INT(c->dest_id), STATE_TEXT(ch->key)));
		else
			ret = state_rerun(st, set, "write settings",
					  STATE_ARGS(STATE_INT(c->dest_id), STATE_TEXT(ch->key),
						     STATE_BLOB(ch->value, ch->len)));
	}
	sqlite3_finalize(set);
	sqlite3_finalize(del);
	return ret;
}

int state_settings_apply(struct state *st, int64_t dest_id,
			 const struct state_change *changes, size_t n)
{
	struct settings_change c = {dest_id, changes, n};

	return state_tx(st, apply_changes, &c);
}

int state_dest_set_error(struct state *st, int64_t dest_id, int64_t at, const char *msg)
{
	return state_query(st, 0, "record configuration error",
			   "UPDATE destinations SET config_error = ?2, config_error_at = ?3 "
			   "WHERE id = ?1", NULL, NULL,
			   STATE_ARGS(STATE_INT(dest_id), STATE_TEXT(msg),
				      msg ? STATE_INT(at) : STATE_NULL));
}

int state_row_text_at(void *ctx, sqlite3_stmt *s)
{
	struct state_text_at *t = ctx;
	const char *v = (const char *)sqlite3_column_text(s, 0);

	if (v)
		buf_adds(t->text, v);
	*t->at = sqlite3_column_int64(s, 1);
	return 0;
}

int state_dest_get_error(struct state *st, int64_t dest_id, struct buf *msg,
			 int64_t *at)
{
	struct state_text_at t = {msg, at};

	return state_query(st, STATE_FIRST, "read error",
			   "SELECT config_error, config_error_at FROM destinations "
			   "WHERE id = ?1", state_row_text_at, &t, STATE_ARGS(STATE_INT(dest_id)));
}

static int read_file(void *ctx, sqlite3_stmt *s)
{
	struct state_file *out = ctx;

	state_column_text(s, 0, out->sha256, sizeof(out->sha256));
	out->size = (uint64_t)sqlite3_column_int64(s, 1);
	out->mtime = sqlite3_column_int64(s, 2);
	return 0;
}

int state_file_get(struct state *st, const char *team, const char *date,
		   const char *name, struct state_file *out)
{
	return state_query(st, STATE_FIRST, "read file",
			   "SELECT sha256, size, mtime FROM files "
			   "WHERE team_id = ?1 AND date = ?2 AND name = ?3", read_file, out,
			   STATE_ARGS(STATE_TEXT(team), STATE_TEXT(date), STATE_TEXT(name)));
}

int state_file_put(struct state *st, const char *team, const char *date,
		   const char *name, const struct state_file *f)
{
	return state_query(st, 0, "record file",
			   "INSERT OR REPLACE INTO files(team_id, date, name, sha256, size, "
			   "mtime) VALUES(?1, ?2, ?3, ?4, ?5, ?6)", NULL, NULL,
			   STATE_ARGS(STATE_TEXT(team), STATE_TEXT(date), STATE_TEXT(name),
				      STATE_TEXT(f->sha256), STATE_INT(f->size),
				      STATE_INT(f->mtime)));
}

struct each_hash {
	int (*fn)(void *ctx, const char *sha256);
	void *ctx;
};

static int pass_hash(void *ctx, sqlite3_stmt *s)
{
	struct each_hash *e = ctx;

	return e->fn(e->ctx, (const char *)sqlite3_column_text(s, 0));
}

int state_file_hashes(struct state *st, int (*fn)(void *ctx, const char *sha256),
		      void *ctx)
{
	struct each_hash e = {fn, ctx};

	return state_query(st, 0, "list files", "SELECT DISTINCT sha256 FROM files",
			   pass_hash, &e, STATE_NO_ARGS);
}

int state_audit_add(struct state *st, int64_t at, unsigned uid, int pid,
		    const char *dest, const char *action, const char *detail)
{
	return state_query(st, 0, "write audit log",
			   "INSERT INTO audit(at, uid, pid, destination, action, detail) "
			   "VALUES(?1, ?2, ?3, ?4, ?5, ?6)", NULL, NULL,
			   STATE_ARGS(STATE_INT(at), STATE_INT(uid), STATE_INT(pid),
				      STATE_TEXT(dest), STATE_TEXT(action), STATE_TEXT(detail)));
}

static void audit_field(struct buf *out, const char *v)
{
	if (v)
		csv_field(out, v, strlen(v));
}

static int add_audit_csv(void *ctx, sqlite3_stmt *s)
{
	struct buf *out = ctx;
	char when[32];

	clock_iso8601(sqlite3_column_int64(s, 0), when);
	buf_addf(out, "%s,%lld,%lld,", when, (long long)sqlite3_column_int64(s, 1),
		 (long long)sqlite3_column_int64(s, 2));
	audit_field(out, (const char *)sqlite3_column_text(s, 3));
	buf_addch(out, ',');
	audit_field(out, (const char *)sqlite3_column_text(s, 4));
	buf_addch(out, ',');
	audit_field(out, (const char *)sqlite3_column_text(s, 5));
	buf_addch(out, '\n');
	return 0;
}

int state_audit_read(struct state *st, struct buf *out)
{
	buf_adds(out, "time,uid,pid,destination,action,detail\n");
	return state_query(st, 0, "read audit log",
			   "SELECT at, uid, pid, destination, action, detail FROM audit "
			   "ORDER BY id", add_audit_csv, out, STATE_NO_ARGS);
}
