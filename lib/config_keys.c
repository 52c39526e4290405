/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Instance config keys: one typed table that validation, `cella config
 * show`, the API (/1.0/config-keys) and the man page share.  Values are
 * strings in the API, as in Incus; each type knows how to parse its own.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_keys.h"
#include "util.h"

static const struct config_key keys[] = {
	{ "boot.autostart", KEY_BOOL, "false", KEY_LIVE, "start the instance when cellad starts" },
	{ "boot.autostart.priority", KEY_INT, "0", KEY_LIVE,
	  "order of autostart: higher first", 0, 1000 },
	{ "boot.autostart.delay", KEY_INT, "0", KEY_LIVE,
	  "seconds to wait after starting this instance before the next one", 0, 3600 },
	{ "boot.stop.signal", KEY_SIGNAL, "auto", KEY_LIVE,
	  "signal asking the guest's init to power off (auto: by the init found: busybox SIGUSR2, "
	  "systemd SIGRTMIN+4, others SIGPWR)" },
	{ "boot.stop.timeout", KEY_INT, "30", KEY_LIVE,
	  "seconds `stop` waits for the guest to shut down before killing it", 0, 86400 },
	{ "boot.restart", KEY_ENUM, "reboot", KEY_LIVE,
	  "restart policy when the guest stops by itself: no, on-failure, always; reboot (default) "
	  "restarts only on a reboot from inside", 0, 0, "no|on-failure|always|reboot" },
	{ "limits.memory", KEY_SIZE, "", KEY_LIVE, "memory limit (e.g. 512MiB, 2GB)", 4 << 20, 0 },
	{ "limits.memory.swap", KEY_BOOL, "true", KEY_LIVE,
	  "allow swapping (false: memory+swap limited to limits.memory)" },
	{ "limits.cpu", KEY_CPUS, "", KEY_LIVE, "number of CPUs (e.g. 2) or a CPU set (e.g. 0-1,3)" },
	{ "limits.cpu.allowance", KEY_ALLOWANCE, "", KEY_LIVE,
	  "CPU time: a share under contention (50%) or a hard quota (25ms/100ms)" },
	{ "limits.cpu.priority", KEY_INT, "", KEY_LIVE, "CPU weight from 0 (lowest) to 10", 0, 10 },
	{ "limits.processes", KEY_INT, "", KEY_LIVE, "maximum number of processes", 1, INT_MAX },
	{ "limits.disk", KEY_SIZE, "", KEY_RESTART,
	  "size of the root filesystem: a real quota the guest's df shows", 16 << 20, 0 },
	{ "limits.disk.priority", KEY_INT, "", KEY_LIVE, "I/O weight from 0 (lowest) to 10", 0, 10 },
	{ "limits.disk.read", KEY_SIZE, "", KEY_LIVE, "read bandwidth limit in bytes/s (e.g. 10MB)", 1, 0 },
	{ "limits.disk.write", KEY_SIZE, "", KEY_LIVE, "write bandwidth limit in bytes/s", 1, 0 },
	{ "limits.disk.read.iops", KEY_INT, "", KEY_LIVE, "read operations per second", 1, INT_MAX },
	{ "limits.disk.write.iops", KEY_INT, "", KEY_LIVE, "write operations per second", 1, INT_MAX },
	{ "security.idmap.isolated", KEY_BOOL, "true", KEY_RESTART,
	  "a 65536-id range of its own (always true: kept for Incus users)" },
	{ "security.nesting", KEY_BOOL, "false", KEY_RESTART,
	  "allow containers inside (mounts of proc and sys inside the guest)" },
	{ "image.os", KEY_STRING, "", KEY_LIVE, "from the image" },
	{ "image.release", KEY_STRING, "", KEY_LIVE, "from the image" },
	{ "image.architecture", KEY_STRING, "", KEY_LIVE, "from the image" },
	{ "image.description", KEY_STRING, "", KEY_LIVE, "from the image" },
	{ "user.*", KEY_STRING, "", KEY_LIVE, "free-form user data" },
	{ "environment.*", KEY_STRING, "", KEY_LIVE, "environment variables of `exec`" },
	{ "volatile.*", KEY_STRING, "", KEY_VOLATILE, "kept by cella (read-only)" },
};

