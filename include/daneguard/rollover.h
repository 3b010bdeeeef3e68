/*
 * daneguard/rollover.h - the stateful key rollover manager behind `daneguard rollover
 * init|status|publish|advance|run --state DIR` (SPEC section 12, PUB-6 and PUB-7).
 *
 * The state directory holds:
 *
 *   rollover.conf      the configuration (dg_rollover_conf), "key value" lines
 *   state.json         the journal (dg_rollover_state): step, current and next key ids,
 *                      per-observer first-seen times of the desired RRset, TTL seen
 *   keys/ID.key        private keys (PEM, mode 0600), named by the SHA-256 of their SPKI,
 *                      never changed once written
 *   work/              the CSR and the certificate of an advance in progress, the backup of
 *                      the installed files
 *
 * Every write is atomic (temporary file, fsync, rename, fsync of the directory; STYLE.md
 * section 6), and state.json is the single commit point: a kill at any point leaves a state
 * from which dg_rollover_recovery() decides, deterministically, whether to roll forward or
 * back (docs/rollover.md).
 *
 * The pure parts (configuration and state parsers and serializers, the recovery decision,
 * the timing rule, the desired RRset, the renewal warnings) do no I/O. The store functions
 * touch only files in the state directory and the installed certificate files. Hooks (the
 * certificate and reload commands) run with a deadline. Network steps (UPDATE, authoritative
 * check, validated lookup, live STARTTLS probe, deploy guard) are lib/publish, lib/dns and
 * lib/deploy, driven by the command.
 *
 * Ownership: pointer parameters are borrowed unless said otherwise.
 */
#ifndef DANEGUARD_ROLLOVER_H
#define DANEGUARD_ROLLOVER_H

#include <daneguard/err.h>
#include <daneguard/tlsa.h>
#include <daneguard/util.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** Longest path or command kept in the configuration. */
#define DG_ROLLOVER_STR_MAX 1024
/** Most MX hosts one state directory manages (they share the key). */
#define DG_ROLLOVER_MAX_HOSTS 8
/** Most observers (authoritative server addresses + the validated lookup) remembered. */
#define DG_ROLLOVER_MAX_SEEN 40
/** Largest rollover.conf / state.json read, in octets. */
#define DG_ROLLOVER_FILE_MAX 65536
/** Length of a key id: hex SHA-256 of the SubjectPublicKeyInfo. */
#define DG_ROLLOVER_ID_LEN 64
/** Exit status of `rollover advance` when it is too early (sysexits EX_TEMPFAIL). */
#define DG_ROLLOVER_EXIT_TOO_EARLY 75

/** Which RRset is published (SPEC PUB-6). */
enum dg_rollover_scheme {
	DG_ROLLOVER_EE_EE = 0, /**< 3 1 1 current + 3 1 1 next (default) */
	DG_ROLLOVER_EE_TA      /**< 3 1 1 current + 2 1 1 issuer of the installed certificate */
};

/** Key type of generated keys. */
enum dg_rollover_keytype { DG_ROLLOVER_KEY_EC_P256 = 0, DG_ROLLOVER_KEY_RSA };

/** The configuration (rollover.conf). Embedded, no heap memory. */
struct dg_rollover_conf {
	char zone[DG_NAME_BUF_SIZE];                          /**< zone holding the TLSA RRsets */
	char hosts[DG_ROLLOVER_MAX_HOSTS][DG_NAME_BUF_SIZE]; /**< MX hosts, first = probe/SNI */
	size_t n_hosts;
	uint16_t port;                          /**< 25 */
	char primary[64];                       /**< UPDATE target address, "" = publish_command */
	uint16_t primary_port;                  /**< 53 */
	char tsig_key_file[DG_ROLLOVER_STR_MAX]; /**< BIND/Knot key file */
	uint32_t ttl_s;                         /**< TTL of the published records */
	enum dg_rollover_scheme scheme;
	enum dg_rollover_keytype key_type;
	uint32_t rsa_bits;                          /**< 2048..8192 */
	char cert_file[DG_ROLLOVER_STR_MAX];        /**< installed chain (leaf first) */
	char key_file[DG_ROLLOVER_STR_MAX];         /**< installed key; == cert_file: one file,
	                                                 key then chain (smtpd_tls_chain_files) */
	char cert_command[DG_ROLLOVER_STR_MAX];     /**< gets DANEGUARD_CSR, writes DANEGUARD_CERT */
	char reload_command[DG_ROLLOVER_STR_MAX];   /**< e.g. "postfix reload" */
	char publish_command[DG_ROLLOVER_STR_MAX];  /**< instead of UPDATE: gets DANEGUARD_RECORDS */
	uint32_t command_timeout_s;                 /**< each hook's deadline (default 300) */
};

