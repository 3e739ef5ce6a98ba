/*
 * s3put: uploads files with exporter/s3.c, for the tests and benchmarks.
 *
 *   s3put --endpoint URL [--path-style|--virtual] --bucket B --region R
 *         --access-key K --secret-key S [--session-token T]
 *         [--sse AES256|aws:kms] [--kms-key-id ID] [--threshold BYTES]
 *         [--part-size BYTES] [--parallelism N] [--resolve HOST:PORT:ADDR]
 *         [--ca-bundle FILE] [--content-type TYPE] [--sha256 HEX]
 *         [--connect-timeout-ms MS] [--stall-timeout S] [--cancel-after-ms MS]
 *         [--stats] [-v] KEY FILE [KEY FILE ...]
 *
 * Each FILE is hashed here (or --sha256 is taken as its recorded hash, to
 * test a damaged file) and uploaded as KEY with s3_put_file(), one after
 * the other on one client (one kept-alive connection).  Prints "etag=E"
 * per file; on the first failure prints the error, one "name=value" per
 * line (status, code, message, request_id, region, transient, hint, and
 * error, the errno name), and exits 1.  --stats prints the count, bytes
 * and seconds spent in s3_put_file() to stderr.  --cancel-after-ms sets the cancel flag from
 * another thread after that delay.  An empty --endpoint means AWS.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3/http.h"
#include "base/log.h"
#include "s3/s3.h"

static volatile int cancel;
static long cancel_after_ms = -1;

/* --cancel-after-ms: what the daemon's shutdown does to a transfer in flight. */
static void *cancel_later(void *arg)
{
	struct timespec ts = {cancel_after_ms / 1000, (cancel_after_ms % 1000) * 1000000L};

	(void)arg;
	nanosleep(&ts, NULL);
	__atomic_store_n(&cancel, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void usage(FILE *out)
{
	fputs("usage: s3put --endpoint URL [--path-style|--virtual] --bucket B --region R\n"
	      "             --access-key K --secret-key S [--session-token T]\n"
	      "             [--sse AES256|aws:kms] [--kms-key-id ID] [--threshold BYTES]\n"
	      "             [--part-size BYTES] [--parallelism N] [--resolve HOST:PORT:ADDR]\n"
	      "             [--ca-bundle FILE] [--content-type TYPE] [--sha256 HEX]\n"
	      "             [--connect-timeout-ms MS] [--stall-timeout S]\n"
	      "             [--cancel-after-ms MS] [--stats] [-v]\n"
	      "             KEY FILE [KEY FILE ...]\n",
	      out);
}

static int file_sha256(int fd, char out[65])
{
	static unsigned char chunk[1 << 20];
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	off_t off = 0;
	ssize_t n;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	while (ok && (n = pread(fd, chunk, sizeof(chunk), off)) > 0) {
		ok = EVP_DigestUpdate(ctx, chunk, (size_t)n);
		off += n;
	}
	ok = ok && n == 0 && EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; ok && i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	return ok ? 0 : -1;
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end) {
		fprintf(stderr, "s3put: %s '%s' is not a number\n", what, s);
		exit(2);
	}
	return v;
}

static const char *errno_name(int e)
{
	switch (e) {
	case EIO: return "EIO";
	case EBADMSG: return "EBADMSG";
	case ECANCELED: return "ECANCELED";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	default: return "other";
	}
}

int main(int argc, char **argv)
{
	enum {
		OPT_ENDPOINT = 256, OPT_PATH, OPT_VIRTUAL, OPT_BUCKET, OPT_REGION, OPT_ACCESS,
		OPT_SECRET, OPT_TOKEN, OPT_SSE, OPT_KMS, OPT_THRESHOLD, OPT_PART, OPT_PAR,
		OPT_RESOLVE, OPT_CA, OPT_TYPE, OPT_SHA, OPT_STATS, OPT_CONNECT, OPT_STALL,
		OPT_CANCEL,
	};
	static const struct option longopts[] = {
		{"endpoint", required_argument, NULL, OPT_ENDPOINT},
		{"path-style", no_argument, NULL, OPT_PATH},
		{"virtual", no_argument, NULL, OPT_VIRTUAL},
		{"bucket", required_argument, NULL, OPT_BUCKET},
		{"region", required_argument, NULL, OPT_REGION},
		{"access-key", required_argument, NULL, OPT_ACCESS},
		{"secret-key", required_argument, NULL, OPT_SECRET},
		{"session-token", required_argument, NULL, OPT_TOKEN},
		{"sse", required_argument, NULL, OPT_SSE},
		{"kms-key-id", required_argument, NULL, OPT_KMS},
		{"threshold", required_argument, NULL, OPT_THRESHOLD},
		{"part-size", required_argument, NULL, OPT_PART},
		{"parallelism", required_argument, NULL, OPT_PAR},
		{"resolve", required_argument, NULL, OPT_RESOLVE},
		{"ca-bundle", required_argument, NULL, OPT_CA},
		{"content-type", required_argument, NULL, OPT_TYPE},
		{"sha256", required_argument, NULL, OPT_SHA},
		{"stats", no_argument, NULL, OPT_STATS},
		{"connect-timeout-ms", required_argument, NULL, OPT_CONNECT},
		{"stall-timeout", required_argument, NULL, OPT_STALL},
		{"cancel-after-ms", required_argument, NULL, OPT_CANCEL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct s3_target t = {.region = "us-east-1"};
	struct s3_options o = {
		.multipart_threshold = 64ULL << 20,
		.part_size = 8ULL << 20,
		.part_parallelism = 4,
		.connect_timeout_ms = 10000,
		.stall_timeout_s = 30,
	};
	const char *content_type = "application/octet-stream", *sha_override = NULL;
	int path_style = -1, stats = 0, verbose = 0, opt, status = 0;
	pthread_t canceler;
	int canceler_started = 0;

	while ((opt = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_ENDPOINT: t.endpoint = optarg; break;
		case OPT_PATH: path_style = 1; break;
		case OPT_VIRTUAL: path_style = 0; break;
		case OPT_BUCKET: t.bucket = optarg; break;
		case OPT_REGION: t.region = optarg; break;
		case OPT_ACCESS: t.access_key_id = optarg; break;
		case OPT_SECRET: t.secret_access_key = optarg; break;
		case OPT_TOKEN: t.session_token = optarg; break;
		case OPT_SSE: t.sse = optarg; break;
		case OPT_KMS: t.sse_kms_key_id = optarg; break;
		case OPT_THRESHOLD: o.multipart_threshold = parse_u64(optarg, "threshold"); break;
		case OPT_PART: o.part_size = parse_u64(optarg, "part size"); break;
		case OPT_PAR: o.part_parallelism = (unsigned)parse_u64(optarg, "parallelism"); break;
		case OPT_RESOLVE: o.resolve = optarg; break;
		case OPT_CA: o.ca_bundle = optarg; break;
		case OPT_TYPE: content_type = optarg; break;
		case OPT_SHA: sha_override = optarg; break;
		case OPT_STATS: stats = 1; break;
		case OPT_CONNECT: o.connect_timeout_ms = (long)parse_u64(optarg, "timeout"); break;
		case OPT_STALL: o.stall_timeout_s = (long)parse_u64(optarg, "timeout"); break;
		case OPT_CANCEL: cancel_after_ms = (long)parse_u64(optarg, "delay"); break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind < 2 || (argc - optind) % 2) {
		usage(stderr);
		return 2;
	}
	/* Like the daemon: path-style whenever an endpoint is set, unless told. */
	t.path_style = path_style >= 0 ? path_style : (t.endpoint && t.endpoint[0]);
	log_init(0, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	if (http_global_init() < 0)
		return 1;
	struct s3_client *c = s3_client_new(&o);
	if (!c) {
		fprintf(stderr, "s3put: out of memory\n");
		return 1;
	}
	if (cancel_after_ms >= 0)
		canceler_started = pthread_create(&canceler, NULL, cancel_later, NULL) == 0;
	uint64_t bytes = 0;
	unsigned files = 0;
	double seconds = 0; /* in s3_put_file() only: the daemon knows each SHA-256 already */
	for (int i = optind; i < argc; i += 2) {
		const char *key = argv[i], *path = argv[i + 1];
		char sha[65], etag[128];
		struct s3_error err;
		struct stat st;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fstat(fd, &st) < 0 || file_sha256(fd, sha) < 0) {
			fprintf(stderr, "s3put: cannot read '%s': %s\n", path, strerror(errno));
			status = 1;
			if (fd >= 0)
				close(fd);
			break;
		}
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int ret = s3_put_file(c, &t, key, fd, (uint64_t)st.st_size,
				      sha_override ? sha_override : sha, content_type, &cancel, etag,
				      &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		seconds += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		close(fd);
		if (ret) {
			printf("error=%s\nstatus=%d\ncode=%s\nmessage=%s\nrequest_id=%s\nregion=%s\n"
			       "transient=%d\nhint=%s\n",
			       errno_name(-ret), err.http_status, err.code, err.message,
			       err.request_id, err.region, err.transient, s3_error_hint(&err));
			status = 1;
			break;
		}
		printf("etag=%s\n", etag);
		files++;
		bytes += (uint64_t)st.st_size;
	}
	if (stats)
		fprintf(stderr, "files=%u bytes=%llu seconds=%.3f files_per_s=%.1f MB_per_s=%.1f\n",
			files, (unsigned long long)bytes, seconds, files / seconds,
			(double)bytes / seconds / 1e6);
	if (canceler_started)
		pthread_join(canceler, NULL);
	s3_client_free(c);
	http_global_cleanup();
	return status;
}
