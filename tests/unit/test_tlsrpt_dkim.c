/*
 * test_tlsrpt_dkim.c - DKIM signatures on TLS-RPT report mails (SPEC RPT-7, RFC 6376).
 *
 * Keys are generated here with OpenSSL (RSA 2048, Ed25519, and unusable ones); a composed
 * report mail is signed by dg_tlsrpt_dkim_sign() and verified by libopendkim's own verifier,
 * which reads the public key from a key file (DKIM_QUERY_FILE) instead of DNS. A table of
 * one-byte edits says which ones must break the signature (body, signed headers) and which
 * must not (header name case under relaxed canonicalisation, an unsigned header). The tags of
 * the header are checked independently: no l=, c=relaxed/relaxed, h= covering the headers
 * RFC 8460 needs. The relay glue is checked end to end: a configured key signs the queued
 * mail, a bad key or a key without selector stops relay_tlsrpt_new().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "relay/relay_tlsrpt.h"

#include <daneguard/queue.h>
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <event2/event.h>
#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOMAIN "sender.example"
#define SELECTOR "tlsrpt2026"
/*
 * s= of the key record. RFC 8460 3 wants "tlsrpt" listed; a generic RFC 6376 verifier such as
 * libopendkim ignores a key that lists only tlsrpt ("not an e-mail key", checked below), so
 * the record lists both (docs/relay.md).
 */
#define SERVICE "email:tlsrpt"

static char tmpdir[64];
static char verify_why[128]; /* libopendkim's reason of the last verify() */

/* Headers RFC 8460 3 / SPEC RPT-7 want signed, written independently of tlsrpt_dkim.c. */
/* clang-format off */
static const char *const want_signed[] = {
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
    "tls-report-domain", "tls-report-submitter",
};
/* clang-format on */

/*
 * libopendkim 2.11.0~beta2 does not free the key state of an Ed25519 signature (allocated in
 * its dkim_privkey_load(), never released by dkim_free()). Under AddressSanitizer this test
 * suppresses exactly that leak; the full unwind lets the suppression see the library frame
 * behind OpenSSL's allocator. Both hooks are plain unused functions in other builds.
 */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void)
{
	return "leak:dkim_privkey_load\n";
}

/* ---- helpers ------------------------------------------------------------------------------- */

static EVP_PKEY *keygen(const char *type, size_t bits)
{
	EVP_PKEY *pk = bits > 0 ? EVP_PKEY_Q_keygen(NULL, NULL, type, bits)
	                        : EVP_PKEY_Q_keygen(NULL, NULL, type);

	assert_non_null(pk);
	return pk;
}

/* Write the private key as PEM to TMPDIR/@p name; @p path receives the file name. */
static void write_key(EVP_PKEY *pk, const char *name, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void write_text(const char *name, const char *text, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/*
 * The key record libopendkim's file query reads: "SEL._domainkey.DOMAIN v=DKIM1; k=...; p=..."
 * (RSA: base64 SubjectPublicKeyInfo, RFC 6376 3.6.1; Ed25519: the raw 32 bytes, RFC 8463).
 */
static void write_keyrec(EVP_PKEY *pk, const char *service, const char *name, char *path,
                         size_t size)
{
	unsigned char der[2048], *p = der, b64[4096];
	size_t n = sizeof(der);
	char line[4400];
	bool ed = EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519;
	int len;

	if (ed) {
		assert_int_equal(EVP_PKEY_get_raw_public_key(pk, der, &n), 1);
		len = (int)n;
	} else {
		len = i2d_PUBKEY(pk, &p);
		assert_true(len > 0 && (size_t)len <= sizeof(der));
	}
	EVP_EncodeBlock(b64, der, len);
	snprintf(line, sizeof(line), "%s._domainkey.%s v=DKIM1; k=%s; s=%s; p=%s\n", SELECTOR,
	         DOMAIN, ed ? "ed25519" : "rsa", service, b64);
	write_text(name, line, path, size);
}

/* A composed report mail (tlsrpt_mail.c); the caller frees it. */
static char *report_mail(size_t *len)
{
	static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03, 0x04,
	                             0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
	struct dg_tlsrpt_mail m;
	char *msg = NULL;

	memset(&m, 0, sizeof(m));
	m.from = "tlsrpt-ops@" DOMAIN;
	m.to = "tlsrpt@d.example";
	m.report_domain = "d.example";
	m.submitter = DOMAIN;
	m.report_id = "2026-03-14T00:00:00Z_d.example@" DOMAIN;
	m.file_name = DOMAIN "!d.example!1773446400!1773532799.json.gz";
	m.gz = gz;
	m.gz_len = sizeof(gz);
	m.date = 1773536400;
	assert_int_equal(dg_tlsrpt_mail_compose(&m, &msg, len, NULL), DG_OK);
	return msg;
}

/*
 * Verify with libopendkim against the key file @p keyrec. @return the dkim_eom() status:
 * DKIM_STAT_OK only when a signature was found and it and the body hash check out.
 */
static DKIM_STAT verify(const char *keyrec, const uint8_t *msg, size_t len)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	dkim_query_t qm = DKIM_QUERY_FILE;
	DKIM *d;
	DKIM_SIGINFO *sig;
	DKIM_STAT st;

	assert_non_null(lib);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &qm, sizeof(qm)),
	                 DKIM_STAT_OK);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, (void *)keyrec,
	                              strlen(keyrec) + 1),
	                 DKIM_STAT_OK);
	d = dkim_verify(lib, (const unsigned char *)"test", NULL, &st);
	assert_non_null(d);
	st = dkim_chunk(d, (u_char *)(uintptr_t)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	sig = dkim_getsignature(d);
	if (st == DKIM_STAT_OK && (sig == NULL || !DKIM_SIG_CHECK(sig)))
		st = DKIM_STAT_BADSIG;
	snprintf(verify_why, sizeof(verify_why), "%s",
	         sig != NULL ? dkim_sig_geterrorstr(dkim_sig_geterror(sig)) : "no signature");
	dkim_free(d);
	dkim_close(lib);
	return st;
}

