/*
 * publish_tsig.c - TSIG keys: pure parsers of the BIND/Knot key file format and of the
 * command-line form, base64, and the algorithm table.
 *
 * Public: dg_tsig_key_parse, dg_tsig_key_parse_arg, dg_tsig_key_load, dg_tsig_key_cleanup.
 * Private (publish_int.h): pub_b64_decode, pub_b64_encode, pub_tsig_ldns_alg.
 *
 * The parsers do no I/O and no logging (STYLE.md section 7): a tokenizer walks the bytes
 * (words, quoted strings, '{', '}', ';', comments # // and C-style), each token capped at
 * TOKEN_MAX, the whole input at DG_TSIG_FILE_MAX, key blocks at KEYS_MAX. Errors name the
 * key and the byte offset; the secret is never echoed. The struct dg_tsig_key is embedded
 * and owns no heap memory; dg_tsig_key_cleanup() wipes it.
 *
 * SPEC: section 12 (PUB-6: publishing needs an authenticated UPDATE); RFC 8945 (TSIG),
 * RFC 4648 (base64).
 */
#include "publish/publish_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

enum {
	TOKEN_MAX = 512, /* longest word or (joined) quoted string */
	KEYS_MAX = 256,  /* key blocks looked at in one file */
	B64_TEXT_MAX = ((DG_TSIG_SECRET_MAX + 2) / 3) * 4
};

enum tok_kind { TOK_END = 0, TOK_WORD, TOK_STRING, TOK_OPEN, TOK_CLOSE, TOK_SEMI, TOK_ERROR };

/* Tokenizer over the file (STYLE.md section 7: pointer advanced by small capped helpers). */
struct tsig_lex {
	const uint8_t *p;
	size_t len;
	size_t pos;
	size_t tok_off; /* offset of the current token */
	char tok[TOKEN_MAX + 1];
	size_t tok_len;
	const char *err; /* first lexical error (static) */
};

struct alg_name {
	const char *name;      /* canonical, as stored in struct dg_tsig_key */
	const char *alias;     /* other accepted spelling, or NULL */
	const char *ldns_name; /* what ldns_pkt_tsig_sign expects */
};

static const struct alg_name algs[] = {
    {"hmac-md5", "hmac-md5.sig-alg.reg.int", "hmac-md5.sig-alg.reg.int."},
    {"hmac-sha1", NULL, "hmac-sha1."},
    {"hmac-sha256", NULL, "hmac-sha256."},
    {"hmac-sha384", NULL, "hmac-sha384."},
    {"hmac-sha512", NULL, "hmac-sha512."},
};

static int b64_value(int c);
static void lex_skip_space(struct tsig_lex *lx);
static enum tok_kind lex_string(struct tsig_lex *lx);
static enum tok_kind lex_next(struct tsig_lex *lx);
static enum dg_status lex_fail(struct tsig_lex *lx, struct dg_err *err, const char *fmt, ...)
    DG_PRINTF(3, 4);
static const struct alg_name *alg_find(const char *s);
static enum dg_status set_name(struct dg_tsig_key *k, const char *name, struct dg_err *err);
static enum dg_status set_alg(struct dg_tsig_key *k, const char *alg, struct dg_err *err);
static enum dg_status set_secret(struct dg_tsig_key *k, const char *b64, size_t len,
                                 struct dg_err *err);
static enum dg_status parse_key_body(struct tsig_lex *lx, struct dg_tsig_key *k,
                                     struct dg_err *err);
static enum dg_status parse_key_stmt(struct tsig_lex *lx, struct dg_tsig_key *k,
                                     struct dg_err *err);
static enum dg_status skip_statement(struct tsig_lex *lx, struct dg_err *err);

/* ---- base64 ------------------------------------------------------------------------------ */

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool pub_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                    size_t *bad_off)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0, i;

	*bad_off = 0;
	if (len == 0 || len % 4 != 0) {
		*bad_off = len;
		return false;
	}
	for (i = 0; i < len; i++) {
		int v = s[i] == '=' ? 0 : b64_value((unsigned char)s[i]);
		if (v < 0 || (pad > 0 && s[i] != '=') || (s[i] == '=' && i + 2 < len)) {
			*bad_off = i;
			return false;
		}
		pad += s[i] == '=';
		acc = (acc << 6) | (uint32_t)v;
		if (++bits == 4) {
			uint8_t b[3] = {(uint8_t)(acc >> 16), (uint8_t)(acc >> 8), (uint8_t)acc};
			size_t take = 3 - (i + 1 == len ? pad : 0);
			if (n + take > cap) {
				*bad_off = i;
				return false;
			}
			memcpy(out + n, b, take);
			n += take;
			acc = 0;
			bits = 0;
		}
	}
	*out_len = n;
	return n > 0;
}

