/*
 * sync: upload workers (see sync.h).
 *
 * Each worker loops: claim the oldest due row, load its destination's
 * settings (decrypting the secrets just for this upload, wiped after),
 * open the cached version, PUT it, record the outcome.  With nothing due it
 * sleeps on work_cond until kicked or until the next retry is due.
 *
 * Threads: s->lock protects stopping and the two condition variables'
 * predicates; it is never held during an upload or a state call.
 * s->cancel is read by transfers in flight (through s3_put_file) without
 * the lock: it only ever goes from 0 to 1.
 */
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "config.h"
#include "base/log.h"
#include "db/queue.h"
#include "db/state.h"

struct sync_worker {
	struct sync *sync;
	pthread_t thread;
	int started;
	unsigned seed;
};

struct sync {
	struct sync_options opts;
	char *state_path;
	struct vault *vault;
	struct cache *cache;
	volatile int cancel;

	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	pthread_cond_t done_cond;
	int stopping;    /* protected by lock */
	unsigned kicks;  /* protected by lock: bumped by sync_kick */

	struct sync_worker *workers;
	unsigned nworkers;
};

/* The settings an upload needs, with secrets decrypted. */
struct target {
	char *values[CONFIG_MAX_KEYS];
	int complete;
	struct buf missing;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct load_ctx {
	struct target *t;
	struct vault *vault;
	char aad[32];
	int error;
};

static int load_value(void *ctx, const char *key, const void *value, size_t len)
{
	struct load_ctx *l = ctx;
	const struct config_key *k = config_key_find(key);
	int i = config_key_index(k);

	if (i < 0)
		return 0;
	if (k->flags & CONFIG_SECRET) {
		struct buf plain = BUF_INIT;
		if (vault_decrypt(l->vault, l->aad, value, len, &plain) < 0) {
			log_error("cannot decrypt %s of destination %s: the key file does "
				  "not match", key, l->aad);
			l->error = -EBADMSG;
			buf_release_secret(&plain);
			return 0;
		}
		l->t->values[i] = buf_detach(&plain, NULL);
		return 0;
	}
	l->t->values[i] = strndup(value, len);
	return 0;
}

static void target_release(struct target *t)
{
	for (int i = 0; i < CONFIG_MAX_KEYS; i++) {
		if (t->values[i])
			wipe_bytes(t->values[i], strlen(t->values[i]));
		free(t->values[i]);
		t->values[i] = NULL;
	}
	buf_release(&t->missing);
}

static int load_target(struct state *st, struct vault *vault, int64_t dest_id,
		       struct target *t)
{
	struct load_ctx l = {t, vault, "", 0};

	memset(t, 0, sizeof(*t));
	snprintf(l.aad, sizeof(l.aad), "%lld", (long long)dest_id);
	int ret = state_settings_get(st, dest_id, load_value, &l);
	if (ret)
		return ret;
	if (l.error)
		return l.error;
	t->complete = config_missing(t->values, NULL, &t->missing) == 0;
	return 0;
}

static void fill_s3_target(const struct target *t, struct s3_target *s3)
{
	s3->bucket = config_value(t->values, "bucket");
	s3->region = config_value(t->values, "region");
	s3->endpoint = config_value(t->values, "endpoint");
	s3->path_style = strcmp(config_addressing(t->values), "path") == 0;
	s3->access_key_id = config_value(t->values, "access_key_id");
	s3->secret_access_key = config_value(t->values, "secret_access_key");
	s3->session_token = config_value(t->values, "session_token");
	s3->sse = config_value(t->values, "sse");
	s3->sse_kms_key_id = config_value(t->values, "sse_kms_key_id");
	if (!s3->sse_kms_key_id[0])
		s3->sse_kms_key_id = NULL;
}

/* One .status line; line breaks in the value become spaces. */
static void status_line(struct buf *out, const char *key, const char *v)
{
	buf_addf(out, "%s = ", key);
	for (; *v; v++)
		buf_addch(out, (*v == '\n' || *v == '\r') ? ' ' : *v);
	buf_addch(out, '\n');
}

static void describe_error(const struct s3_error *e, const char *object, int retrying,
			   struct buf *status, struct buf *oneline)
{
	char head[128];

