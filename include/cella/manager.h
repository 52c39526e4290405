/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcella's management layer: instances (VPS now, VM later), images,
 * profiles and their storage, as cellad serves them.  Objects cross this
 * API as jansson values in exactly the shape of the REST API (docs/api.yaml),
 * so the daemon, the CLI and the web console share one model.
 *
 * Errors: -1 / NULL with `err` set; err->code is an errno that the daemon
 * maps onto an HTTP status (cella_error_http_status()).
 */
#ifndef CELLA_MANAGER_H
#define CELLA_MANAGER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include <cella/error.h>
#include <cella/runtime.h>

/* Where the host keeps things; NULL members take the defaults. */
struct cella_host_opts {
	const char *var_dir;  /* /var/lib/cella: cella.db, images/, instances/ */
	const char *run_dir;  /* /run/cella: unix.socket, instances/NAME/ (monitor), runtime/ */
	const char *log_dir;  /* /var/log/cella: NAME/console.log */
	const char *libexec;  /* directory holding cella-monitor (default: next to the caller) */
};

struct cella_host;

CELLA_API int cella_host_open(const struct cella_host_opts *opts, struct cella_host **out,
			      struct cella_error *err);
CELLA_API void cella_host_close(struct cella_host *h);
CELLA_API const char *cella_host_run_dir(const struct cella_host *h);
CELLA_API const char *cella_host_var_dir(const struct cella_host *h);

/*
 * Finish or undo what a killed daemon left half done (creates, deletes,
 * snapshots, restores, copies); call before serving.  Returns a list of
 * one-line notes of what was done (for the log).
 */
CELLA_API json_t *cella_host_recover(struct cella_host *h, struct cella_error *err);

/* HTTP status for an error code: 400 EINVAL/ERANGE/ENAMETOOLONG, 404 ENOENT,
 * 409 EEXIST/EBUSY/EALREADY, 403 EPERM/EACCES, 507 ENOSPC, 500 otherwise. */
CELLA_API int cella_error_http_status(int code);

/* ---- config keys: one typed table ---- */

/* The table as JSON: [{"key","type","default","live","description","scope"}]. */
CELLA_API json_t *cella_config_keys(void);
/* Check a config object (keys and values); err names the offending key. */
CELLA_API int cella_config_validate(const json_t *config, bool for_profile, struct cella_error *err);

/* ---- instances ---- */

/*
 * An instance object:
 *   {"name","type":"vps"|"vm","status":"Running"|"Stopped"|"Frozen"|"Error",
 *    "status_code", "architecture","created_at","last_used_at","description",
 *    "config":{...}, "devices":{...}, "profiles":[...],
 *    "expanded_config":{...}, "expanded_devices":{...}, "stateful":false,
 *    "ephemeral":bool, "location":"none"}
 */
CELLA_API json_t *cella_instance_list(struct cella_host *h, struct cella_error *err);
CELLA_API json_t *cella_instance_get(struct cella_host *h, const char *name, struct cella_error *err);
/* 0 if the instance exists; -1 with ENOENT (or EINVAL for a bad name): a cheap check. */
CELLA_API int cella_instance_exists(struct cella_host *h, const char *name, struct cella_error *err);
/*
 * Live state: {"status","status_code","pid","processes","cpu":{"usage"},
 *   "memory":{"usage","usage_peak","limit"},"disk":{"root":{"usage","total"}},
 *   "network":{}, "started_at", "exit_code"}
 */
CELLA_API json_t *cella_instance_state(struct cella_host *h, const char *name, struct cella_error *err);

/*
 * Create (not start): {"name","type","source":{"type":"image","alias"|"fingerprint"}
 * | {"type":"none"}, "config","devices","profiles","description","ephemeral"}.
 */
CELLA_API int cella_instance_create(struct cella_host *h, const json_t *req, struct cella_error *err);
/* PUT (replace config/devices/profiles/description) or PATCH (merge). Live keys are applied. */
CELLA_API int cella_instance_update(struct cella_host *h, const char *name, const json_t *req,
				    bool patch, struct cella_error *err);
CELLA_API int cella_instance_rename(struct cella_host *h, const char *name, const char *new_name,
				    struct cella_error *err);
CELLA_API int cella_instance_delete(struct cella_host *h, const char *name, bool force,
				    struct cella_error *err);

CELLA_API int cella_instance_start(struct cella_host *h, const char *name, struct cella_error *err);
/* Ask the guest's init to shut down, kill after timeout seconds (force: kill now; timeout<0: default). */
CELLA_API int cella_instance_stop(struct cella_host *h, const char *name, bool force, int timeout,
				  struct cella_error *err);
