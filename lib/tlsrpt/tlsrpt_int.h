/*
 * tlsrpt_int.h - private to lib/tlsrpt: what tlsrpt_store.c shares with tlsrpt_report.c.
 */
#ifndef DG_TLSRPT_INT_H
#define DG_TLSRPT_INT_H

#include <daneguard/tlsrpt.h>

/**
 * Read the journal DIR/DAY.events whole.
 * @param out receives the text (NUL-terminated; caller frees), NULL when there is none
 * @param len receives its length
 * @return DG_OK (also for a missing journal), DG_E_PARSE (bad day), DG_E_IO, DG_E_LIMIT
 */
enum dg_status tlsrpt_journal_read(const char *dir, const char *day, char **out, size_t *len,
                                   struct dg_err *err);

#endif /* DG_TLSRPT_INT_H */