	if (e->http_status)
		snprintf(head, sizeof(head), "%d %s", e->http_status,
			 e->code[0] ? e->code : "(no code)");
	else
		snprintf(head, sizeof(head), "%s", e->code[0] ? e->code : "TransportError");
	status_line(status, "last_error", head);
	status_line(status, "last_error_message", e->message);
	status_line(status, "last_error_request_id", e->request_id);
	status_line(status, "last_error_object", object);
	const char *hint = s3_error_hint(e);
	status_line(status, "last_error_hint", hint);
	if (retrying)
		status_line(status, "last_error_retrying", "yes");
	buf_addf(oneline, "%s%s%s", head, e->message[0] ? ": " : "", e->message);
	if (e->request_id[0])
		buf_addf(oneline, " (request id %s)", e->request_id);
}

/* Backoff before attempt n+1: uniform in [0, min(max, base * 2^(n-1))]. */
static int64_t backoff_ms(struct sync_worker *w, int attempts)
{
	const struct sync_options *o = &w->sync->opts;
	uint64_t cap = o->retry_base_ms;

	for (int i = 1; i < attempts && cap < o->retry_max_ms; i++)
		cap *= 2;
	if (cap > o->retry_max_ms)
		cap = o->retry_max_ms;
	return (int64_t)(rand_r(&w->seed) % (cap + 1));
}

static void fail(struct state *st, const struct queue_item *it, const char *object,
		 const char *why, const char *hint)
{
	struct buf status = BUF_INIT;

	status_line(&status, "last_error", why);
	status_line(&status, "last_error_object", object);
	status_line(&status, "last_error_hint", hint);
	log_error("cannot upload '%s': %s", object, why);
	queue_fail(st, it, clock_now(), why, buf_str(&status));
	buf_release(&status);
}

/*
 * Materializes a version again when its cache file is gone or damaged;
 * returns an fd of it, or a negative errno when the source no longer gives
 * those bytes.
 */
static int regenerate(struct sync *s, const struct queue_item *it)
{
	if (!s->opts.regenerate)
		return -ENOENT;
	/* A damaged file must go first, or the cache would keep it. */
	cache_drop(s->cache, it->sha256);
	if (s->opts.regenerate(s->opts.regenerate_ctx, it->dest_id, it->key) < 0)
		return -ENOENT;
	log_info("regenerated '%s' for upload", it->key);
	return cache_open_version(s->cache, it->sha256);
}

static void upload_one(struct sync_worker *w, struct state *st, struct s3_client *client,
		       const struct queue_item *it)
{
	struct sync *s = w->sync;
	struct target t;
	struct s3_target s3;
	struct s3_error err;
	struct buf object = BUF_INIT;
	char etag[128] = "";
	int fd = -1;

	memset(&err, 0, sizeof(err));
	int ret = load_target(st, s->vault, it->dest_id, &t);
	buf_adds(&object, it->key);
	if (ret == -EBADMSG) {
		fail(st, it, it->key, "cannot decrypt the destination's secrets",
		     "the key file is not the one the secrets were written with");
		goto out;
	}
	if (ret) {
		queue_retry(st, it, now_ms() + 5000, "cannot read settings", "", clock_now());
		goto out;
	}
	buf_reset(&object);
	buf_addf(&object, "%s%s", config_value(t.values, "prefix"), it->key);
	if (!t.complete) {
		struct buf why = BUF_INIT;
		buf_addf(&why, "destination is not fully configured (missing %s)",
			 buf_str(&t.missing));
		fail(st, it, buf_str(&object), buf_str(&why),
		     "write the missing keys to .config");
		buf_release(&why);
		goto out;
	}
	fill_s3_target(&t, &s3);
	fd = cache_open_version(s->cache, it->sha256);
	if (fd < 0)
		fd = regenerate(s, it);
	if (fd < 0) {
		fail(st, it, buf_str(&object), "the cached version is gone and the source "
		     "no longer gives the same bytes", "a newer version is queued if the "
		     "source changed; otherwise read the file again");
		goto out;
	}
	ret = s3_put_file(client, &s3, buf_str(&object), fd, it->size, it->sha256,
			  it->content_type, &s->cancel, etag, &err);
	if (ret == -EBADMSG) {
		/* The cache file was damaged: rebuild it and try once more. */
		close(fd);
		fd = regenerate(s, it);
		if (fd >= 0)
			ret = s3_put_file(client, &s3, buf_str(&object), fd, it->size,
					  it->sha256, it->content_type, &s->cancel, etag, &err);
	}
	if (ret == 0) {
		queue_done(st, it, s3.bucket, buf_str(&object), etag, clock_now());
		/* One line per object is debug; each run logs its summary at info. */
		log_debug("uploaded s3://%s/%s (%llu bytes, etag %s)", s3.bucket,
			  buf_str(&object), (unsigned long long)it->size, etag);
		goto out;
	}
	if (ret == -ECANCELED) {
		queue_release(st, it->id);
		goto out;
	}
	if (ret == -EBADMSG) {
		fail(st, it, buf_str(&object), "the cached file does not match its SHA-256",
		     "the cache directory was modified: read the file again");
		goto out;
	}
	if (ret != -EIO) {
		fail(st, it, buf_str(&object), err.message[0] ? err.message : strerror(-ret),
		     s3_error_hint(&err));
		goto out;
	}
	struct buf status = BUF_INIT, oneline = BUF_INIT;
	int retry = err.transient && (unsigned)it->attempts <= s->opts.retries;
	describe_error(&err, buf_str(&object), retry, &status, &oneline);
	if (retry) {
		int64_t delay = backoff_ms(w, it->attempts);
		log_warn("upload of '%s' failed (attempt %d): %s; retrying in %lld ms",
			 buf_str(&object), it->attempts, buf_str(&oneline), (long long)delay);
		queue_retry(st, it, now_ms() + delay, buf_str(&oneline), buf_str(&status),
			    clock_now());
	} else {
		log_error("cannot upload '%s' to bucket '%s': %s", buf_str(&object),
			  s3.bucket, buf_str(&oneline));
		queue_fail(st, it, clock_now(), buf_str(&oneline), buf_str(&status));
	}
	buf_release(&status);
	buf_release(&oneline);
out:
	if (fd >= 0)
		close(fd);
	target_release(&t);
	buf_release(&object);
}

static void *worker_main(void *arg)
{
	struct sync_worker *w = arg;
	struct sync *s = w->sync;
	struct state *st = NULL;
	struct s3_client *client = s3_client_new(&s->opts.s3);
	struct buf err = BUF_INIT;

	if (!client || state_open(s->state_path, &st, &err) < 0) {
		log_error("sync worker cannot start: %s", err.len ? buf_str(&err) : "out of memory");
		goto out;
	}
	/* A lost outcome means one more (idempotent) upload, never a lost version. */
	state_relax(st);
	for (;;) {
		struct queue_item it;
		pthread_mutex_lock(&s->lock);
		int stop = s->stopping;
		unsigned kicks = s->kicks;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		int64_t now = now_ms();
		int ret = queue_claim(st, now, &it);
		if (ret == 0) {
			upload_one(w, st, client, &it);
			pthread_mutex_lock(&s->lock);
			pthread_cond_broadcast(&s->done_cond);
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		/* Nothing due: sleep until kicked, the next retry, or a second. */
		int64_t due = 0, wait_ms = 1000;
		if (ret == -ENOENT && queue_next_due(st, &due) == 0 && due > now &&
		    due - now < wait_ms)
			wait_ms = due - now;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (wait_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&s->lock);
		while (!s->stopping && s->kicks == kicks)
			if (pthread_cond_timedwait(&s->work_cond, &s->lock, &until) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&s->lock);
	}
out:
	buf_release(&err);
	state_free(st);
	s3_client_free(client);
	return NULL;
}

int sync_start(const struct sync_options *opts, const char *state_path,
	       struct vault *vault, struct cache *cache, struct sync **out,
	       struct buf *err)
{
	struct sync *s = calloc(1, sizeof(*s));
	struct state *st = NULL;
	int ret;

	if (!s)
		return -ENOMEM;
	s->opts = *opts;
	if (!s->opts.workers)
		s->opts.workers = 1;
	s->state_path = strdup(state_path);
	s->vault = vault;
	s->cache = cache;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work_cond, NULL);
	pthread_cond_init(&s->done_cond, NULL);
	ret = state_open(state_path, &st, err);
	if (ret)
		goto fail;
	ret = queue_recover(st);
	state_free(st);
	if (ret) {
		buf_adds(err, "cannot recover interrupted uploads");
		goto fail;
	}
	s->workers = calloc(s->opts.workers, sizeof(*s->workers));
	if (!s->workers) {
		ret = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < s->opts.workers; i++) {
		struct sync_worker *w = &s->workers[i];
		w->sync = s;
		w->seed = (unsigned)time(NULL) ^ (i * 2654435761u);
		ret = -pthread_create(&w->thread, NULL, worker_main, w);
		if (ret) {
			buf_addf(err, "cannot start sync worker: %s", strerror(-ret));
			goto fail;
		}
		w->started = 1;
		s->nworkers++;
	}
	*out = s;
	return 0;
fail:
	sync_stop(s);
	return ret;
}

void sync_kick(struct sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->kicks++;
	pthread_cond_broadcast(&s->work_cond);
	pthread_mutex_unlock(&s->lock);
}

void sync_wait(struct sync *s, unsigned timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	pthread_cond_timedwait(&s->done_cond, &s->lock, &until);
	pthread_mutex_unlock(&s->lock);
}

void sync_stop(struct sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	__atomic_store_n(&s->cancel, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&s->work_cond);
	pthread_cond_broadcast(&s->done_cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->opts.workers && s->workers; i++)
		if (s->workers[i].started)
			pthread_join(s->workers[i].thread, NULL);
	free(s->workers);
	pthread_cond_destroy(&s->done_cond);
	pthread_cond_destroy(&s->work_cond);
	pthread_mutex_destroy(&s->lock);
	free(s->state_path);
	free(s);
}
