/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Instance storage (lib/storage.c). */
#ifndef CELLA_STORAGE_H
#define CELLA_STORAGE_H

#include <stdbool.h>

#include <cella/error.h>

/* A user namespace fd mapping ids 0..count-1 onto base.. (for idmapped mounts). */
int userns_open_range(unsigned base, unsigned count, struct cella_error *err);

/* LAYER/upper and LAYER/work, empty. */
int storage_layer_create(const char *layer_dir, struct cella_error *err);
/* Mount overlay(image_rootfs, layer) at target, both layers idmapped onto base..base+65535. */
int storage_mount(const char *image_rootfs, const char *layer_dir, unsigned base, const char *target,
		  struct cella_error *err);
int storage_umount(const char *target);
bool storage_is_mounted(const char *target);

/* Remove a tree without following links or crossing mounts (EBUSY on a mount point). */
int tree_remove(const char *path);
/* Copy a tree with ownership, modes, times, xattrs, devices and whiteouts; dst must not exist. */
int tree_copy(const char *src, const char *dst, struct cella_error *err);
long long tree_usage(const char *path);

/* limits.disk: an ext4 image of `bytes` (sparse); grown (never shrunk); mounted by loop on target. */
int disk_create(const char *image, long long bytes, struct cella_error *err);
int disk_grow(const char *image, long long bytes, struct cella_error *err);
int disk_mount(const char *image, const char *target, struct cella_error *err);

/* btrfs: the layer a subvolume, snapshots and copies btrfs snapshots of it. */
bool storage_is_btrfs(const char *path);
bool storage_is_subvolume(const char *path);
int subvol_create(const char *path, struct cella_error *err);
int subvol_snapshot(const char *src, const char *dst, bool readonly, struct cella_error *err);

#endif
