/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host database: SQLite in WAL mode at /var/lib/cella/cella.db.  The
 * schema is versioned with PRAGMA user_version; each step of `migrations`
 * brings it one version up, inside one transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "util.h"

static const char *const migrations[] = {
	/* 1: instances, snapshots, profiles, images */
	"CREATE TABLE instances ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL CHECK (type IN ('vps', 'vm')),"
	"  description TEXT NOT NULL DEFAULT '',"
	"  config TEXT NOT NULL DEFAULT '{}',"
	"  devices TEXT NOT NULL DEFAULT '{}',"
	"  profiles TEXT NOT NULL DEFAULT '[]',"
	"  ephemeral INTEGER NOT NULL DEFAULT 0,"
	"  image TEXT,"                        /* fingerprint it was made from */
	"  idmap_base INTEGER NOT NULL UNIQUE," /* first host id of its 65536 */
	"  created_at TEXT NOT NULL,"
	"  last_used_at TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE snapshots ("
	"  id INTEGER PRIMARY KEY,"
	"  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  UNIQUE (instance_id, name));"
	"CREATE TABLE profiles ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  config TEXT NOT NULL DEFAULT '{}',"
	"  devices TEXT NOT NULL DEFAULT '{}');"
	"INSERT INTO profiles (name, description) VALUES ('default', 'Default profile');"
	"CREATE TABLE images ("
	"  fingerprint TEXT PRIMARY KEY,"
	"  type TEXT NOT NULL DEFAULT 'vps',"
	"  properties TEXT NOT NULL DEFAULT '{}',"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE image_aliases ("
	"  name TEXT PRIMARY KEY,"
	"  fingerprint TEXT NOT NULL REFERENCES images(fingerprint) ON DELETE CASCADE,"
	"  description TEXT NOT NULL DEFAULT '');",
	/* 2: managed networks, and the addresses handed out on them */
	"CREATE TABLE networks ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL CHECK (type IN ('bridge')),"
	"  description TEXT NOT NULL DEFAULT '',"
	"  config TEXT NOT NULL DEFAULT '{}',"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE ipam ("
	"  id INTEGER PRIMARY KEY,"
	"  network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,"
	"  instance TEXT NOT NULL,"
	"  device TEXT NOT NULL,"
	"  mac TEXT,"
	"  ipv4 TEXT,"
	"  ipv6 TEXT,"
	"  UNIQUE (network_id, ipv4),"
	"  UNIQUE (network_id, ipv6),"
	"  UNIQUE (network_id, mac));",
	/* 3: instance NICs: what IPAM handed out, and traffic counters folded in at
	 * each stop (the row id names the host-side veth "cv<id>" and its rules:
	 * AUTOINCREMENT, never given twice) */
	"DROP TABLE ipam;"
	"CREATE TABLE nics ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
	"  device TEXT NOT NULL,"
	"  network TEXT,"                      /* NULL: routed */
	"  mac TEXT NOT NULL UNIQUE,"
	"  ipv4 TEXT,"                         /* bridged: one address; routed: a list */
	"  ipv6 TEXT,"
	"  rx_bytes INTEGER NOT NULL DEFAULT 0, rx_packets INTEGER NOT NULL DEFAULT 0,"
	"  tx_bytes INTEGER NOT NULL DEFAULT 0, tx_packets INTEGER NOT NULL DEFAULT 0,"
	"  tx_dropped_bytes INTEGER NOT NULL DEFAULT 0, tx_dropped_packets INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (instance_id, device),"
	"  UNIQUE (network, ipv4),"
	"  UNIQUE (network, ipv6));"
	/* port forwards of a listen address to addresses of a network */
	"CREATE TABLE network_forwards ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"   /* names its rules, "f<id>-" */
	"  network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,"
	"  listen_address TEXT NOT NULL UNIQUE,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  ports TEXT NOT NULL DEFAULT '[]');",
};

const char *time_now_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
	return buf;
}

int db_error(sqlite3 *db, struct cella_error *err, const char *what)
{
	int ext = sqlite3_extended_errcode(db);
	int code = EIO;
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		code = EEXIST;
	else if ((ext & 0xff) == SQLITE_FULL)
		code = ENOSPC;
	else if ((ext & 0xff) == SQLITE_BUSY || (ext & 0xff) == SQLITE_LOCKED)
		code = EBUSY;
	else if ((ext & 0xff) == SQLITE_CONSTRAINT)
		code = EINVAL;
	return cella_error_set(err, code, "%s: %s", what, sqlite3_errmsg(db));
}

int db_exec(sqlite3 *db, const char *sql, struct cella_error *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, err, "database");
	return 0;
}

sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, struct cella_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_error(db, err, "database");
		return NULL;
	}
	return st;
}

int db_run1(sqlite3 *db, const char *sql, const char *text, long long id, const char *what,
	    struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(db, sql, err);
	if (!st)
		return -1;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_error(db, err, what);
	return 0;
}

int db_begin(sqlite3 *db, struct cella_error *err)
{
	return db_exec(db, "BEGIN IMMEDIATE", err);
}

int db_commit(sqlite3 *db, struct cella_error *err)
{
	return db_exec(db, "COMMIT", err);
}

void db_rollback(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int db_migrate(sqlite3 *db, struct cella_error *err)
{
	cleanup_stmt sqlite3_stmt *st = db_prepare(db, "PRAGMA user_version", err);
	if (!st)
		return -1;
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	/* finished before any migration: an open statement would keep DROP TABLE locked out */
	sqlite3_reset(st);
	if (version > (int)ARRAY_SIZE(migrations))
		return cella_error_set(err, EINVAL, "database schema version %d is newer than this cella (%zu)",
				       version, ARRAY_SIZE(migrations));
	for (int v = version; v < (int)ARRAY_SIZE(migrations); v++) {
		char set[64];
		snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
		if (db_begin(db, err) < 0)
			return -1;
		if (db_exec(db, migrations[v], err) < 0 || db_exec(db, set, err) < 0) {
			db_rollback(db);
			return cella_error_wrap(err, "database schema %d", v + 1);
		}
		if (db_commit(db, err) < 0)
			return -1;
	}
	return 0;
}

int db_open(const char *path, sqlite3 **out, struct cella_error *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
					 SQLITE_OPEN_EXRESCODE,
				 NULL);
	if (rc != SQLITE_OK) {
		cella_error_set(err, rc == SQLITE_CANTOPEN ? EACCES : EIO, "open database `%s`: %s", path,
				db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 10000);
	if (db_exec(db, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL",
		    err) < 0 ||
	    db_migrate(db, err) < 0) {
		sqlite3_close(db);
		return cella_error_wrap(err, "database `%s`", path);
	}
	*out = db;
	return 0;
}
