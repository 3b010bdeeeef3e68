/*
 * util_err.c - status names, error filling and panics.
 *
 * Public: dg_status_str, dg_err_set, dg_err_set_errno, dg_err_clear, dg_panic.
 * The caller owns struct dg_err; nothing here allocates.
 */
#include <daneguard/err.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void err_vfill(struct dg_err *err, enum dg_status code, int sys_errno, const char *fmt,
		      va_list ap) DG_PRINTF(4, 0);

const char *dg_status_str(enum dg_status st)
{
	switch (st) {
	case DG_OK: return "ok";
	case DG_E_IO: return "I/O error";
	case DG_E_TIMEOUT: return "timeout";
	case DG_E_PARSE: return "parse error";
	case DG_E_DNS_TEMP: return "temporary DNS failure";
	case DG_E_TLS: return "TLS error";
	case DG_E_PROTO: return "protocol error";
	case DG_E_CONFIG: return "configuration error";
	case DG_E_LIMIT: return "limit exceeded";
	case DG_E_NOTFOUND: return "not found";
	case DG_E_INTERNAL: return "internal error";
	}
	return "unknown status";
}

static void err_vfill(struct dg_err *err, enum dg_status code, int sys_errno, const char *fmt,
		      va_list ap)
{
	err->code = code;
	err->sys_errno = sys_errno;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

enum dg_status dg_err_set(struct dg_err *err, enum dg_status code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	err_vfill(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

enum dg_status dg_err_set_errno(struct dg_err *err, enum dg_status code, int sys_errno,
				const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	err_vfill(err, code, sys_errno, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	if (sys_errno != 0 && len < sizeof(err->msg))
		snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(sys_errno));
	return code;
}

void dg_err_clear(struct dg_err *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}

void dg_panic(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "daneguard: panic: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