/* The unfolded value of the first header of @p msg, which must be DKIM-Signature. */
static void sig_header(const uint8_t *msg, size_t len, char *out, size_t size)
{
	const char *name = "DKIM-Signature:";
	size_t o = 0, i = strlen(name);

	assert_true(len > i && strncmp((const char *)msg, name, i) == 0);
	for (; i + 1 < len; i++) {
		if (msg[i] == '\r' && msg[i + 1] == '\n') {
			if (i + 2 < len && (msg[i + 2] == ' ' || msg[i + 2] == '\t')) {
				i++;
				continue;
			}
			break;
		}
		if (msg[i] == ' ' || msg[i] == '\t')
			continue;
		assert_true(o + 1 < size);
		out[o++] = (char)msg[i];
	}
	out[o] = '\0';
}

/* Tag @p tag of a whitespace-free tag list, or NULL; @p out receives its value. */
static const char *tag(const char *list, const char *tag_name, char *out, size_t size)
{
	size_t n = strlen(tag_name);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ';');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > n && strncmp(p, tag_name, n) == 0 && p[n] == '=') {
			snprintf(out, size, "%.*s", (int)(len - n - 1), p + n + 1);
			return out;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

/* ---- signing and verifying ----------------------------------------------------------------- */

struct edit_case {
	const char *name;
	const char *find; /* text whose byte at @c at is changed */
	size_t at;
	char to;
	bool want_pass;
};

static const struct edit_case edits[] = {
    {"unchanged", NULL, 0, 0, true},
    {"body text", "aggregate TLS report", 0, 'b', false},
    {"body base64", "Content-Transfer-Encoding: base64\r\n\r\n", 37, 'Z', false},
    {"subject", "Subject: Report Domain:", 9, 'X', false},
    {"tls-report-domain", "TLS-Report-Domain: d.example", 19, 'e', false},
    {"tls-report-submitter", "TLS-Report-Submitter: " DOMAIN, 22, 'x', false},
    {"from", "From: tlsrpt-ops@", 6, 'T', false},
    /* relaxed header canonicalisation lowercases names (RFC 6376 3.4.2) */
    {"subject name case", "Subject: Report Domain:", 1, 'U', true},
    /* TLS-Required is not in h= */
    {"unsigned header", "TLS-Required: No", 15, 'x', true},
};

static void sign_and_check(EVP_PKEY *pk, const char *want_alg)
{
	char key[128], rec[128], hdr[4096], v[2048];
	struct dg_tlsrpt_dkim k;
	struct dg_err err = {0};
	uint8_t *signed_msg = NULL;
	size_t len = 0, signed_len = 0;
	char *msg = report_mail(&len);

	write_key(pk, "key.pem", key, sizeof(key));
	write_keyrec(pk, SERVICE, "keys.txt", rec, sizeof(rec));
	assert_int_equal(dg_tlsrpt_dkim_load(key, DOMAIN, SELECTOR, &k, &err), DG_OK);
	if (dg_tlsrpt_dkim_sign(&k, (const uint8_t *)msg, len, &signed_msg, &signed_len, &err) !=
	    DG_OK) {
		print_error("%s: sign: got \"%s\", want DG_OK\n", want_alg, err.msg);
		fail();
	}
	/* the original message follows the signature byte for byte */
	assert_true(signed_len > len);
	assert_memory_equal(signed_msg + signed_len - len, msg, len);

	/* the tags (RFC 6376 3.5) */
	sig_header(signed_msg, signed_len, hdr, sizeof(hdr));
	assert_null(tag(hdr, "l", v, sizeof(v))); /* SPEC RPT-7: no l= */
	assert_string_equal(tag(hdr, "v", v, sizeof(v)), "1");
	assert_string_equal(tag(hdr, "a", v, sizeof(v)), want_alg);
	assert_string_equal(tag(hdr, "c", v, sizeof(v)), "relaxed/relaxed");
	assert_string_equal(tag(hdr, "d", v, sizeof(v)), DOMAIN);
	assert_string_equal(tag(hdr, "s", v, sizeof(v)), SELECTOR);
	assert_non_null(tag(hdr, "bh", v, sizeof(v)));
	assert_non_null(tag(hdr, "h", v, sizeof(v)));
	for (size_t i = 0; i < sizeof(want_signed) / sizeof(want_signed[0]); i++) {
		bool found = false;
		char list[2048], *save = NULL;

		snprintf(list, sizeof(list), "%s", v);
		for (char *h = strtok_r(list, ":", &save); h != NULL;
		     h = strtok_r(NULL, ":", &save))
			found |= strcasecmp(h, want_signed[i]) == 0;
		if (!found) {
			print_error("%s: h=%s: got no %s, want it signed\n", want_alg, v,
			            want_signed[i]);
			fail();
		}
	}

	/* libopendkim's verifier: each edit breaks the signature or not */
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		const struct edit_case *c = &edits[i];
		uint8_t *copy = dg_xmalloc(signed_len);
		DKIM_STAT st;

		memcpy(copy, signed_msg, signed_len);
		if (c->find != NULL) {
			char *at = strstr((char *)signed_msg + (signed_len - len), c->find);
			size_t off;

			assert_non_null(at);
			off = (size_t)(at - (char *)signed_msg) + c->at;
			assert_true(copy[off] != (uint8_t)c->to);
			copy[off] = (uint8_t)c->to;
		}
		st = verify(rec, copy, signed_len);
		if ((st == DKIM_STAT_OK) != c->want_pass) {
			print_error("%s %s: got %s (%s), want %s\n", want_alg, c->name,
			            dkim_getresultstr(st), verify_why,
			            c->want_pass ? "pass" : "fail");
			fail();
		}
		free(copy);
	}
	/* the unsigned message does not verify (no signature) */
	assert_int_not_equal(verify(rec, (const uint8_t *)msg, len), DKIM_STAT_OK);
	/* a record with s=tlsrpt alone is refused by a plain e-mail verifier (docs/relay.md) */
	write_keyrec(pk, "tlsrpt", "keys.txt", rec, sizeof(rec));
	assert_int_not_equal(verify(rec, signed_msg, signed_len), DKIM_STAT_OK);
	assert_string_equal(verify_why, "not an e-mail key");

	free(signed_msg);
	free(msg);
	dg_tlsrpt_dkim_cleanup(&k);
	unlink(key);
	unlink(rec);
}

