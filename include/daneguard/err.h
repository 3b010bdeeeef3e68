/*
 * daneguard/err.h - status codes, error detail and panics.
 *
 * Fallible functions return enum dg_status (DG_OK = 0, negative error
 * classes) and put the detail into a caller-supplied struct dg_err, which may
 * be NULL when only the code matters (STYLE.md section 4). Verdicts about a
 * mail domain are data, never a dg_status.
 */
#ifndef DANEGUARD_ERR_H
#define DANEGUARD_ERR_H

#include <stddef.h>

#if defined(DG_TESTING)
#define DG_TESTABLE
#else
#define DG_TESTABLE static
#endif

#define DG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/** Result classes of fallible functions; dg_status_str() names each one. */
enum dg_status {
	DG_OK = 0,
	DG_E_IO = -1,       /**< read/write/socket failure (errno set in dg_err) */
	DG_E_TIMEOUT = -2,  /**< a deadline passed */
	DG_E_PARSE = -3,    /**< malformed input (offset in dg_err) */
	DG_E_DNS_TEMP = -4, /**< temporary DNS failure (SERVFAIL, timeout) */
	DG_E_TLS = -5,      /**< TLS library or handshake failure */
	DG_E_PROTO = -6,    /**< peer violated the protocol */
	DG_E_CONFIG = -7,   /**< bad option, file or setting */
	DG_E_LIMIT = -8,    /**< an input or resource cap was reached */
	DG_E_NOTFOUND = -9, /**< the thing asked for does not exist */
	DG_E_INTERNAL = -10 /**< a library call failed unexpectedly */
};

#define DG_ERR_MSG_MAX 256

/** Detail of the first error: code, errno, OpenSSL error, where, message. */
struct dg_err {
	enum dg_status code;
	int sys_errno;            /**< errno at failure, 0 if none */
	unsigned long ssl_err;    /**< ERR_peek_last_error() at failure, 0 if none */
	size_t offset;            /**< byte offset into parsed input, if relevant */
	const char *where;        /**< static string naming the function/stage */
	char msg[DG_ERR_MSG_MAX]; /**< human sentence naming the input */
};

/**
 * Name a status ("timeout", "parse error", ...).
 * @param st status code
 * @return static string, never NULL
 */
const char *dg_status_str(enum dg_status st);

/**
 * Fill @p err (if not NULL) with @p code and a formatted message.
 * @param err   error to fill, may be NULL (borrowed)
 * @param code  the status to record
 * @param fmt   printf format naming the input and what is wrong
 * @return @p code, so callers can `return dg_err_set(err, ...)`
 */
enum dg_status dg_err_set(struct dg_err *err, enum dg_status code, const char *fmt, ...)
	DG_PRINTF(3, 4);

/** As dg_err_set(), also recording errno. */
enum dg_status dg_err_set_errno(struct dg_err *err, enum dg_status code, int sys_errno,
				const char *fmt, ...) DG_PRINTF(4, 5);

/** Reset @p err to DG_OK with an empty message. @param err may be NULL */
void dg_err_clear(struct dg_err *err);

/** Log file, line and message to stderr and abort(). Never returns. */
void dg_panic(const char *file, int line, const char *fmt, ...) DG_PRINTF(3, 4)
	__attribute__((noreturn));

#define DG_PANIC(...) dg_panic(__FILE__, __LINE__, __VA_ARGS__)

#endif /* DANEGUARD_ERR_H */
