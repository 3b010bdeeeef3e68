/*
 * publish_int.h - private helpers shared by lib/publish/publish_*.c.
 *
 * Base64 (RFC 4648) for TSIG secrets, the ldns name of a TSIG algorithm, the TLSA owner
 * name, and the DNS exchange (struct pub_xfer): one query/response over UDP or TCP on a
 * libevent event_base with a deadline, used by the UPDATE sender and the authoritative check.
 */
#ifndef DANEGUARD_PUBLISH_INT_H
#define DANEGUARD_PUBLISH_INT_H

#include <daneguard/publish.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct pub_xfer;

/** Largest DNS message read over TCP or UDP. */
#define PUB_MSG_MAX 65535

/**
 * Decode base64 text (standard alphabet, '=' padding, no blanks).
 * @return true and *out_len on success; false on a bad character, bad padding or when the
 *         result would exceed @p cap; @p bad_off gets the offending offset
 */
bool pub_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                    size_t *bad_off);

/** Encode @p len octets as base64 into @p out (NUL-terminated). @return false if too small */
bool pub_b64_encode(const uint8_t *p, size_t len, char *out, size_t cap);

/** @return ldns's name of a key's algorithm ("hmac-sha256."), NULL when unsupported */
const char *pub_tsig_ldns_alg(const char *algorithm);

/** Write "_PORT._tcp.HOST" (normalized) into @p out. @return DG_OK or DG_E_CONFIG/LIMIT */
enum dg_status pub_owner_name(const char *host, uint16_t port, char *out, size_t size,
                              struct dg_err *err);

/** Whether normalized @p name is @p zone or below it (both normalized, no trailing dot). */
bool pub_name_in_zone(const char *name, const char *zone);

/** Transport of one exchange. */
enum pub_xfer_proto { PUB_XFER_UDP = 0, PUB_XFER_TCP = 1 };

/**
 * Called once per exchange from the event loop. @p reply is borrowed for the call; the
 * exchange is freed after the callback returns (do not cancel it from inside).
 * @param st DG_OK with a reply; DG_E_TIMEOUT, DG_E_IO, DG_E_PROTO otherwise
 */
typedef void pub_xfer_cb(void *arg, enum dg_status st, const uint8_t *reply, size_t len,
                         const struct dg_err *err);

/**
 * Send @p msg to @p addr:@p port and wait for one reply. UDP replies must come from the
 * address (connected socket) and carry the query id; TCP uses 2-octet length framing.
 * @param msg message (copied); at most PUB_MSG_MAX octets
 * @return DG_OK (callback will fire) or DG_E_CONFIG (bad address), DG_E_IO (socket)
 */
enum dg_status pub_xfer_start(struct event_base *base, enum pub_xfer_proto proto, const char *addr,
                              uint16_t port, const uint8_t *msg, size_t len, unsigned timeout_ms,
                              pub_xfer_cb *cb, void *arg, struct pub_xfer **out,
                              struct dg_err *err);

/** Cancel an exchange (no callback). @param x exchange (taken), may be NULL */
void pub_xfer_cancel(struct pub_xfer *x);

/**
 * Build a query (RD=0, DO=1, EDNS 1232) for @p name / @p type with id @p id.
 * @return DG_OK with *out (free()) and *len, DG_E_INTERNAL
 */
enum dg_status pub_query_build(const char *name, uint16_t type, uint16_t id, uint8_t **out,
                               size_t *len, struct dg_err *err);

#endif /* DANEGUARD_PUBLISH_INT_H */
