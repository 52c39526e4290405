/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image store's internal interface between lib/image.c (store, import)
 * and lib/image_build.c (builders). */
#ifndef CELLA_IMAGE_H
#define CELLA_IMAGE_H

#include <limits.h>
#include <stdint.h>

#include "host.h"
#include "tarball.h"

/*
 * An image being made: VAR/images/.tmp-PID-XXXXXX holding rootfs/ (and, while
 * importing an OCI archive, oci/).  Renamed to VAR/images/FINGERPRINT by
 * image_new_commit(); removed entirely by image_new_abort().
 */
struct image_new {
	int imagesfd;          /* VAR/images */
	char tmpname[64];      /* .tmp-PID-XXXXXX under it */
	int tmpfd;
	int rootfd;            /* tmp/rootfs */
	char fingerprint[65];
	uint64_t size;         /* bytes of the canonical archive */
	json_t *properties;    /* os, release, architecture, description, variant */
	json_t *meta;          /* extra metadata.json members (source, warnings) */
};

int image_new_begin(struct cella_host *h, struct image_new *n, struct cella_error *err);
void image_new_abort(struct image_new *n);

/* Builders fill n->rootfd and n->properties; tree_digest() names the result. */
int image_build_minimal(struct cella_host *h, struct image_new *n, struct cella_error *err);
int image_build_debian(struct cella_host *h, struct image_new *n, const char *release, const char *variant,
		       struct cella_error *err);

/* uname's machine name ("x86_64"); OCI's "amd64" maps to it. */
const char *image_arch_host(void);

#endif
