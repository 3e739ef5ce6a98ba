/*
 * sqltext: SQLite's own text for numbers, made without going through
 * SQLite's printf.  The CSV of a dataset must hold exactly what
 * CAST(x AS TEXT) gives; converting each value inside SQLite costs more
 * than the query itself, so the common cases are done here and the rest
 * is left to SQLite.
 *
 * Pure functions, safe from any thread.
 */
#ifndef WAREHOUSEFS_SQLTEXT_H
#define WAREHOUSEFS_SQLTEXT_H

#include <stddef.h>
#include <stdint.h>

#define SQLTEXT_MAX 32

/* Writes v as SQLite writes an INTEGER; returns the length (no NUL). */
size_t sqltext_int64(int64_t v, char out[SQLTEXT_MAX]);

/*
 * Writes v as SQLite writes a REAL ("%!.15g": 15 significant digits,
 * trailing zeros dropped, at least one decimal) when v has at most six
 * decimals at 15 significant digits and 1e-4 <= |v| < 1e9, or is 0.
 * Returns the length, or 0 when the value is left to SQLite (exponent
 * forms, more decimals, values too close to a rounding boundary to be
 * sure).
 */
size_t sqltext_real(double v, char out[SQLTEXT_MAX]);

#endif
