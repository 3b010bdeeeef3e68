/*
 * fuzz_rollover_conf.c - libFuzzer target for the rollover configuration parser
 * (rollover.conf, a file an operator edits: file input, STYLE section 9).
 *
 * A configuration that parses is formatted and parsed again: the second parse must
 * succeed and format to the same text, else abort().
 */
#include <daneguard/rollover.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_rollover_conf *a, *b;
	char *text, *again;

	if (size > DG_ROLLOVER_FILE_MAX)
		return 0;
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	if (a == NULL || b == NULL)
		abort();
	if (dg_rollover_conf_parse((const char *)data, size, a, NULL) == DG_OK) {
		text = dg_rollover_conf_format(a);
		if (dg_rollover_conf_parse(text, strlen(text), b, NULL) != DG_OK) {
			fprintf(stderr, "formatted configuration does not parse:\n%s\n", text);
			abort();
		}
		again = dg_rollover_conf_format(b);
		if (strcmp(text, again) != 0)
			abort();
		free(again);
		free(text);
	}
	free(a);
	free(b);
	return 0;
}
