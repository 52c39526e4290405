/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cella-nicplug: a guest's NICs plugged in or out (lib/nic_plug.c), for
 * cella-monitor, which stays a static binary and so cannot link libmnl
 * (Debian ships it as a shared library only).  Only guests with NICs run
 * it, once per boot.
 *
 *   cella-nicplug attach PID < NICS      into the network namespace of PID
 *   cella-nicplug detach [--with-link] < NICS
 *
 * NICS: the resolved NICs, a JSON array (lib/nic.h).  On failure: one line
 * on stderr, exit status 1 (attach unplugs what it had plugged).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nic.h"
#include "util.h"

static int usage(void)
{
	fprintf(stderr, "usage: cella-nicplug attach PID | detach [--with-link]   (the NICs as JSON on stdin)\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	json_error_t jerr;
	json_t *nics = json_loadf(stdin, 0, &jerr);
	if (!json_is_array(nics)) {
		fprintf(stderr, "cella-nicplug: stdin: not a JSON array of NICs: %s\n", jerr.text);
		return 1;
	}
	size_t i;
	json_t *nic;
	if (!strcmp(argv[1], "detach") && argc <= 3) {
		bool with_link = argc == 3 && !strcmp(argv[2], "--with-link");
		if (argc == 3 && !with_link)
			return usage();
		json_array_foreach(nics, i, nic)
			nic_detach(nic, with_link);
		json_decref(nics);
		return 0;
	}
	if (strcmp(argv[1], "attach") || argc != 3)
		return usage();
	char *end;
	long pid = strtol(argv[2], &end, 10);
	if (*end || pid <= 0)
		return usage();
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
	int netns = open(path, O_RDONLY | O_CLOEXEC);
	if (netns < 0) {
		fprintf(stderr, "network namespace of pid %ld: %s\n", pid, strerror(errno));
		return 1;
	}
	struct cella_error err = { 0 };
	json_array_foreach(nics, i, nic) {
		if (nic_attach(nic, netns, &err) < 0) {
			/* what was plugged before it goes too */
			for (size_t j = 0; j < i; j++)
				nic_detach(json_array_get(nics, j), true);
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
	}
	close(netns);
	json_decref(nics);
	return 0;
}
