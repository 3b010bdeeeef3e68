/*
 * scan_int.h - private structures of the engine (lib/scan).
 *
 * One struct dg_engine per run; one struct scan_check per domain being
 * checked; one struct scan_host per MX host of that domain; one struct
 * scan_addr per address of that host. A shared struct scan_probe per
 * (address, port, SNI, key type) holds the TLS probe every domain reuses.
 *
 * Completion: each check counts the asynchronous operations it waits for
 * (scan_hold / scan_release); when the count drops to zero the verdict is
 * computed and the callback gets the result.
 */
#ifndef DG_SCAN_INT_H
#define DG_SCAN_INT_H

#include <daneguard/scan.h>
#include <daneguard/smtp.h>
#include <daneguard/util.h>

#include <openssl/x509.h>

struct scan_check;
struct scan_host;
struct probe_later;

/* ---- shared TLS probes (scan_probe.c) ----------------------------------------------- */

enum scan_probe_state { SCAN_PROBE_QUEUED, SCAN_PROBE_RUNNING, SCAN_PROBE_DONE };

/** Someone waiting for a probe: an address of a host of a check, and which slot. */
struct scan_waiter {
	struct scan_addr *sa;
	size_t slot;
	struct scan_waiter *next;
};

/** One TLS probe shared by every domain of the run. */
struct scan_probe {
	char *key;                   /* "addr|port|sni|keytype" */
	char addr[46];
	char *sni;
	char *host;                  /* MX host name counted by the per-host cap (first asker) */
	enum dg_probe_key keytype;
	enum scan_probe_state state;
	struct dg_smtp_probe *probe; /* while running */
	struct scan_waiter *waiters; /* while queued or running */
	/* the outcome, kept for later domains */
	int outcome;
	int stage;
	char *reason;
	char *tls_version, *cipher, *peer_key, *transcript;
	STACK_OF(X509) *chain;
	struct dg_cert_info *certs;  /* the chain described once (dg_cert_info_get), copied into
	                                each domain's report: no X509 parsing per domain */
	size_t n_certs;              /* at most DG_MAX_CHAIN */
	struct dg_engine *eng;
	struct scan_probe *hnext;    /* hash chain */
	struct scan_probe *qnext;    /* run queue */
};

/* ---- the engine (scan_engine.c) ------------------------------------------------------ */

#define SCAN_PROBE_BUCKETS 4096
#define SCAN_ADDR_BUCKETS 1024

/** Probes in flight to one address or one MX host name (the caps of scan_probe.c). */
struct scan_load {
	char key[DG_NAME_BUF_SIZE];
	unsigned running;
	bool started;                /* a probe was started (last_start_ms is valid) */
	uint64_t last_start_ms;      /* monotonic start of the latest probe (conn_delay_ms) */
	struct scan_load *next;
};
#define SCAN_EXPIRY_WARN_DAYS 21 /* advice: a DANE-TA chain certificate expires soon */

struct dg_engine {
	struct event_base *base;
	struct dg_engine_opts opts;
	struct dg_dns *dns;
	struct dg_dane_ctx *dane;
	struct scan_probe *probes[SCAN_PROBE_BUCKETS];
	struct scan_probe *queue_head, *queue_tail;
	struct probe_later *later;  /* answers from finished probes, due next loop turn */
	size_t probes_running;
	struct scan_load *addr_load[SCAN_ADDR_BUCKETS]; /* running probes per address */
	struct scan_load *host_load[SCAN_ADDR_BUCKETS]; /* running probes per MX host name */
	struct event *queue_timer;  /* re-runs the queue when a conn_delay_ms wait ends */
	struct dg_engine_stats stats;
	struct scan_check *checks; /* running checks */
	size_t n_checks;
	struct dg_sts_fetcher *sts_fetcher; /* MTA-STS policy fetches (opts.mta_sts) */
	X509_STORE *sts_store;              /* CAs for MTA-STS PKIX checks (opts.mta_sts) */
};

/* ---- MTA-STS and TLS-RPT of one domain (scan_sts.c) ---------------------------------- */

struct scan_sts {
	uint64_t q_txt, q_rpt, q_a, q_aaaa;
	int waits;                   /* STS TXT + policy host address lookups outstanding */
	const char *addrs[DG_MAX_ADDRS]; /* policy host addresses (arena) */
	size_t n_addrs;
	const char *addr_why;        /* why there is no usable address */
	struct dg_sts_fetch *fetch;  /* while the policy is fetched */
	struct dg_sts_policy policy; /* valid policy (owned; cleaned in scan_sts_release) */
};