static void test_sign_rsa(void **state)
{
	EVP_PKEY *pk = keygen("RSA", 2048);

	(void)state;
	sign_and_check(pk, "rsa-sha256");
	EVP_PKEY_free(pk);
}

static void test_sign_ed25519(void **state)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	bool have = lib != NULL && dkim_libfeature(lib, DKIM_FEATURE_ED25519);
	EVP_PKEY *pk;

	(void)state;
	dkim_close(lib);
	if (!have) {
		print_message("skip: this libopendkim has no Ed25519\n");
		skip();
	}
	pk = keygen("ED25519", 0);
	sign_and_check(pk, "ed25519-sha256");
	EVP_PKEY_free(pk);
}

/* A signature made with one key does not verify against another key's record. */
static void test_wrong_key(void **state)
{
	EVP_PKEY *a = keygen("RSA", 2048), *b = keygen("RSA", 2048);
	char key[128], rec[128];
	struct dg_tlsrpt_dkim k;
	uint8_t *out = NULL;
	size_t len = 0, out_len = 0;
	char *msg = report_mail(&len);

	(void)state;
	write_key(a, "a.pem", key, sizeof(key));
	write_keyrec(b, SERVICE, "b.txt", rec, sizeof(rec));
	assert_int_equal(dg_tlsrpt_dkim_load(key, DOMAIN, SELECTOR, &k, NULL), DG_OK);
	assert_int_equal(dg_tlsrpt_dkim_sign(&k, (const uint8_t *)msg, len, &out, &out_len, NULL),
	                 DG_OK);
	assert_int_not_equal(verify(rec, out, out_len), DKIM_STAT_OK);
	free(out);
	free(msg);
	dg_tlsrpt_dkim_cleanup(&k);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	unlink(key);
	unlink(rec);
}

