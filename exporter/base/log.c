/*
 * log: stderr or syslog output (see log.h).
 *
 * The settings are written once by main before any thread starts and only
 * read afterwards, so they need no lock.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

static int log_to_syslog;
static enum log_level log_max = LOG_LEVEL_INFO;

void log_init(int use_syslog, enum log_level max_level)
{
	log_to_syslog = use_syslog;
	log_max = max_level;
	if (use_syslog)
		openlog("warehousefs", LOG_PID, LOG_DAEMON);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char text[2048];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (log_to_syslog) {
		syslog(prio[level], "%s", text);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "warehousefs: %s %s: %s\n", when, names[level], text);
}