bool pub_b64_encode(const uint8_t *p, size_t len, char *out, size_t cap)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	if (cap < ((len + 2) / 3) * 4 + 1)
		return false;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return true;
}

/* ---- algorithms and fields --------------------------------------------------------------- */

static const struct alg_name *alg_find(const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if ((strlen(algs[i].name) == n && dg_ascii_strncasecmp(s, algs[i].name, n) == 0) ||
		    (algs[i].alias != NULL && strlen(algs[i].alias) == n &&
		     dg_ascii_strncasecmp(s, algs[i].alias, n) == 0))
			return &algs[i];
	}
	return NULL;
}

const char *pub_tsig_ldns_alg(const char *algorithm)
{
	const struct alg_name *a = alg_find(algorithm);

	return a != NULL ? a->ldns_name : NULL;
}

static enum dg_status set_name(struct dg_tsig_key *k, const char *name, struct dg_err *err)
{
	struct dg_err e;

	if (dg_name_normalize(name, k->name, sizeof(k->name), &e) != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "TSIG key name: %s", e.msg);
	return DG_OK;
}

static enum dg_status set_alg(struct dg_tsig_key *k, const char *alg, struct dg_err *err)
{
	const struct alg_name *a = alg_find(alg);
	char shown[64];

	if (a == NULL)
		return dg_err_set(err, DG_E_PARSE,
		                  "TSIG key %s: unknown algorithm \"%s\" (want hmac-sha256, "
		                  "hmac-sha384, hmac-sha512, hmac-sha1 or hmac-md5)",
		                  k->name[0] ? k->name : "?",
		                  dg_str_escape(shown, sizeof(shown), alg, strlen(alg)));
	snprintf(k->algorithm, sizeof(k->algorithm), "%s", a->name);
	return DG_OK;
}

static enum dg_status set_secret(struct dg_tsig_key *k, const char *b64, size_t len,
                                 struct dg_err *err)
{
	size_t bad = 0;

	if (len > B64_TEXT_MAX)
		return dg_err_set(err, DG_E_LIMIT, "TSIG key %s: secret longer than %d octets",
		                  k->name[0] ? k->name : "?", DG_TSIG_SECRET_MAX);
	if (!pub_b64_decode(b64, len, k->secret, sizeof(k->secret), &k->secret_len, &bad))
		return dg_err_set(err, DG_E_PARSE,
		                  "TSIG key %s: secret is not valid base64 (at "
		                  "character %zu of %zu)",
		                  k->name[0] ? k->name : "?", bad, len);
	return DG_OK;
}

/* ---- tokenizer --------------------------------------------------------------------------- */

static void lex_skip_space(struct tsig_lex *lx)
{
	while (lx->pos < lx->len) {
		const uint8_t *p = lx->p + lx->pos;
		size_t left = lx->len - lx->pos;
		if (dg_ascii_isspace(*p)) {
			lx->pos++;
		} else if (*p == '#' || (left >= 2 && p[0] == '/' && p[1] == '/')) {
			while (lx->pos < lx->len && lx->p[lx->pos] != '\n')
				lx->pos++;
		} else if (left >= 2 && p[0] == '/' && p[1] == '*') {
			const uint8_t *end = NULL;
			for (size_t i = 2; i + 1 < left && end == NULL; i++)
				if (p[i] == '*' && p[i + 1] == '/')
					end = p + i + 2;
			if (end == NULL) {
				lx->err = "unterminated comment";
				lx->tok_off = lx->pos;
				lx->pos = lx->len;
				return;
			}
			lx->pos = (size_t)(end - lx->p);
		} else {
			return;
		}
	}
}

static enum tok_kind lex_string(struct tsig_lex *lx)
{
	lx->pos++; /* opening quote */
	while (lx->pos < lx->len && lx->p[lx->pos] != '"') {
		uint8_t c = lx->p[lx->pos];
		if (c == '\n' || c == '\\' || c < 0x20 || c >= 0x7f) {
			lx->err = "bad character in quoted string";
			return TOK_ERROR;
		}
		if (lx->tok_len >= TOKEN_MAX) {
			lx->err = "quoted string too long";
			return TOK_ERROR;
		}
		lx->tok[lx->tok_len++] = (char)c;
		lx->pos++;
	}
	if (lx->pos >= lx->len) {
		lx->err = "unterminated quoted string";
		return TOK_ERROR;
	}
	lx->pos++;
	lx->tok[lx->tok_len] = '\0';
	return TOK_STRING;
}

static enum tok_kind lex_next(struct tsig_lex *lx)
{
	uint8_t c;