/* ---- loading and refusing ------------------------------------------------------------------ */

struct load_case {
	const char *path, *domain, *selector;
	enum dg_status want_st;
	const char *want_msg; /* substring of the message */
};

static void test_load_errors(void **state)
{
	EVP_PKEY *small = keygen("RSA", 512), *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char p_small[128], p_ec[128], p_junk[128], want[256];
	struct dg_tlsrpt_dkim k;
	struct dg_err err = {0};
	struct load_case cases[6];
	uint8_t *out = NULL;
	size_t out_len = 0;

	(void)state;
	assert_non_null(ec);
	write_key(small, "small.pem", p_small, sizeof(p_small));
	write_key(ec, "ec.pem", p_ec, sizeof(p_ec));
	write_text("junk.pem", "-----BEGIN PRIVATE KEY-----\nnot base64\n", p_junk, sizeof(p_junk));
	cases[0] = (struct load_case){"/nonexistent/dkim.pem", DOMAIN, SELECTOR, DG_E_IO,
	                              "/nonexistent/dkim.pem"};
	cases[1] = (struct load_case){p_junk, DOMAIN, SELECTOR, DG_E_CONFIG, "not a PEM"};
	cases[2] = (struct load_case){p_small, DOMAIN, SELECTOR, DG_E_CONFIG, "512 bits"};
	cases[3] = (struct load_case){p_ec, DOMAIN, SELECTOR, DG_E_CONFIG, "want RSA or Ed25519"};
	cases[4] = (struct load_case){p_small, "bad domain", SELECTOR, DG_E_CONFIG, "bad domain"};
	cases[5] = (struct load_case){p_small, DOMAIN, "a;b", DG_E_CONFIG, "selector 'a;b'"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dg_status st = dg_tlsrpt_dkim_load(cases[i].path, cases[i].domain,
		                                        cases[i].selector, &k, &err);

		if (st != cases[i].want_st || strstr(err.msg, cases[i].want_msg) == NULL) {
			print_error("case %zu: got %s \"%s\", want %s \"...%s...\"\n", i,
			            dg_status_str(st), err.msg, dg_status_str(cases[i].want_st),
			            cases[i].want_msg);
			fail();
		}
		/* the file is named (the first case's name is the path itself) */
		if (i < 4 && strstr(err.msg, cases[i].path) == NULL) {
			print_error("case %zu: got \"%s\", want the file %s named\n", i, err.msg,
			            cases[i].path);
			fail();
		}
		assert_null(k.priv);
	}
	/* a message without From is not signed */
	{
		EVP_PKEY *pk = keygen("RSA", 2048);
		char key[128];
		static const char nofrom[] = "To: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";

		write_key(pk, "ok.pem", key, sizeof(key));
		assert_int_equal(dg_tlsrpt_dkim_load(key, DOMAIN, SELECTOR, &k, &err), DG_OK);
		assert_int_equal(dg_tlsrpt_dkim_sign(&k, (const uint8_t *)nofrom, strlen(nofrom),
		                                     &out, &out_len, &err),
		                 DG_E_PARSE);
		snprintf(want, sizeof(want), "DKIM signature for %s: no From header", DOMAIN);
		assert_string_equal(err.msg, want);
		assert_null(out);
		dg_tlsrpt_dkim_cleanup(&k);
		dg_tlsrpt_dkim_cleanup(&k); /* twice is harmless */
		assert_null(k.key_pem);
		EVP_PKEY_free(pk);
		unlink(key);
	}
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
	unlink(p_small);
	unlink(p_ec);
	unlink(p_junk);
}