/**
 * Fill @p c with defaults: port 25, primary port 53, TTL 3600, ee-ee, P-256, RSA 2048 bits,
 * command timeout 300 s. @param c configuration (borrowed)
 */
void dg_rollover_conf_init(struct dg_rollover_conf *c);

/**
 * Parse rollover.conf (pure): lines "key value", '#' comments, keys zone, host (repeatable),
 * port, primary (ADDR[@PORT]), tsig-key, ttl, scheme (ee-ee|ee-ta), key-type (ec|rsa),
 * rsa-bits, cert-file, key-file, cert-command, reload-command, publish-command,
 * command-timeout. Required: zone, host, cert-file, key-file, cert-command, and primary +
 * tsig-key or publish-command.
 * @param p   text (borrowed), at most DG_ROLLOVER_FILE_MAX octets
 * @param len octets
 * @param out configuration to fill (borrowed)
 * @param err error detail with the line number (may be NULL)
 * @return DG_OK, DG_E_PARSE (syntax, unknown key, bad value), DG_E_CONFIG (missing key),
 *         DG_E_LIMIT
 */
enum dg_status dg_rollover_conf_parse(const char *p, size_t len, struct dg_rollover_conf *out,
                                      struct dg_err *err);

/**
 * Serialize a configuration in the form dg_rollover_conf_parse() reads.
 * @param c configuration (borrowed)
 * @return heap string; the caller frees it
 */
char *dg_rollover_conf_format(const struct dg_rollover_conf *c);

/** Steps of the journal (state.json "step"). */
enum dg_rollover_step {
	DG_ROLLOVER_IDLE = 0,   /**< nothing in progress */
	DG_ROLLOVER_OBTAINING,  /**< CSR written, certificate command running; installed files
	                             untouched */
	DG_ROLLOVER_INSTALLING, /**< backup taken; the installed files are being replaced */
	DG_ROLLOVER_INSTALLED   /**< installed files hold the next key; reload, live check and
	                             promotion pending */
};

/** When one observer (an authoritative server address, or "resolver") first served the
 *  desired RRset. */
struct dg_rollover_seen {
	char who[64];      /**< "ns1.example.net/192.0.2.53" or "resolver" */
	time_t first_seen; /**< wall time, seconds */
};

/** The journal (state.json). Embedded, no heap memory. */
struct dg_rollover_state {
	enum dg_rollover_step step;
	time_t step_at;                            /**< when step was entered */
	char current[DG_ROLLOVER_ID_LEN + 1];      /**< key id of the current key */
	char next[DG_ROLLOVER_ID_LEN + 1];         /**< key id of the next key */
	char desired_digest[DG_ROLLOVER_ID_LEN + 1]; /**< digest of the RRset the seen times are
	                                                 for (dg_rollover_set_digest) */
	time_t published_at;                       /**< last UPDATE applied, 0 = never */
	uint32_t ttl_seen_s;                       /**< largest TTL seen for the RRset */
	struct dg_rollover_seen seen[DG_ROLLOVER_MAX_SEEN];
	size_t n_seen;
	uint32_t rollovers;                        /**< completed advances */
	time_t last_advance;                       /**< when the last one completed */
};

