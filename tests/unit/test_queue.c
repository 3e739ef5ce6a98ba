/*
 * Unit test of queue: the newest version of a key is the one that stays.
 *
 * Each case replays, on a fresh state database, one interleaving of reads
 * (enqueue) and upload outcomes (claim, done, retry, fail, release) of two
 * versions of one key, and checks what is queued next and what the ledger
 * holds at the end.  These are the orders a faulty network produces
 * (tests/integration/test_faults.py): an older version that fails while a
 * newer one waits, and a source changed back to bytes already uploaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "db/queue.h"
#include "db/state.h"

#define V1 "1111111111111111111111111111111111111111111111111111111111111111"
#define V2 "2222222222222222222222222222222222222222222222222222222222222222"
#define KEY "team/2025-01-14/analytics_daily.csv"
#define OBJECT "exports/" KEY

static char dir[] = "/tmp/queue-test-XXXXXX";

/* What one step does. */
enum op {
	ENQUEUE,   /* arg: the version read; want: *queued */
	CLAIM,     /* arg: the version claimed, NULL for none (-ENOENT) */
	DONE,      /* the claimed row uploaded */
	RETRY,     /* the claimed row failed, transient */
	FAIL,      /* the claimed row failed, permanent */
	RELEASE,   /* the claimed row given back (shutdown) */
};

struct step {
	enum op op;
	const char *arg;
	int want;
};

struct scenario {
	const char *name;
	struct step steps[10];
	const char *ledger;     /* the version the ledger names at the end */
	int64_t uploads_failed; /* versions counted as failed */
};

static const struct scenario scenarios[] = {
	{"a newer version waits until the older one's upload ends",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {ENQUEUE, V2, 1}, {CLAIM, NULL, 0},
	  {DONE, NULL, 0}, {CLAIM, V2, 0}, {DONE, NULL, 0}, {CLAIM, NULL, 0}},
	 V2, 0},
	{"an older version that fails while a newer one waits is dropped",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {ENQUEUE, V2, 1}, {RETRY, NULL, 0},
	  {CLAIM, V2, 0}, {DONE, NULL, 0}, {CLAIM, NULL, 0}},
	 V2, 0},
	{"a superseded version failing for good is not a failure",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {ENQUEUE, V2, 1}, {FAIL, NULL, 0},
	  {CLAIM, V2, 0}, {DONE, NULL, 0}, {CLAIM, NULL, 0}},
	 V2, 0},
	{"a superseded version given back at shutdown is dropped",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {ENQUEUE, V2, 1}, {RELEASE, NULL, 0},
	  {CLAIM, V2, 0}, {DONE, NULL, 0}, {CLAIM, NULL, 0}},
	 V2, 0},
	{"changed back to the bytes in the bucket: the waiting version goes",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {DONE, NULL, 0}, {ENQUEUE, V2, 1},
	  {ENQUEUE, V1, 0}, {CLAIM, NULL, 0}},
	 V1, 0},
	{"changed back while the other version uploads: queued again, after it",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {DONE, NULL, 0}, {ENQUEUE, V2, 1},
	  {CLAIM, V2, 0}, {ENQUEUE, V1, 1}, {CLAIM, NULL, 0}, {DONE, NULL, 0},
	  {CLAIM, V1, 0}, {DONE, NULL, 0}},
	 V1, 0},
	{"changed back after a failed try of the other version: it may have landed",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {DONE, NULL, 0}, {ENQUEUE, V2, 1},
	  {CLAIM, V2, 0}, {RETRY, NULL, 0}, {ENQUEUE, V1, 1}, {CLAIM, V1, 0},
	  {DONE, NULL, 0}, {CLAIM, NULL, 0}},
	 V1, 0},
	{"a failed older version is dropped when the newer one is read",
	 {{ENQUEUE, V1, 1}, {CLAIM, V1, 0}, {FAIL, NULL, 0}, {ENQUEUE, V2, 1},
	  {CLAIM, V2, 0}, {DONE, NULL, 0}, {CLAIM, NULL, 0}},
	 V2, 1},
};

