/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DHCP and DNS of a managed network: one dnsmasq per network, started,
 * reloaded, supervised and stopped by cellad (lib/dnsmasq.c).
 *
 * Everything of one network's dnsmasq lives in its directory `dir`
 * (RUN/networks/NAME): `dnsmasq.pid`, `hosts` (names, --addn-hosts),
 * `dhcp-hosts` (static leases, --dhcp-hostsfile) and `leases`.  Its
 * configuration is its command line: nothing of /etc/dnsmasq.conf is read.
 * dnsmasq leaves cellad's process tree (own session, reparented to init), so
 * a cellad that exits or is killed leaves DHCP and DNS running, and the next
 * one finds them through the pid file.
 *
 * Inputs are validated before they reach the command line or a file; a
 * refused input is EINVAL naming its field and changes nothing.  Calls for
 * one `dir` must be serialised by the caller (cellad holds its network lock).
 */
#ifndef CELLA_DNSMASQ_H
#define CELLA_DNSMASQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cella/error.h>

#include "util.h"

struct dnsmasq_conf {
	const char *network;      /* network name (for messages) */
	const char *bridge;       /* interface dnsmasq serves (--interface, --bind-interfaces) */
	const char *dir;          /* its own directory, absolute: pid file, hosts files, leases */
	const char *ipv4_address; /* the gateway "10.1.2.1/24" (with prefix) or NULL: no DHCPv4 */
	const char *ipv4_ranges;  /* "10.1.2.2-10.1.2.254[,a-b...]" or NULL: the whole subnet but the gateway */
	const char *ipv6_address; /* "fd42:1:2:3::1/64" or NULL: no DHCPv6/RA */
	const char *domain;       /* dns.domain, e.g. "cella"; NULL: plain names only */
	bool dhcp;                /* serve DHCP at all (false: DNS, and RA for IPv6) */
};

struct dnsmasq_host {
	const char *name;   /* instance name: resolvable as NAME and NAME.<domain>; NULL: a lease only */
	const char *mac;    /* "02:..." static DHCP lease by MAC */
	const char *ipv4;   /* or NULL */
	const char *ipv6;   /* or NULL */
};

/* Write the static leases (dhcp-hostsfile) and names (addn-hosts) of the
 * network atomically into conf->dir; if dnsmasq runs, SIGHUP it so it
 * rereads them (asynchronously: the new names answer a moment later). */
int dnsmasq_hosts_set(const struct dnsmasq_conf *c, const struct dnsmasq_host *hosts, size_t n,
		      struct cella_error *err) HIDDEN;

/* Start it if not running.  A live dnsmasq of this dir with the same
 * configuration is left alone; one with another is restarted.  Returns once
 * dnsmasq listens, or with the error dnsmasq printed. */
int dnsmasq_start(const struct dnsmasq_conf *c, struct cella_error *err) HIDDEN;

/* pid of the running dnsmasq of dir, 0 if none */
pid_t dnsmasq_pid(const char *dir) HIDDEN;

/* Stop it (SIGTERM, then SIGKILL after 2 s) and remove its files from dir
 * except the leases file; idempotent. */
int dnsmasq_stop(const char *dir, struct cella_error *err) HIDDEN;

#endif