const struct config_key *config_key_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		size_t n = strlen(keys[i].name);
		if (keys[i].name[n - 1] == '*') {
			if (!strncmp(name, keys[i].name, n - 1) && name[n - 1])
				return &keys[i];
		} else if (!strcmp(name, keys[i].name)) {
			return &keys[i];
		}
	}
	return NULL;
}

static const char *const type_names[] = {
	[KEY_BOOL] = "bool", [KEY_INT] = "integer", [KEY_SIZE] = "size", [KEY_STRING] = "string",
	[KEY_ENUM] = "enum", [KEY_CPUS] = "cpus", [KEY_ALLOWANCE] = "allowance", [KEY_SIGNAL] = "signal",
};

json_t *cella_config_keys(void)
{
	json_t *a = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct config_key *k = &keys[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "key", k->name, "type", type_names[k->type],
				      "default", k->def, "description", k->help, "apply",
				      k->when == KEY_LIVE ? "live" : k->when == KEY_RESTART ? "restart" : "read-only");
		if (k->type == KEY_ENUM)
			json_object_set_new(o, "values", json_string(k->choices));
		if ((k->type == KEY_INT || k->type == KEY_SIZE) && (k->min || k->max)) {
			json_object_set_new(o, "min", json_integer(k->min));
			if (k->max)
				json_object_set_new(o, "max", json_integer(k->max));
		}
		json_array_append_new(a, o);
	}
	return a;
}

int config_parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" }, *const no[] = { "false", "0", "no", "off" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(v, yes[i]))
			return *out = true, 0;
		if (!strcasecmp(v, no[i]))
			return *out = false, 0;
	}
	return -1;
}

int config_parse_int(const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || errno)
		return -1;
	*out = n;
	return 0;
}

/* "512MiB", "2GB", "1.5GiB", "4096" (bytes), "10MB" */
int config_parse_size(const char *v, long long *out)
{
	static const struct { const char *sfx; double mul; } units[] = {
		{ "KiB", 1024.0 }, { "MiB", 1048576.0 }, { "GiB", 1073741824.0 }, { "TiB", 1099511627776.0 },
		{ "kB", 1e3 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 },
		{ "B", 1.0 }, { "", 1.0 },
	};
	char *end;
	errno = 0;
	double n = strtod(v, &end);
	if (end == v || errno || !isfinite(n) || n < 0)
		return -1;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!strcmp(end, units[i].sfx)) {
			double b = n * units[i].mul;
			/* 2^62: far above any size, and safe to convert and round */
			if (!(b < 4611686018427387904.0))
				return -1;
			*out = (long long)b;
			return 0;
		}
	}
	return -1;
}

/* "2" (count) or "0-1,3" (set); *count gets the number of CPUs named. */
int config_parse_cpus(const char *v, bool *is_set, int *count)
{
	long long n;
	if (config_parse_int(v, &n) == 0) {
		if (n < 1 || n > 4096)
			return -1;
		*is_set = false;
		*count = (int)n;
		return 0;
	}
	int total = 0;
	const char *p = v;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;
		if (end == p || a < 0 || a > 4095)
			return -1;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p || b < a || b > 4095)
				return -1;
		}
		total += (int)(b - a + 1);
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		p = end;
	}
	if (!total)
		return -1;
	*is_set = true;
	*count = total;
	return 0;
}

/* "50%" -> share; "25ms/100ms" -> quota/period in microseconds. */
int config_parse_allowance(const char *v, int *percent, long long *quota_us, long long *period_us)
{
	char *end;
	*percent = 0;
	*quota_us = *period_us = 0;
	long n = strtol(v, &end, 10);
	if (end != v && !strcmp(end, "%")) {
		if (n < 1 || n > 100)
			return -1;
		*percent = (int)n;
		return 0;
	}
	long q, p;
	if (sscanf(v, "%ldms/%ldms", &q, &p) == 2 && q >= 1 && p >= 1 && p <= 1000) {
		char check[64];
		snprintf(check, sizeof(check), "%ldms/%ldms", q, p);
		if (strcmp(check, v))
			return -1;
		*quota_us = q * 1000;
		*period_us = p * 1000;
		return 0;
	}
	return -1;
}

