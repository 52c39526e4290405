/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The instance config key table (lib/config_keys.c). */
#ifndef CELLA_CONFIG_KEYS_H
#define CELLA_CONFIG_KEYS_H

#include <jansson.h>
#include <stdbool.h>

#include <cella/manager.h>

enum key_type { KEY_BOOL, KEY_INT, KEY_SIZE, KEY_STRING, KEY_ENUM, KEY_CPUS, KEY_ALLOWANCE, KEY_SIGNAL };
enum key_when { KEY_LIVE, KEY_RESTART, KEY_VOLATILE };

struct config_key {
	const char *name;     /* "limits.memory"; "user.*" matches a prefix */
	enum key_type type;
	const char *def;      /* "" when unset means "no limit" */
	enum key_when when;   /* applied to a running instance, at next start, or never by users */
	const char *help;
	long long min, max;   /* KEY_INT, KEY_SIZE; max 0: none */
	const char *choices;  /* KEY_ENUM: "a|b|c" */
};

const struct config_key *config_key_find(const char *name);

int config_parse_bool(const char *v, bool *out);
int config_parse_int(const char *v, long long *out);
int config_parse_size(const char *v, long long *out);
int config_parse_cpus(const char *v, bool *is_set, int *count);
int config_parse_allowance(const char *v, int *percent, long long *quota_us, long long *period_us);

/* The value of `name` in an (expanded) config, else its default; NULL if neither. */
const char *config_get(const json_t *config, const char *name);
bool config_get_bool(const json_t *config, const char *name);
long long config_get_int(const json_t *config, const char *name, long long def);

#endif