CELLA_API int cella_instance_restart(struct cella_host *h, const char *name, bool force, int timeout,
				     struct cella_error *err);
CELLA_API int cella_instance_freeze(struct cella_host *h, const char *name, struct cella_error *err);
CELLA_API int cella_instance_unfreeze(struct cella_host *h, const char *name, struct cella_error *err);

/* Start what boot.autostart asks for, in boot.autostart.priority order (cellad at start). */
CELLA_API int cella_instances_autostart(struct cella_host *h, struct cella_error *err);

/* A process in a running instance, on the caller's fds. */
struct cella_instance_exec {
	char *const *argv;
	size_t argc;
	char *const *env;     /* "K=V" added */
	size_t n_env;
	const char *cwd;      /* NULL: /root for root, else / */
	uid_t uid;
	gid_t gid;
	bool tty;             /* a pty inside; stdin_fd/stdout_fd are relayed to it */
	int stdin_fd, stdout_fd, stderr_fd;
	unsigned short rows, cols;
	/* with has_control: each byte read from control_fd is a signal number
	 * for the process; EOF there changes nothing */
	bool has_control;
	int control_fd;
};
/* Runs to completion; *status is the exit code (128+N for a signal). */
CELLA_API int cella_instance_exec(struct cella_host *h, const char *name,
				  const struct cella_instance_exec *x, int *status, struct cella_error *err);

/* The console: connect to the instance monitor's console socket (a stream
 * carrying the pty); returns an fd, first sending the recent output. */
CELLA_API int cella_instance_console_open(struct cella_host *h, const char *name, struct cella_error *err);
/*
 * Follow a running instance's life: an fd giving one JSON line per change,
 * {"event":"restarted"|"stopped","reason":"reboot|poweroff|exited|killed|stopped|error",
 *  "exit_code":N,"boots":N}, and EOF once its monitor is gone.
 */
CELLA_API int cella_instance_watch(struct cella_host *h, const char *name, struct cella_error *err);
/* After a guest stopped by itself (poweroff, exit): its NICs' traffic counters
 * kept in the database and their filter rules dropped.  Nothing if it runs. */
CELLA_API void cella_instance_stopped(struct cella_host *h, const char *name);
/* The console log, caller frees: the guest's bytes as it wrote them, NULs
 * included, so their count is *len (NUL-terminated as well). */
CELLA_API char *cella_instance_console_log(struct cella_host *h, const char *name, size_t *len,
					   struct cella_error *err);

/* Files: paths resolved inside the instance's root, never following a guest symlink out. */
CELLA_API int cella_instance_file_pull(struct cella_host *h, const char *name, const char *path, int out_fd,
				       json_t **meta, struct cella_error *err);
/* S_IFDIR in mode: make a directory (in_fd unused). */
CELLA_API int cella_instance_file_push(struct cella_host *h, const char *name, const char *path, int in_fd,
				       uid_t uid, gid_t gid, mode_t mode, struct cella_error *err);
/* Remove a file, a link (never what it points to) or an empty directory. */
CELLA_API int cella_instance_file_delete(struct cella_host *h, const char *name, const char *path,
					 struct cella_error *err);

/* Snapshots: [{"name","created_at","stateful":false}] */
CELLA_API json_t *cella_snapshot_list(struct cella_host *h, const char *name, struct cella_error *err);
CELLA_API int cella_snapshot_create(struct cella_host *h, const char *name, const char *snap,
				    struct cella_error *err);
CELLA_API int cella_snapshot_restore(struct cella_host *h, const char *name, const char *snap,
				     struct cella_error *err);
CELLA_API int cella_snapshot_delete(struct cella_host *h, const char *name, const char *snap,
				    struct cella_error *err);
/* Copy an instance (or one of its snapshots, "name/snap") to a new stopped instance. */
CELLA_API int cella_instance_copy(struct cella_host *h, const char *source, const char *target,
				  struct cella_error *err);

/* ---- profiles: {"name","description","config","devices","used_by"} ---- */
CELLA_API json_t *cella_profile_list(struct cella_host *h, struct cella_error *err);
CELLA_API json_t *cella_profile_get(struct cella_host *h, const char *name, struct cella_error *err);
CELLA_API int cella_profile_create(struct cella_host *h, const json_t *req, struct cella_error *err);
CELLA_API int cella_profile_update(struct cella_host *h, const char *name, const json_t *req, bool patch,
				   struct cella_error *err);
