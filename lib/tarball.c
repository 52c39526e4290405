/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Archives for the image store.
 *
 * Extraction never hands a path to libarchive's disk writer (which works
 * relative to the process's cwd and follows what it finds): libarchive only
 * reads and decompresses, and every entry is created here, relative to a
 * directory fd:
 *  - the entry's path is cleaned first: absolute paths and `..` components
 *    are refused (they are how an archive names a host file);
 *  - its parent is opened with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS),
 *    so a symlink the archive planted earlier resolves inside the image the
 *    way the guest will see it, never to the host;
 *  - the leaf is created with *at() calls that do not follow it (O_EXCL,
 *    O_NOFOLLOW, AT_SYMLINK_NOFOLLOW);
 *  - owners must fit the instance's 65536 ids; device nodes are skipped
 *    (the engine provides /dev).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>

#include "tarball.h"
#include "util.h"

/* ARCHIVE_ERRNO_FILE_FORMAT on Linux */
#define EFTYPE_COMPAT EILSEQ

/* The instance's id range: what an idmapped mount can present. */
#define ID_MAX 65535

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->nbuf = 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	s->len += len;
	if (s->nbuf) {
		size_t n = 64 - s->nbuf < len ? 64 - s->nbuf : len;
		memcpy(s->buf + s->nbuf, p, n);
		s->nbuf += n, p += n, len -= n;
		if (s->nbuf < 64)
			return;
		sha256_block(s, s->buf);
		s->nbuf = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(s, p);
	memcpy(s->buf, p, len);
	s->nbuf = len;
}

void sha256_final_hex(struct sha256 *s, char hex[65])
{
	uint64_t bits = s->len * 8;
	uint8_t pad = 0x80, zero = 0, lenbe[8];
	sha256_update(s, &pad, 1);
	while (s->nbuf != 56)
		sha256_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenbe[i] = bits >> (56 - 8 * i);
	sha256_update(s, lenbe, 8);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
}

int sha256_fd(int fd, char digest[65], uint64_t *size, struct cella_error *err)
{
	struct sha256 s;
	cleanup_free char *buf = malloc(1 << 16);
	uint64_t total = 0;
	if (!buf)
		return cella_error_set(err, ENOMEM, "hash");
	sha256_init(&s);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cella_error_set(err, errno, "read");
		if (n == 0)
			break;
		sha256_update(&s, buf, n);
		total += n;
	}
	sha256_final_hex(&s, digest);
	if (size)
		*size = total;
	return 0;
}

/* ---- paths ---- */

int open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	for (int tries = 0;; tries++) {
		fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
		/* EAGAIN: a concurrent rename made the kernel give up; retry a few times */
		if (fd >= 0 || !(errno == EINTR || (errno == EAGAIN && tries < 16)))
			break;
	}
	return fd;
}

/*
 * "./a//b/" -> "a/b", "." -> "".  Refuses what would name something outside
 * the root on the host: an absolute path, a `..` component.  Returns why, or
 * NULL when `out` holds the clean path.
 */
static const char *path_clean(const char *in, char *out, size_t len)
{
	size_t o = 0;
	if (in[0] == '/')
		return "absolute path";
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchrnul(p, '/');
		size_t n = e - p;
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "`..` component";
		if (!(n == 1 && p[0] == '.')) {
			if (n > NAME_MAX)
				return "name too long";
			if (o + n + 2 > len)
				return "path too long";
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = e;
	}
	out[o] = '\0';
	return NULL;
}

/* ---- removal ---- */

/* dev: the filesystem of the top; a directory on another one is a mount
 * point (a leftover /proc of a failed debootstrap...): never descended. */
static int rm_rf_dev(int dirfd, const char *name, dev_t *dev, struct cella_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cella_error_set(err, errno, "stat `%s`", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return cella_error_set(err, errno, "remove `%s`", name);
		return 0;
	}
	if (!dev)
		dev = &st.st_dev;
	else if (st.st_dev != *dev)
		return cella_error_set(err, EXDEV, "remove `%s`: a mount point", name);
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", name);
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cella_error_set(err, errno, "open `%s`", name);
	}
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rm_rf_dev(fd, de->d_name, dev, err) < 0)
			return cella_error_wrap(err, "%s", name);
	}
	if (errno)
		return cella_error_set(err, errno, "read `%s`", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return cella_error_set(err, errno, "remove `%s`", name);
	return 0;
}

