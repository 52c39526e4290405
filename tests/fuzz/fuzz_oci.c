/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the config.json parser: config.json comes from
 * whoever prepared the bundle, so the parser must survive anything (no
 * crash, no leak, no undefined behaviour).  Built and run by `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>

#include "oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cella_error err = { 0 };
	struct oci_config *c = oci_config_parse((const char *)data, size, NULL, NULL, &err);
	oci_config_free(c);
	return 0;
}
