/*
 * handle: open files' and directories' handles, and the trigger list
 * (see handle.h).
 *
 * Locks: open_lock guards the list of open handles; triggers_lock the
 * trigger list, taken before a handle's own lock.
 */
#include "handle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle *open_handles; /* open_lock */

static pthread_mutex_t triggers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle *triggers; /* triggers_lock */

struct fs_handle *fs_handle_new(enum fs_handle_kind kind)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->fd = -1;
	h->control = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_lock(&open_lock);
	h->next = open_handles;
	if (open_handles)
		open_handles->prev = h;
	open_handles = h;
	pthread_mutex_unlock(&open_lock);
	return h;
}

void fs_handle_free(struct fs_handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&open_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		open_handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&open_lock);
	if (h->fd >= 0)
		close(h->fd);
	buf_release(&h->data);
	buf_release_secret(&h->input);
	free(h->names);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int fs_is_trigger(int control)
{
	return control == GW_RUN_NOW || control == GW_PAUSE || control == GW_RESUME;
}

int fs_trigger_claim(const char *dest, int control, int pid)
{
	int ret = -1;

	pthread_mutex_lock(&triggers_lock);
	for (struct fs_handle *h = triggers; h && ret < 0; h = h->next_trigger) {
		if (h->control != control || h->who.pid != pid || strcmp(h->dest, dest) != 0)
			continue;
		pthread_mutex_lock(&h->lock);
		ret = !h->acted && !h->wrote;
		h->acted = 1;
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_unlock(&triggers_lock);
	return ret;
}

void fs_trigger_closed(struct fs_handle *h)
{
	pthread_mutex_lock(&triggers_lock);
	for (struct fs_handle **pp = &triggers; *pp; pp = &(*pp)->next_trigger) {
		if (*pp == h) {
			*pp = h->next_trigger;
			break;
		}
	}
	pthread_mutex_unlock(&triggers_lock);
}

void fs_handle_drop(struct fs_handle *h)
{
	if (h->kind == FS_HANDLE_CONTROL && h->writing && fs_is_trigger(h->control))
		fs_trigger_closed(h);
	fs_handle_free(h);
}

void fs_trigger_opened(struct fs_handle *h)
{
	pthread_mutex_lock(&triggers_lock);
	h->next_trigger = triggers;
	triggers = h;
	pthread_mutex_unlock(&triggers_lock);
}

int fs_handle_add_name(void *c, const char *name)
{
	struct fs_handle *h = c;

	if (h->nnames % 256 == 0) {
		size_t *v = realloc(h->names, (h->nnames + 256) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->names = v;
	}
	h->names[h->nnames++] = h->data.len;
	buf_add(&h->data, name, strlen(name) + 1);
	return 0;
}

void fs_handles_free_all(void)
{
	for (;;) {
		pthread_mutex_lock(&open_lock);
		struct fs_handle *h = open_handles;
		pthread_mutex_unlock(&open_lock);
		if (!h)
			break;
		fs_handle_drop(h);
	}
}
