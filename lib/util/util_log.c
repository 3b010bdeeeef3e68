/*
 * util_log.c - leveled logging through a callback.
 *
 * Public: dg_log_init, dg_log_global, dg_log_enabled, dg_log_trace_enabled,
 * dg_log_write, dg_log_write_errno, dg_log_stderr_cb, dg_log_level_str
 * (and the DG_LOG, DG_LOG_ERRNO, DG_TRACE macros in daneguard/util.h).
 *
 * A struct dg_log holds a level, a trace mask and a line callback (STYLE.md
 * section 8). Until library contexts exist, a process-wide logger is used
 * when a NULL logger is passed. Lines are formatted into a stack buffer of
 * DG_LOG_LINE_MAX bytes; control bytes (CR, LF, ...) become '?' so that a
 * peer's text can never split one event into two lines. The callback
 * borrows the line for the duration of the call.
 */
#include <daneguard/util.h>

#include <stdio.h>
#include <string.h>

static void log_emit(const struct dg_log *log, enum dg_log_level level, int sys_errno,
                     const char *fmt, va_list ap) DG_PRINTF(4, 0);

static struct dg_log log_global = {DG_LOG_WARN, 0, NULL, NULL};

void dg_log_init(struct dg_log *log)
{
	log->level = DG_LOG_WARN;
	log->trace = 0;
	log->cb = NULL;
	log->arg = NULL;
}

struct dg_log *dg_log_global(void)
{
	return &log_global;
}

bool dg_log_enabled(const struct dg_log *log, enum dg_log_level level)
{
	if (log == NULL)
		log = &log_global;
	return level <= log->level;
}

bool dg_log_trace_enabled(const struct dg_log *log, unsigned cat)
{
	if (log == NULL)
		log = &log_global;
	return (log->trace & cat) != 0;
}

const char *dg_log_level_str(enum dg_log_level level)
{
	switch (level) {
	case DG_LOG_ERROR: return "error";
	case DG_LOG_WARN: return "warn";
	case DG_LOG_INFO: return "info";
	case DG_LOG_DEBUG: return "debug";
	}
	return "unknown";
}

void dg_log_stderr_cb(void *arg, enum dg_log_level level, const char *line)
{
	(void)arg;
	fprintf(stderr, "daneguard: %s: %s\n", dg_log_level_str(level), line);
}

/* Format, sanitize and hand one line to the callback. */
static void log_emit(const struct dg_log *log, enum dg_log_level level, int sys_errno,
                     const char *fmt, va_list ap)
{
	char line[DG_LOG_LINE_MAX];
	size_t len;

	if (log == NULL)
		log = &log_global;
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		snprintf(line, sizeof(line), "(unformattable log line: %s)", fmt);
	len = strlen(line);
	if (sys_errno != 0 && len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, ": %s", strerror(sys_errno));
	for (char *c = line; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}
	(log->cb != NULL ? log->cb : dg_log_stderr_cb)(log->arg, level, line);
}

void dg_log_write(const struct dg_log *log, enum dg_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(log, level, 0, fmt, ap);
	va_end(ap);
}

void dg_log_write_errno(const struct dg_log *log, enum dg_log_level level, int sys_errno,
                        const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(log, level, sys_errno, fmt, ap);
	va_end(ap);
}
