/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cellad: serves Cella's REST API on a unix socket.  Options, the socket,
 * signals; the routes live in one file per resource.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cellad.h"

struct daemon_ctx g_daemon = { .group = (gid_t)-1 };

static void usage(FILE *out)
{
	fputs("Usage: cellad [OPTION]...\n"
	      "Serve Cella's REST API on a unix socket.\n\n"
	      "  --var-dir DIR    state: database, images, instances (/var/lib/cella)\n"
	      "  --run-dir DIR    runtime state (/run/cella)\n"
	      "  --log-dir DIR    instance logs (/var/log/cella)\n"
	      "  --socket PATH    the API socket (RUN-DIR/unix.socket)\n"
	      "  --group NAME     group allowed to use the socket (cella, when it exists)\n"
	      "  --debug          log debug messages\n"
	      "  --list-routes    print the route table and exit\n"
	      "  --help           this help\n"
	      "  --version        print the version\n",
	      out);
}

/* Is a daemon answering on `path`? */
static bool socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

/*
 * Our listening socket.  A socket file left by a killed daemon is removed
 * only if nothing answers on it; one that answers means another cellad
 * serves this tree and we refuse to start.  Mode 0660, group `group`: the
 * file system is the first fence, SO_PEERCRED the second (server.c).
 */
static int socket_listen(const char *path, gid_t group, struct cella_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return cella_error_set(err, ENAMETOOLONG, "socket path `%s`", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return cella_error_set(err, EEXIST, "`%s` exists and is not a socket", path);
		if (socket_answers(path))
			return cella_error_set(err, EADDRINUSE, "another cellad is serving `%s`", path);
		if (unlink(path) < 0 && errno != ENOENT)
			return cella_error_set(err, errno, "remove stale socket `%s`", path);
		log_info("removed stale socket %s", path);
	}
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cella_error_set(err, errno, "socket");
	/* created with no access for anyone outside the group, before the chmod */
	mode_t old = umask(0117);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return cella_error_set(err, errno, "bind `%s`", path);
	if (chmod(path, 0660) < 0)
		return cella_error_set(err, errno, "chmod `%s`", path);
	if (group != (gid_t)-1 && chown(path, 0, group) < 0)
		return cella_error_set(err, errno, "chown `%s`", path);
	if (listen(fd, 128) < 0)
		return cella_error_set(err, errno, "listen `%s`", path);
	return steal_fd(&fd);
}

/* One daemon per run directory: held until we exit, even by SIGKILL. */
static int lock_run_dir(const char *run_dir, struct cella_error *err)
{
	cleanup_free char *path = xasprintf("%s/cellad.lock", run_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cella_error_set(err, errno, "open `%s`", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return cella_error_set(err, e == EWOULDBLOCK ? EADDRINUSE : e, "another cellad holds `%s`", path);
	}
	return fd;
}

static int resolve_group(const char *name, bool explicit, gid_t *gid, struct cella_error *err)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int r = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (r == 0 && res) {
		*gid = res->gr_gid;
		return 0;
	}
	*gid = (gid_t)-1;
	if (explicit)
		return cella_error_set(err, r ? r : ENOENT, "group `%s`", name);
	return 0;
}

/* Open the host, listen, serve until SIGTERM/SIGINT; -1 with err if it could not start. */
static void *autostart_main(void *unused)
{
	(void)unused;
	struct cella_error err = { 0 };
	if (cella_instances_autostart(g_daemon.host, &err) < 0)
		log_warn("autostart: %s", err.msg);
	watch_running();
	return NULL;
}

/* What runs beside the guests and must keep running: each network's dnsmasq. */
static void *supervise_main(void *unused)
{
	(void)unused;
	for (;;) {
		sleep(5);
		json_t *done = cella_networks_supervise(g_daemon.host);
		size_t i;
		json_t *line;
		json_array_foreach(done, i, line)
			log_warn("%s", json_string_value(line));
		json_decref(done);
	}
	return NULL;
}