/* ---- the relay: sign before queueing, refuse a bad key at start ---------------------------- */

struct glue {
	char ids[4][DG_QUEUE_ID_SIZE];
	size_t n_ids;
};

static void glue_queued(void *arg, const char *id)
{
	struct glue *g = arg;

	if (g->n_ids < 4)
		snprintf(g->ids[g->n_ids++], DG_QUEUE_ID_SIZE, "%s", id);
}

static void relay_conf(struct dg_relay_conf *conf, const char *qdir, const char *key,
                       const char *selector);

struct log_cap {
	unsigned warns, dkim_warns;
};

static void log_cap_cb(void *arg, enum dg_log_level level, const char *line)
{
	struct log_cap *c = arg;

	if (level == DG_LOG_WARN) {
		c->warns++;
		if (strstr(line, "RFC 8460") != NULL && strstr(line, "DKIM") != NULL)
			c->dkim_warns++;
	}
}

/* Without a key the reporter starts and warns once that reports go out unsigned. */
static void test_relay_unsigned_warns(void **state)
{
	struct dg_relay_conf conf;
	struct dg_queue *q = NULL;
	struct event_base *base = event_base_new();
	struct relay_tlsrpt *t = NULL;
	struct log_cap cap = {0};
	struct dg_log log;
	struct dg_err err = {0};
	char qdir[128], key[128];
	EVP_PKEY *pk = keygen("RSA", 2048);

	(void)state;
	dg_log_init(&log);
	log.level = DG_LOG_DEBUG;
	log.cb = log_cap_cb;
	log.arg = &cap;
	snprintf(qdir, sizeof(qdir), "%s/queue-u", tmpdir);
	assert_int_equal(mkdir(qdir, 0700), 0);
	assert_int_equal(dg_queue_open(qdir, NULL, &q, &err), DG_OK);
	dg_relay_conf_init(&conf);
	assert_int_equal(dg_relay_conf_set(&conf, "queue", qdir, &err), DG_OK);
	assert_int_equal(relay_tlsrpt_new(base, &conf, q, NULL, NULL, &log, &t, &err), DG_OK);
	if (cap.dkim_warns != 1 || cap.warns != 1) {
		print_error("no key: got %u DKIM warnings (%u in all), want 1\n", cap.dkim_warns,
		            cap.warns);
		fail();
	}
	relay_tlsrpt_free(t);
	dg_relay_conf_cleanup(&conf);
	/* with a key: no warning */
	memset(&cap, 0, sizeof(cap));
	write_key(pk, "w.pem", key, sizeof(key));
	relay_conf(&conf, qdir, key, SELECTOR);
	assert_int_equal(relay_tlsrpt_new(base, &conf, q, NULL, NULL, &log, &t, &err), DG_OK);
	assert_int_equal(cap.warns, 0);
	relay_tlsrpt_free(t);
	dg_relay_conf_cleanup(&conf);
	dg_queue_free(q);
	event_base_free(base);
	EVP_PKEY_free(pk);
	unlink(key);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", qdir);
		assert_int_equal(system(cmd), 0);
	}
}

