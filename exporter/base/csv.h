/*
 * csv: one RFC 4180 field at a time.  The CSV data files (data/format_csv.c)
 * and the CSV control files (.history, .audit) write their fields here, so
 * the quoting rule is written once.
 *
 * Pure functions: safe from any thread.
 */
#ifndef WAREHOUSEFS_CSV_H
#define WAREHOUSEFS_CSV_H

#include <stddef.h>

#include "buf.h"

/* 1 when the field holds a comma, a double quote, CR or LF. */
int csv_needs_quotes(const char *s, size_t len);

/* Appends one field quoted only when it needs to be: a column name or a number. */
void csv_field(struct buf *out, const char *s, size_t len);

/* Appends one field always quoted, inner quotes doubled: a text value. */
void csv_quoted(struct buf *out, const char *s, size_t len);

#endif
