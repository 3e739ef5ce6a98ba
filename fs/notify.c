/*
 * notify: tells the kernel what changed, so fs/ can let it cache entries
 * and attributes for long (see fs.h).
 *
 * One thread.  Every period it asks the gateway whether the source
 * changed; when it did, it drops the kernel's attributes of every data
 * file it knows (their size may have changed), the entries of teams and
 * dates that no longer exist, and every negative entry it was told of
 * (a name that was ENOENT may exist now).  When a destination's settings
 * change or it is deleted, it drops the entries below it at once.
 *
 * The kernel's notify calls may wait for a directory lock that a request
 * in progress holds, so they are only made here, never from a handler and
 * never with a lock held; a handler that wants them done waits a bounded
 * time (a single-threaded loop could otherwise deadlock).
 *
 * Lock: n->lock guards everything below it in struct fs_notify.
 */
#include "fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

#define NOTIFY_DESTS 64        /* destinations queued at once; past it, all */
#define NOTIFY_NEGATIVES 1024  /* negative entries remembered */
#define NOTIFY_CHECKS 4096     /* existence checks per source change */
#define NOTIFY_WAIT_MS 200     /* most a handler waits for its invalidation */

struct negative {
	fuse_ino_t parent;
	char dest[64];         /* its destination, "" for the root */
	char name[FS_NAME_MAX + 1];
};

struct fs_notify {
	struct fs_context *c;
	struct fuse_session *se;
	unsigned period_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* to the thread: work queued, or stop */
	pthread_cond_t done;   /* to waiters: completed moved */
	int stop;
	char dests[NOTIFY_DESTS][64];
	size_t ndests;
	int all_dests;         /* the queue overflowed: every destination */
	uint64_t requested;    /* tickets given to fs_notify_dest() callers */
	uint64_t completed;    /* tickets done */
	struct negative *neg;  /* NOTIFY_NEGATIVES of them */
	size_t nneg;
};

static void inval_entry(struct fs_notify *n, fuse_ino_t parent, const char *name)
{
	int ret = fuse_lowlevel_notify_inval_entry(n->se, parent, name, strlen(name));

	/* ENOENT: the kernel had forgotten it already. */
	if (ret && ret != -ENOENT)
		log_debug("cannot invalidate the kernel's entry '%s': %s", name,
			  strerror(-ret));
}

static void inval_attr(struct fs_notify *n, fuse_ino_t ino)
{
	fuse_lowlevel_notify_inval_inode(n->se, ino, -1, 0);
}

/* Drops negative entries of dest (all of them when dest is NULL). */
static void drop_negatives(struct fs_notify *n, const char *dest)
{
	struct negative *v = malloc(NOTIFY_NEGATIVES * sizeof(*v));
	size_t k = 0;

	if (!v)
		return;
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->nneg;) {
		if (!dest || strcmp(n->neg[i].dest, dest) == 0) {
			v[k++] = n->neg[i];
			n->neg[i] = n->neg[--n->nneg];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < k; i++)
		inval_entry(n, v[i].parent, v[i].name);
	free(v);
}

/* A destination's settings changed or it went: its teams may differ. */
static void dest_changed(struct fs_notify *n, const char *dest)
{
	struct fs_inode_ref *v = NULL;
	int count = fs_inodes_snapshot(n->c->inodes, dest, &v);

	for (int i = 0; i < count; i++) {
		/* Dropping a team's entry drops everything below it. */
		if (v[i].kind == FS_TEAM && v[i].parent)
			inval_entry(n, v[i].parent, v[i].name);
		else if (v[i].kind == FS_DATA)
			inval_attr(n, v[i].id);
	}
	free(v);
	drop_negatives(n, dest);
}

/* Whether the team or date that r names is gone from the source. */
static int gone(struct gw *gw, const struct fs_inode_ref *r)
{
	const char *p[3] = {r->path, NULL, NULL};
	struct gw_attr a;
	int ret;

	p[1] = p[0] + strlen(p[0]) + 1;
	if (r->kind == FS_TEAM) {
		ret = gw_team_stat(gw, p[0], p[1], &a);
	} else {
		p[2] = p[1] + strlen(p[1]) + 1;
		ret = gw_date_stat(gw, p[0], p[1], p[2], &a);
	}
	return ret == -ENOENT;
}