static int serve(struct cella_host_opts *opts, const char *socket_path, const char *group, bool group_explicit,
		 sigset_t *sigs, struct cella_error *err)
{
	if (resolve_group(group, group_explicit, &g_daemon.group, err) < 0)
		return -1;
	if (cella_host_open(opts, &g_daemon.host, err) < 0) {
		cella_error_wrap(err, "open host");
		return -1;
	}
	const char *run_dir = cella_host_run_dir(g_daemon.host);
	g_daemon.log_dir = opts->log_dir ? opts->log_dir : "/var/log/cella";
	int lock_fd = lock_run_dir(run_dir, err);
	if (lock_fd < 0)
		return -1;
	cleanup_free char *default_socket = xasprintf("%s/unix.socket", run_dir);
	if (!socket_path)
		socket_path = default_socket;
	int listen_fd = socket_listen(socket_path, g_daemon.group, err);
	if (listen_fd < 0)
		return -1;

	/* one fd per connection, per watched instance, per tree level copied: as many as we may */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	/* what a killed predecessor left half done, before anyone can see it */
	json_t *notes = cella_host_recover(g_daemon.host, err);
	size_t i;
	json_t *note;
	json_array_foreach(notes, i, note)
		log_info("recovery: %s", json_string_value(note));
	json_decref(notes);
	/* managed networks' bridges and rules; a host without bridges still serves */
	if (cella_networks_ensure(g_daemon.host, err) < 0) {
		log_warn("networks: %s", err->msg);
		cella_error_clear(err);
	}

	struct MHD_Daemon *d = server_start(listen_fd, err);
	if (!d)
		return -1;
	log_info("cellad %s serving %s (pid %d)", CELLA_VERSION, socket_path, (int)getpid());

	if (watch_start() < 0)
		log_warn("cannot follow the instances' own changes: %s", strerror(errno));
	pthread_t supervise;
	if (pthread_create(&supervise, NULL, supervise_main, NULL) == 0)
		pthread_detach(supervise);
	/* autostart while serving: its delays must not keep the API waiting */
	pthread_t autostart;
	if (pthread_create(&autostart, NULL, autostart_main, NULL) == 0)
		pthread_detach(autostart);
	else
		autostart_main(NULL);

	int sig = 0;
	while (sigwait(sigs, &sig) != 0)
		;
	/*
	 * Stop serving and leave: instances run under their own monitors and
	 * outlive us.  Connection threads (websockets, /wait) are not waited
	 * for; the process exit ends them.
	 */
	log_info("signal %d: stopping", sig);
	unlink(socket_path);
	close(lock_fd);
	fflush(stderr);
	_exit(0);
}

enum { OPT_VAR = 256, OPT_RUN, OPT_LOG, OPT_SOCKET, OPT_GROUP, OPT_DEBUG, OPT_LIST, OPT_HELP, OPT_VERSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "var-dir", required_argument, NULL, OPT_VAR },
		{ "run-dir", required_argument, NULL, OPT_RUN },
		{ "log-dir", required_argument, NULL, OPT_LOG },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "debug", no_argument, NULL, OPT_DEBUG },
		{ "list-routes", no_argument, NULL, OPT_LIST },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	struct cella_host_opts opts = { 0 };
	const char *socket_path = NULL, *group = "cella";
	bool group_explicit = false;
	struct cella_error err = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_VAR: opts.var_dir = optarg; break;
		case OPT_RUN: opts.run_dir = optarg; break;
		case OPT_LOG: opts.log_dir = optarg; break;
		case OPT_SOCKET: socket_path = optarg; break;
		case OPT_GROUP: group = optarg; group_explicit = true; break;
		case OPT_DEBUG: g_daemon.debug = true; break;
		case OPT_LIST: server_list_routes(stdout); return 0;
		case OPT_HELP: usage(stdout); return 0;
		case OPT_VERSION: printf("cellad %s\n", CELLA_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cellad: unexpected argument `%s`\n", argv[optind]);
		return 2;
	}
	log_set_debug(g_daemon.debug);

	/* SIGTERM/SIGINT are taken by sigwait below; blocked before any thread starts */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (serve(&opts, socket_path, group, group_explicit, &sigs, &err) == 0)
		return 0;
	log_error("%s", err.msg);
	return 1;
}
