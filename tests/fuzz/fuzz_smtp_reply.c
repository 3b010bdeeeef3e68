/*
 * fuzz_smtp_reply.c - libFuzzer target for the incremental SMTP reply
 * parser (lib/smtp/smtp_reply.c) and, on 250 replies, the EHLO parser.
 *
 * Input: byte 0 picks small or default caps, byte 1 seeds the chunk sizes,
 * the rest is the server's byte stream. The stream is parsed twice: fed
 * whole and fed in pseudo-random chunks. Both runs must yield the same
 * replies and the same error (differential check), and every reply must
 * respect the caps; any difference aborts.
 */
#include <daneguard/smtp.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_reply(const struct dg_smtp_reply *r, const struct dg_smtp_reply_limits *lim);
static void fuzz_run(const uint8_t *data, size_t size, const struct dg_smtp_reply_limits *lim,
                     unsigned seed, struct dg_buf *out);

static void fuzz_check_reply(const struct dg_smtp_reply *r, const struct dg_smtp_reply_limits *lim)
{
	struct dg_smtp_ehlo *ehlo;
	size_t total = 0;

	if (r->code < 200 || r->code > 599 || r->nlines == 0 || r->nlines > lim->lines_max ||
	    r->bytes > lim->bytes_max)
		abort();
	for (size_t i = 0; i < r->nlines; i++) {
		size_t n = strlen(r->lines[i]);

		/* wire line: "NNN" + sep + text + CRLF/LF */
		if (n + 5 > lim->line_max || dg_smtp_reply_line_text(r, i) == NULL)
			abort();
		total += n + 4;
	}
	if (total > r->bytes)
		abort();
	if (r->code != 250)
		return;
	ehlo = malloc(sizeof(*ehlo));
	if (ehlo == NULL)
		return;
	if (dg_smtp_ehlo_parse(r, ehlo, NULL) != DG_OK || ehlo->nkw > DG_SMTP_EHLO_KW_MAX)
		abort();
	free(ehlo);
}

/* Parse data, feeding chunks chosen by seed (0: all at once). */
static void fuzz_run(const uint8_t *data, size_t size, const struct dg_smtp_reply_limits *lim,
                     unsigned seed, struct dg_buf *out)
{
	struct dg_smtp_reply_parser p;
	struct dg_smtp_reply r;
	struct dg_err err;
	size_t off = 0;
	bool complete;

	dg_smtp_reply_parser_init(&p, lim);
	while (off < size) {
		size_t n = size - off;

		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 17;
			if (n > size - off)
				n = size - off;
		}
		if (dg_smtp_reply_parser_feed(&p, data + off, n, &err) != DG_OK)
			goto failed;
		off += n;
		for (;;) {
			if (dg_smtp_reply_parser_next(&p, &r, &complete, &err) != DG_OK)
				goto failed;
			if (!complete)
				break;
			fuzz_check_reply(&r, &p.lim);
			dg_buf_printf(out, "%u/%zu/%zu/%zu/%s;", r.code, r.nlines, r.bytes,
			              r.offset, r.status_str);
		}
	}
	dg_buf_printf(out, "pending=%zu", dg_smtp_reply_parser_pending(&p));
	dg_smtp_reply_parser_cleanup(&p);
	return;
failed:
	dg_buf_printf(out, "ERR %d@%zu %s", err.code, err.offset, err.msg);
	dg_smtp_reply_parser_cleanup(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_smtp_reply_limits lim = {0};
	struct dg_buf a, b;
	unsigned seed;

	if (size < 2)
		return 0;
	if (data[0] & 1) {
		lim.line_max = 8 + data[0] % 64;
		lim.lines_max = 1 + data[0] % 7;
		lim.bytes_max = 16 + (size_t)data[0] * 2;
	}
	seed = data[1] | 1u;
	data += 2;
	size -= 2;
	/* Pending data depends on chunking, so give it room for the whole input. */
	lim.pending_max = size + 1;
	dg_buf_init(&a, 1 << 24);
	dg_buf_init(&b, 1 << 24);
	fuzz_run(data, size, &lim, 0, &a);
	fuzz_run(data, size, &lim, seed, &b);
	if (strcmp(dg_buf_str(&a), dg_buf_str(&b)) != 0) {
		fprintf(stderr, "whole: %s\nchunked: %s\n", dg_buf_str(&a), dg_buf_str(&b));
		abort();
	}
	dg_buf_cleanup(&a);
	dg_buf_cleanup(&b);
	return 0;
}