/** @param s step @return "idle", "obtaining", "installing", "installed" (static) */
const char *dg_rollover_step_str(enum dg_rollover_step s);

/**
 * Parse state.json (pure). Unknown keys are ignored; key ids must be 64 hex digits.
 * @param p   text (borrowed)
 * @param len octets
 * @param out state to fill (borrowed)
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE, DG_E_LIMIT
 */
enum dg_status dg_rollover_state_parse(const char *p, size_t len, struct dg_rollover_state *out,
                                       struct dg_err *err);

/**
 * Serialize the state as JSON (version 1), the form dg_rollover_state_parse() reads.
 * @param s state (borrowed) @return heap string; the caller frees it
 */
char *dg_rollover_state_format(const struct dg_rollover_state *s);

/** What is on disk besides state.json, as dg_rollover_recovery() needs it. */
struct dg_rollover_disk {
	bool has_next_cert;        /**< work/next.pem holds a certificate for the next key */
	bool has_backup;           /**< work/backup.* hold the files installed before */
	bool installed_is_next;    /**< the installed certificate and key are the next key's */
	bool installed_is_current; /**< ... are the current key's */
};

/** What to do with a state found at start-up. */
enum dg_rollover_recovery {
	DG_ROLLOVER_RECOVER_NONE = 0, /**< idle: nothing to do */
	DG_ROLLOVER_RECOVER_DISCARD,  /**< roll back: installed files untouched; drop work/,
	                                   step idle */
	DG_ROLLOVER_RECOVER_REINSTALL,/**< roll forward: install work/next.pem again, reload,
	                                   verify, promote */
	DG_ROLLOVER_RECOVER_RELOAD,   /**< roll forward: files in place; reload, verify, promote */
	DG_ROLLOVER_RECOVER_RESTORE   /**< roll back: put the backup in place, reload, step idle */
};

/**
 * Decide how to recover (pure, deterministic): idle -> none; obtaining -> discard;
 * installing -> reinstall when the certificate is there, else restore (or discard when
 * the installed files are still the current key's); installed -> reload when the installed
 * files are the next key's, else reinstall / restore as for installing.
 * @param step journal step
 * @param disk what is on disk (borrowed)
 * @return the decision
 */
enum dg_rollover_recovery dg_rollover_recovery(enum dg_rollover_step step,
                                               const struct dg_rollover_disk *disk);

/** @param r decision @return "none", "discard", "reinstall", "reload", "restore" (static) */
const char *dg_rollover_recovery_str(enum dg_rollover_recovery r);

/**
 * The timing rule (pure, SPEC PUB-6): the next key may be put in service at
 * max over observers of first_seen + 2 x TTL.
 * @param seen  observers (borrowed)
 * @param n     how many; 0 gives 0
 * @param ttl_s TTL seen
 * @return the time it becomes safe, or 0 when an observer has not seen the RRset yet
 */
time_t dg_rollover_safe_at(const struct dg_rollover_seen *seen, size_t n, uint32_t ttl_s);

/**
 * Record one observation (pure): @p who serves the desired RRset (@p ok) or not. A first
 * sighting sets first_seen = @p now; a miss resets it to 0 (the wait starts again).
 * @param s   state (borrowed)
 * @param who observer name (borrowed, copied)
 * @param ok  whether it serves the desired RRset
 * @param now wall time
 */
void dg_rollover_note_seen(struct dg_rollover_state *s, const char *who, bool ok, time_t now);

/**
 * Forget the observations when the desired RRset changed (pure): if @p digest differs from
 * the one recorded, clear seen[], ttl and published_at and record @p digest.
 * @param s state (borrowed) @param digest dg_rollover_set_digest() of the desired set
 * @return true when they were reset
 */
bool dg_rollover_retarget(struct dg_rollover_state *s, const char *digest);

/**
 * A digest naming a TLSA set regardless of order: hex SHA-256 over the sorted records.
 * @param set set (borrowed) @param out DG_ROLLOVER_ID_LEN + 1 octets
 */
