/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The management layer's internal view of a host (see include/cella/manager.h). */
#ifndef CELLA_HOST_H
#define CELLA_HOST_H

#include <pthread.h>
#include <sqlite3.h>

#include <cella/manager.h>

struct cella_host;
struct db_slot {
	struct cella_host *h;
	sqlite3 *db;
};

struct cella_host {
	char *var_dir;     /* /var/lib/cella */
	char *run_dir;     /* /run/cella */
	char *log_dir;     /* /var/log/cella */
	char *libexec;     /* where cella-monitor lives */
	char *db_path;     /* VAR/cella.db, WAL */
	pthread_key_t db_key; /* each thread its own connection: see host_db() */
	bool db_key_set;
#define DB_POOL 8
	sqlite3 *idle[DB_POOL];  /* connections of threads that ended (under lock) */
	size_t n_idle;
	struct cella_runtime rt; /* the engine, state under RUN/runtime */
	pthread_mutex_t lock;    /* the fields below */
	int monitor_exe;         /* O_PATH: cella-monitor seen sealed, -1 until needed */
	int runtime_exe;         /* O_PATH: cella-runtime seen sealed, -1 until needed */
};

/*
 * The calling thread's connection to the host database, opened on first
 * use (cellad runs each operation in a thread of its own; a connection is
 * never shared between threads, so transactions never mix).  NULL only if
 * the database cannot be opened, which cella_host_open() already checked.
 */
sqlite3 *host_db(struct cella_host *h);

/* lib/db.c: open (creating or migrating the schema) the database at `path`. */
int db_open(const char *path, sqlite3 **out, struct cella_error *err);
/* Run SQL without results; err says what failed with sqlite's message. */
int db_exec(sqlite3 *db, const char *sql, struct cella_error *err);
/* Prepare `sql`; on failure err names it. */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, struct cella_error *err);
/* One statement, one parameter (text, or the int64 id when text is NULL), no result rows. */
int db_run1(sqlite3 *db, const char *sql, const char *text, long long id, const char *what,
	    struct cella_error *err);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK */
int db_begin(sqlite3 *db, struct cella_error *err);
int db_commit(sqlite3 *db, struct cella_error *err);
void db_rollback(sqlite3 *db);
/* Map the last sqlite error of `db` to err (SQLITE_CONSTRAINT_UNIQUE -> EEXIST, SQLITE_FULL -> ENOSPC). */
int db_error(sqlite3 *db, struct cella_error *err, const char *what);

static inline void cleanup_stmtp(sqlite3_stmt **s) { if (*s) sqlite3_finalize(*s); }
#define cleanup_stmt __attribute__((cleanup(cleanup_stmtp)))

/* RFC 3339 UTC time of now, in buf (>= 32 bytes). */
const char *time_now_rfc3339(char *buf, size_t len);

#endif
