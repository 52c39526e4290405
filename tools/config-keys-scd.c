/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes cella-config(5) in scdoc from the config key table itself
 * (lib/config_keys.c), so the man page never drifts from what validation
 * accepts.  Run at build time.
 */
#include <stdio.h>

#include <cella/manager.h>

/* scdoc's markup characters, escaped */
static void put_escaped(const char *s)
{
	for (; *s; s++) {
		if (*s == '*' || *s == '_' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
}

int main(void)
{
	json_t *keys = cella_config_keys();
	size_t i;
	json_t *k;
	printf("cella-config(5)\n\n# NAME\n\ncella-config - instance configuration keys\n\n"
	       "# DESCRIPTION\n\n"
	       "Instances and profiles carry *config* keys, set with *cella config set NAME KEY=VALUE* "
	       "or in the *config* object of the REST API (values are strings). Keys marked _live_ "
	       "reach a running instance at once; _restart_ keys apply at its next start; _read-only_ "
	       "keys are kept by cella. An unknown key or a value out of range is refused, naming the "
	       "key, and nothing changes. The same table is served as */1.0/config-keys*.\n\n"
	       "Sizes take the units B, kB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers "
	       "of 1024).\n\n# KEYS\n\n");
	json_array_foreach(keys, i, k) {
		const char *def = json_string_value(json_object_get(k, "default"));
		putchar('*');
		put_escaped(json_string_value(json_object_get(k, "key")));
		printf("* (%s, %s", json_string_value(json_object_get(k, "type")),
		       json_string_value(json_object_get(k, "apply")));
		if (def && *def)
			printf(", default %s", def);
		json_t *min = json_object_get(k, "min"), *max = json_object_get(k, "max");
		if (min && max)
			printf(", %lld to %lld", (long long)json_integer_value(min), (long long)json_integer_value(max));
		else if (min)
			printf(", at least %lld", (long long)json_integer_value(min));
		printf(")\n\t");
		put_escaped(json_string_value(json_object_get(k, "description")));
		json_t *values = json_object_get(k, "values");
		if (values)
			printf(" (one of: %s)", json_string_value(values));
		printf("\n\n");
	}
	printf("# SEE ALSO\n\n*cella*(1), *cellad*(8)\n");
	json_decref(keys);
	return 0;
}
