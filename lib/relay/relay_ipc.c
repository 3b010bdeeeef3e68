/*
 * relay_ipc.c - typed messages between the relay's processes (STYLE 6, 7).
 *
 * Public (relay_int.h): relay_ipc_pack, relay_ipc_unpack.
 *
 * Wire form: a 2-byte big-endian length of the whole message (header included), a 1-byte
 * type, then the fields of that type. The processes exchange them over SOCK_SEQPACKET
 * socketpairs, one message per packet, but the decoder does not rely on that: it checks the
 * declared length, unpacks field by field through a cursor and fails unless every declared
 * byte was consumed (as OpenSMTPD's m_end does). Queue ids are validated before use.
 */
#include "relay_int.h"

#include <daneguard/util.h>

#include <string.h>

size_t relay_ipc_pack(const struct relay_ipc_msg *m, uint8_t *buf, size_t size)
{
	size_t n = 3;

	switch (m->type) {
	case RELAY_IPC_READY:
		if (size < 4)
			return 0;
		buf[n++] = m->role;
		break;
	case RELAY_IPC_QUEUED:
	case RELAY_IPC_DELETE:
		if (!dg_queue_id_ok(m->id) || size < 3 + DG_QUEUE_ID_LEN)
			return 0;
		memcpy(buf + n, m->id, DG_QUEUE_ID_LEN);
		n += DG_QUEUE_ID_LEN;
		break;
	case RELAY_IPC_FLUSH:
		if (size < 3)
			return 0;
		break;
	default:
		return 0;
	}
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	buf[2] = (uint8_t)m->type;
	return n;
}

enum dg_status relay_ipc_unpack(const uint8_t *p, size_t len, struct relay_ipc_msg *m,
				size_t *used, struct dg_err *err)
{
	size_t total, off = 3;

	memset(m, 0, sizeof(*m));
	*used = 0;
	if (len < 3) {
		dg_err_set(err, DG_E_LIMIT, "IPC message: %zu bytes, header needs 3", len);
		return DG_E_LIMIT;
	}
	total = ((size_t)p[0] << 8) | p[1];
	if (total < 3 || total > RELAY_IPC_MAX) {
		dg_err_set(err, DG_E_PARSE, "IPC message: declared length %zu outside 3..%d", total,
			   RELAY_IPC_MAX);
		return DG_E_PARSE;
	}
	if (len < total) {
		dg_err_set(err, DG_E_LIMIT, "IPC message: %zu of %zu bytes", len, total);
		return DG_E_LIMIT;
	}
	m->type = (enum relay_ipc_type)p[2];
	switch (p[2]) {
	case RELAY_IPC_READY:
		if (total - off < 1)
			goto short_msg;
		m->role = p[off++];
		break;
	case RELAY_IPC_QUEUED:
	case RELAY_IPC_DELETE:
		if (total - off < DG_QUEUE_ID_LEN)
			goto short_msg;
		memcpy(m->id, p + off, DG_QUEUE_ID_LEN);
		m->id[DG_QUEUE_ID_LEN] = '\0';
		off += DG_QUEUE_ID_LEN;
		if (!dg_queue_id_ok(m->id)) {
			dg_err_set(err, DG_E_PARSE, "IPC message type %u: invalid queue id", p[2]);
			return DG_E_PARSE;
		}
		break;
	case RELAY_IPC_FLUSH:
		break;
	default:
		dg_err_set(err, DG_E_PARSE, "IPC message: unknown type %u", p[2]);
		return DG_E_PARSE;
	}
	if (off != total) { /* STYLE 7: every byte consumed */
		dg_err_set(err, DG_E_PARSE, "IPC message type %u: %zu trailing bytes", p[2],
			   total - off);
		return DG_E_PARSE;
	}
	*used = total;
	return DG_OK;
short_msg:
	dg_err_set(err, DG_E_PARSE, "IPC message type %u: %zu bytes too short for its fields",
		   p[2], total);
	return DG_E_PARSE;
}
