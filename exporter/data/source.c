/*
 * source: read-only access to the analytics database (see source.h).
 *
 * Threads: any thread may call in.  A connection is used by one thread at a
 * time: callers borrow one from the idle pool (or open a new one) and give it
 * back.  Each connection caches its prepared statements.
 *
 * Change detection: a dedicated "watch" connection reads PRAGMA
 * data_version, which moves when another connection commits; a stat() of
 * the path notices a replaced file.  A replaced file bumps the epoch, and
 * pooled connections of an older epoch are closed instead of reused.
 *
 * Lock order: src->lock only; it is never held while a query runs.
 */
#include "source.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "sqltext.h"

#define SOURCE_STMT_CACHE 16

struct source_conn {
	sqlite3 *db;
	uint64_t epoch;
	const char *stmt_sql[SOURCE_STMT_CACHE]; /* keyed by pointer identity */
	sqlite3_stmt *stmt[SOURCE_STMT_CACHE];
	struct source_conn *next;
};

struct source {
	char *path;
	unsigned check_interval_ms;

	pthread_mutex_t lock;
	/* protected by lock: */
	struct source_conn *idle;
	sqlite3 *watch;
	uint64_t generation;
	uint64_t epoch;
	int64_t data_version;
	dev_t dev;
	ino_t ino;
	struct timespec file_mtime;
	off_t file_size;
	uint64_t last_check_ms;
};

static const char SQL_TEAMS[] =
	"SELECT DISTINCT team_id FROM websites ORDER BY team_id";
static const char SQL_DATES[] =
	"SELECT DISTINCT a.date FROM websites w JOIN analytics_daily a"
	" ON a.website_id = w.website_id WHERE w.team_id = ?1 ORDER BY 1";
static const char SQL_TEAM_EXISTS[] =
	"SELECT 1 FROM websites WHERE team_id = ?1 LIMIT 1";
/* Counting stops early: past a quarter of the total, the answer is known. */
static const char SQL_TEAM_SIZE[] =
	"SELECT count(*) FROM (SELECT 1 FROM websites WHERE team_id = ?1 LIMIT ?2)";
/* O(log n); it over-counts only after deletions. */
static const char SQL_WEBSITES[] = "SELECT max(rowid) FROM websites";
static const char SQL_DATE_EXISTS[] =
	"SELECT 1 FROM websites w JOIN analytics_daily a"
	" ON a.website_id = w.website_id WHERE w.team_id = ?1 AND a.date = ?2 LIMIT 1";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Translates a SQLite result code once, here. */
static int source_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	default:
		return -EIO;
	}
}

static int conn_open(const char *path, sqlite3 **out, struct buf *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		if (err)
			buf_addf(err, "cannot open source '%s': %s", path,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return source_errno(rc);
	}
	sqlite3_busy_timeout(db, 5000);
	/*
	 * No mmap of the source: mapped pages count in the daemon's resident
	 * size, which must stay flat whatever the source's size.
	 */
	*out = db;
	return 0;
}

static void conn_free(struct source_conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < SOURCE_STMT_CACHE; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

static struct source_conn *conn_get(struct source *src)
{
	struct source_conn *c;

	pthread_mutex_lock(&src->lock);
	c = src->idle;
	if (c)
		src->idle = c->next;
	uint64_t epoch = src->epoch;
	pthread_mutex_unlock(&src->lock);
	if (c && c->epoch == epoch)
		return c;
	conn_free(c);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->epoch = epoch;
	if (conn_open(src->path, &c->db, NULL) < 0) {
		log_error("cannot open source '%s'", src->path);
		free(c);
		return NULL;
	}
	return c;
}

static void conn_put(struct source *src, struct source_conn *c)
{
	pthread_mutex_lock(&src->lock);
	if (c->epoch == src->epoch) {
		c->next = src->idle;
		src->idle = c;
		c = NULL;
	}
	pthread_mutex_unlock(&src->lock);
	conn_free(c);
}

/* A reset, cached statement for sql on c, or NULL (logged). */
static sqlite3_stmt *conn_stmt(struct source *src, struct source_conn *c,
			       const char *sql)
{
	int slot = -1;

	for (int i = 0; i < SOURCE_STMT_CACHE; i++) {
		if (c->stmt_sql[i] == sql) {
			sqlite3_reset(c->stmt[i]);
			sqlite3_clear_bindings(c->stmt[i]);
			return c->stmt[i];
		}
		if (slot < 0 && !c->stmt_sql[i])
			slot = i;
	}
	if (slot < 0) {
		slot = SOURCE_STMT_CACHE - 1;
		sqlite3_finalize(c->stmt[slot]);
		c->stmt[slot] = NULL;
		c->stmt_sql[slot] = NULL;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
	    SQLITE_OK) {
		log_error("cannot query source '%s': %s", src->path, sqlite3_errmsg(c->db));
		return NULL;
	}
	c->stmt[slot] = st;
	c->stmt_sql[slot] = sql;
	return st;
}

static int check_schema(sqlite3 *db, const char *path, struct buf *err)
{
	static const char *const probes[] = {
		"SELECT website_id, team_id, domain FROM websites LIMIT 0",
		"SELECT website_id, date, total_visitors, unique_visitors, pageviews,"
		" bounce_rate, avg_session_duration FROM analytics_daily LIMIT 0",
	};

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(db, probes[i], -1, &st, NULL);
		sqlite3_finalize(st);
		if (rc != SQLITE_OK) {
			buf_addf(err, "cannot use source '%s': %s (see the README for the "
				 "source schema)", path, sqlite3_errmsg(db));
			return rc == SQLITE_NOTADB ? -EINVAL : source_errno(rc);
		}
	}
	return 0;
}

