/*
 * format: turns rows into bytes.  Each output format (format_csv.c, and
 * later JSON Lines) is one small ops struct; datasets pick one by name.
 *
 * Formatters append to a sink and never fail on their own: write errors
 * are collected by the sink and reported by sink_finish().
 */
#ifndef WAREHOUSEFS_FORMAT_H
#define WAREHOUSEFS_FORMAT_H

#include <stddef.h>

#include "sink.h"

/*
 * One column value: SQLite's own text for it, or NULL.  is_number says the
 * value is an INTEGER or a REAL in the source (CSV writes those bare and
 * quotes every other value); left 0, a value is written as text.
 */
struct format_value {
	const char *text; /* not NUL-terminated necessarily; NULL when is_null */
	size_t len;
	int is_null;
	int is_number;
};

struct format_ops {
	const char *name;         /* as written in .config: "csv" */
	const char *extension;    /* file name suffix: ".csv" */
	const char *content_type; /* Content-Type of the uploaded object */
	void (*begin)(struct sink *s, const char *const *columns, int ncolumns);
	void (*row)(struct sink *s, const char *const *columns,
		    const struct format_value *values, int ncolumns);
	void (*end)(struct sink *s);
};

/* The format called name, or NULL when there is none. */
const struct format_ops *format_find(const char *name);

extern const struct format_ops format_csv;

#endif