static void source_changed(struct fs_notify *n)
{
	struct fs_inode_ref *v = NULL;
	int count = fs_inodes_snapshot(n->c->inodes, NULL, &v);
	int checks = 0;

	for (int i = 0; i < count; i++) {
		if (v[i].kind == FS_DATA) {
			inval_attr(n, v[i].id);
		} else if ((v[i].kind == FS_TEAM || v[i].kind == FS_DATE) && v[i].parent &&
			   checks++ < NOTIFY_CHECKS && gone(n->c->gw, &v[i])) {
			inval_entry(n, v[i].parent, v[i].name);
		}
	}
	free(v);
	drop_negatives(n, NULL);
}

static void *notify_main(void *arg)
{
	struct fs_notify *n = arg;
	uint64_t last_src = 0, set;
	char (*dests)[64] = malloc(sizeof(n->dests));

	if (!dests)
		return NULL;
	gw_generation(n->c->gw, &last_src, &set);
	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		if (n->requested == n->completed) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += n->period_ms / 1000;
			until.tv_nsec += (long)(n->period_ms % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&n->wake, &n->lock, &until);
			if (n->stop)
				break;
		}
		uint64_t ticket = n->requested;
		size_t nd = n->ndests;
		int all = n->all_dests;
		memcpy(dests, n->dests, nd * sizeof(dests[0]));
		n->ndests = 0;
		n->all_dests = 0;
		pthread_mutex_unlock(&n->lock);

		uint64_t src;
		gw_generation(n->c->gw, &src, &set);
		if (all)
			dest_changed(n, NULL);
		for (size_t i = 0; !all && i < nd; i++)
			dest_changed(n, dests[i]);
		if (src != last_src) {
			last_src = src;
			source_changed(n);
		}

		pthread_mutex_lock(&n->lock);
		n->completed = ticket;
		pthread_cond_broadcast(&n->done);
	}
	pthread_mutex_unlock(&n->lock);
	free(dests);
	return NULL;
}

int fs_notify_start(struct fs_context *c, struct fuse_session *se, unsigned period_ms)
{
	struct fs_notify *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->neg = calloc(NOTIFY_NEGATIVES, sizeof(*n->neg));
	if (!n->neg) {
		free(n);
		return -ENOMEM;
	}
	n->c = c;
	n->se = se;
	n->period_ms = period_ms < 100 ? 100 : period_ms;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	pthread_cond_init(&n->done, NULL);
	int ret = pthread_create(&n->thread, NULL, notify_main, n);
	if (ret) {
		pthread_cond_destroy(&n->done);
		pthread_cond_destroy(&n->wake);
		pthread_mutex_destroy(&n->lock);
		free(n->neg);
		free(n);
		return -ret;
	}
	c->notify = n;
	return 0;
}

void fs_notify_stop(struct fs_notify *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = 1;
	pthread_cond_signal(&n->wake);
	pthread_cond_broadcast(&n->done);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	n->c->notify = NULL;
	pthread_cond_destroy(&n->done);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n->neg);
	free(n);
}

void fs_notify_dest(struct fs_notify *n, const char *dest, int wait)
{
	size_t i;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	for (i = 0; i < n->ndests && strcmp(n->dests[i], dest) != 0; i++)
		;
	if (i == n->ndests) {
		if (n->ndests < NOTIFY_DESTS)
			snprintf(n->dests[n->ndests++], sizeof(n->dests[0]), "%s", dest);
		else
			n->all_dests = 1;
	}
	uint64_t ticket = ++n->requested;
	pthread_cond_signal(&n->wake);
	if (wait) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += NOTIFY_WAIT_MS * 1000000L;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (n->completed < ticket && !n->stop)
			if (pthread_cond_timedwait(&n->done, &n->lock, &until) == ETIMEDOUT)
				break;
	}
	pthread_mutex_unlock(&n->lock);
}

void fs_notify_negative(struct fs_notify *n, fuse_ino_t parent, const char *dest,
			const char *name)
{
	if (!n || strlen(name) > FS_NAME_MAX)
		return;
	pthread_mutex_lock(&n->lock);
	/* Full: one at random goes; it expires with negative_timeout anyway. */
	size_t i = n->nneg < NOTIFY_NEGATIVES ? n->nneg++ : (size_t)(rand() % NOTIFY_NEGATIVES);
	n->neg[i].parent = parent;
	snprintf(n->neg[i].dest, sizeof(n->neg[i].dest), "%s", dest ? dest : "");
	snprintf(n->neg[i].name, sizeof(n->neg[i].name), "%s", name);
	pthread_mutex_unlock(&n->lock);
}