	lx->tok_len = 0;
	lx->tok[0] = '\0';
	lex_skip_space(lx);
	lx->tok_off = lx->pos;
	if (lx->err != NULL)
		return TOK_ERROR;
	if (lx->pos >= lx->len)
		return TOK_END;
	c = lx->p[lx->pos];
	if (c == '{' || c == '}' || c == ';') {
		lx->pos++;
		return c == '{' ? TOK_OPEN : c == '}' ? TOK_CLOSE : TOK_SEMI;
	}
	if (c == '"')
		return lex_string(lx);
	while (lx->pos < lx->len) {
		c = lx->p[lx->pos];
		if (dg_ascii_isspace(c) || c == '{' || c == '}' || c == ';' || c == '"' || c == '#')
			break;
		if (c < 0x20 || c >= 0x7f || lx->tok_len >= TOKEN_MAX) {
			lx->err = c < 0x20 || c >= 0x7f ? "bad character" : "word too long";
			return TOK_ERROR;
		}
		lx->tok[lx->tok_len++] = (char)c;
		lx->pos++;
	}
	lx->tok[lx->tok_len] = '\0';
	return TOK_WORD;
}

static enum dg_status lex_fail(struct tsig_lex *lx, struct dg_err *err, const char *fmt, ...)
{
	char why[DG_ERR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return DG_E_PARSE;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dg_err_set(err, DG_E_PARSE, "TSIG key file: byte %zu: %s", lx->tok_off,
	           lx->err != NULL ? lx->err : why);
	err->offset = lx->tok_off;
	return DG_E_PARSE;
}

/* ---- grammar ----------------------------------------------------------------------------- */

/* One statement inside key "name" { ... }: algorithm WORD; or secret "b64" ["b64"...]; */
static enum dg_status parse_key_stmt(struct tsig_lex *lx, struct dg_tsig_key *k, struct dg_err *err)
{
	const char *what = strcmp(lx->tok, "algorithm") == 0 ? "algorithm"
	                   : strcmp(lx->tok, "secret") == 0  ? "secret"
	                                                     : NULL;
	char val[TOKEN_MAX + 1];
	size_t vlen = 0;
	enum tok_kind t;

	if (what == NULL)
		return lex_fail(lx, err, "unknown statement in key %s (want algorithm or secret)",
		                k->name);
	for (t = lex_next(lx); t == TOK_WORD || t == TOK_STRING; t = lex_next(lx)) {
		if (vlen + lx->tok_len > TOKEN_MAX)
			return lex_fail(lx, err, "%s of key %s too long", what, k->name);
		memcpy(val + vlen, lx->tok, lx->tok_len);
		vlen += lx->tok_len;
	}
	val[vlen] = '\0';
	if (t != TOK_SEMI || vlen == 0)
		return lex_fail(lx, err, "%s of key %s: want a value then ';'", what, k->name);
	if (strcmp(what, "algorithm") == 0)
		return set_alg(k, val, err);
	return set_secret(k, val, vlen, err);
}

/* After key NAME: '{' statements '}' ';' */
static enum dg_status parse_key_body(struct tsig_lex *lx, struct dg_tsig_key *k, struct dg_err *err)
{
	enum tok_kind t;
	enum dg_status st;
	int guard;

	if (lex_next(lx) != TOK_OPEN)
		return lex_fail(lx, err, "want '{' after key %s", k->name);
	for (guard = 0; guard < 64; guard++) {
		t = lex_next(lx);
		if (t == TOK_CLOSE)
			break;
		if (t != TOK_WORD)
			return lex_fail(lx, err, "want a statement or '}' in key %s", k->name);
		st = parse_key_stmt(lx, k, err);
		if (st != DG_OK)
			return st;
	}
	if (guard == 64)
		return lex_fail(lx, err, "too many statements in key %s", k->name);
	if (lex_next(lx) != TOK_SEMI)
		return lex_fail(lx, err, "want ';' after the closing '}' of key %s", k->name);
	if (k->algorithm[0] == '\0')
		return dg_err_set(err, DG_E_PARSE, "TSIG key %s: no algorithm", k->name);
	if (k->secret_len == 0)
		return dg_err_set(err, DG_E_PARSE, "TSIG key %s: no secret", k->name);
	return DG_OK;
}

/* Skip any other top-level statement: tokens up to ';' at brace depth 0. */
static enum dg_status skip_statement(struct tsig_lex *lx, struct dg_err *err)
{
	int depth = 0;