static int64_t read_data_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int source_open(const char *path, unsigned check_interval_ms, struct source **out,
		struct buf *err)
{
	struct source *src = NULL;
	struct stat st;
	int ret;

	if (stat(path, &st) < 0) {
		ret = -errno;
		buf_addf(err, "cannot open source '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		buf_addf(err, "cannot open source '%s': not a regular file", path);
		goto out;
	}
	if (access(path, R_OK) < 0) {
		ret = -errno;
		buf_addf(err, "cannot open source '%s': %s", path, strerror(errno));
		goto out;
	}
	src = calloc(1, sizeof(*src));
	if (!src) {
		ret = -ENOMEM;
		goto out;
	}
	pthread_mutex_init(&src->lock, NULL);
	src->path = strdup(path);
	src->check_interval_ms = check_interval_ms;
	ret = conn_open(path, &src->watch, err);
	if (ret < 0)
		goto out;
	ret = check_schema(src->watch, path, err);
	if (ret < 0)
		goto out;
	src->dev = st.st_dev;
	src->ino = st.st_ino;
	src->file_mtime = st.st_mtim;
	src->file_size = st.st_size;
	src->data_version = read_data_version(src->watch);
	src->generation = 1;
	src->last_check_ms = now_ms();
	*out = src;
	src = NULL;
out:
	source_free(src);
	return ret;
}

void source_free(struct source *src)
{
	if (!src)
		return;
	while (src->idle) {
		struct source_conn *c = src->idle;
		src->idle = c->next;
		conn_free(c);
	}
	sqlite3_close(src->watch);
	pthread_mutex_destroy(&src->lock);
	free(src->path);
	free(src);
}

uint64_t source_generation(struct source *src)
{
	uint64_t now = now_ms();
	uint64_t gen;
	struct stat st;

	pthread_mutex_lock(&src->lock);
	if (now - src->last_check_ms < src->check_interval_ms)
		goto out;
	src->last_check_ms = now;
	if (stat(src->path, &st) < 0) {
		/* Mid-replacement or gone: keep serving what we have. */
		goto out;
	}
	if (st.st_dev != src->dev || st.st_ino != src->ino) {
		sqlite3 *db = NULL;
		if (conn_open(src->path, &db, NULL) < 0)
			goto out;
		sqlite3_close(src->watch);
		src->watch = db;
		src->dev = st.st_dev;
		src->ino = st.st_ino;
		src->epoch++;
		src->generation++;
		src->data_version = read_data_version(db);
		log_info("source '%s' was replaced; reopening it", src->path);
	} else {
		int64_t v = read_data_version(src->watch);
		if (v != src->data_version ||
		    st.st_mtim.tv_sec != src->file_mtime.tv_sec ||
		    st.st_mtim.tv_nsec != src->file_mtime.tv_nsec ||
		    st.st_size != src->file_size) {
			src->data_version = v;
			src->generation++;
		}
	}
	src->file_mtime = st.st_mtim;
	src->file_size = st.st_size;
out:
	gen = src->generation;
	pthread_mutex_unlock(&src->lock);
	return gen;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Runs a one- or two-parameter query, calling fn for column 0 of each row. */
static int run_names(struct source *src, const char *sql, const char *p1, const char *p2,
		     source_name_fn fn, void *ctx)
{
	struct source_conn *c = conn_get(src);
	int ret = 0, rc;

	if (!c)
		return -EIO;
	sqlite3_stmt *st = conn_stmt(src, c, sql);
	if (!st) {
		ret = -EIO;
		goto out;
	}
	if (p1)
		bind_text(st, 1, p1);
	if (p2)
		bind_text(st, 2, p2);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name)
			continue;
		ret = fn(ctx, name);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE) {
		log_error("cannot read source '%s': %s", src->path, sqlite3_errmsg(c->db));
		ret = source_errno(rc);
	}
	sqlite3_reset(st);
out:
	conn_put(src, c);
	return ret;
}

