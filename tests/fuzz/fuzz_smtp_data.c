/*
 * fuzz_smtp_data.c - libFuzzer target for the DATA reader
 * (lib/smtp/smtp_data.c). Byte 0 picks the body cap, byte 1 seeds the chunk
 * sizes; the rest is the client's stream. It is read whole and in
 * pseudo-random chunks; both must give the same status, body, counts and
 * consumed bytes (differential check), and the body must respect the cap.
 */
#include <daneguard/smtp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_run(const uint8_t *data, size_t size, size_t max, unsigned seed,
                     struct dg_buf *sum);

/* Read data in chunks chosen by seed (0: whole) and summarise the result. */
static void fuzz_run(const uint8_t *data, size_t size, size_t max, unsigned seed,
                     struct dg_buf *sum)
{
	struct dg_buf body;
	struct dg_smtp_data d;
	size_t off = 0, used = 0;
	enum dg_status st = DG_OK;
	bool done = false;

	dg_buf_init(&body, max);
	dg_smtp_data_init(&d, &body);
	while (off < size && !done) {
		size_t n = size - off, c;

		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 13;
			if (n > size - off)
				n = size - off;
		}
		st = dg_smtp_data_feed(&d, data + off, n, &c, &done, NULL, NULL);
		if (c > n || (!done && c != n))
			abort();
		used += c;
		off += n;
	}
	if (dg_buf_len(&body) > max)
		abort();
	dg_buf_printf(sum, "%d %d %zu %zu %zu %zu %zu ", (int)st, done, d.lines, d.bare_cr,
	              d.bare_lf, d.body_bytes, used);
	dg_buf_append(sum, dg_buf_bytes(&body), dg_buf_len(&body));
	dg_buf_cleanup(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_buf a, b;
	size_t max;

	if (size < 2)
		return 0;
	max = (data[0] & 1) ? (size_t)data[0] : 1u << 20;
	dg_buf_init(&a, 1 << 24);
	dg_buf_init(&b, 1 << 24);
	fuzz_run(data + 2, size - 2, max, 0, &a);
	fuzz_run(data + 2, size - 2, max, data[1] | 1u, &b);
	if (dg_buf_len(&a) != dg_buf_len(&b) ||
	    memcmp(dg_buf_bytes(&a), dg_buf_bytes(&b), dg_buf_len(&a)) != 0) {
		fprintf(stderr, "whole and chunked reads differ\n");
		abort();
	}
	dg_buf_cleanup(&a);
	dg_buf_cleanup(&b);
	return 0;
}
