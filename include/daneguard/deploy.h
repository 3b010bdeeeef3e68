/*
 * daneguard/deploy.h - the certificate deploy guard and live-server chain fetch
 * behind `daneguard tlsa verify` and `daneguard tlsa generate --from-server`.
 *
 * dg_deploy_verify_start(): look up the TLSA RRset an MX host publishes, with
 * DNSSEC validation, and say whether a DANE sender would accept a certificate
 * chain that is about to be installed; when it would not, say which record is
 * missing and which records to publish. dg_deploy_fetch_start(): resolve a host
 * and fetch the chain it presents after STARTTLS.
 *
 * Both run on the caller's event_base with the caller's DNS context; results are
 * handed to a callback that owns them.
 */
#ifndef DANEGUARD_DEPLOY_H
#define DANEGUARD_DEPLOY_H

#include <daneguard/dane.h>
#include <daneguard/dns.h>
#include <daneguard/err.h>
#include <daneguard/tlsa.h>

#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;

/** What a DANE sender would do with the new chain. */
enum dg_deploy_outcome {
	DG_DEPLOY_ACCEPT = 0,  /**< a published usable record authenticates the new chain */
	DG_DEPLOY_REJECT,      /**< usable records exist, none authenticates the new chain */
	DG_DEPLOY_NO_DANE,     /**< no secure usable TLSA: senders do not authenticate (any
				    certificate is accepted; DANE protects nothing) */
	DG_DEPLOY_DNS_ERROR    /**< the TLSA lookup failed or was bogus: cannot say */
};

/** What to check. Strings are borrowed for the duration of the check. */
struct dg_deploy_verify_opts {
	const char *host;              /**< MX host name: TLSA base domain and SNI */
	uint16_t port;                 /**< 25 */
	const char *const *ref_ids;    /**< extra DANE-TA reference identifiers (next-hop
					    domain), may be NULL */
	size_t n_ref_ids;
	time_t when;                   /**< verification time, 0 = now */
};

/** The verdict. Owned by the callback's receiver: dg_deploy_verdict_free(). */
struct dg_deploy_verdict {
	enum dg_deploy_outcome outcome;
	char *tlsa_name;               /**< "_25._tcp.mx1.example.org" */
	enum dg_dns_security security; /**< of the TLSA answer */
	enum dg_dns_outcome dns_outcome;
	struct dg_tlsa_set *published; /**< the secure RRset, NULL if none */
	struct dg_dane_result dane;    /**< verification of the new chain (if run) */
	bool dane_run;
	struct dg_tlsa_set *suggest;   /**< records to add so the new chain is accepted
					    (REJECT, and advice for NO_DANE); never NULL */
	char reason[512];              /**< one sentence: why */
};

typedef void dg_deploy_verify_cb(void *arg, struct dg_deploy_verdict *v);

/**
 * Start the deploy check of @p chain for @p opts->host.
 * @param base  event loop (borrowed)
 * @param dns   DNS context (borrowed, must outlive the check)
 * @param dane  DANE context (borrowed)
 * @param opts  what to check (copied; strings borrowed until the callback)
 * @param chain new chain, leaf first (borrowed; up-ref'd until the callback)
 * @param cb    receives the verdict exactly once, from the loop
 * @return DG_OK, or DG_E_PARSE for a bad host name, DG_E_CONFIG for an empty chain
 */
enum dg_status dg_deploy_verify_start(struct event_base *base, struct dg_dns *dns,
				      struct dg_dane_ctx *dane,
				      const struct dg_deploy_verify_opts *opts,
				      STACK_OF(X509) * chain, dg_deploy_verify_cb *cb, void *arg,
				      struct dg_err *err);

/** Free a verdict. NULL ok. */
void dg_deploy_verdict_free(struct dg_deploy_verdict *v);

/** "accept", "reject", "no-dane", "dns-error". */
const char *dg_deploy_outcome_str(enum dg_deploy_outcome o);

/**
 * The records that would authenticate @p chain, for publishing: 3 1 1 for the leaf
 * key, and with @p issuer also 2 1 1 for the certificate above it (SPEC PUB-1, PUB-6).
 * @param chain leaf first (borrowed)
 * @param issuer also the issuer record (needs a second certificate in @p chain)
 * @param out   set to fill (borrowed)
 * @return DG_OK, DG_E_CONFIG (empty chain, --issuer without an issuer), DG_E_TLS
 */
enum dg_status dg_deploy_records_for_chain(STACK_OF(X509) * chain, bool issuer,
					   struct dg_tlsa_set *out, struct dg_err *err);

/** Result of fetching a live chain. Owned by the receiver: dg_deploy_fetch_free(). */
struct dg_deploy_fetch {
	enum dg_status status;   /**< DG_OK when a chain was captured */
	char addr[46];           /**< address that answered */
	STACK_OF(X509) *chain;   /**< leaf first, owned */
	char reason[256];        /**< on failure: which lookup or connection failed, why */
};

typedef void dg_deploy_fetch_cb(void *arg, struct dg_deploy_fetch *f);

/**
 * Resolve @p host (A, then AAAA; a literal address is used as is) and fetch the
 * chain it presents after STARTTLS on @p port, with SNI = @p host.
 * @param timeout_ms each wait
 * @return DG_OK, or DG_E_PARSE for a bad host name
 */
enum dg_status dg_deploy_fetch_start(struct event_base *base, struct dg_dns *dns,
				     const char *host, uint16_t port, unsigned timeout_ms,
				     dg_deploy_fetch_cb *cb, void *arg, struct dg_err *err);

/** Free a fetch result. NULL ok. */
void dg_deploy_fetch_free(struct dg_deploy_fetch *f);

#endif /* DANEGUARD_DEPLOY_H */