CELLA_API int cella_profile_delete(struct cella_host *h, const char *name, struct cella_error *err);

/* ---- images: {"fingerprint","aliases":[{"name"}],"properties":{"os","release",
 *      "architecture","description","variant"},"size","created_at","type":"vps"} ---- */
CELLA_API json_t *cella_image_list(struct cella_host *h, struct cella_error *err);
CELLA_API json_t *cella_image_get(struct cella_host *h, const char *fingerprint_or_alias, struct cella_error *err);
/* Build "minimal" (busybox) or "debian/12" [variant]; returns the fingerprint (caller frees). */
CELLA_API char *cella_image_build(struct cella_host *h, const char *what, const char *variant,
				  const char *alias, struct cella_error *err);
/* Import a rootfs tarball (gz/xz/zstd/none) or an OCI layout/archive; returns the fingerprint. */
CELLA_API char *cella_image_import(struct cella_host *h, const char *path, const char *alias,
				   const json_t *properties, struct cella_error *err);
CELLA_API int cella_image_delete(struct cella_host *h, const char *fingerprint_or_alias, struct cella_error *err);
CELLA_API int cella_image_alias_add(struct cella_host *h, const char *alias, const char *fingerprint,
				    struct cella_error *err);
CELLA_API int cella_image_alias_delete(struct cella_host *h, const char *alias, struct cella_error *err);

/* Prometheus text of every instance's usage (caller frees). */
CELLA_API char *cella_metrics_text(struct cella_host *h, struct cella_error *err);

/* ---- networks: {"name","type":"bridge","description","config","managed":true,
 *      "status":"Created","used_by":["/1.0/instances/NAME"...]} ----
 * A managed network is a bridge in cellad's network namespace with gateway
 * addresses, forwarding and NAT.  Config keys: ipv4.address and
 * ipv6.address (the gateway as CIDR, "auto" or "none"; stored resolved),
 * ipv4.nat, ipv6.nat, security.port_isolation ("true"/"false"), dns.domain,
 * ipv4.dhcp.ranges ("FIRST-LAST[,...]"), user.*.  A subnet overlapping
 * another network or a route of the host is EINVAL naming both.  With
 * CELLA_NO_NETWORKS=1 in the environment nothing is done in the kernel
 * (the database alone changes). */
CELLA_API json_t *cella_network_list(struct cella_host *h, struct cella_error *err);
CELLA_API json_t *cella_network_get(struct cella_host *h, const char *name, struct cella_error *err);
/* {"name","description","config","type":"bridge"}; absent addresses are "auto" */
CELLA_API int cella_network_create(struct cella_host *h, const json_t *req, struct cella_error *err);
/* PUT (replace description and config) or PATCH (merge); "" unsets a key */
CELLA_API int cella_network_update(struct cella_host *h, const char *name, const json_t *req, bool patch,
				   struct cella_error *err);
/* EBUSY while an instance uses it; removes the bridge and its rules */
CELLA_API int cella_network_delete(struct cella_host *h, const char *name, struct cella_error *err);
/* {"addresses":[{"family","address","netmask","scope"}],"counters":{...},"hwaddr","mtu","state","type"} */
CELLA_API json_t *cella_network_state(struct cella_host *h, const char *name, struct cella_error *err);
/* At cellad's start (after recovery): the default network `cellabr0` when
 * there is none, then every network's bridge and rules brought up. */
CELLA_API int cella_networks_ensure(struct cella_host *h, struct cella_error *err);
/* Each network's dnsmasq running, started again where it is not; returns
 * what was done, a line each (caller decrefs; empty when all was well). */
CELLA_API json_t *cella_networks_supervise(struct cella_host *h);

/* Network forwards: {"listen_address", "description", "ports": [{"protocol":
 * "tcp"|"udp", "listen_port", "target_address", "target_port", "description"}]};
 * a listen address is forwarded once on the host. */
CELLA_API json_t *cella_network_forward_list(struct cella_host *h, const char *network, struct cella_error *err);
CELLA_API json_t *cella_network_forward_get(struct cella_host *h, const char *network, const char *listen,
					    struct cella_error *err);
CELLA_API int cella_network_forward_create(struct cella_host *h, const char *network, const json_t *req,
					   struct cella_error *err);
CELLA_API int cella_network_forward_update(struct cella_host *h, const char *network, const char *listen,
					   const json_t *req, bool patch, struct cella_error *err);
CELLA_API int cella_network_forward_delete(struct cella_host *h, const char *network, const char *listen,
					   struct cella_error *err);

#endif
