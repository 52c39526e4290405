/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening a host: its directories, its database, the engine's state root. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "util.h"

#define DEFAULT_VAR "/var/lib/cella"
#define DEFAULT_RUN "/run/cella"
#define DEFAULT_LOG "/var/log/cella"

static char *dir_of_self(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return xstrdup("/usr/libexec/cella");
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	return xstrdup(exe);
}

static void db_close_thread(void *db);

int cella_host_open(const struct cella_host_opts *opts, struct cella_host **out, struct cella_error *err)
{
	static const struct cella_host_opts none;
	if (!opts)
		opts = &none;
	struct cella_host *h = xmalloc0(sizeof(*h));
	h->var_dir = xstrdup(opts->var_dir ? opts->var_dir : DEFAULT_VAR);
	h->run_dir = xstrdup(opts->run_dir ? opts->run_dir : DEFAULT_RUN);
	h->log_dir = xstrdup(opts->log_dir ? opts->log_dir : DEFAULT_LOG);
	h->libexec = opts->libexec ? xstrdup(opts->libexec) : dir_of_self();
	h->rt.root = xasprintf("%s/runtime", h->run_dir);
	pthread_mutex_init(&h->lock, NULL);
	h->monitor_exe = h->runtime_exe = -1;

	static const char *const var_sub[] = { "", "/images", "/instances", "/snapshots" };
	static const char *const run_sub[] = { "", "/instances", "/runtime" };
	for (size_t i = 0; i < ARRAY_SIZE(var_sub); i++) {
		cleanup_free char *d = xasprintf("%s%s", h->var_dir, var_sub[i]);
		if (mkdir_p(d, 0711, err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(run_sub); i++) {
		cleanup_free char *d = xasprintf("%s%s", h->run_dir, run_sub[i]);
		if (mkdir_p(d, 0711, err) < 0)
			goto fail;
	}
	if (mkdir_p(h->log_dir, 0700, err) < 0)
		goto fail;
	h->db_path = xasprintf("%s/cella.db", h->var_dir);
	if (pthread_key_create(&h->db_key, db_close_thread) != 0) {
		cella_error_set(err, EAGAIN, "thread key");
		goto fail;
	}
	h->db_key_set = true;
	/* open (and migrate) now, so that a broken database fails here, once */
	sqlite3 *db;
	if (db_open(h->db_path, &db, err) < 0)
		goto fail;
	struct db_slot *slot = xmalloc0(sizeof(*slot));
	slot->h = h;
	slot->db = db;
	pthread_setspecific(h->db_key, slot);
	*out = h;
	return 0;
fail:
	cella_host_close(h);
	return -1;
}

/* A thread's connection, kept for the next thread when it ends (opening one costs ~0.4 ms). */
static void db_close_thread(void *p)
{
	struct db_slot *slot = p;
	struct cella_host *h = slot->h;
	pthread_mutex_lock(&h->lock);
	if (h->n_idle < DB_POOL) {
		h->idle[h->n_idle++] = slot->db;
		slot->db = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (slot->db)
		sqlite3_close(slot->db);
	free(slot);
}

sqlite3 *host_db(struct cella_host *h)
{
	struct db_slot *slot = pthread_getspecific(h->db_key);
	if (slot)
		return slot->db;
	sqlite3 *db = NULL;
	pthread_mutex_lock(&h->lock);
	if (h->n_idle)
		db = h->idle[--h->n_idle];
	pthread_mutex_unlock(&h->lock);
	struct cella_error err;
	if (!db && db_open(h->db_path, &db, &err) < 0)
		return NULL;
	slot = xmalloc0(sizeof(*slot));
	slot->h = h;
	slot->db = db;
	pthread_setspecific(h->db_key, slot);
	return db;
}

void cella_host_close(struct cella_host *h)
{
	if (!h)
		return;
	if (h->db_key_set) {
		struct db_slot *slot = pthread_getspecific(h->db_key);
		if (slot) {
			sqlite3_close(slot->db);
			free(slot);
		}
		pthread_setspecific(h->db_key, NULL);
		pthread_key_delete(h->db_key);
	}
	while (h->n_idle)
		sqlite3_close(h->idle[--h->n_idle]);
	free(h->db_path);
	if (h->monitor_exe >= 0)
		close(h->monitor_exe);
	if (h->runtime_exe >= 0)
		close(h->runtime_exe);
	pthread_mutex_destroy(&h->lock);
	free(h->var_dir);
	free(h->run_dir);
	free(h->log_dir);
	free(h->libexec);
	free((char *)h->rt.root);
	free(h);
}

const char *cella_host_run_dir(const struct cella_host *h)
{
	return h->run_dir;
}

const char *cella_host_var_dir(const struct cella_host *h)
{
	return h->var_dir;
}

int cella_error_http_status(int code)
{
	switch (code) {
	case EINVAL:
	case ERANGE:
	case ENAMETOOLONG:
	case E2BIG:
		return 400;
	case EPERM:
	case EACCES:
		return 403;
	case ENOENT:
	case ESRCH:
		return 404;
	case EEXIST:
	case EBUSY:
	case EALREADY:
	case ENOTEMPTY:
		return 409;
	case ENOSPC:
	case EDQUOT:
		return 507;
	case ENOSYS:
	case EOPNOTSUPP:
		return 501;
	default:
		return 500;
	}
}
