/*
 * fuzz_scan_input.c - libFuzzer target for the scan input line reader
 * (lib/scan/scan_input.c, dg_scan_input_feed / dg_scan_input_finish).
 *
 * Input: the bytes of an input file. The first byte picks a feed size (1..256) so that
 * lines split across reads are exercised. Invariants (violations abort): each feed consumes
 * at least one byte and at most what it was given; line numbers count up by one; a domain
 * line holds a name dg_name_is_valid() accepts, lowercase and without a trailing dot; a
 * malformed line carries a reason; the number of lines equals the number of '\n' plus one
 * for a last line without one.
 */
#include <daneguard/scan.h>
#include <daneguard/util.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_line(const struct dg_scan_line *l, uint64_t *lineno);

static void fuzz_check_line(const struct dg_scan_line *l, uint64_t *lineno)
{
	if (l->lineno != ++*lineno)
		abort();
	if (l->kind == DG_SCAN_LINE_DOMAIN) {
		size_t n = strlen(l->domain);

		if (!dg_name_is_valid(l->domain, NULL) || n == 0 || l->domain[n - 1] == '.')
			abort();
		for (size_t i = 0; i < n; i++)
			if (l->domain[i] >= 'A' && l->domain[i] <= 'Z')
				abort();
	}
	if (l->kind == DG_SCAN_LINE_MALFORMED && l->why[0] == '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dg_scan_input in;
	static struct dg_scan_line line;
	size_t step, pos = 1, newlines = 0;
	uint64_t lineno = 0;

	if (size == 0)
		return 0;
	step = (size_t)data[0] + 1;
	for (size_t i = 1; i < size; i++)
		newlines += data[i] == '\n';
	dg_scan_input_init(&in);
	while (pos < size) {
		size_t chunk = size - pos < step ? size - pos : step;
		size_t used = dg_scan_input_feed(&in, data + pos, chunk, &line);

		if (used == 0 || used > chunk)
			abort();
		pos += used;
		if (line.kind != DG_SCAN_LINE_NONE)
			fuzz_check_line(&line, &lineno);
	}
	if (dg_scan_input_finish(&in, &line)) {
		fuzz_check_line(&line, &lineno);
		if (size > 1 && data[size - 1] == '\n')
			abort();
	}
	if (lineno != newlines + (size > 1 && data[size - 1] != '\n'))
		abort();
	return 0;
}
