/*
 * fuzz_relay_ipc.c - libFuzzer target for the relay's inter-process message decoder
 * (lib/relay/relay_ipc.c).
 *
 * Input: bytes as read from a socketpair. Invariants (violations abort): an error carries a
 * message and consumes nothing; a decoded message consumed exactly its declared length, has a
 * known type and a valid id where it carries one, and packs back to the same bytes.
 */
#include "relay/relay_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_ipc_msg m;
	struct dg_err err;
	uint8_t buf[RELAY_IPC_MAX];
	size_t used = 0, n;

	memset(&err, 0, sizeof(err));
	if (relay_ipc_unpack(data, size, &m, &used, &err) != DG_OK) {
		if (used != 0 || err.msg[0] == '\0')
			abort();
		return 0;
	}
	if (used < 3 || used > size || used > RELAY_IPC_MAX)
		abort();
	if ((m.type == RELAY_IPC_QUEUED || m.type == RELAY_IPC_DELETE) && !dg_queue_id_ok(m.id))
		abort();
	n = relay_ipc_pack(&m, buf, sizeof(buf));
	if (n != used || memcmp(buf, data, n) != 0)
		abort();
	return 0;
}
