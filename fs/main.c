/*
 * main: the warehousefs daemon.  Parses the command line (our -o options,
 * the standard FUSE ones, and the "SRC MOUNTPOINT" form mount(8) uses),
 * checks everything that can be checked before mounting so mistakes are
 * reported on the terminal, then mounts, daemonizes and runs the FUSE loop.
 *
 * SQLite handles are opened only after daemonizing (fork does not carry
 * SQLite's POSIX locks over); the state lock is a flock, which does.
 *
 * Only this file calls exit().
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "fs.h"
#include "gateway.h"

struct options {
	char *source;
	char *state;
	char *cache;
	char *keyfile;
	char *cache_size;
	char *log_level;
	unsigned source_check_ms;
	double entry_timeout;
	double attr_timeout;
	double negative_timeout;
	unsigned sync_workers;
	unsigned upload_retries;
	unsigned retry_base_ms;
	unsigned retry_max_ms;
	char *multipart_threshold;
	char *part_size;
	unsigned part_parallelism;
	unsigned connect_timeout_ms;
	unsigned stall_timeout;
	char *ca_bundle;
	char *resolve;
	unsigned max_sync_waiters;
	unsigned backfill_span;
	unsigned max_failures;
	unsigned run_workers;
	unsigned tick_ms;
	char *test_now;
	double test_speed;
	char *nonopt[3];
	int nnonopt;
};

#define OPT(t, p) {t, offsetof(struct options, p), 1}

static const struct fuse_opt option_spec[] = {
	OPT("source=%s", source),
	OPT("state=%s", state),
	OPT("cache=%s", cache),
	OPT("keyfile=%s", keyfile),
	OPT("cache_size=%s", cache_size),
	OPT("log_level=%s", log_level),
	OPT("source_check_ms=%u", source_check_ms),
	OPT("entry_timeout=%lf", entry_timeout),
	OPT("attr_timeout=%lf", attr_timeout),
	OPT("negative_timeout=%lf", negative_timeout),
	OPT("sync_workers=%u", sync_workers),
	OPT("upload_retries=%u", upload_retries),
	OPT("retry_base_ms=%u", retry_base_ms),
	OPT("retry_max_ms=%u", retry_max_ms),
	OPT("multipart_threshold=%s", multipart_threshold),
	OPT("part_size=%s", part_size),
	OPT("part_parallelism=%u", part_parallelism),
	OPT("connect_timeout_ms=%u", connect_timeout_ms),
	OPT("stall_timeout=%u", stall_timeout),
	OPT("ca_bundle=%s", ca_bundle),
	OPT("resolve=%s", resolve),
	OPT("max_sync_waiters=%u", max_sync_waiters),
	OPT("backfill_span=%u", backfill_span),
	OPT("max_failures=%u", max_failures),
	OPT("run_workers=%u", run_workers),
	OPT("tick_ms=%u", tick_ms),
	OPT("test_now=%s", test_now),
	OPT("test_speed=%lf", test_speed),
	FUSE_OPT_END,
};

static void usage(const char *prog)
{
	printf("usage: %s [options] -o source=SRC.db MOUNTPOINT\n"
	       "       %s SRC.db MOUNTPOINT [-o options]     (the form mount(8) uses)\n"
	       "\n"
	       "Exports a team's analytics data to its own S3 or S3-compatible bucket and\n"
	       "shows the exports as files.  Each directory under MOUNTPOINT is a\n"
	       "destination (mkdir to create one, rmdir to delete it); inside it,\n"
	       "TEAM/DATE/analytics_daily.csv is generated from SRC.db on first read.\n"
	       "\n"
	       "Files of a destination (reachable by name, not listed):\n"
	       "    .config    settings as 'key = value' lines; write lines to change them\n"
	       "    .status    state, uploads pending/failed, the last error with a hint\n"
	       "    .sync      read: waits until everything pending is uploaded (EIO if a\n"
	       "               version failed)\n"
	       "    .history   CSV of runs\n"
	       "    .run-now   touch: export the latest complete period now; write\n"
	       "               2025-01-14 or 2025-01-01..2025-01-31 to export those dates\n"
	       "    .pause     touch: stop scheduled runs;  .resume  touch: restart them\n"
	       "The mount root has .status, .metrics (Prometheus) and .audit (owner only).\n"
	       "Data files carry xattrs user.warehousefs.sync, .sha256, .etag, .uploaded_at.\n"
	       "\n",
	       prog, prog);
	fputs("warehousefs options:\n"
	       "    -o source=FILE         analytics database (SQLite), opened read-only\n"
	       "    -o state=FILE          state database (created on first use)\n"
	       "                           default: /var/lib/warehousefs/state.db as root,\n"
	       "                           ~/.local/state/warehousefs/state.db otherwise\n"
	       "    -o cache=DIR           materialized files (created on first use)\n"
	       "                           default: /var/cache/warehousefs as root,\n"
	       "                           ~/.cache/warehousefs otherwise\n"
	       "    -o keyfile=FILE        32-byte master key for secrets, mode 0600\n"
	       "                           (created on first use); default:\n"
	       "                           $CREDENTIALS_DIRECTORY/warehousefs.key when set,\n"
	       "                           else master.key beside the state database\n"
	       "    -o cache_size=SIZE     bound of the cache, e.g. 512M, 20G (default 4G)\n"
	       "    -o source_check_ms=N   look for source changes at most every N ms\n"
	       "                           (default 1000)\n"
	       "    -o attr_timeout=SECS   how long the kernel may keep a file's or\n"
	       "                           directory's attributes (default 60; changes in\n"
	       "                           the source or settings invalidate them sooner)\n"
	       "    -o entry_timeout=SECS  how long it may keep a name (default: as\n"
	       "                           attr_timeout)\n"
	       "    -o negative_timeout=SECS  how long it may keep a name's absence\n"
	       "                           (default 1; 0 keeps none)\n"
	       "    -o log_level=LEVEL     error, warning, info (default) or debug\n"
	       "\n", stdout);
	fputs("upload options (gateway-wide; per-destination settings are in .config):\n"
	       "    -o sync_workers=N      upload threads (default 8)\n"
	       "    -o upload_retries=N    retries of a transient failure before the\n"
	       "                           version is marked failed (default 5)\n"
	       "    -o retry_base_ms=N     first backoff ceiling; doubles per retry with\n"
	       "                           full jitter (default 1000)\n"
	       "    -o retry_max_ms=N      backoff ceiling (default 60000)\n"
	       "    -o multipart_threshold=SIZE  multipart upload above this (default 64M)\n"
	       "    -o part_size=SIZE      multipart part size, at least 8M (default 8M)\n"
	       "    -o part_parallelism=N  parts in flight per upload (default 4)\n"
	       "    -o connect_timeout_ms=N  connection timeout (default 10000)\n"
	       "    -o stall_timeout=SECS  abort a transfer slower than 1 KiB/s this long\n"
	       "                           (default 30)\n"
	       "    -o ca_bundle=FILE      CA certificates for HTTPS (default: the system's)\n"
	       "    -o max_sync_waiters=N  readers of .sync that may block at once (8)\n"
	       "    -o resolve=HOST:PORT:ADDR  pin a host name to an address, as curl's\n"
	       "                           --resolve (for tests of virtual-hosted buckets)\n"
	       "\n"
	       "Proxies: the standard https_proxy, http_proxy and no_proxy variables.\n"
	       "\n", stdout);
	fputs("run and schedule options:\n"
	       "    -o backfill_span=DAYS  most days one run may cover (default 400)\n"
	       "    -o max_failures=N      failed runs in a row that pause a destination\n"
	       "                           (default 5; 0 never pauses)\n"
	       "    -o run_workers=N       runs enumerated at once (default 2)\n"
	       "    -o tick_ms=N           scheduler period in milliseconds (default 1000)\n"
	       "\n"
	       "for tests only:\n"
	       "    -o test_now=TIME       start the daemon's clock at TIME\n"
	       "                           (2025-01-14T23:59:00Z); also WAREHOUSEFS_TEST_NOW\n"
	       "    -o test_speed=X        run that clock X times faster than real time\n"
	       "\n"
	       "Logs go to stderr in the foreground (-f), to syslog otherwise.\n"
	       "\n"
	       "Example fstab line:\n"
	       "    /var/lib/analytics.db /mnt/warehouse fuse.warehousefs "
	       "state=/var/lib/warehousefs/state.db,cache=/var/cache/warehousefs,"
	       "keyfile=/etc/warehousefs/master.key 0 0\n"
	       "\n", stdout);
}

static int collect_nonopt(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct options *o = data;

	(void)out;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (o->nnonopt == 3)
		return 1;
	o->nonopt[o->nnonopt++] = strdup(arg);
	return 0;
}

/* Makes path absolute: the daemon changes to / when it detaches. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	struct buf b = BUF_INIT;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	buf_addf(&b, "%s/%s", cwd, path);
	return buf_detach(&b, NULL);
}

/* Replaces *path by its absolute form. */
static void make_absolute(char **path)
{
	char *p = absolute(*path);

	free(*path);
	*path = p;
}

