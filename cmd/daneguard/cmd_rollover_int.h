/*
 * cmd_rollover_int.h - shared between cmd_rollover_state.c (arguments, init, status, output)
 * and cmd_rollover_steps.c (the network steps, publish, advance, recovery) of the stateful
 * `daneguard rollover --state DIR` commands. Private to cmd/.
 */
#ifndef DG_CMD_ROLLOVER_INT_H
#define DG_CMD_ROLLOVER_INT_H

#include "cmd.h"

#include <daneguard/deploy.h>
#include <daneguard/publish.h>
#include <daneguard/rollover.h>

#include <stdbool.h>
#include <stdint.h>

/** What one host looks like now: auth report, validated lookup, live key. */
struct rs_host {
	struct dg_publish_report *rep; /**< owned; NULL until checked */
	struct dg_tlsa_set *resolved;  /**< validated answer, owned; NULL if none */
	bool resolved_secure;
	bool resolved_ok; /**< secure and equal to the desired set */
	uint32_t resolved_ttl_s;
	char resolver_why[256];
	char live_id[DG_ROLLOVER_ID_LEN + 1]; /**< key id presented, "" unknown */
	char live_why[256];
};

/** The whole run of one stateful command. */
struct rs_ctx {
	const char *dir;
	struct dg_rollover_conf conf;
	struct dg_rollover_state st;
	EVP_PKEY *cur, *next;
	X509 *issuer; /**< ee-ta: issuer of the installed certificate */
	struct dg_tlsa_set *desired;
	char digest[DG_ROLLOVER_ID_LEN + 1];
	struct cmd_net net;
	struct dg_tsig_key key;
	struct rs_host host[DG_ROLLOVER_MAX_HOSTS];
	uint32_t wait_s, timeout_s;
	uint16_t dns_port;
	bool json;
	int lock_fd;
	/* one asynchronous operation at a time (one event loop run per step) */
	bool done;
	enum dg_status op_st;
	struct dg_err op_err;
	void *op_res;
};

/** Load keys, issuer and desired set for the state. @return CMD_CONTINUE or an exit code */
int rs_prepare(struct rs_ctx *c);
/** Free what rs_prepare() and the observations made. */
void rs_release(struct rs_ctx *c);
/** Observe every host: auth check + validated lookup, noting first-seen times (and, with
 *  @p live, the live key). @return true when every observer serves the desired set */
bool rs_observe(struct rs_ctx *c, bool live);
/** `publish`: UPDATE (or hook) until every server serves the desired set. @return exit */
int rs_publish(struct rs_ctx *c);
/** `advance`: put the next key in service when safe. @return exit code */
int rs_advance(struct rs_ctx *c);
/** Recover a half-done advance. @return CMD_CONTINUE when idle afterwards, else exit code */
int rs_recover(struct rs_ctx *c);
/** The recovery decision for the state on disk (no change made). */
enum dg_rollover_recovery rs_recovery_needed(struct rs_ctx *c);
/** Save the journal; @return CMD_CONTINUE or CMD_EXIT_INTERNAL after a line */
int rs_save(struct rs_ctx *c);
/** One line on stderr, "daneguard: rollover: ..." */
void rs_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* DG_CMD_ROLLOVER_INT_H */