void dg_rollover_set_digest(const struct dg_tlsa_set *set, char *out);

/**
 * The desired RRset (SPEC PUB-6): ee-ee: 3 1 1 of @p cur and of @p next; ee-ta: 3 1 1 of
 * @p cur and 2 1 1 of @p issuer.
 * @param scheme scheme
 * @param cur    current key (borrowed)
 * @param next   next key (borrowed), ee-ee only
 * @param issuer issuer certificate (borrowed), ee-ta only
 * @param out    set to fill (borrowed)
 * @param err    error detail (may be NULL)
 * @return DG_OK, DG_E_CONFIG (ee-ta without an issuer), DG_E_TLS
 */
enum dg_status dg_rollover_desired(enum dg_rollover_scheme scheme, EVP_PKEY *cur, EVP_PKEY *next,
                                   X509 *issuer, struct dg_tlsa_set *out, struct dg_err *err);

/** Warnings about records that break at the next renewal. */
struct dg_rollover_warning {
	size_t index;   /**< record index in the set */
	char text[320]; /**< one sentence */
};

/**
 * Warn about records that break at the next renewal (pure): "3 0 x" (the certificate
 * itself: any renewal breaks it), "3 1 x" matching the installed key when the renewal tool
 * makes a fresh key (@p fresh_key), and DANE-EE records matching neither the current nor
 * the next key.
 * @param set       published set (borrowed)
 * @param cur       current key (borrowed), may be NULL
 * @param next      next key (borrowed), may be NULL
 * @param fresh_key the renewal tool makes a new key at each renewal
 * @param out       array to fill (borrowed)
 * @param max       its size
 * @return warnings written
 */
size_t dg_rollover_renewal_warnings(const struct dg_tlsa_set *set, EVP_PKEY *cur, EVP_PKEY *next,
                                    bool fresh_key, struct dg_rollover_warning *out, size_t max);

/* ---- the state directory (rollover_store.c) ------------------------------------------- */

/**
 * Write @p len octets to @p path atomically: PATH.tmp.PID, fsync, rename, fsync of the
 * directory (STYLE.md section 6).
 * @param path target (borrowed)
 * @param p    data (borrowed)
 * @param len  octets
 * @param mode file mode (0600 for keys)
 * @param err  error detail naming the file (may be NULL)
 * @return DG_OK, DG_E_IO
 */
enum dg_status dg_rollover_write_atomic(const char *path, const void *p, size_t len, unsigned mode,
                                        struct dg_err *err);

/**
 * Read a whole file of at most @p max octets.
 * @param path file (borrowed) @param max cap @param out receives a NUL-terminated heap copy
 * (the caller frees it) @param len receives its length (may be NULL) @param err (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_NOTFOUND (no such file), DG_E_LIMIT
 */
enum dg_status dg_rollover_read_file(const char *path, size_t max, char **out, size_t *len,
                                     struct dg_err *err);

/**
 * Generate a key with OpenSSL EVP: ECDSA P-256, or RSA of @p rsa_bits.
 * @return new key (the caller frees it with EVP_PKEY_free()), NULL after filling @p err
 */
EVP_PKEY *dg_rollover_key_generate(enum dg_rollover_keytype type, uint32_t rsa_bits,
                                   struct dg_err *err);

/**
 * The key id: hex SHA-256 of the DER SubjectPublicKeyInfo.
 * @param key key (borrowed) @param out DG_ROLLOVER_ID_LEN + 1 octets
 * @return DG_OK, DG_E_TLS
 */
enum dg_status dg_rollover_key_id(EVP_PKEY *key, char *out, struct dg_err *err);

/**
 * Store a private key as DIR/keys/ID.key (mode 0600, atomic) and give its id.
 * @param dir state directory (borrowed) @param key key (borrowed)
 * @param id receives the id (DG_ROLLOVER_ID_LEN + 1 octets) @param err (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_TLS
 */
