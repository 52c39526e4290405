/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `update ID`: new resource limits, as a linux.resources object
 * (--resources FILE, "-" for stdin) or from runc's flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "util.h"

#define UPD(field) ARG(update.field)

const struct opt update_opts[] = {
	{ "resources", 'r', OPT_STRING, UPD(resources), "FILE",
	  "a linux.resources object (JSON); \"-\" reads stdin" },
	{ "memory", 0, OPT_STRING, UPD(memory), "BYTES", "memory limit (k, m, g suffixes; -1: none)" },
	{ "memory-swap", 0, OPT_STRING, UPD(memory_swap), "BYTES", "memory plus swap limit (-1: none)" },
	{ "memory-reservation", 0, OPT_STRING, UPD(memory_reservation), "BYTES", "memory soft limit" },
	{ "cpu-shares", 0, OPT_STRING, UPD(cpu_shares), "N", "relative CPU weight" },
	{ "cpu-period", 0, OPT_STRING, UPD(cpu_period), "USEC", "CFS period" },
	{ "cpu-quota", 0, OPT_STRING, UPD(cpu_quota), "USEC", "CFS quota per period (-1: none)" },
	{ "cpuset-cpus", 0, OPT_STRING, UPD(cpuset_cpus), "LIST", "CPUs allowed, e.g. 0-2,4" },
	{ "cpuset-mems", 0, OPT_STRING, UPD(cpuset_mems), "LIST", "memory nodes allowed" },
	{ "pids-limit", 0, OPT_STRING, UPD(pids_limit), "N", "maximum number of processes (-1: none)" },
	{ "blkio-weight", 0, OPT_STRING, UPD(blkio_weight), "N", "block IO weight (10-1000)" },
	OPT_END
};

/* "512m", "1G", "1024", "-1" as docker's units.RAMInBytes reads them. */
static int parse_bytes(const char *flag, const char *s, int64_t *v, struct cella_error *err)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s)
		goto bad;
	if (n == -1 && !*end) {
		*v = -1;
		return 0;
	}
	if (n < 0)
		goto bad;
	static const char units[] = "kmgtp";
	long long mul = 1;
	if (*end) {
		const char *u = strchr(units, *end | 0x20);
		if (!u || !*u)
			goto bad;
		for (const char *p = units; p <= u; p++)
			mul *= 1024;
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			goto bad;
	}
	if (n > INT64_MAX / mul)
		goto bad;
	*v = n * mul;
	return 0;
bad:
	return cella_error_set(err, 0, "invalid value \"%s\" for flag `--%s`: want bytes (e.g. 512m)", s, flag);
}

static int parse_int(const char *flag, const char *s, int64_t min, int64_t max, int64_t *v,
		     struct cella_error *err)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max)
		return cella_error_set(err, 0, "invalid value \"%s\" for flag `--%s`: want a number from %" PRId64
				       " to %" PRId64, s, flag, min, max);
	*v = n;
	return 0;
}

/* Set o[section][key] = value, creating the section object. */
static void set_in(json_t *o, const char *section, const char *key, json_t *value)
{
	json_t *s = json_object_get(o, section);
	if (!s) {
		s = json_object();
		json_object_set_new(o, section, s);
	}
	json_object_set_new(s, key, value);
}

/* The resources object the flags describe; NULL with err set. */
static char *flags_to_json(const struct cmd_args *a, struct cella_error *err)
{
	static const struct {
		const char *flag, *section, *key;
		size_t off;
		enum { BYTES, INT, UINT, STR } kind;
		int64_t min, max;
	} map[] = {
		{ "memory", "memory", "limit", UPD(memory), BYTES, 0, 0 },
		{ "memory-swap", "memory", "swap", UPD(memory_swap), BYTES, 0, 0 },
		{ "memory-reservation", "memory", "reservation", UPD(memory_reservation), BYTES, 0, 0 },
		{ "cpu-shares", "cpu", "shares", UPD(cpu_shares), UINT, 0, INT64_MAX },
		{ "cpu-period", "cpu", "period", UPD(cpu_period), UINT, 0, INT64_MAX },
		{ "cpu-quota", "cpu", "quota", UPD(cpu_quota), INT, -1, INT64_MAX },
		{ "cpuset-cpus", "cpu", "cpus", UPD(cpuset_cpus), STR, 0, 0 },
		{ "cpuset-mems", "cpu", "mems", UPD(cpuset_mems), STR, 0, 0 },
		{ "pids-limit", "pids", "limit", UPD(pids_limit), INT, -1, INT64_MAX },
		{ "blkio-weight", "blockIO", "weight", UPD(blkio_weight), UINT, 10, 1000 },
	};
	json_t *o = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		const char *s = *(const char *const *)((const char *)a + map[i].off);
		int64_t v = 0;
		int r = 0;
		if (!s)
			continue;
		switch (map[i].kind) {
		case BYTES:
			r = parse_bytes(map[i].flag, s, &v, err);
			break;
		case INT:
		case UINT:
			r = parse_int(map[i].flag, s, map[i].min, map[i].max, &v, err);
			break;
		case STR:
			set_in(o, map[i].section, map[i].key, json_string(s));
			continue;
		}
		if (r < 0) {
			json_decref(o);
			return NULL;
		}
		set_in(o, map[i].section, map[i].key, json_integer(v));
	}
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		cella_error_set(err, ENOMEM, "update");
	return text;
}

static bool any_flag(const struct cmd_args *a)
{
	const char *const v[] = {
		a->update.memory, a->update.memory_swap, a->update.memory_reservation,
		a->update.cpu_shares, a->update.cpu_period, a->update.cpu_quota, a->update.cpuset_cpus,
		a->update.cpuset_mems, a->update.pids_limit, a->update.blkio_weight,
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		if (v[i])
			return true;
	return false;
}

int cmd_update(struct cella_runtime *rt, struct cmd_args *a, struct cella_error *err)
{
	cleanup_free char *json = NULL;

	if (a->update.resources) {
		if (any_flag(a))
			return cella_error_set(err, 0, "update: give --resources or the limit flags, not both");
		const char *path = a->update.resources;
		json = read_file_at(AT_FDCWD, strcmp(path, "-") ? path : "/dev/stdin", NULL, err);
		if (!json)
			return cella_error_wrap(err, "--resources");
	} else {
		json = flags_to_json(a, err);
		if (!json)
			return -1;
	}
	return cella_container_update(rt, a->id, json, err);
}