static char *home_path(const char *env, const char *fallback, const char *rest)
{
	struct buf b = BUF_INIT;
	const char *base = getenv(env);

	if (base && base[0] == '/') {
		buf_addf(&b, "%s/%s", base, rest);
	} else {
		const char *home = getenv("HOME");
		buf_addf(&b, "%s/%s/%s", home ? home : "/tmp", fallback, rest);
	}
	return buf_detach(&b, NULL);
}

/* mkdir -p of the directory part of path (for defaults). */
static void make_parent(const char *path, int with_last)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	if (!with_last) {
		char *slash = strrchr(tmp, '/');
		if (!slash || slash == tmp)
			return;
		*slash = '\0';
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(tmp, 0700);
		*p = '/';
	}
	mkdir(tmp, 0700);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);

	if (errno || end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024.0 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': v *= 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

/* Fills defaults and makes paths absolute.  0, or 2 for a usage error. */
static int resolve(struct options *o, struct gw_options *g)
{
	int root = geteuid() == 0;

	if (!o->state) {
		o->state = root ? strdup("/var/lib/warehousefs/state.db")
				: home_path("XDG_STATE_HOME", ".local/state",
					    "warehousefs/state.db");
		make_parent(o->state, 0);
	}
	if (!o->cache) {
		o->cache = root ? strdup("/var/cache/warehousefs")
				: home_path("XDG_CACHE_HOME", ".cache", "warehousefs");
		make_parent(o->cache, 1);
	}
	if (!o->keyfile) {
		const char *creds = getenv("CREDENTIALS_DIRECTORY");
		struct buf b = BUF_INIT;
		if (creds)
			buf_addf(&b, "%s/warehousefs.key", creds);
		else {
			const char *slash = strrchr(o->state, '/');
			buf_add(&b, o->state, slash ? (size_t)(slash - o->state) : 0);
			buf_adds(&b, slash ? "/master.key" : "master.key");
		}
		o->keyfile = buf_detach(&b, NULL);
	}
	make_absolute(&o->source);
	make_absolute(&o->state);
	make_absolute(&o->cache);
	make_absolute(&o->keyfile);

	g->source_path = o->source;
	g->state_path = o->state;
	g->cache_dir = o->cache;
	g->keyfile = o->keyfile;
	g->source_check_ms = o->source_check_ms;
	g->cache_max_bytes = 4ULL << 30;
	if (o->cache_size && parse_size(o->cache_size, &g->cache_max_bytes) < 0) {
		fprintf(stderr, "warehousefs: invalid cache_size '%s': use a number with "
			"an optional K, M, G or T suffix\n", o->cache_size);
		return 2;
	}
	g->max_sync_waiters = o->max_sync_waiters;
	struct sync_options *so = &g->sync;
	so->workers = o->sync_workers ? o->sync_workers : 8;
	so->retries = o->upload_retries;
	so->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : 1000;
	so->retry_max_ms = o->retry_max_ms ? o->retry_max_ms : 60000;
	so->s3.multipart_threshold = 64ULL << 20;
	so->s3.part_size = 8ULL << 20;
	if ((o->multipart_threshold &&
	     parse_size(o->multipart_threshold, &so->s3.multipart_threshold) < 0) ||
	    (o->part_size && parse_size(o->part_size, &so->s3.part_size) < 0)) {
		fprintf(stderr, "warehousefs: invalid multipart_threshold or part_size: use "
			"a number with an optional K, M, G or T suffix\n");
		return 2;
	}
	if (so->s3.part_size < (8ULL << 20)) {
		fprintf(stderr, "warehousefs: part_size must be at least 8M (S3 refuses "
			"smaller parts)\n");
		return 2;
	}
	so->s3.part_parallelism = o->part_parallelism ? o->part_parallelism : 4;
	so->s3.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
	so->s3.stall_timeout_s = o->stall_timeout ? o->stall_timeout : 30;
	so->s3.ca_bundle = o->ca_bundle;
	so->s3.resolve = o->resolve;
	g->runs.backfill_span = o->backfill_span ? o->backfill_span : 400;
	g->runs.max_failures = o->max_failures;
	g->runs.runners = o->run_workers ? o->run_workers : 2;
	g->runs.tick_ms = o->tick_ms ? o->tick_ms : 1000;
	const char *test_now = o->test_now ? o->test_now : getenv("WAREHOUSEFS_TEST_NOW");
	if (test_now) {
		int64_t start;
		if (clock_parse_iso8601(test_now, &start) < 0) {
			fprintf(stderr, "warehousefs: invalid test_now '%s': use "
				"2025-01-14T23:59:00Z\n", test_now);
			return 2;
		}
		clock_set_test(start, o->test_speed > 0 ? o->test_speed : 1.0);
	}
	return 0;
}

static enum log_level parse_level(const char *s)
{
	if (!s)
		return LOG_LEVEL_INFO;
	if (strcmp(s, "error") == 0)
		return LOG_LEVEL_ERROR;
	if (strncmp(s, "warn", 4) == 0)
		return LOG_LEVEL_WARN;
	if (strcmp(s, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	return LOG_LEVEL_INFO;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = {0};
	struct options o = {0};
	struct gw_options g = {0};
	struct fs_context fsc = {0};
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct buf err = BUF_INIT;
	struct gw *check = NULL;
	int ret = 1, mounted = 0;

	if (gw_global_init() < 0) {
		fprintf(stderr, "warehousefs: cannot initialise libcurl\n");
		return 1;
	}
	o.source_check_ms = 1000;
	o.entry_timeout = -1;
	o.attr_timeout = 60.0;
	o.negative_timeout = 1.0;
	o.upload_retries = 5;
	o.max_failures = 5;
	if (fuse_opt_parse(&args, &o, option_spec, collect_nonopt) < 0)
		return 2;
	/* "SRC MOUNTPOINT": mount(8) passes the fstab source first. */
	if (o.nnonopt == 2) {
		if (o.source) {
			fprintf(stderr, "warehousefs: source given twice ('%s' and '%s')\n",
				o.source, o.nonopt[0]);
			return 2;
		}
		o.source = strdup(o.nonopt[0]);
		fuse_opt_add_arg(&args, o.nonopt[1]);
	} else if (o.nnonopt == 1) {
		fuse_opt_add_arg(&args, o.nonopt[0]);
	} else if (o.nnonopt > 2) {
		fprintf(stderr, "warehousefs: too many arguments; see --help\n");
		return 2;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		return 2;
	if (cmd.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (cmd.show_version) {
		printf("warehousefs %s\n", WAREHOUSEFS_VERSION);
		printf("using FUSE library %s\n", fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (!cmd.mountpoint) {
		fprintf(stderr, "warehousefs: no mount point given; usage: warehousefs "
			"-o source=SRC.db MOUNTPOINT (see --help)\n");
		ret = 2;
		goto out;
	}
	if (!o.source) {
		fprintf(stderr, "warehousefs: no source database given: use -o "
			"source=FILE or 'warehousefs SRC.db MOUNTPOINT'\n");
		ret = 2;
		goto out;
	}
	ret = resolve(&o, &g);
	if (ret)
		goto out;
	ret = 1;
	log_init(0, cmd.debug ? LOG_LEVEL_DEBUG : parse_level(o.log_level));

	/* One daemon per state database; the flock survives daemonizing. */
	if (gw_lock_state(o.state, &err) < 0) {
		fprintf(stderr, "warehousefs: %s\n", buf_str(&err));
		goto out;
	}
	/* Check everything now, while the user can still see the message. */
	if (gw_open(&g, &check, &err) < 0) {
		fprintf(stderr, "warehousefs: %s\n", buf_str(&err));
		goto out;
	}
	gw_free(check);

	fsc.uid = getuid();
	fsc.gid = getgid();
	fsc.attr_timeout = o.attr_timeout;
	fsc.entry_timeout = o.entry_timeout >= 0 ? o.entry_timeout : o.attr_timeout;
	fsc.negative_timeout = o.negative_timeout;
	fsc.inodes = fs_inodes_new();
	if (!fsc.inodes)
		goto out;
	se = fuse_session_new(&args, fs_operations(), sizeof(struct fuse_lowlevel_ops), &fsc);
	if (!se)
		goto out;
	fsc.se = se;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out;
	mounted = 1;
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out;
	if (!cmd.foreground)
		log_init(1, cmd.debug ? LOG_LEVEL_DEBUG : parse_level(o.log_level));
	if (gw_open(&g, &fsc.gw, &err) < 0 || gw_start(fsc.gw, &err) < 0) {
		log_error("%s", buf_str(&err));
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fs_notify_start(&fsc, se, o.source_check_ms) < 0) {
		log_error("cannot start the cache invalidation thread");
		goto out;
	}
	log_info("mounted '%s' on '%s' (state '%s', cache '%s')", o.source,
		 cmd.mountpoint, o.state, o.cache);
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
		/* Room for the .sync readers that may block (max_sync_waiters). */
		fuse_loop_cfg_set_max_threads(loop, cmd.max_threads && cmd.max_threads <= 100000
							      ? cmd.max_threads : 16);
		if (cmd.max_idle_threads != UINT_MAX) /* UINT_MAX: not given */
			fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
		ret = fuse_session_loop_mt(se, loop);
	}
	/* libfuse returns the signal that ended the loop: a requested stop is clean. */
	ret = ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP ? 0 : 1;
	fuse_remove_signal_handlers(se);
	log_info("unmounting '%s'", cmd.mountpoint);
out:
	fs_notify_stop(fsc.notify);
	if (mounted)
		fuse_session_unmount(se);
	if (se)
		fuse_session_destroy(se);
	fs_inodes_free(fsc.inodes);
	gw_free(fsc.gw);
	fuse_loop_cfg_destroy(loop);
	buf_release(&err);
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	for (int i = 0; i < o.nnonopt; i++)
		free(o.nonopt[i]);
	free(o.source);
	free(o.state);
	free(o.cache);
	free(o.keyfile);
	free(o.cache_size);
	free(o.log_level);
	free(o.multipart_threshold);
	free(o.part_size);
	free(o.ca_bundle);
	free(o.resolve);
	free(o.test_now);
	gw_global_cleanup();
	return ret;
}