	for (;;) { /* bounded: every token advances pos over a finite input */
		enum tok_kind t = lex_next(lx);
		if (t == TOK_END || t == TOK_ERROR)
			return lex_fail(lx, err, "unterminated statement");
		if (t == TOK_OPEN)
			depth++;
		else if (t == TOK_CLOSE && --depth < 0)
			return lex_fail(lx, err, "unbalanced '}'");
		else if (t == TOK_SEMI && depth == 0)
			return DG_OK;
	}
}

enum dg_status dg_tsig_key_parse(const uint8_t *p, size_t len, const char *want_name,
                                 struct dg_tsig_key *out, struct dg_err *err)
{
	struct tsig_lex lx = {.p = p, .len = len};
	char want[DG_NAME_BUF_SIZE] = "";
	enum dg_status st = DG_OK;
	int keys;

	memset(out, 0, sizeof(*out));
	if (len > DG_TSIG_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "TSIG key file: larger than %d bytes",
		                  DG_TSIG_FILE_MAX);
	if (want_name != NULL && dg_name_normalize(want_name, want, sizeof(want), NULL) != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "TSIG key name \"%.64s\" is not a DNS name",
		                  want_name);
	for (keys = 0; keys < KEYS_MAX; keys++) {
		enum tok_kind t = lex_next(&lx);
		if (t == TOK_END)
			break;
		if (t != TOK_WORD || strcmp(lx.tok, "key") != 0) {
			st = t == TOK_WORD ? skip_statement(&lx, err)
			                   : lex_fail(&lx, err, "want a 'key' statement");
			if (st != DG_OK)
				break;
			continue;
		}
		t = lex_next(&lx);
		if (t != TOK_WORD && t != TOK_STRING) {
			st = lex_fail(&lx, err, "want a key name after 'key'");
			break;
		}
		memset(out, 0, sizeof(*out));
		if ((st = set_name(out, lx.tok, err)) != DG_OK ||
		    (st = parse_key_body(&lx, out, err)) != DG_OK)
			break;
		if (want[0] == '\0' || strcmp(out->name, want) == 0)
			return DG_OK;
	}
	if (st == DG_OK)
		st = dg_err_set(err, DG_E_PARSE, "TSIG key file: %s%s",
		                want[0] ? "no key named " : "no key statement", want);
	dg_tsig_key_cleanup(out);
	return st;
}

enum dg_status dg_tsig_key_parse_arg(const char *s, struct dg_tsig_key *out, struct dg_err *err)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	char name[DG_NAME_BUF_SIZE + 1], alg[DG_TSIG_ALG_MAX];
	const char *secret = c2 != NULL ? c2 + 1 : c1 != NULL ? c1 + 1 : NULL;
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	if (c1 == NULL || (size_t)(c1 - s) >= sizeof(name) ||
	    (c2 != NULL && (size_t)(c2 - c1 - 1) >= sizeof(alg)))
		return dg_err_set(err, DG_E_PARSE, "TSIG key: want NAME:ALGORITHM:SECRET");
	snprintf(name, sizeof(name), "%.*s", (int)(c1 - s), s);
	snprintf(alg, sizeof(alg), "%.*s", c2 != NULL ? (int)(c2 - c1 - 1) : 11,
	         c2 != NULL ? c1 + 1 : "hmac-sha256");
	if ((st = set_name(out, name, err)) != DG_OK || (st = set_alg(out, alg, err)) != DG_OK ||
	    (st = set_secret(out, secret, strlen(secret), err)) != DG_OK)
		dg_tsig_key_cleanup(out);
	return st;
}

enum dg_status dg_tsig_key_load(const char *path, const char *want_name, struct dg_tsig_key *out,
                                struct dg_err *err)
{
	uint8_t *buf = dg_xmalloc(DG_TSIG_FILE_MAX + 1);
	enum dg_status st;
	size_t n;
	FILE *f;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "rb");
	if (f == NULL) {
		free(buf);
		return dg_err_set_errno(err, DG_E_IO, errno, "TSIG key file %s: %s", path,
		                        strerror(errno));
	}
	n = fread(buf, 1, DG_TSIG_FILE_MAX + 1, f);
	st = ferror(f) ? dg_err_set(err, DG_E_IO, "TSIG key file %s: read error", path) : DG_OK;
	fclose(f);
	if (st == DG_OK && n > DG_TSIG_FILE_MAX)
		st = dg_err_set(err, DG_E_LIMIT, "TSIG key file %s: larger than %d bytes", path,
		                DG_TSIG_FILE_MAX);
	if (st == DG_OK && (st = dg_tsig_key_parse(buf, n, want_name, out, err)) != DG_OK &&
	    err != NULL) {
		char msg[DG_ERR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		snprintf(err->msg, sizeof(err->msg), "%.100s: %.150s", path, msg);
	}
	OPENSSL_cleanse(buf, n);
	free(buf);
	return st;
}

void dg_tsig_key_cleanup(struct dg_tsig_key *key)
{
	if (key != NULL)
		OPENSSL_cleanse(key, sizeof(*key));
}
