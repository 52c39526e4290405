/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for what the API takes from users about an instance:
 * config objects (every key type's parser), device maps.  Any input: an
 * answer, no crash, no leak.
 */
#include <stddef.h>
#include <stdint.h>

#include <cella/manager.h>

#include "instance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return 0;
	struct cella_error err;
	cella_config_validate(v, false, &err);
	cella_config_validate(v, true, &err);
	devices_validate(v, &err);
	json_decref(v);
	return 0;
}