/* ---- one domain (scan_domain.c) ------------------------------------------------------ */

struct scan_check {
	struct dg_engine *eng;
	struct dg_domain_result *res;
	struct dg_arena *arena;
	dg_engine_cb *cb;
	void *arg;
	int pending;
	uint64_t started_ms;
	uint64_t mx_query;
	const char *mx_canonical;   /* next-hop domain after CNAME expansion, NULL if none */
	struct scan_host *hosts;
	struct scan_sts sts;
	struct scan_check *next, *prev;
};

/* ---- one MX host (scan_host.c) ------------------------------------------------------- */

enum scan_dane_state {
	SCAN_DANE_NONE = 0,  /* no secure TLSA: pre-DANE TLS */
	SCAN_DANE_USABLE,    /* TLSA-4 A */
	SCAN_DANE_UNUSABLE   /* TLSA-4 B */
};

struct scan_host {
	struct scan_check *chk;
	struct dg_host_result *h;
	uint64_t q_a, q_aaaa, q_cname, q_tlsa;
	int addr_waits;              /* A/AAAA lookups outstanding */
	struct dg_dns_answer ans_a, ans_aaaa; /* kept until both arrive */
	const char *cands[2];        /* TLSA base domain candidates (SPEC HOST-5..7) */
	size_t n_cands, cand_i;
	enum scan_dane_state dane;
	bool addr_secure;
	bool chain_advised;          /* chain advice given (first chain seen) */
	struct scan_addr *addrs;
};

/* ---- one address (scan_addr.c) ------------------------------------------------------- */

struct scan_addr {
	struct scan_host *sh;
	struct dg_addr_result *a;
	const struct scan_probe *probe0; /* the first probe (chain for MTA-STS PKIX), or NULL */
	uint64_t asked_ms;               /* when the first probe was asked for (stats.tls_ms) */
};

/* ---- the senders decision (scan_verdict.c) ------------------------------------------- */

/** One MX host as the senders decision sees it. */
struct scan_sender_host {
	enum dg_host_status status; /* the DANE view (host status) */
	bool dane_policy;           /* usable TLSA, or the TLSA lookup failed: DANE decides */
	bool reachable;             /* a sender without DANE can connect */
	bool tls_ok;                /* STARTTLS and a TLS handshake succeeded */
	enum dg_tri sts_match, pkix;
};

/** The domain as the senders decision sees it. */
struct scan_sender_domain {
	bool has_hosts;             /* the MX lookup gave hosts to deliver to */
	bool mx_secure;
	bool sts_valid;             /* a valid MTA-STS policy */
	enum dg_sts_mode mode;
};

/* scan_engine.c */
void scan_hold(struct scan_check *chk);
void scan_release(struct scan_check *chk);
const char *scan_strdup(struct scan_check *chk, const char *s);
void scan_reason(struct scan_check *chk, struct dg_reasons *r, const char *fmt, ...)
	DG_PRINTF(3, 4);
void scan_rrset_set(struct scan_check *chk, struct dg_rrset_info *ri,
		    const struct dg_dns_answer *ans);

/* scan_domain.c */
enum dg_status scan_domain_start(struct scan_check *chk, struct dg_err *err);

/* scan_host.c */
void scan_host_start(struct scan_host *sh);

/* scan_addr.c */
void scan_addr_start(struct scan_addr *sa);
void scan_addr_probe_done(struct scan_addr *sa, size_t slot, const struct scan_probe *p);

/* scan_sts.c */
void scan_sts_start(struct scan_check *chk);
void scan_sts_finish(struct scan_check *chk);
void scan_sts_release(struct scan_check *chk);

/* scan_probe.c */
void scan_probe_request(struct dg_engine *eng, struct scan_addr *sa, size_t slot,
			const char *addr, const char *sni, enum dg_probe_key key);
void scan_probe_table_free(struct dg_engine *eng);
void scan_probe_forget_check(struct dg_engine *eng, struct scan_check *chk);

/* scan_verdict.c: pure decisions, unit-tested without network */
enum dg_host_status scan_addr_status_from_probe(enum scan_dane_state dane,
								 enum dg_host_status nodane,
								 int outcome, int stage,
								 const char **code);
enum dg_host_status scan_host_status(const struct dg_host_result *h, const char **code);
enum dg_verdict scan_domain_verdict(const struct dg_domain_result *res, const char **code);
const char *scan_dane_code(enum dg_dane_fail fail, bool agility, bool mx_secure);
void scan_senders_decide(const struct scan_sender_domain *d, const struct scan_sender_host *h,
			 size_t n, struct dg_senders *out);

#endif /* DG_SCAN_INT_H */
