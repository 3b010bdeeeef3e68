/*
 * tlsa_int.h - private helpers shared by lib/tlsa/tlsa_*.c.
 *
 * A memdup on top of util.h's aborting allocators (STYLE.md section 4), the hex encoder and the
 * "TLSA u s m record #n" prefix used in messages. Nothing here is exported from the
 * library's public header.
 */
#ifndef DANEGUARD_TLSA_INT_H
#define DANEGUARD_TLSA_INT_H

#include <daneguard/tlsa.h>
#include <daneguard/util.h>

#include <stddef.h>
#include <stdint.h>

/** Copy of @p len octets of @p p (NULL when @p len is 0). Free with free(). */
uint8_t *tlsa_xmemdup(const uint8_t *p, size_t len);

/**
 * Write @p len octets of @p p as hex digits to @p out (2 * len characters, no NUL).
 * @param upper nonzero for uppercase digits
 */
void tlsa_hex_encode(const uint8_t *p, size_t len, int upper, char *out);

/**
 * Format "TLSA u s m record #num" (or without " record #num" when @p num is 0) into @p buf.
 * @return characters written, as snprintf (clamped to @p size - 1)
 */
size_t tlsa_rr_label(const struct dg_tlsa_rr *rr, size_t num, char *buf, size_t size);

/** Digest length in octets for matching type 1 (32) or 2 (64), 0 otherwise. */
size_t tlsa_digest_len(uint8_t mtype);

#endif /* DANEGUARD_TLSA_INT_H */