static void run(const struct scenario *sc, int n)
{
	char path[256];
	struct state *st = NULL;
	struct buf err = BUF_INIT;
	struct queue_item it;
	int64_t dest = 0;
	int claimed = 0;

	snprintf(path, sizeof(path), "%s/state-%d.db", dir, n);
	CHECK_INT(state_open(path, &st, &err), 0);
	if (!st) {
		fprintf(stderr, "cannot open '%s': %s\n", path, buf_str(&err));
		buf_release(&err);
		return;
	}
	CHECK_INT(state_dest_create(st, "d", 1000, 2000, &dest), 0);
	for (size_t i = 0; i < sizeof(sc->steps) / sizeof(sc->steps[0]); i++) {
		const struct step *s = &sc->steps[i];
		int queued = -1, ret = 0;

		if (s->op == ENQUEUE && !s->arg)
			break; /* the end of a shorter scenario */
		switch (s->op) {
		case ENQUEUE: {
			struct queue_new q = {
				.dest_id = dest, .key = KEY, .sha256 = s->arg, .size = 10,
				.content_type = "text/csv", .bucket = "b", .object_key = OBJECT,
				.now = 1000,
			};
			CHECK_INT(queue_enqueue(st, &q, &queued), 0);
			if (queued != s->want)
				fprintf(stderr, "%s: step %zu: queued %d\n", sc->name, i, queued);
			CHECK_INT(queued, s->want);
			break;
		}
		case CLAIM: {
			struct queue_item got;
			ret = queue_claim(st, 1LL << 50, &got);
			if (s->arg) {
				CHECK_INT(ret, 0);
				CHECK_STR(ret == 0 ? got.sha256 : "(none)", s->arg);
			} else {
				if (ret != -ENOENT)
					fprintf(stderr, "%s: step %zu: claimed %.4s\n", sc->name, i,
						ret == 0 ? got.sha256 : "?");
				CHECK_INT(ret, -ENOENT);
			}
			/* One row claimed at a time here: the test's own bookkeeping. */
			CHECK(!(claimed && ret == 0));
			if (ret == 0) {
				it = got;
				claimed = 1;
			}
			break;
		}
		case DONE:
		case RETRY:
		case FAIL:
		case RELEASE:
			CHECK(claimed);
			if (!claimed)
				break;
			if (s->op == DONE)
				ret = queue_done(st, &it, "b", OBJECT, "etag", 1001);
			else if (s->op == RETRY)
				ret = queue_retry(st, &it, 0, "500 InternalError", "", 1001);
			else if (s->op == FAIL)
				ret = queue_fail(st, &it, 1001, "403 AccessDenied", "");
			else
				ret = queue_release(st, it.id);
			CHECK_INT(ret, 0);
			claimed = 0;
			break;
		}
	}
	struct queue_counts c;
	CHECK_INT(queue_counts(st, dest, 1LL << 50, &c), 0);
	CHECK_INT(c.pending + c.uploading + c.failed, 0);
	CHECK_INT(c.uploads_failed, sc->uploads_failed);
	CHECK_INT(queue_in_ledger(st, dest, "b", OBJECT, sc->ledger, NULL), 1);
	if (queue_in_ledger(st, dest, "b", OBJECT, sc->ledger, NULL) != 1)
		fprintf(stderr, "%s: the ledger does not name %.4s\n", sc->name, sc->ledger);
	state_free(st);
	buf_release(&err);
}

int main(void)
{
	char path[256];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run(&scenarios[i], (int)i);
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		static const char *const suffixes[] = {"", "-wal", "-shm"};
		for (size_t j = 0; j < 3; j++) {
			snprintf(path, sizeof(path), "%s/state-%zu.db%s", dir, i, suffixes[j]);
			unlink(path);
		}
	}
	rmdir(dir);
	return check_done();
}
