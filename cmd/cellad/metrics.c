/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /1.0/metrics (Prometheus text) and /1.0/config-keys (the typed key table). */
#include <errno.h>

#include "cellad.h"

static struct reply *metrics_get(struct request *req)
{
	(void)req;
	struct cella_error err = { 0 };
	char *text = cella_metrics_text(g_daemon.host, &err);
	if (!text)
		return reply_cella_error(&err);
	return reply_text(200, "text/plain; version=0.0.4", text);
}

static struct reply *config_keys_get(struct request *req)
{
	(void)req;
	json_t *keys = cella_config_keys();
	if (!keys) {
		/* placeholder until lib lands: cella_config_keys() returns NULL */
		struct cella_error err;
		cella_error_set(&err, ENOSYS, "the config key table is not available yet");
		return reply_cella_error(&err);
	}
	return reply_sync(keys);
}

const struct route metrics_routes[] = {
	{ "GET", "/1.0/metrics", metrics_get, 0, NULL, "Instance metrics (Prometheus text format)" },
	{ "GET", "/1.0/config-keys", config_keys_get, 0, NULL, "The table of config keys" },
	{ 0 },
};
