/*
 * fuzz_ehlo.c - libFuzzer target for the EHLO reply parser
 * (lib/smtp/smtp_ehlo.c).
 *
 * Input: an EHLO reply as the server sends it. It is parsed twice: through
 * the reply parser (as a session would), and directly, each LF-separated
 * line becoming a reply line, so the EHLO parser also sees lines the reply
 * parser would refuse. Invariants on the result are checked; violations
 * abort.
 */
#include <daneguard/smtp.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_LINES_MAX = 200 };

static void fuzz_check_ehlo(const struct dg_smtp_ehlo *e);
static void fuzz_direct(const uint8_t *data, size_t size, struct dg_smtp_ehlo *e);
static void fuzz_via_parser(const uint8_t *data, size_t size, struct dg_smtp_ehlo *e);

static void fuzz_check_ehlo(const struct dg_smtp_ehlo *e)
{
	if (e->nkw > DG_SMTP_EHLO_KW_MAX || strlen(e->domain) > DG_NAME_MAX ||
	    strlen(e->greeting) >= DG_SMTP_EHLO_GREETING_LEN)
		abort();
	for (size_t i = 0; i < e->nkw; i++) {
		const struct dg_smtp_ehlo_kw *kw = &e->kw[i];
		size_t n = strlen(kw->name);

		if (n == 0 || n > DG_SMTP_EHLO_KW_LEN ||
		    strlen(kw->params) > DG_SMTP_EHLO_PARAMS_LEN)
			abort();
		for (size_t j = 0; j < n; j++)
			if (!dg_ascii_isdigit(kw->name[j]) &&
			    !(kw->name[j] >= 'A' && kw->name[j] <= 'Z') && kw->name[j] != '-')
				abort();
		for (const char *c = kw->params; *c != '\0'; c++)
			if (*c < 0x20 || *c > 0x7e)
				abort();
		if (dg_smtp_ehlo_find(e, kw->name) == NULL)
			abort();
	}
	if ((e->ext & DG_SMTP_EXT_SIZE) == 0 && e->size_max != 0)
		abort();
}

static void fuzz_direct(const uint8_t *data, size_t size, struct dg_smtp_ehlo *e)
{
	const char *lines[FUZZ_LINES_MAX];
	struct dg_smtp_reply r = {0};
	char *copy = malloc(size + 1);
	size_t start = 0;

	if (copy == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i <= size && r.nlines < FUZZ_LINES_MAX; i++) {
		if (i < size && copy[i] != '\n')
			continue;
		copy[i] = '\0';
		lines[r.nlines++] = copy + start;
		start = i + 1;
	}
	r.code = 250;
	r.lines = lines;
	if (dg_smtp_ehlo_parse(&r, e, NULL) != DG_OK)
		abort();
	fuzz_check_ehlo(e);
	free(copy);
}

static void fuzz_via_parser(const uint8_t *data, size_t size, struct dg_smtp_ehlo *e)
{
	struct dg_smtp_reply_parser p;
	struct dg_smtp_reply r;
	bool complete;

	dg_smtp_reply_parser_init(&p, NULL);
	if (dg_smtp_reply_parser_feed(&p, data, size, NULL) == DG_OK) {
		while (dg_smtp_reply_parser_next(&p, &r, &complete, NULL) == DG_OK && complete) {
			enum dg_status st = dg_smtp_ehlo_parse(&r, e, NULL);

			if ((st == DG_OK) != (r.code == 250))
				abort();
			if (st == DG_OK)
				fuzz_check_ehlo(e);
		}
	}
	dg_smtp_reply_parser_cleanup(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_smtp_ehlo *e = malloc(sizeof(*e));

	if (e == NULL)
		return 0;
	fuzz_via_parser(data, size, e);
	fuzz_direct(data, size, e);
	free(e);
	return 0;
}
