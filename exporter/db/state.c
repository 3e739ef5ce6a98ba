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

void state_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

int state_exec(struct state *st, const char *sql)
{
	return state_errno(st, sqlite3_exec(st->db, sql, NULL, NULL, NULL), sql);
}

int state_step_once(struct state *st, sqlite3_stmt *s, const char *what)
{
	int ret;

	if (!s)
		return -EIO;
	ret = state_errno(st, sqlite3_step(s), what);
	sqlite3_finalize(s);
	return ret;
}

int state_end(struct state *st, int ret)
{
	if (!ret)
		ret = state_exec(st, "COMMIT");
	if (ret)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

int state_meta_get(struct state *st, const char *key, struct buf *value)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT value FROM meta WHERE key = ?1");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	state_bind_text(s, 1, key);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		buf_add(value, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
		ret = 0;
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read meta");
	}
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_meta_set(struct state *st, const char *key, const void *value, size_t len)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "INSERT OR REPLACE INTO meta(key, value) "
				      "VALUES(?1, ?2)");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	state_bind_text(s, 1, key);
	sqlite3_bind_blob(s, 2, value, (int)len, SQLITE_STATIC);
	ret = state_errno(st, sqlite3_step(s), "write meta");
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_dest_create(struct state *st, const char *name, int64_t now, int64_t next_run_at,
		      int64_t *id)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "INSERT INTO destinations(name, created_at, "
				      "next_run_at) VALUES(?1, ?2, ?3)");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	state_bind_text(s, 1, name);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, next_run_at);
	int rc = sqlite3_step(s);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		ret = -EEXIST;
		goto out;
	}
	ret = state_errno(st, rc, "create destination");
	if (!ret)
		*id = sqlite3_last_insert_rowid(st->db);
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_dest_delete(struct state *st, const char *name)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "DELETE FROM destinations WHERE name = ?1");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	state_bind_text(s, 1, name);
	ret = state_errno(st, sqlite3_step(s), "delete destination");
	if (!ret && sqlite3_changes(st->db) == 0)
		ret = -ENOENT;
out:
	sqlite3_finalize(s);
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

static int dest_get(struct state *st, const char *name, int64_t id, struct state_dest *out)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT id, name, created_at, paused "
				      "FROM destinations WHERE name = ?1 OR id = ?2");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	if (name)
		state_bind_text(s, 1, name);
	sqlite3_bind_int64(s, 2, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		dest_from_row(s, out);
		ret = 0;
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read destination");
	}
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_dest_get(struct state *st, const char *name, struct state_dest *out)
{
	return dest_get(st, name, -1, out);
}

int state_dest_get_id(struct state *st, int64_t id, struct state_dest *out)
{
	return dest_get(st, NULL, id, out);
}