static int key_check(const struct config_key *k, const char *name, const char *v, struct cella_error *err)
{
	long long n;
	bool b;
	int i;
	switch (k->type) {
	case KEY_BOOL:
		if (config_parse_bool(v, &b) < 0)
			return cella_error_set(err, EINVAL, "config key `%s`: `%s` is not true or false", name, v);
		return 0;
	case KEY_INT:
		if (config_parse_int(v, &n) < 0)
			return cella_error_set(err, EINVAL, "config key `%s`: `%s` is not an integer", name, v);
		if (n < k->min || (k->max && n > k->max))
			return cella_error_set(err, ERANGE, "config key `%s`: %lld is out of range %lld..%lld", name,
					       n, k->min, k->max);
		return 0;
	case KEY_SIZE:
		if (config_parse_size(v, &n) < 0)
			return cella_error_set(err, EINVAL, "config key `%s`: `%s` is not a size (e.g. 512MiB, 2GB)",
					       name, v);
		if (n < k->min)
			return cella_error_set(err, ERANGE, "config key `%s`: %s is below the minimum of %lld bytes",
					       name, v, k->min);
		return 0;
	case KEY_ENUM: {
		size_t len = strlen(v);
		for (const char *p = k->choices; p && *p;) {
			const char *bar = strchr(p, '|');
			size_t l = bar ? (size_t)(bar - p) : strlen(p);
			if (l == len && !strncmp(p, v, l))
				return 0;
			p = bar ? bar + 1 : NULL;
		}
		return cella_error_set(err, EINVAL, "config key `%s`: `%s` is not one of %s", name, v, k->choices);
	}
	case KEY_CPUS: {
		bool set;
		if (config_parse_cpus(v, &set, &i) < 0)
			return cella_error_set(err, EINVAL, "config key `%s`: `%s` is not a CPU count or set", name, v);
		return 0;
	}
	case KEY_ALLOWANCE: {
		long long q, p;
		if (config_parse_allowance(v, &i, &q, &p) < 0)
			return cella_error_set(err, EINVAL,
					       "config key `%s`: `%s` is not a share (50%%) or quota (25ms/100ms)", name, v);
		return 0;
	}
	case KEY_SIGNAL:
		if (strcmp(v, "auto") && cella_signal_parse(v) <= 0)
			return cella_error_set(err, EINVAL, "config key `%s`: `%s` is not a signal", name, v);
		return 0;
	case KEY_STRING:
		return 0;
	}
	return 0;
}

int cella_config_validate(const json_t *config, bool for_profile, struct cella_error *err)
{
	const char *name;
	json_t *v;
	if (!json_is_object(config))
		return cella_error_set(err, EINVAL, "config: not an object");
	json_object_foreach((json_t *)config, name, v) {
		const struct config_key *k = config_key_find(name);
		if (!k)
			return cella_error_set(err, EINVAL, "config key `%s`: unknown", name);
		if (!json_is_string(v))
			return cella_error_set(err, EINVAL, "config key `%s`: the value must be a string", name);
		if (k->when == KEY_VOLATILE && for_profile)
			return cella_error_set(err, EINVAL, "config key `%s`: kept by cella, not settable", name);
		if (*json_string_value(v) && key_check(k, name, json_string_value(v), err) < 0)
			return -1;
	}
	return 0;
}

const char *config_get(const json_t *config, const char *name)
{
	json_t *v = json_object_get(config, name);
	if (json_is_string(v) && *json_string_value(v))
		return json_string_value(v);
	const struct config_key *k = config_key_find(name);
	return k && *k->def ? k->def : NULL;
}

bool config_get_bool(const json_t *config, const char *name)
{
	const char *v = config_get(config, name);
	bool b = false;
	return v && config_parse_bool(v, &b) == 0 && b;
}

long long config_get_int(const json_t *config, const char *name, long long def)
{
	const char *v = config_get(config, name);
	long long n;
	return v && config_parse_int(v, &n) == 0 ? n : def;
}