int source_list_teams(struct source *src, source_name_fn fn, void *ctx)
{
	return run_names(src, SQL_TEAMS, NULL, NULL, fn, ctx);
}

int source_list_dates(struct source *src, const char *team, source_name_fn fn,
		      void *ctx)
{
	return run_names(src, SQL_DATES, team, NULL, fn, ctx);
}

static int found_one(void *ctx, const char *name)
{
	(void)name;
	*(int *)ctx = 1;
	return 1;
}

static int exists(struct source *src, const char *sql, const char *p1, const char *p2)
{
	int found = 0;
	int ret = run_names(src, sql, p1, p2, found_one, &found);

	if (ret < 0)
		return ret;
	return found;
}

int source_team_exists(struct source *src, const char *team)
{
	return exists(src, SQL_TEAM_EXISTS, team, NULL);
}

double source_team_share(struct source *src, const char *team)
{
	struct source_conn *c = conn_get(src);
	double share = 0;

	if (!c)
		return 0;
	sqlite3_stmt *st = conn_stmt(src, c, SQL_TEAM_SIZE);
	if (!st)
		goto out;
	sqlite3_stmt *total = conn_stmt(src, c, SQL_WEBSITES);
	double all = 0;
	if (total && sqlite3_step(total) == SQLITE_ROW)
		all = (double)sqlite3_column_int64(total, 0);
	if (total)
		sqlite3_reset(total);
	if (all <= 0)
		goto out;
	bind_text(st, 1, team);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(all / 4) + 1);
	if (sqlite3_step(st) == SQLITE_ROW)
		share = (double)sqlite3_column_int64(st, 0) / all;
	sqlite3_reset(st);
out:
	conn_put(src, c);
	return share;
}

int source_date_exists(struct source *src, const char *team, const char *date)
{
	return exists(src, SQL_DATE_EXISTS, team, date);
}

int source_export(struct source *src, const char *sql, const char *team,
		  const char *date, const struct format_ops *fmt,
		  const char *const *columns, int ncolumns, struct sink *sink,
		  uint64_t *rows)
{
	struct format_value vals[64];
	char scratch[64][SQLTEXT_MAX];
	struct source_conn *c;
	uint64_t n = 0;
	int ret = 0, rc;

	if (ncolumns > 64)
		return -EINVAL;
	c = conn_get(src);
	if (!c)
		return -EIO;
	sqlite3_stmt *st = conn_stmt(src, c, sql);
	if (!st) {
		ret = -EIO;
		goto out;
	}
	int idx = sqlite3_bind_parameter_index(st, ":team_id");
	if (idx)
		bind_text(st, idx, team);
	idx = sqlite3_bind_parameter_index(st, ":date");
	if (idx)
		bind_text(st, idx, date);
	if (sqlite3_column_count(st) != ncolumns) {
		log_error("dataset query returns %d columns, expected %d",
			  sqlite3_column_count(st), ncolumns);
		ret = -EIO;
		goto out;
	}
	fmt->begin(sink, columns, ncolumns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncolumns; i++) {
			int type = sqlite3_column_type(st, i);
			size_t n = 0;
			vals[i].is_null = type == SQLITE_NULL;
			vals[i].is_number =
			    type == SQLITE_INTEGER || type == SQLITE_FLOAT;
			vals[i].text = NULL;
			vals[i].len = 0;
			if (type == SQLITE_NULL)
				continue;
			/* Numbers: SQLite's own text, written without its printf. */
			if (type == SQLITE_INTEGER)
				n = sqltext_int64(sqlite3_column_int64(st, i), scratch[i]);
			else if (type == SQLITE_FLOAT)
				n = sqltext_real(sqlite3_column_double(st, i), scratch[i]);
			if (n) {
				vals[i].text = scratch[i];
				vals[i].len = n;
				continue;
			}
			/* column_text is SQLite's own text for the value, as CAST gives */
			vals[i].text = (const char *)sqlite3_column_text(st, i);
			vals[i].len = (size_t)sqlite3_column_bytes(st, i);
		}
		fmt->row(sink, columns, vals, ncolumns);
		n++;
	}
	if (rc != SQLITE_DONE) {
		log_error("cannot read source '%s': %s", src->path, sqlite3_errmsg(c->db));
		ret = source_errno(rc);
		goto out;
	}
	fmt->end(sink);
	*rows = n;
out:
	if (st)
		sqlite3_reset(st);
	conn_put(src, c);
	return ret;
}