int state_dest_list(struct state *st, state_dest_fn fn, void *ctx)
{
	int ret = 0, rc;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT id, name, created_at, paused "
				      "FROM destinations ORDER BY name");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct state_dest d;
		dest_from_row(s, &d);
		ret = fn(ctx, &d);
		if (ret)
			goto out;
	}
	ret = state_errno(st, rc, "list destinations");
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_settings_get(struct state *st, int64_t dest_id, state_setting_fn fn,
		       void *ctx)
{
	int ret = 0, rc;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT key, value FROM settings "
				      "WHERE dest_id = ?1 ORDER BY key");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, dest_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ret = fn(ctx, (const char *)sqlite3_column_text(s, 0),
			 sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
		if (ret)
			goto out;
	}
	ret = state_errno(st, rc, "read settings");
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_settings_apply(struct state *st, int64_t dest_id,
			 const struct state_change *changes, size_t n)
{
	sqlite3_stmt *set = NULL, *del = NULL;
	int ret;

	pthread_mutex_lock(&st->lock);
	ret = state_exec(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
	set = state_prepare(st, "INSERT OR REPLACE INTO settings(dest_id, key, value) "
			  "VALUES(?1, ?2, ?3)");
	del = state_prepare(st, "DELETE FROM settings WHERE dest_id = ?1 AND key = ?2");
	if (!set || !del)
		ret = -EIO;
	for (size_t i = 0; i < n && !ret; i++) {
		sqlite3_stmt *s = changes[i].clear ? del : set;
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, dest_id);
		state_bind_text(s, 2, changes[i].key);
		if (!changes[i].clear)
			sqlite3_bind_blob(s, 3, changes[i].value, (int)changes[i].len,
					  SQLITE_STATIC);
		ret = state_errno(st, sqlite3_step(s), "write settings");
	}
	ret = state_end(st, ret);
out:
	sqlite3_finalize(set);
	sqlite3_finalize(del);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_dest_set_error(struct state *st, int64_t dest_id, int64_t at, const char *msg)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "UPDATE destinations SET config_error = ?2, "
				      "config_error_at = ?3 WHERE id = ?1");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, dest_id);
	if (msg) {
		state_bind_text(s, 2, msg);
		sqlite3_bind_int64(s, 3, at);
	}
	ret = state_errno(st, sqlite3_step(s), "record configuration error");
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_dest_get_error(struct state *st, int64_t dest_id, struct buf *msg,
			 int64_t *at)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT config_error, config_error_at "
				      "FROM destinations WHERE id = ?1");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, dest_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(s, 0);
		if (m)
			buf_adds(msg, m);
		*at = sqlite3_column_int64(s, 1);
		ret = 0;
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read error");
	}
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_file_get(struct state *st, const char *team, const char *date,
		   const char *name, struct state_file *out)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT sha256, size, mtime FROM files "
				      "WHERE team_id = ?1 AND date = ?2 AND name = ?3");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	state_bind_text(s, 1, team);
	state_bind_text(s, 2, date);
	state_bind_text(s, 3, name);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		state_column_text(s, 0, out->sha256, sizeof(out->sha256));
		out->size = (uint64_t)sqlite3_column_int64(s, 1);
		out->mtime = sqlite3_column_int64(s, 2);
		ret = 0;
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : state_errno(st, rc, "read file");
	}
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_file_put(struct state *st, const char *team, const char *date,
		   const char *name, const struct state_file *f)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "INSERT OR REPLACE INTO files(team_id, date, name, "
				      "sha256, size, mtime) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	state_bind_text(s, 1, team);
	state_bind_text(s, 2, date);
	state_bind_text(s, 3, name);
	state_bind_text(s, 4, f->sha256);
	sqlite3_bind_int64(s, 5, (int64_t)f->size);
	sqlite3_bind_int64(s, 6, f->mtime);
	ret = state_errno(st, sqlite3_step(s), "record file");
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_file_hashes(struct state *st, int (*fn)(void *ctx, const char *sha256),
		      void *ctx)
{
	int ret = 0, rc;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT DISTINCT sha256 FROM files");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ret = fn(ctx, (const char *)sqlite3_column_text(s, 0));
		if (ret)
			goto out;
	}
	ret = state_errno(st, rc, "list files");
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int state_audit_add(struct state *st, int64_t at, unsigned uid, int pid,
		    const char *dest, const char *action, const char *detail)
{
	int ret;

	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "INSERT INTO audit(at, uid, pid, destination, "
				      "action, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, at);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int(s, 3, pid);
	if (dest)
		state_bind_text(s, 4, dest);
	state_bind_text(s, 5, action);
	if (detail)
		state_bind_text(s, 6, detail);
	ret = state_errno(st, sqlite3_step(s), "write audit log");
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static void audit_field(struct buf *out, const char *v)
{
	if (v)
		csv_field(out, v, strlen(v));
}

int state_audit_read(struct state *st, struct buf *out)
{
	int ret = 0, rc;

	buf_adds(out, "time,uid,pid,destination,action,detail\n");
	pthread_mutex_lock(&st->lock);
	sqlite3_stmt *s = state_prepare(st, "SELECT at, uid, pid, destination, action, "
					    "detail FROM audit ORDER BY id");
	if (!s) {
		ret = -EIO;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char when[32];
		time_t t = (time_t)sqlite3_column_int64(s, 0);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		buf_addf(out, "%s,%lld,%lld,", when, (long long)sqlite3_column_int64(s, 1),
			 (long long)sqlite3_column_int64(s, 2));
		audit_field(out, (const char *)sqlite3_column_text(s, 3));
		buf_addch(out, ',');
		audit_field(out, (const char *)sqlite3_column_text(s, 4));
		buf_addch(out, ',');
		audit_field(out, (const char *)sqlite3_column_text(s, 5));
		buf_addch(out, '\n');
	}
	ret = state_errno(st, rc, "read audit log");
	sqlite3_finalize(s);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}
