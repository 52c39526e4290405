/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TEMPORARY STUBS: replaced by the engine. */
#include <errno.h>
#include <stdlib.h>
#include <cella/runtime.h>
#include "util.h"

const char *cella_version(void) { return CELLA_VERSION; }
int cella_container_create(struct cella_runtime *rt, const char *id, const struct cella_create_opts *opts, struct cella_error *err) { (void)rt; (void)id; (void)opts; return cella_error_set(err, ENOSYS, "create"); }
int cella_container_start(struct cella_runtime *rt, const char *id, struct cella_error *err) { (void)rt; (void)id; return cella_error_set(err, ENOSYS, "start"); }
int cella_container_run(struct cella_runtime *rt, const char *id, const struct cella_create_opts *opts, int *wstatus, struct cella_error *err) { (void)rt; (void)id; (void)opts; (void)wstatus; return cella_error_set(err, ENOSYS, "run"); }
int cella_container_state(struct cella_runtime *rt, const char *id, struct cella_state *st, struct cella_error *err) { (void)rt; (void)id; (void)st; return cella_error_set(err, ENOSYS, "state"); }
void cella_state_release(struct cella_state *st) { free(st->annotations_json); }
char *cella_state_to_json(const struct cella_state *st, bool pretty) { (void)st; (void)pretty; return NULL; }
int cella_container_kill(struct cella_runtime *rt, const char *id, int sig, unsigned flags, struct cella_error *err) { (void)rt; (void)id; (void)sig; (void)flags; return cella_error_set(err, ENOSYS, "kill"); }
int cella_container_delete(struct cella_runtime *rt, const char *id, unsigned flags, struct cella_error *err) { (void)rt; (void)id; (void)flags; return cella_error_set(err, ENOSYS, "delete"); }
int cella_container_pause(struct cella_runtime *rt, const char *id, struct cella_error *err) { (void)rt; (void)id; return cella_error_set(err, ENOSYS, "pause"); }
int cella_container_resume(struct cella_runtime *rt, const char *id, struct cella_error *err) { (void)rt; (void)id; return cella_error_set(err, ENOSYS, "resume"); }
int cella_container_pids(struct cella_runtime *rt, const char *id, pid_t **pids, size_t *n, struct cella_error *err) { (void)rt; (void)id; (void)pids; (void)n; return cella_error_set(err, ENOSYS, "ps"); }
int cella_container_list(struct cella_runtime *rt, char ***ids, size_t *n, struct cella_error *err) { (void)rt; (void)ids; (void)n; return cella_error_set(err, ENOSYS, "list"); }
const char *cella_status_name(enum cella_status s) { static const char *n[] = {"creating","created","running","paused","stopped"}; return n[s]; }
