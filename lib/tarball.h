/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Archives for the image store: SHA-256, safe extraction of untrusted tar
 * streams into a root directory, the canonical (deterministic) tar stream of
 * a tree, and fd-relative recursive removal.  See docs/images.md for the
 * rules an archive has to follow.
 */
#ifndef CELLA_TARBALL_H
#define CELLA_TARBALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cella/error.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t nbuf;
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* 64 lowercase hex digits and a NUL. */
void sha256_final_hex(struct sha256 *s, char hex[65]);

/* Extraction flags. */
enum {
	/* OCI layer: apply .wh.NAME and .wh..wh..opq, let an entry replace
	 * whatever a lower layer left at its path (even a directory). */
	TARBALL_OCI_LAYER = 1 << 0,
	/* Not a guest tree (an OCI layout's own files): owners are ignored
	 * (files become root's), modes are limited to 0755/0644, only regular
	 * files and directories are kept. */
	TARBALL_PLAIN = 1 << 1,
};

struct tarball_stats {
	uint64_t entries;
	uint64_t bytes;            /* file data written */
	uint64_t devices_skipped;  /* char/block nodes: the engine provides /dev */
	uint64_t sockets_skipped;
};

/*
 * Extract the archive read from `fd` (tar, pax, cpio...; none/gz/xz/zstd/bz2,
 * detected by content) into the directory `rootfd`.  Every path is resolved
 * inside rootfd with openat2(RESOLVE_IN_ROOT), nothing is ever followed on
 * the host.  `digest` (may be NULL) receives the SHA-256 of the bytes read
 * from fd, the rest of the file included.  Errors name the entry at fault.
 */
int tarball_extract_fd(int fd, int rootfd, unsigned flags, struct tarball_stats *st, char digest[65],
		       struct cella_error *err);

/*
 * One pass over an archive file without extracting: its SHA-256, its size in
 * bytes, whether it is an OCI image layout (top-level `oci-layout` and
 * `index.json`).  Fails if fd is not an archive libarchive can read.
 */
int tarball_scan_fd(int fd, char digest[65], uint64_t *size, bool *is_oci, struct cella_error *err);

/* SHA-256 and size of everything readable from fd. */
int sha256_fd(int fd, char digest[65], uint64_t *size, struct cella_error *err);

/*
 * The canonical archive of the tree under `rootfd`: a pax (restricted) tar
 * stream of every entry in byte-wise sorted order per directory, mtime 0,
 * owners and modes as found, hard links as links, no xattrs; only its SHA-256
 * and size are kept.  The image fingerprint of a build.
 */
int tree_digest(int rootfd, char digest[65], uint64_t *size, struct cella_error *err);

/* Remove `name` under dirfd, recursively, never following a symlink and
 * never crossing into another filesystem (EXDEV).  ENOENT is success. */
int rm_rf_at(int dirfd, const char *name, struct cella_error *err);

/* Open `path` below rootfd as the guest would see it (RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS); -1 with errno. */
int open_in_root(int rootfd, const char *path, int flags, mode_t mode);

#endif
