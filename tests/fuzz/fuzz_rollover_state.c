/*
 * fuzz_rollover_state.c - libFuzzer target for the rollover journal parser
 * (state.json, read back after any crash: file input, STYLE section 9).
 *
 * A state that parses is formatted and parsed again: the round trip must give the
 * same text, else abort().
 */
#include <daneguard/rollover.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_rollover_state a, b;
	char *text, *again;

	if (size > DG_ROLLOVER_FILE_MAX)
		return 0;
	if (dg_rollover_state_parse((const char *)data, size, &a, NULL) != DG_OK)
		return 0;
	text = dg_rollover_state_format(&a);
	if (dg_rollover_state_parse(text, strlen(text), &b, NULL) != DG_OK) {
		fprintf(stderr, "formatted state does not parse:\n%s\n", text);
		abort();
	}
	again = dg_rollover_state_format(&b);
	if (strcmp(text, again) != 0)
		abort();
	free(again);
	free(text);
	return 0;
}