static void relay_conf(struct dg_relay_conf *conf, const char *qdir, const char *key,
                       const char *selector)
{
	struct dg_err err = {0};

	dg_relay_conf_init(conf);
	assert_int_equal(dg_relay_conf_set(conf, "queue", qdir, &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(conf, "tlsrpt-contact", "tlsrpt-ops@" DOMAIN, &err),
	                 DG_OK);
	if (key != NULL)
		assert_int_equal(dg_relay_conf_set(conf, "tlsrpt-dkim-key", key, &err), DG_OK);
	if (selector != NULL)
		assert_int_equal(dg_relay_conf_set(conf, "tlsrpt-dkim-selector", selector, &err),
		                 DG_OK);
}

static void test_relay_signs(void **state)
{
	EVP_PKEY *pk = keygen("RSA", 2048);
	struct dg_relay_conf conf;
	struct dg_queue *q = NULL;
	struct event_base *base = event_base_new();
	struct relay_tlsrpt *t = NULL;
	struct dg_tlsrpt_store *s = NULL;
	struct dg_tlsrpt_event ev;
	struct dg_queue_msg msg;
	struct glue g;
	struct dg_err err = {0};
	char qdir[128], sdir[160], key[128], rec[128], junk[128], want[512], hdr[4096], v[256];
	static const char *const day = "2026-03-14";

	(void)state;
	memset(&g, 0, sizeof(g));
	write_key(pk, "relay.pem", key, sizeof(key));
	write_keyrec(pk, SERVICE, "relay.txt", rec, sizeof(rec));
	snprintf(qdir, sizeof(qdir), "%s/queue", tmpdir);
	assert_int_equal(mkdir(qdir, 0700), 0);
	assert_int_equal(dg_queue_open(qdir, NULL, &q, &err), DG_OK);

	/* a key without selector, or a key that is not one, stops the start */
	relay_conf(&conf, qdir, key, NULL);
	assert_int_equal(relay_tlsrpt_new(base, &conf, q, glue_queued, &g, NULL, &t, &err),
	                 DG_E_CONFIG);
	assert_string_equal(err.msg, "tlsrpt-dkim-key is set but tlsrpt-dkim-selector is not");
	assert_null(t);
	dg_relay_conf_cleanup(&conf);
	write_text("junk.pem", "junk\n", junk, sizeof(junk));
	relay_conf(&conf, qdir, junk, SELECTOR);
	assert_int_equal(relay_tlsrpt_new(base, &conf, q, glue_queued, &g, NULL, &t, &err),
	                 DG_E_CONFIG);
	snprintf(want, sizeof(want), "DKIM key %s: not a PEM private key", junk);
	assert_string_equal(err.msg, want);
	assert_null(t);
	dg_relay_conf_cleanup(&conf);

	/* one failure event for d.example, then the day's run queues a signed mail */
	relay_conf(&conf, qdir, key, SELECTOR);
	assert_int_equal(dg_relay_tlsrpt_dir(&conf, sdir, sizeof(sdir)), DG_OK);
	assert_int_equal(dg_tlsrpt_store_open(sdir, &s, &err), DG_OK);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(dg_tlsrpt_day_parse(day, &ev.time_s), DG_OK);
	ev.time_s += 600;
	ev.report_domain = "d.example";
	ev.rua[0] = "mailto:tlsrpt@d.example";
	ev.n_rua = 1;
	ev.policy_type = DG_TLSRPT_POLICY_NONE;
	ev.policy_domain = "d.example";
	ev.result_type = "starttls-not-supported";
	assert_int_equal(dg_tlsrpt_store_append(s, &ev, &err), DG_OK);
	dg_tlsrpt_store_free(s);
	dg_clock_set_wall((time_t)ev.time_s + 86400);
	assert_int_equal(relay_tlsrpt_new(base, &conf, q, glue_queued, &g, NULL, &t, &err), DG_OK);
	assert_int_equal(relay_tlsrpt_run_now(t, day), DG_OK);
	assert_int_equal(g.n_ids, 1);
	assert_int_equal(dg_queue_get(q, g.ids[0], &msg, &err), DG_OK);
	/* d= defaults to the domain of tlsrpt-contact */
	sig_header(msg.body, msg.body_len, hdr, sizeof(hdr));
	assert_string_equal(tag(hdr, "d", v, sizeof(v)), DOMAIN);
	assert_null(tag(hdr, "l", v, sizeof(v)));
	if (verify(rec, msg.body, msg.body_len) != DKIM_STAT_OK) {
		print_error("queued report: got a bad signature, want a good one\n");
		fail();
	}
	dg_queue_msg_cleanup(&msg);
	relay_tlsrpt_free(t);
	dg_relay_conf_cleanup(&conf);
	dg_queue_free(q);
	event_base_free(base);
	EVP_PKEY_free(pk);
	unlink(key);
	unlink(rec);
	unlink(junk);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", qdir);
		assert_int_equal(system(cmd), 0);
	}
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dg-tlsrpt-dkim-XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_rsa),    cmocka_unit_test(test_sign_ed25519),
	    cmocka_unit_test(test_wrong_key),   cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_relay_signs), cmocka_unit_test(test_relay_unsigned_warns),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
