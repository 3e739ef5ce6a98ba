/*
 * log: the daemon's messages, to stderr or to syslog.
 *
 * Messages are lower case, without a final period, and say what failed and
 * on what: "cannot open source 'a.db': file is not a database".  Never pass a
 * secret (credential, Authorization header) to these functions.
 *
 * Thread-safe: each message is written with one call.
 */
#ifndef WAREHOUSEFS_LOG_H
#define WAREHOUSEFS_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sends later messages to syslog (use_syslog) or stderr; sets the threshold. */
void log_init(int use_syslog, enum log_level max_level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