enum dg_status dg_rollover_key_store(const char *dir, EVP_PKEY *key, char *id, struct dg_err *err);

/**
 * Load DIR/keys/ID.key and check that its id is @p id.
 * @return DG_OK, DG_E_IO, DG_E_NOTFOUND, DG_E_PARSE (not a key, or another key's id)
 */
enum dg_status dg_rollover_key_load(const char *dir, const char *id, EVP_PKEY **out,
                                    struct dg_err *err);

/**
 * Load a PEM private key from any file (the installed key at init).
 * @return DG_OK, DG_E_IO, DG_E_NOTFOUND, DG_E_PARSE
 */
enum dg_status dg_rollover_pkey_read(const char *path, EVP_PKEY **out, struct dg_err *err);

/**
 * Write a CSR (PEM) for @p key with CN = @p hosts[0] and every host as a DNS SAN.
 * @param key key (borrowed) @param hosts names (borrowed) @param n_hosts count
 * @param path output file (borrowed), written atomically @param err (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_TLS
 */
enum dg_status dg_rollover_csr_write(EVP_PKEY *key, const char (*hosts)[DG_NAME_BUF_SIZE],
                                     size_t n_hosts, const char *path, struct dg_err *err);

/**
 * Install a key and chain: when @p key_file equals @p cert_file one file "key, then chain"
 * is written; otherwise the key file first, then the certificate file. Each write atomic.
 * @param chain_pem chain in PEM (borrowed) @param key key (borrowed)
 * @return DG_OK, DG_E_IO, DG_E_TLS
 */
enum dg_status dg_rollover_install(const char *cert_file, const char *key_file,
                                   const char *chain_pem, EVP_PKEY *key, struct dg_err *err);

/**
 * The key id of the installed files: the SPKI of the first certificate in @p cert_file,
 * and whether the private key in @p key_file has the same id.
 * @param cert_id receives the certificate's key id, "" if unreadable
 * @param key_ok  receives whether the key file's key has that id
 */
void dg_rollover_installed_id(const char *cert_file, const char *key_file, char *cert_id,
                              bool *key_ok);

/**
 * Load the state: DIR/rollover.conf and DIR/state.json.
 * @return DG_OK, DG_E_IO, DG_E_NOTFOUND (not a state directory), DG_E_PARSE, DG_E_CONFIG
 */
enum dg_status dg_rollover_load(const char *dir, struct dg_rollover_conf *conf,
                                struct dg_rollover_state *st, struct dg_err *err);

/**
 * Commit the state: DIR/state.json, atomically. This is the journal's commit point.
 * @return DG_OK, DG_E_IO
 */
enum dg_status dg_rollover_save(const char *dir, const struct dg_rollover_state *st,
                                struct dg_err *err);

/**
 * Delete the key files that the state does not name (after a promotion or a crash), and
 * the work files when the step is idle. Errors are ignored.
 */
void dg_rollover_gc(const char *dir, const struct dg_rollover_state *st);

/* ---- hooks (rollover_hook.c) ----------------------------------------------------------- */

/** An environment variable handed to a hook. */
struct dg_rollover_env {
	const char *name;  /**< e.g. "DANEGUARD_CSR" */
	const char *value; /**< borrowed */
};

/**
 * Run @p command with /bin/sh -c, extra environment @p env, stdin /dev/null, stdout sent to
 * stderr; kill its process group at the deadline.
 * @param command shell command (borrowed)
 * @param env     variables (borrowed) @param n_env count
 * @param timeout_s deadline
 * @param err     error naming the command's exit status or signal (may be NULL)
 * @return DG_OK (exit 0), DG_E_TIMEOUT, DG_E_IO (could not start, non-zero exit, signal)
 */
enum dg_status dg_rollover_hook_run(const char *command, const struct dg_rollover_env *env,
                                    size_t n_env, uint32_t timeout_s, struct dg_err *err);

#endif /* DANEGUARD_ROLLOVER_H */
