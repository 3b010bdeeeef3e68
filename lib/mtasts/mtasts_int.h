/*
 * mtasts_int.h - helpers shared by the files of lib/mtasts (RFC 8461 field syntax).
 */
#ifndef DG_MTASTS_INT_H
#define DG_MTASTS_INT_H

#include <daneguard/mtasts.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>

/** @param c byte @return true for SP and HTAB (RFC 5234 WSP) */
bool sts_is_wsp(int c);

/**
 * Length of an RFC 8461 field name at @p p: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" /
 * "."), at most 32 bytes. @return 0 if none starts there
 */
size_t sts_field_name_len(const char *p, size_t len);

/** Length of a TXT extension value (%x21-3A / %x3C / %x3E-7E) at @p p, 0 if none. */
size_t sts_ext_value_len(const char *p, size_t len);

#endif /* DG_MTASTS_INT_H */
