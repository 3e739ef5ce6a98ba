/*
 * fs: the FUSE operations.  Each handler parses the path, calls one
 * gateway function and maps its result to a reply; nothing else lives here.
 */
#ifndef WAREHOUSEFS_FS_H
#define WAREHOUSEFS_FS_H

#include <fuse.h>
#include <sys/types.h>

#include "gateway.h"

/* What the handlers share; passed as fuse_new()'s private data. */
struct fs_context {
	struct gw *gw;
	uid_t uid; /* owner shown for every file: the mounting user */
	gid_t gid;
	double attr_timeout;
};

/* The operation table to give fuse_new(). */
const struct fuse_operations *fs_operations(void);

#endif