int rm_rf_at(int dirfd, const char *name, struct cella_error *err)
{
	return rm_rf_dev(dirfd, name, NULL, err);
}

/* ---- reading: a hashing source for libarchive ---- */

struct source {
	int fd;
	struct sha256 sha;
	uint64_t size;
	char buf[1 << 16];
};

static la_ssize_t source_read(struct archive *a, void *p, const void **out)
{
	struct source *s = p;
	ssize_t n;
	do
		n = read(s->fd, s->buf, sizeof(s->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read");
		return -1;
	}
	sha256_update(&s->sha, s->buf, n);
	s->size += n;
	*out = s->buf;
	return n;
}

/* libarchive's error as an errno: "not an archive" or "corrupt" is EINVAL,
 * an I/O error (EIO, ENOSPC...) stays what it is. */
static int archive_errno_map(struct archive *a)
{
	int e = archive_errno(a);
	return e <= 0 || e == EILSEQ || e == EFTYPE_COMPAT ? EINVAL : e;
}

/* What libarchive may read: tar in all its dialects, compressed or not. */
static struct archive *source_open(struct source *s, struct cella_error *err)
{
	struct archive *a = archive_read_new();
	if (!a) {
		cella_error_set(err, ENOMEM, "archive");
		return NULL;
	}
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_lzma(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	sha256_init(&s->sha);
	if (archive_read_open(a, s, NULL, source_read, NULL) != ARCHIVE_OK) {
		cella_error_set(err, archive_errno_map(a), "not a readable archive (%s)", archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Hash what libarchive left unread (padding, trailing blocks). */
static int source_finish(struct source *s, char digest[65], struct cella_error *err)
{
	for (;;) {
		ssize_t n = read(s->fd, s->buf, sizeof(s->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cella_error_set(err, errno, "read");
		if (n == 0)
			break;
		sha256_update(&s->sha, s->buf, n);
		s->size += n;
	}
	if (digest)
		sha256_final_hex(&s->sha, digest);
	return 0;
}

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

static int archive_fail(struct archive *a, struct cella_error *err, uint64_t n)
{
	return cella_error_set(err, archive_errno_map(a), "archive, after %llu entries: %s", (unsigned long long)n,
			       archive_error_string(a) ? archive_error_string(a) : "unreadable");
}

int tarball_scan_fd(int fd, char digest[65], uint64_t *size, bool *is_oci, struct cella_error *err)
{
	cleanup_free struct source *s = xmalloc0(sizeof(*s));
	s->fd = fd;
	cleanup_archive struct archive *a = source_open(s, err);
	if (!a)
		return -1;
	bool layout = false, index = false;
	uint64_t n = 0;
	struct archive_entry *e;
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return archive_fail(a, err, n);
		n++;
		const char *name = archive_entry_pathname(e);
		char clean[PATH_MAX];
		if (name && !path_clean(name, clean, sizeof(clean))) {
			layout |= !strcmp(clean, "oci-layout");
			index |= !strcmp(clean, "index.json");
		}
		if (archive_read_data_skip(a) < ARCHIVE_WARN)
			return archive_fail(a, err, n);
	}
	if (n == 0)
		return cella_error_set(err, EINVAL, "empty archive");
	if (source_finish(s, digest, err) < 0)
		return -1;
	*size = s->size;
	*is_oci = layout && index;
	return 0;
}

/* ---- extraction ---- */

struct extract {
	struct archive *a;
	int rootfd;
	unsigned flags;
	struct tarball_stats *st;
	json_t *layer;  /* OCI: paths this layer wrote, and their ancestors */
};

static void layer_note(struct extract *x, const char *path)
{
	char buf[PATH_MAX];
	if (!x->layer)
		return;
	snprintf(buf, sizeof(buf), "%s", path);
	for (;;) {
		if (json_object_get(x->layer, buf))
			return;
		json_object_set_new(x->layer, buf, json_true());
		char *slash = strrchr(buf, '/');
		if (!slash)
			return;
		*slash = '\0';
	}
}

/*
 * Open (O_PATH) the directory `dir` inside the root, creating what is
 * missing (root-owned, 0755), the way tar does for entries whose parents
 * the archive does not list.
 */
static int dir_open_p(int rootfd, const char *dir, bool create)
{
	int fd = open_in_root(rootfd, dir, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", dir);
	char *slash = strrchr(buf, '/');
	const char *leaf = buf;
	cleanup_close int parent = -1;
	if (slash) {
		*slash = '\0';
		leaf = slash + 1;
		parent = dir_open_p(rootfd, buf, true);
	} else {
		parent = open_in_root(rootfd, "", O_PATH | O_DIRECTORY, 0);
	}
	if (parent < 0)
		return -1;
	if (mkdirat(parent, leaf, 0755) < 0) {
		if (errno != EEXIST)
			return -1;
	} else if (fchmodat(parent, leaf, 0755, 0) < 0) { /* whatever the umask */
		return -1;
	}
	return open_in_root(rootfd, dir, O_PATH | O_DIRECTORY, 0);
}

/* Owners and times of what was just created at parent/leaf (not followed). */
static int meta_apply_at(int parent, const char *leaf, uid_t uid, gid_t gid, mode_t mode, bool is_link,
			 const struct timespec *mtime)
{
	struct timespec ts[2] = { *mtime, *mtime };
	if (fchownat(parent, leaf, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!is_link && fchmodat(parent, leaf, mode, 0) < 0)
		return -1;
	if (utimensat(parent, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return 0;
}

static int meta_apply_fd(int fd, uid_t uid, gid_t gid, mode_t mode, const struct timespec *mtime)
{
	struct timespec ts[2] = { *mtime, *mtime };
	/* chown first: it clears setuid/setgid bits that fchmod then sets */
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0 || futimens(fd, ts) < 0)
		return -1;
	return 0;
}

static int file_write(struct extract *x, int fd, int64_t size, const char *name, struct cella_error *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int64_t pos = 0;
	for (;;) {
		int r = archive_read_data_block(x->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return cella_error_set(err, archive_errno_map(x->a),
					       "entry `%s`: %s", name, archive_error_string(x->a));
		if (off != pos && lseek(fd, off, SEEK_SET) < 0)
			return cella_error_set(err, errno, "entry `%s`: seek", name);
		if (write_all(fd, buf, len) < 0)
			return cella_error_set(err, errno, "entry `%s`: write", name);
		pos = off + len;
		x->st->bytes += len;
	}
	/* sparse tail */
	if (pos < size && ftruncate(fd, size) < 0)
		return cella_error_set(err, errno, "entry `%s`: write", name);
	return 0;
}

/* .wh..wh..opq: empty the directory of what lower layers put there. */
static int whiteout_opaque(struct extract *x, const char *dir, const char *name, struct cella_error *err)
{
	cleanup_close int pfd = dir_open_p(x->rootfd, dir, true);
	if (pfd < 0)
		return cella_error_set(err, errno, "entry `%s`: open parent", name);
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "entry `%s`: open parent", name);
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cella_error_set(err, errno, "entry `%s`: open parent", name);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char path[PATH_MAX + NAME_MAX + 2];
		snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", de->d_name);
		if (json_object_get(x->layer, path))
			continue;
		if (rm_rf_at(fd, de->d_name, err) < 0)
			return cella_error_wrap(err, "entry `%s`", name);
	}
	return 0;
}

/* .wh.NAME: NAME, brought by a lower layer, is deleted. */
static int whiteout_one(struct extract *x, const char *dir, const char *victim, const char *name,
			struct cella_error *err)
{
	char path[PATH_MAX + NAME_MAX + 2];
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
		return cella_error_set(err, EINVAL, "entry `%s`: invalid whiteout", name);
	snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "", victim);
	if (json_object_get(x->layer, path))
		return 0;
	cleanup_close int pfd = dir_open_p(x->rootfd, dir, false);
	if (pfd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0
							   : cella_error_set(err, errno, "entry `%s`: open parent", name);
	if (rm_rf_at(pfd, victim, err) < 0)
		return cella_error_wrap(err, "entry `%s`", name);
	return 0;
}

/* Make room at parent/leaf for an entry of type `type`. */
static int leaf_clear(struct extract *x, int pfd, const char *leaf, mode_t type, const char *name,
		      struct cella_error *err)
{
	struct stat cur;
	if (fstatat(pfd, leaf, &cur, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cella_error_set(err, errno, "entry `%s`: stat", name);
	if (S_ISDIR(cur.st_mode)) {
		if (type == AE_IFDIR)
			return 1; /* keep it, update its metadata */
		if (x->flags & TARBALL_OCI_LAYER)
			return rm_rf_at(pfd, leaf, err) < 0 ? cella_error_wrap(err, "entry `%s`", name) : 0;
		/* A plain tarball replacing a directory by a file: only if empty
		 * (what tar does); never silently dropping a tree. */
		if (unlinkat(pfd, leaf, AT_REMOVEDIR) < 0)
			return cella_error_set(err, errno == ENOTEMPTY || errno == EEXIST ? EINVAL : errno,
					       "entry `%s`: would replace a non-empty directory", name);
		return 0;
	}
	if (unlinkat(pfd, leaf, 0) < 0)
		return cella_error_set(err, errno, "entry `%s`: replace", name);
	return 0;
}

static int hardlink_make(struct extract *x, int pfd, const char *leaf, const char *target, const char *name,
			 struct cella_error *err)
{
	char clean[PATH_MAX];
	const char *why = path_clean(target, clean, sizeof(clean));
	if (why)
		return cella_error_set(err, EINVAL, "entry `%s`: hard link target `%s`: %s", name, target, why);
	if (!*clean)
		return cella_error_set(err, EINVAL, "entry `%s`: hard link to the root", name);
	/* the target is resolved inside the root and not followed itself */
	cleanup_close int tfd = open_in_root(x->rootfd, clean, O_PATH | O_NOFOLLOW, 0);
	if (tfd < 0)
		return cella_error_set(err, errno, "entry `%s`: hard link target `%s`", name, target);
	struct stat st;
	if (fstat(tfd, &st) < 0)
		return cella_error_set(err, errno, "entry `%s`: hard link target `%s`", name, target);
	if (S_ISDIR(st.st_mode))
		return cella_error_set(err, EINVAL, "entry `%s`: hard link to the directory `%s`", name, target);
	if (st.st_uid > ID_MAX || st.st_gid > ID_MAX)
		return cella_error_set(err, EINVAL, "entry `%s`: hard link target `%s` has owner out of range", name,
				       target);
	if (linkat(tfd, "", pfd, leaf, AT_EMPTY_PATH) < 0) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tfd);
		if (linkat(AT_FDCWD, proc, pfd, leaf, AT_SYMLINK_FOLLOW) < 0)
			return cella_error_set(err, errno, "entry `%s`: hard link to `%s`", name, target);
	}
	return 0;
}

static int entry_extract(struct extract *x, struct archive_entry *e, struct cella_error *err)
{
	const char *name = archive_entry_pathname(e);
	if (!name)
		name = archive_entry_pathname_utf8(e);
	if (!name)
		return cella_error_set(err, EINVAL, "entry %llu: unreadable name", (unsigned long long)x->st->entries);

	char path[PATH_MAX];
	const char *why = path_clean(name, path, sizeof(path));
	if (why)
		return cella_error_set(err, EINVAL, "entry `%s`: %s", name, why);

	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	mode_t perm = archive_entry_perm(e) & 07777;
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	struct timespec mtime = { archive_entry_mtime(e), archive_entry_mtime_nsec(e) };

	if (x->flags & TARBALL_PLAIN) {
		/* an OCI layout's own files: only data, owned by root */
		if (hardlink || (type != AE_IFREG && type != AE_IFDIR))
			return cella_error_set(err, EINVAL, "entry `%s`: only files and directories belong in an image layout",
					       name);
		uid = gid = 0;
		perm = type == AE_IFDIR ? 0755 : 0644;
	}
	/* Owners beyond the instance's 65536 ids cannot be presented through
	 * its idmapped mount; they would become the overflow id, or a host id. */
	if (uid < 0 || uid > ID_MAX || gid < 0 || gid > ID_MAX)
		return cella_error_set(err, EINVAL, "entry `%s`: owner %lld:%lld outside 0..%d", name, (long long)uid,
				       (long long)gid, ID_MAX);
	/* Redundant with the rule above, kept on purpose: a setuid/setgid file
	 * must never be owned by an id the guest does not own. */
	if (((perm & S_ISUID) && uid > ID_MAX) || ((perm & S_ISGID) && gid > ID_MAX))
		return cella_error_set(err, EINVAL, "entry `%s`: set-id bit with an owner outside 0..%d", name, ID_MAX);

	if (!hardlink && (type == AE_IFCHR || type == AE_IFBLK)) {
		x->st->devices_skipped++;
		return 0;
	}
	if (!hardlink && type == AE_IFSOCK) {
		x->st->sockets_skipped++;
		return 0;
	}
	if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFIFO)
		return cella_error_set(err, EINVAL, "entry `%s`: unknown file type 0%o", name, (unsigned)type);

	/* the root itself ("./") */
	if (!*path) {
		if (type != AE_IFDIR || hardlink)
			return cella_error_set(err, EINVAL, "entry `%s`: would replace the root", name);
		cleanup_close int fd = open_in_root(x->rootfd, "", O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0 || meta_apply_fd(fd, uid, gid, perm, &mtime) < 0)
			return cella_error_set(err, errno, "entry `%s`", name);
		return 0;
	}

	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *leaf = slash ? slash + 1 : path;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);

	if ((x->flags & TARBALL_OCI_LAYER) && !strncmp(leaf, ".wh.", 4)) {
		if (!strcmp(leaf, ".wh..wh..opq"))
			return whiteout_opaque(x, dir, name, err);
		return whiteout_one(x, dir, leaf + 4, name, err);
	}

	cleanup_close int pfd = dir_open_p(x->rootfd, dir, true);
	if (pfd < 0)
		return cella_error_set(err, errno, "entry `%s`: parent directory", name);

	int kept = leaf_clear(x, pfd, leaf, hardlink ? AE_IFREG : type, name, err);
	if (kept < 0)
		return -1;
	layer_note(x, path);

	if (hardlink)
		return hardlink_make(x, pfd, leaf, hardlink, name, err);

	switch (type) {
	case AE_IFDIR: {
		if (!kept && mkdirat(pfd, leaf, 0700) < 0)
			return cella_error_set(err, errno, "entry `%s`: mkdir", name);
		cleanup_close int fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || meta_apply_fd(fd, uid, gid, perm, &mtime) < 0)
			return cella_error_set(err, errno, "entry `%s`", name);
		return 0;
	}
	case AE_IFREG: {
		cleanup_close int fd =
			openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return cella_error_set(err, errno, "entry `%s`: create", name);
		if (file_write(x, fd, archive_entry_size(e), name, err) < 0)
			return -1;
		if (meta_apply_fd(fd, uid, gid, perm, &mtime) < 0)
			return cella_error_set(err, errno, "entry `%s`", name);
		return 0;
	}
	case AE_IFLNK: {
		/* The target is data: it is never followed here, and every later
		 * lookup through it is made inside the root. */
		const char *target = archive_entry_symlink(e);
		if (!target || !*target)
			return cella_error_set(err, EINVAL, "entry `%s`: symlink without target", name);
		if (symlinkat(target, pfd, leaf) < 0)
			return cella_error_set(err, errno, "entry `%s`: symlink", name);
		if (meta_apply_at(pfd, leaf, uid, gid, 0, true, &mtime) < 0)
			return cella_error_set(err, errno, "entry `%s`", name);
		return 0;
	}
	case AE_IFIFO:
		if (mknodat(pfd, leaf, S_IFIFO | 0600, 0) < 0 || meta_apply_at(pfd, leaf, uid, gid, perm, false, &mtime) < 0)
			return cella_error_set(err, errno, "entry `%s`: fifo", name);
		return 0;
	}
	return 0;
}

int tarball_extract_fd(int fd, int rootfd, unsigned flags, struct tarball_stats *st, char digest[65],
		       struct cella_error *err)
{
	struct tarball_stats dummy = { 0 };
	cleanup_free struct source *s = xmalloc0(sizeof(*s));
	s->fd = fd;
	cleanup_archive struct archive *a = source_open(s, err);
	if (!a)
		return -1;
	struct extract x = {
		.a = a,
		.rootfd = rootfd,
		.flags = flags,
		.st = st ? st : &dummy,
		.layer = (flags & TARBALL_OCI_LAYER) ? json_object() : NULL,
	};
	int ret = 0;
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			ret = archive_fail(a, err, x.st->entries);
			break;
		}
		if (entry_extract(&x, e, err) < 0) {
			ret = -1;
			break;
		}
		x.st->entries++;
	}
	json_decref(x.layer);
	if (ret == 0 && x.st->entries == 0 && !(flags & TARBALL_OCI_LAYER))
		ret = cella_error_set(err, EINVAL, "empty archive");
	if (ret == 0)
		ret = source_finish(s, digest, err);
	return ret;
}

/* ---- the canonical archive of a tree ---- */

struct sink {
	struct sha256 sha;
	uint64_t size;
	json_t *inodes; /* "dev:ino" -> first path, for hard links */
	char *buf;
};

static la_ssize_t sink_write(struct archive *a, void *p, const void *buf, size_t len)
{
	(void)a;
	struct sink *s = p;
	sha256_update(&s->sha, buf, len);
	s->size += len;
	return len;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int tree_write(struct archive *a, struct sink *s, int dfd, const char *prefix, struct cella_error *err);

static int tree_entry(struct archive *a, struct sink *s, int dfd, const char *name, const char *path,
		      struct cella_error *err)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cella_error_set(err, errno, "stat `%s`", path);
	if (S_ISSOCK(st.st_mode))
		return 0;
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_uid(e, st.st_uid);
	archive_entry_set_gid(e, st.st_gid);
	archive_entry_set_mode(e, st.st_mode);
	archive_entry_set_mtime(e, 0, 0);
	bool data = false;
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		char key[64];
		snprintf(key, sizeof(key), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
		json_t *first = json_object_get(s->inodes, key);
		if (first) {
			archive_entry_set_hardlink(e, json_string_value(first));
			archive_entry_set_size(e, 0);
		} else {
			json_object_set_new(s->inodes, key, json_string(path));
			data = true;
		}
	} else if (S_ISREG(st.st_mode)) {
		data = true;
	}
	if (data)
		archive_entry_set_size(e, st.st_size);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			archive_entry_free(e);
			return cella_error_set(err, errno, "readlink `%s`", path);
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	}
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		archive_entry_set_rdev(e, st.st_rdev);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return cella_error_set(err, EIO, "archive `%s`: %s", path, archive_error_string(a));
	if (data) {
		cleanup_close int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return cella_error_set(err, errno, "open `%s`", path);
		for (;;) {
			ssize_t n = read(fd, s->buf, 1 << 16);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return cella_error_set(err, errno, "read `%s`", path);
			if (n == 0)
				break;
			if (archive_write_data(a, s->buf, n) < 0)
				return cella_error_set(err, EIO, "archive `%s`: %s", path, archive_error_string(a));
		}
	}
	if (S_ISDIR(st.st_mode)) {
		cleanup_close int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return cella_error_set(err, errno, "open `%s`", path);
		return tree_write(a, s, sub, path, err);
	}
	return 0;
}

static int tree_write(struct archive *a, struct sink *s, int dfd, const char *prefix, struct cella_error *err)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", prefix);
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cella_error_set(err, errno, "open `%s`", prefix);
	}
	cleanup_strv char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 32;
			char **nv = realloc(names, cap * sizeof(*names));
			if (!nv)
				return cella_error_set(err, ENOMEM, "read `%s`", prefix);
			names = nv;
		}
		names[n++] = xstrdup(de->d_name);
		names[n] = NULL;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix, names[i]) >= sizeof(path))
			return cella_error_set(err, ENAMETOOLONG, "`%s%s`", prefix, names[i]);
		if (tree_entry(a, s, fd, names[i], path, err) < 0)
			return -1;
	}
	return 0;
}

static void archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

int tree_digest(int rootfd, char digest[65], uint64_t *size, struct cella_error *err)
{
	cleanup_free char *buf = malloc(1 << 16);
	struct sink s = { .inodes = json_object(), .buf = buf };
	if (!buf)
		return cella_error_set(err, ENOMEM, "canonical archive");
	__attribute__((cleanup(archive_write_freep))) struct archive *a = archive_write_new();
	sha256_init(&s.sha);
	if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK || archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, &s, NULL, sink_write, NULL) != ARCHIVE_OK) {
		json_decref(s.inodes);
		return cella_error_set(err, ENOMEM, "canonical archive: %s", a ? archive_error_string(a) : "");
	}
	/* the root is "./", its children "./NAME" */
	int ret = tree_entry(a, &s, rootfd, ".", "./", err);
	json_decref(s.inodes);
	if (ret < 0)
		return -1;
	if (archive_write_close(a) != ARCHIVE_OK)
		return cella_error_set(err, EIO, "canonical archive: %s", archive_error_string(a));
	sha256_final_hex(&s.sha, digest);
	if (size)
		*size = s.size;
	return 0;
}
