/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state directory of a container: ROOT/ID/state.json holds the OCI state
 * fields (as `runc state` prints them) and what the runtime needs to find the
 * container again (its cgroup, the start time of its init to detect pid reuse).
 */
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "util.h"

int state_root_open(const char *root, bool create, struct cella_error *err)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir_p(root, 0700, err) < 0)
			return cella_error_wrap(err, "--root");
		fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return cella_error_set(err, errno, "open the state root `%s`", root);
	return fd;
}

static void copy_str(char *dst, size_t len, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(dst, len, "%s", s ? s : "");
}

int state_load(int rootfd, const char *id, struct container_state *st, struct cella_error *err)
{
	char path[300];
	memset(st, 0, sizeof(*st));
	if (!name_is_valid(id))
		return cella_error_set(err, EINVAL, "invalid container id `%s`", id);
	snprintf(path, sizeof(path), "%s/state.json", id);
	cleanup_free char *text = read_file_at(rootfd, path, NULL, err);
	if (!text) {
		if (err->code == ENOENT) {
			struct stat sb;
			if (fstatat(rootfd, id, &sb, 0) == 0)
				return cella_error_set(err, EBUSY, "container `%s` is being created", id);
			return cella_error_set(err, ENOENT, "container `%s` does not exist", id);
		}
		return -1;
	}
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return cella_error_set(err, EINVAL, "corrupt state of container `%s`: %s", id, jerr.text);
	}
	copy_str(st->id, sizeof(st->id), o, "id");
	copy_str(st->bundle, sizeof(st->bundle), o, "bundle");
	copy_str(st->rootfs, sizeof(st->rootfs), o, "rootfs");
	copy_str(st->created, sizeof(st->created), o, "created");
	st->pid = json_integer_value(json_object_get(o, "pid"));
	json_t *ann = json_object_get(o, "annotations");
	if (json_is_object(ann) && json_object_size(ann))
		st->annotations_json = json_dumps(ann, JSON_COMPACT);
	json_t *priv = json_object_get(o, "cella");
	copy_str(st->cgroup_path, sizeof(st->cgroup_path), priv, "cgroupPath");
	st->start_time = json_integer_value(json_object_get(priv, "startTime"));
	st->hooks = json_is_true(json_object_get(priv, "hooks"));
	st->creating = json_is_true(json_object_get(priv, "creating"));
	json_decref(o);
	return 0;
}

int state_save(int rootfd, const struct container_state *st, bool fresh, struct cella_error *err)
{
	char path[300];
	json_t *ann = st->annotations_json ? json_loads(st->annotations_json, 0, NULL) : NULL;
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:{s:s, s:I}}",
			      "ociVersion", "1.2.0", "id", st->id, "pid", (int)st->pid,
			      "status", "created", "bundle", st->bundle, "rootfs", st->rootfs,
			      "created", st->created, "owner", "",
			      "annotations", ann ? ann : json_object(),
			      "cella", "cgroupPath", st->cgroup_path, "startTime",
			      (json_int_t)st->start_time);
	if (o && st->hooks)
		json_object_set_new(json_object_get(o, "cella"), "hooks", json_true());
	if (o && st->creating) {
		json_object_set_new(o, "status", json_string("creating"));
		json_object_set_new(json_object_get(o, "cella"), "creating", json_true());
	}
	if (!o)
		return cella_error_set(err, ENOMEM, "build the state of `%s`", st->id);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		return cella_error_set(err, ENOMEM, "build the state of `%s`", st->id);
	snprintf(path, sizeof(path), "%s/state.json", st->id);
	int r;
	if (fresh) {
		/* the first write in a new directory: no reader can see a torn file as
		 * a valid one (a partial state reads as "being created"), and one inode
		 * instead of two matters on the hot path of `run` */
		cleanup_close int fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		r = fd < 0 || write_all(fd, text, strlen(text)) < 0 ? cella_error_set(err, errno, "write `%s`", path) : 0;
	} else {
		r = write_file_atomic(rootfd, path, text, strlen(text), 0600, err);
	}
	free(text);
	return r;
}

int state_remove(int rootfd, const char *id, struct cella_error *err)
{
	cleanup_close int dfd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : cella_error_set(err, errno, "open state of `%s`", id);
	cleanup_dir DIR *d = fdopendir(dfd);
	if (!d)
		return cella_error_set(err, errno, "read state of `%s`", id);
	dfd = -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (unlinkat(rootfd, id, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return cella_error_set(err, errno, "remove state of `%s`", id);
	return 0;
}

void state_release(struct container_state *st)
{
	free(st->annotations_json);
	st->annotations_json = NULL;
}
