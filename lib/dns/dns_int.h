/*
 * dns_int.h - private structures of the dns module (shared by dns_*.c only).
 *
 * A struct dg_dns owns: a backend (libunbound or fake, behind struct dns_backend_ops), a
 * table of entries keyed by (name, type), a table of waiters keyed by id, the FIFO of
 * queued entries, the LRU list of cached entries and the list of waiters whose answer is
 * ready to be delivered. See docs/internals/dns.md for the state machine.
 */
#ifndef DANEGUARD_DNS_INT_H
#define DANEGUARD_DNS_INT_H

#include <daneguard/dns.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct dg_dns;
struct dns_entry;

/** Intrusive hash-table node; embed as a member, recover with container arithmetic. */
struct dns_hnode {
	struct dns_hnode *next;
	uint64_t hash;
};

/** Chained hash table of struct dns_hnode; grows at load factor 1. */
struct dns_htab {
	struct dns_hnode **buckets;
	size_t n_buckets; /**< power of two, 0 before the first insert */
	size_t count;
};

/** Life of one (name, type) query: queued, at the backend, or done (answer ready). */
enum dns_state { DNS_Q_QUEUED = 0, DNS_Q_INFLIGHT = 1, DNS_Q_DONE = 2 };

/** One lookup caller waiting for (or being handed) an entry's answer. */
struct dns_waiter {
	struct dns_hnode hn; /**< in dg_dns.waiters while cancellable */
	uint64_t id;
	dg_dns_cb *cb;
	void *arg;
	struct dns_entry *entry; /**< holds one reference */
	struct dns_waiter *next; /**< in entry's wait list or in the delivery list */
	bool cancelled;
};

/** One (name, type) query and, once done, its answer (cached or being delivered). */
struct dns_entry {
	struct dns_hnode hn; /**< in dg_dns.entries while in_table */
	struct dg_dns *dns;
	char *name; /**< normalized, lowercase, no trailing dot */
	uint16_t type;
	enum dns_state state;
	bool in_table;
	unsigned refs;         /**< 1 while in_table + 1 per waiter pointing here */
	unsigned live_waiters; /**< not-cancelled waiters in the wait list */
	struct dns_waiter *wait_head, *wait_tail;
	struct dns_entry *prev, *next; /**< queue (QUEUED) or LRU (DONE, cached) links */
	bool in_list;
	struct event *timer;   /**< per-query timeout while INFLIGHT */
	int async_id;          /**< libunbound id while INFLIGHT, 0 if none */
	struct event *fake_ev; /**< fake backend: pending answer event */
	uint64_t expires_ms;   /**< cache expiry (monotonic) when DONE */
	struct dg_dns_answer ans;
};

/** A resolver backend. submit() starts the query; the backend later calls
 *  dns_entry_complete_pkt() or dns_entry_complete_fail(), possibly from inside submit(). */
struct dns_backend_ops {
	const char *name;
	/** @return DG_OK or an error (the entry is then completed with DG_DNS_ERROR) */
	enum dg_status (*submit)(struct dg_dns *dns, struct dns_entry *e, struct dg_err *err);
	/** Stop an INFLIGHT query so that it never completes. */
	void (*abort)(struct dg_dns *dns, struct dns_entry *e);
	/** Release the backend (cancels everything, no completion afterwards). */
	void (*destroy)(struct dg_dns *dns);
};

struct dg_dns {
	struct event_base *base;
	const struct dns_backend_ops *ops;
	void *backend; /**< struct ub_backend * (dns_unbound.c) or struct dns_fake * */
	unsigned timeout_ms;
	unsigned max_inflight;
	size_t cache_max;
	uint32_t cache_max_ttl_s;
	uint32_t cache_error_ttl_s;
	struct dns_htab entries;
	struct dns_htab waiters;
	struct dns_entry *queue_head, *queue_tail; /**< QUEUED entries, FIFO */
	struct dns_entry *lru_head, *lru_tail;     /**< cached DONE entries, oldest first */
	struct dns_waiter *dl_head, *dl_tail;      /**< ready to deliver */
	struct event *deliver_ev;
	uint64_t next_id;
	struct dg_dns_stats stats;
	unsigned in_callback;
	bool closing;
};

/* dns_table.c */
uint64_t dns_hash_key(const char *name, uint16_t type);
uint64_t dns_hash_id(uint64_t id);
void dns_htab_insert(struct dns_htab *t, struct dns_hnode *n);
void dns_htab_remove(struct dns_htab *t, struct dns_hnode *n);
/** First node with @p hash, then walk with dns_htab_next(). */
struct dns_hnode *dns_htab_first(const struct dns_htab *t, uint64_t hash);
struct dns_hnode *dns_htab_next(const struct dns_hnode *n, uint64_t hash);
void dns_htab_cleanup(struct dns_htab *t);

/* dns_ctx.c */
struct dg_dns *dns_ctx_new(struct event_base *base, const struct dg_dns_opts *opts);
void dns_entry_complete_pkt(struct dg_dns *dns, struct dns_entry *e, int rcode, const uint8_t *pkt,
                            size_t len, enum dg_dns_security sec, const char *why_bogus);
void dns_entry_complete_fail(struct dg_dns *dns, struct dns_entry *e, enum dg_dns_outcome outcome,
                             int rcode, const char *reason);

/* dns_unbound.c */
extern const struct dns_backend_ops dns_unbound_ops;
enum dg_status dns_unbound_setup(struct dg_dns *dns, const struct dg_dns_opts *opts,
                                 struct dg_err *err);

/* dns_fake.c */
extern const struct dns_backend_ops dns_fake_ops;
void dns_fake_setup(struct dg_dns *dns);

/* dns_parse.c */
/** Write @p name lowercase without trailing dot into @p out ("." for the root). */
void dns_name_fold(const char *name, char *out, size_t out_size);

#endif /* DANEGUARD_DNS_INT_H */
