/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signal names and numbers, as `kill` and the runtime spec spell them. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cella/runtime.h>
#include "engine.h"
#include "util.h"

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{ "HUP", SIGHUP },	{ "INT", SIGINT },	{ "QUIT", SIGQUIT },
	{ "ILL", SIGILL },	{ "TRAP", SIGTRAP },	{ "ABRT", SIGABRT },
	{ "IOT", SIGIOT },	{ "BUS", SIGBUS },	{ "FPE", SIGFPE },
	{ "KILL", SIGKILL },	{ "USR1", SIGUSR1 },	{ "SEGV", SIGSEGV },
	{ "USR2", SIGUSR2 },	{ "PIPE", SIGPIPE },	{ "ALRM", SIGALRM },
	{ "TERM", SIGTERM },
#ifdef SIGSTKFLT
	{ "STKFLT", SIGSTKFLT },
#endif
#ifdef SIGEMT
	{ "EMT", SIGEMT },
#endif
	{ "CHLD", SIGCHLD },	{ "CLD", SIGCHLD },	{ "CONT", SIGCONT },
	{ "STOP", SIGSTOP },	{ "TSTP", SIGTSTP },	{ "TTIN", SIGTTIN },
	{ "TTOU", SIGTTOU },	{ "URG", SIGURG },	{ "XCPU", SIGXCPU },
	{ "XFSZ", SIGXFSZ },	{ "VTALRM", SIGVTALRM },	{ "PROF", SIGPROF },
	{ "WINCH", SIGWINCH },	{ "IO", SIGIO },	{ "POLL", SIGPOLL },
	{ "PWR", SIGPWR },	{ "SYS", SIGSYS },
};

/* A decimal number made only of digits, at most `max`; -1 otherwise. */
static int parse_small_uint(const char *s, int max)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return (int)v;
}

/* "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n" (prefix already stripped). */
static int parse_realtime(const char *s)
{
	int base, sign, n;

	if (strncasecmp(s, "RTMIN", 5) == 0) {
		base = SIGRTMIN;
		sign = 1;
	} else if (strncasecmp(s, "RTMAX", 5) == 0) {
		base = SIGRTMAX;
		sign = -1;
	} else {
		return -1;
	}
	s += 5;
	if (*s == '\0')
		return base;
	if (*s != (sign > 0 ? '+' : '-'))
		return -1;
	n = parse_small_uint(s + 1, SIGRTMAX - SIGRTMIN);
	return n < 0 ? -1 : base + sign * n;
}

int cella_signal_parse(const char *s)
{
	if (!s)
		return -1;
	if (*s >= '0' && *s <= '9') {
		int n = parse_small_uint(s, SIGRTMAX);
		return n >= 1 ? n : -1;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (strcasecmp(s, signal_names[i].name) == 0)
			return signal_names[i].sig;
	return parse_realtime(s);
}

void signals_reset_all(void)
{
	for (int sig = 1; sig < SIGRTMIN; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}
