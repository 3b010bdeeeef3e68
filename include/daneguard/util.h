/*
 * daneguard/util.h - allocation, buffers, cursors, number and name parsing,
 * ASCII helpers, arenas, clocks and logging.
 *
 * The util layer has no DANE or SMTP knowledge (STYLE.md section 1). Every
 * other module may include it. Contracts, limits and ownership are described
 * in docs/internals/util.md.
 */
#ifndef DANEGUARD_UTIL_H
#define DANEGUARD_UTIL_H

#include <daneguard/err.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Allocation (util_alloc.c)                                                */
/* ------------------------------------------------------------------------ */

/**
 * malloc() that never fails: on exhaustion it panics (DG_PANIC).
 * @param size bytes wanted; 0 is allowed and returns a unique pointer
 * @return new memory, never NULL; the caller frees it with free()
 */
void *dg_xmalloc(size_t size);

/**
 * calloc() that never fails and panics on `nmemb * size` overflow.
 * @param nmemb number of elements
 * @param size  size of each element
 * @return zeroed memory, never NULL; the caller frees it with free()
 */
void *dg_xcalloc(size_t nmemb, size_t size);

/**
 * realloc() that never fails.
 * @param ptr  memory to resize (taken; may be NULL)
 * @param size new size; 0 is allowed and returns a unique pointer
 * @return resized memory, never NULL; the caller frees it with free()
 */
void *dg_xrealloc(void *ptr, size_t size);

/**
 * strdup() that never fails.
 * @param s NUL-terminated string (borrowed, copied)
 * @return new copy; the caller frees it with free()
 */
char *dg_xstrdup(const char *s);

/**
 * Copy at most @p n bytes of @p s (stopping at a NUL) into a new string.
 * @param s string (borrowed, copied); need not be NUL-terminated within @p n
 * @param n maximum number of bytes to copy
 * @return new NUL-terminated copy; the caller frees it with free()
 */
char *dg_xstrndup(const char *s, size_t n);

/* ------------------------------------------------------------------------ */
/* Growable buffer with a cap (util_buf.c)                                  */
/* ------------------------------------------------------------------------ */

/**
 * A growable byte/string buffer with a maximum size set at init (STYLE.md
 * section 5). The content is always followed by a NUL byte that is not
 * counted in len. Appends are all-or-nothing: an append that would make len
 * exceed max_bytes returns DG_E_LIMIT and leaves the buffer unchanged.
 * The struct is owned by its embedder; release memory with dg_buf_cleanup().
 */
struct dg_buf {
	char *data;       /**< heap memory or NULL before the first append */
	size_t len;       /**< content bytes, not counting the NUL */
	size_t cap;       /**< allocated bytes (including room for the NUL) */
	size_t max_bytes; /**< largest len allowed */
};

/**
 * Initialise an empty buffer; allocates nothing.
 * @param b         buffer to initialise (borrowed)
 * @param max_bytes largest content length allowed, not counting the NUL
 */
void dg_buf_init(struct dg_buf *b, size_t max_bytes);

/**
 * Append @p n bytes (may contain NUL bytes).
 * @param b buffer (borrowed)
 * @param p bytes to append (borrowed, copied); may be NULL when n is 0
 * @param n number of bytes
 * @return DG_OK, or DG_E_LIMIT if len would exceed max_bytes (buffer unchanged)
 */
enum dg_status dg_buf_append(struct dg_buf *b, const void *p, size_t n);

/**
 * Append a NUL-terminated string.
 * @param b buffer (borrowed)
 * @param s string (borrowed, copied)
 * @return DG_OK or DG_E_LIMIT (buffer unchanged)
 */
enum dg_status dg_buf_append_str(struct dg_buf *b, const char *s);

/**
 * Append one byte.
 * @param b buffer (borrowed)
 * @param c byte to append
 * @return DG_OK or DG_E_LIMIT (buffer unchanged)
 */
enum dg_status dg_buf_putc(struct dg_buf *b, int c);

/**
 * Append printf-formatted text.
 * @param b   buffer (borrowed)
 * @param fmt printf format
 * @return DG_OK, DG_E_LIMIT (buffer unchanged) or DG_E_INTERNAL if
 *         vsnprintf() fails (buffer unchanged)
 */
enum dg_status dg_buf_printf(struct dg_buf *b, const char *fmt, ...) DG_PRINTF(2, 3);

/**
 * As dg_buf_printf() with a va_list.
 * @param b   buffer (borrowed)
 * @param fmt printf format
 * @param ap  arguments (consumed)
 * @return DG_OK, DG_E_LIMIT or DG_E_INTERNAL (buffer unchanged on error)
 */
enum dg_status dg_buf_vprintf(struct dg_buf *b, const char *fmt, va_list ap) DG_PRINTF(2, 0);

/**
 * Remove the first @p n bytes (all of them if n >= len), keeping the memory.
 * @param b buffer (borrowed)
 * @param n bytes to drop from the front
 */
void dg_buf_consume(struct dg_buf *b, size_t n);

/**
 * Empty the buffer but keep its memory and max_bytes.
 * @param b buffer (borrowed)
 */
void dg_buf_reset(struct dg_buf *b);

/**
 * Free the memory; the buffer is empty afterwards and may be reused with the
 * same max_bytes. @param b buffer (borrowed), may be NULL
 */
void dg_buf_cleanup(struct dg_buf *b);

/**
 * Hand the content over to the caller and leave the buffer empty.
 * @param b buffer (borrowed)
 * @return NUL-terminated heap string (never NULL); the caller frees it
 */
char *dg_buf_take(struct dg_buf *b);

/**
 * @param b buffer (borrowed)
 * @return NUL-terminated content, "" when empty; borrowed, valid until the
 *         next change to @p b
 */
const char *dg_buf_str(const struct dg_buf *b);

/**
 * @param b buffer (borrowed)
 * @return content as bytes, as dg_buf_str()
 */
const uint8_t *dg_buf_bytes(const struct dg_buf *b);

/** @param b buffer (borrowed) @return content length, not counting the NUL */
size_t dg_buf_len(const struct dg_buf *b);

/* ------------------------------------------------------------------------ */
/* Read cursor over bytes (util_cursor.c)                                   */
/* ------------------------------------------------------------------------ */

/**
 * A read cursor over (p, len) that checks the remaining length before each
 * read and keeps its first error (STYLE.md section 7). After an error every
 * read returns zeros (or NULL for dg_cursor_bytes) and the first error and
 * its offset are kept, so a sequence of reads is checked once at the end.
 * The cursor borrows the bytes; they must outlive it.
 */
struct dg_cursor {
	const uint8_t *p; /**< input (borrowed) */
	size_t len;       /**< input length */
	size_t off;       /**< next byte to read */
	const char *err;  /**< first error (static string) or NULL */
	size_t err_off;   /**< offset at which the first error happened */
	size_t err_need;  /**< bytes the failing read wanted (0 for dg_cursor_fail) */
};

/**
 * Start reading @p p.
 * @param c   cursor (borrowed)
 * @param p   input (borrowed, must outlive the cursor); may be NULL if len is 0
 * @param len input length
 */
void dg_cursor_init(struct dg_cursor *c, const uint8_t *p, size_t len);

/** Read one byte. @param c cursor @return the byte, 0 after an error */
uint8_t dg_cursor_u8(struct dg_cursor *c);

/** Read a 16-bit network-order integer. @param c cursor @return value, 0 after an error */
uint16_t dg_cursor_u16(struct dg_cursor *c);

/** Read a 32-bit network-order integer. @param c cursor @return value, 0 after an error */
uint32_t dg_cursor_u32(struct dg_cursor *c);

/**
 * Take @p n bytes.
 * @param c cursor (borrowed)
 * @param n bytes wanted
 * @return pointer into the input (borrowed from the input), or NULL after
 *         an error or when the input has fewer than @p n bytes left
 */
const uint8_t *dg_cursor_bytes(struct dg_cursor *c, size_t n);

/**
 * Copy @p n bytes into @p dst; on error @p dst is zero-filled.
 * @param c   cursor (borrowed)
 * @param dst destination of at least @p n bytes (borrowed)
 * @param n   bytes wanted
 */
void dg_cursor_copy(struct dg_cursor *c, void *dst, size_t n);

/** Skip @p n bytes. @param c cursor @param n bytes to skip */
void dg_cursor_skip(struct dg_cursor *c, size_t n);

/** @param c cursor @return bytes left to read, 0 after an error */
size_t dg_cursor_remaining(const struct dg_cursor *c);

/** @param c cursor @return current offset into the input */
size_t dg_cursor_offset(const struct dg_cursor *c);

/** @param c cursor @return true while no error happened */
bool dg_cursor_ok(const struct dg_cursor *c);

/**
 * Record a semantic error at the current offset unless an error is already
 * recorded (the first one wins).
 * @param c   cursor (borrowed)
 * @param why static string naming what is wrong (borrowed, must be static)
 */
void dg_cursor_fail(struct dg_cursor *c, const char *why);

/**
 * Fail with "trailing bytes" unless every byte was consumed (STYLE.md
 * section 7, IPC unpacking). @param c cursor
 */
void dg_cursor_expect_end(struct dg_cursor *c);

/**
 * Turn the cursor's first error into a status and message.
 * @param c    cursor (borrowed)
 * @param what names the input for the message ("TLSA rdata for _25._tcp.mx")
 *             (borrowed)
 * @param err  error to fill (may be NULL); err->offset is the error offset
 * @return DG_OK if no error happened, else DG_E_PARSE
 */
enum dg_status dg_cursor_err(const struct dg_cursor *c, const char *what, struct dg_err *err);

/* ------------------------------------------------------------------------ */
/* Numbers (util_parse.c)                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Parse a decimal unsigned integer in [min, max]: only ASCII digits, no
 * sign, no whitespace, not empty; leading zeros are allowed.
 * @param s   NUL-terminated text (borrowed)
 * @param min smallest value accepted
 * @param max largest value accepted
 * @param out result, written only on success (borrowed)
 * @return DG_OK, DG_E_PARSE (empty, junk, sign) or DG_E_LIMIT (overflow or
 *         outside [min, max])
 */
enum dg_status dg_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/**
 * As dg_parse_u32() over exactly @p len bytes (no NUL needed).
 * @param p   text (borrowed); may be NULL if len is 0
 * @param len number of bytes, all of which must be digits
 * @param min smallest value accepted
 * @param max largest value accepted
 * @param out result, written only on success (borrowed)
 * @return DG_OK, DG_E_PARSE or DG_E_LIMIT as dg_parse_u32()
 */
enum dg_status dg_parse_u32n(const char *p, size_t len, uint32_t min, uint32_t max, uint32_t *out);

/* ------------------------------------------------------------------------ */
/* ASCII, locale independent (util_str.c)                                   */
/* ------------------------------------------------------------------------ */

/**
 * Length of the well-formed UTF-8 sequence of 2..4 bytes at @p s (RFC 3629: no overlong
 * form, no surrogate, at most U+10FFFF).
 * @param s bytes (borrowed), s[0] >= 0x80
 * @param n bytes available at @p s
 * @return 2, 3 or 4; 0 for a malformed or truncated sequence
 */
size_t dg_utf8_seq_len(const unsigned char *s, size_t n);

/** @param c any int (a byte or EOF) @return true for '0'..'9' */
static inline bool dg_ascii_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

/** @param c any int @return true for 'A'..'Z' and 'a'..'z' */
static inline bool dg_ascii_isalpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/** @param c any int @return true for ASCII letters and digits */
static inline bool dg_ascii_isalnum(int c)
{
	return dg_ascii_isalpha(c) || dg_ascii_isdigit(c);
}

/** @param c any int @return true for '0'..'9', 'a'..'f', 'A'..'F' */
static inline bool dg_ascii_isxdigit(int c)
{
	return dg_ascii_isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/** @param c any int @return true for SP, HT, LF, VT, FF, CR */
static inline bool dg_ascii_isspace(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/** @param c any int @return c lowercased if it is 'A'..'Z', else c */
static inline int dg_ascii_tolower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/** @param c any int @return c uppercased if it is 'a'..'z', else c */
static inline int dg_ascii_toupper(int c)
{
	return (c >= 'a' && c <= 'z') ? c - ('a' - 'A') : c;
}

/**
 * Compare two strings ignoring ASCII case (bytes >= 0x80 compare as is).
 * @param a string (borrowed)
 * @param b string (borrowed)
 * @return <0, 0, >0 like strcmp() on the lowercased strings
 */
int dg_ascii_strcasecmp(const char *a, const char *b);

/**
 * As dg_ascii_strcasecmp() for at most @p n bytes.
 * @param a string (borrowed)
 * @param b string (borrowed)
 * @param n maximum bytes compared
 * @return <0, 0, >0
 */
int dg_ascii_strncasecmp(const char *a, const char *b, size_t n);

/**
 * Write untrusted bytes as printable text for messages and logs: printable
 * ASCII is copied, '"' and '\\' are escaped with a backslash, other bytes
 * become \xNN. Output is truncated with "..." to fit @p out_size.
 * @param out      destination (borrowed), always NUL-terminated if out_size > 0
 * @param out_size size of @p out
 * @param p        input bytes (borrowed); may be NULL if len is 0
 * @param len      input length
 * @return @p out
 */
char *dg_str_escape(char *out, size_t out_size, const void *p, size_t len);

/* ------------------------------------------------------------------------ */
/* DNS names (util_name.c)                                                  */
/* ------------------------------------------------------------------------ */

/** Longest DNS name in text form, without the trailing dot. */
#define DG_NAME_MAX 253
/** Buffer size that holds any normalized name and its NUL. */
#define DG_NAME_BUF_SIZE (DG_NAME_MAX + 1)
/** Longest label. */
#define DG_NAME_LABEL_MAX 63

/**
 * Check that @p name is a DNS name usable as a host or query name: ASCII
 * only (IDNs in A-label form, SPEC HOST-8), labels of 1..63 letters, digits
 * and hyphens that neither start nor end with a hyphen; a label may start
 * with '_' (service labels such as _25, _tcp, _mta-sts); at most 253
 * characters without the optional trailing dot; no empty labels; the root
 * name "." and an all-numeric last label (an address, SPEC MX-9) are refused.
 * @param name NUL-terminated name (borrowed); NULL is invalid
 * @param err  filled with DG_E_PARSE, the name and what is wrong (may be NULL);
 *             err->offset is the offending offset
 * @return true if valid
 */
bool dg_name_is_valid(const char *name, struct dg_err *err);

/**
 * Validate @p name, then write it lowercased and without a trailing dot.
 * @param name     NUL-terminated name (borrowed)
 * @param out      destination (borrowed); DG_NAME_BUF_SIZE always suffices
 * @param out_size size of @p out
 * @param err      error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE (invalid name) or DG_E_LIMIT (out too small)
 */
enum dg_status dg_name_normalize(const char *name, char *out, size_t out_size, struct dg_err *err);

/* ------------------------------------------------------------------------ */
/* Arena (util_arena.c)                                                     */
/* ------------------------------------------------------------------------ */

struct dg_arena_chunk;

/**
 * A bump allocator for short-lived data of one check or one session
 * (STYLE.md section 5). Memory comes in chunks; every pointer is aligned to
 * alignof(max_align_t); everything is released at once by
 * dg_arena_free_all() (keeps one chunk for reuse) or dg_arena_cleanup().
 * Allocation never fails (panics on exhaustion, like dg_xmalloc).
 */
struct dg_arena {
	struct dg_arena_chunk *head; /**< current chunk first, then older ones */
	size_t chunk_bytes;          /**< usable bytes of a normal chunk */
	size_t allocated;            /**< bytes handed out since the last free_all */
};

/**
 * Initialise an empty arena; allocates nothing.
 * @param a           arena (borrowed)
 * @param chunk_bytes usable bytes per chunk; 0 selects 4096
 */
void dg_arena_init(struct dg_arena *a, size_t chunk_bytes);

/**
 * @param a    arena (borrowed)
 * @param size bytes wanted (0 gives a valid pointer)
 * @return uninitialised memory aligned to max_align_t, owned by the arena
 *         (valid until dg_arena_free_all/cleanup), never NULL
 */
void *dg_arena_alloc(struct dg_arena *a, size_t size);

/**
 * @param a arena (borrowed)
 * @param s string (borrowed, copied)
 * @return copy owned by the arena
 */
char *dg_arena_strdup(struct dg_arena *a, const char *s);

/**
 * @param a    arena (borrowed)
 * @param p    bytes (borrowed, copied); may be NULL if size is 0
 * @param size number of bytes
 * @return copy owned by the arena
 */
void *dg_arena_memdup(struct dg_arena *a, const void *p, size_t size);

/**
 * Release everything allocated; keep one normal chunk for reuse.
 * @param a arena (borrowed)
 */
void dg_arena_free_all(struct dg_arena *a);

/** Release all memory of @p a. @param a arena (borrowed), may be NULL */
void dg_arena_cleanup(struct dg_arena *a);

/* ------------------------------------------------------------------------ */
/* Clocks (util_clock.c)                                                    */
/* ------------------------------------------------------------------------ */

/**
 * Monotonic milliseconds (CLOCK_MONOTONIC), for deadlines (STYLE.md section 6).
 * @return milliseconds since an arbitrary start point
 */
uint64_t dg_clock_mono_ms(void);

/**
 * Wall-clock time, for certificate validity and log stamps; tests may fix
 * it with dg_clock_set_wall().
 * @return seconds since the epoch
 */
time_t dg_clock_wall(void);

/**
 * Make dg_clock_wall() return @p t until dg_clock_reset_wall(). Not
 * thread-safe; meant for tests. @param t fixed time
 */
void dg_clock_set_wall(time_t t);

/** Make dg_clock_wall() follow the system clock again. */
void dg_clock_reset_wall(void);

/* ------------------------------------------------------------------------ */
/* Logging (util_log.c)                                                     */
/* ------------------------------------------------------------------------ */

/** Log levels, most severe first. */
enum dg_log_level { DG_LOG_ERROR = 0, DG_LOG_WARN = 1, DG_LOG_INFO = 2, DG_LOG_DEBUG = 3 };

/** Trace categories (bits of struct dg_log.trace). */
enum dg_log_trace {
	DG_LOG_TRACE_DNS = 1u << 0,
	DG_LOG_TRACE_SMTP = 1u << 1,
	DG_LOG_TRACE_TLS = 1u << 2,
	DG_LOG_TRACE_QUEUE = 1u << 3
};

/**
 * Receives one formatted log line (no newline, control bytes replaced).
 * @param arg   the callback argument of struct dg_log (borrowed)
 * @param level level of the line (DG_LOG_DEBUG for trace lines)
 * @param line  the line, borrowed for the duration of the call
 */
typedef void dg_log_cb(void *arg, enum dg_log_level level, const char *line);

/**
 * Where and how much to log (STYLE.md section 8). Embed one in a library
 * context; until contexts exist, dg_log_global() serves everyone.
 */
struct dg_log {
	enum dg_log_level level; /**< lines above this level are dropped */
	unsigned trace;          /**< enum dg_log_trace bits that are emitted */
	dg_log_cb *cb;           /**< line sink; NULL means dg_log_stderr_cb */
	void *arg;               /**< passed to cb (borrowed) */
};

/** Longest line handed to a callback (longer lines are truncated). */
#define DG_LOG_LINE_MAX 1024

/**
 * Set level WARN, no trace, stderr callback.
 * @param log logger to initialise (borrowed)
 */
void dg_log_init(struct dg_log *log);

/** @return the process-wide logger (borrowed; configure it at start-up) */
struct dg_log *dg_log_global(void);

/**
 * @param log   logger (borrowed); NULL means the global one
 * @param level level to test
 * @return true if a line at @p level would be emitted
 */
bool dg_log_enabled(const struct dg_log *log, enum dg_log_level level);

/**
 * @param log logger (borrowed); NULL means the global one
 * @param cat one enum dg_log_trace bit
 * @return true if trace lines of @p cat are emitted
 */
bool dg_log_trace_enabled(const struct dg_log *log, unsigned cat);

/**
 * Format and emit one line regardless of the level (use DG_LOG()).
 * @param log   logger (borrowed); NULL means the global one
 * @param level level passed to the callback
 * @param fmt   printf format
 */
void dg_log_write(const struct dg_log *log, enum dg_log_level level, const char *fmt, ...)
    DG_PRINTF(3, 4);

/**
 * As dg_log_write(), appending ": " and strerror(@p sys_errno).
 * @param log       logger (borrowed); NULL means the global one
 * @param level     level passed to the callback
 * @param sys_errno errno value to describe (0: nothing appended)
 * @param fmt       printf format
 */
void dg_log_write_errno(const struct dg_log *log, enum dg_log_level level, int sys_errno,
                        const char *fmt, ...) DG_PRINTF(4, 5);

/**
 * The default callback: writes "daneguard: <level>: <line>\n" to stderr.
 * @param arg   unused
 * @param level level of the line
 * @param line  the line (borrowed)
 */
void dg_log_stderr_cb(void *arg, enum dg_log_level level, const char *line);

/**
 * @param level a log level
 * @return "error", "warn", "info" or "debug" (static)
 */
const char *dg_log_level_str(enum dg_log_level level);

/** Log at @p level; the arguments are not evaluated when the level is off. */
#define DG_LOG(log, level, ...)                                                                    \
	do {                                                                                       \
		const struct dg_log *dg_log_l_ = (log);                                            \
		if (dg_log_enabled(dg_log_l_, (level)))                                            \
			dg_log_write(dg_log_l_, (level), __VA_ARGS__);                             \
	} while (0)

/** As DG_LOG(), adding strerror(@p errnum). */
#define DG_LOG_ERRNO(log, level, errnum, ...)                                                      \
	do {                                                                                       \
		const struct dg_log *dg_log_l_ = (log);                                            \
		if (dg_log_enabled(dg_log_l_, (level)))                                            \
			dg_log_write_errno(dg_log_l_, (level), (errnum), __VA_ARGS__);             \
	} while (0)

/** Emit a trace line of category @p cat (at DG_LOG_DEBUG) if that category is on. */
#define DG_TRACE(log, cat, ...)                                                                    \
	do {                                                                                       \
		const struct dg_log *dg_log_l_ = (log);                                            \
		if (dg_log_trace_enabled(dg_log_l_, (cat)))                                        \
			dg_log_write(dg_log_l_, DG_LOG_DEBUG, __VA_ARGS__);                        \
	} while (0)

/* ---- TXT record selection (util_txt.c) ------------------------------------------------ */

/** Parse one TXT record of a kind; DG_E_NOTFOUND when it is not of that kind. */
typedef enum dg_status dg_txt_parse_fn(const char *p, size_t len, void *out,
				       struct dg_err *err);

/**
 * Run @p parse over each record; records it calls DG_E_NOTFOUND are not of the kind.
 * @param txt,lens,n the TXT records (strings joined), borrowed
 * @param scratch    space for one parse result (borrowed, out_size bytes)
 * @param out        receives the first record's result when it parsed (borrowed)
 * @param st_first   the first record's status (DG_OK when nothing was found)
 * @param first      the first record's error detail (borrowed, not NULL)
 * @return how many records were of the kind: the caller's policy exists only when 1
 */
size_t dg_txt_select_one(const char *const *txt, const size_t *lens, size_t n,
			 dg_txt_parse_fn *parse, void *scratch, void *out, size_t out_size,
			 enum dg_status *st_first, struct dg_err *first);

/**
 * Step over the delimiter before the next field of a `v=...; a=b; c=d` TXT record
 * (fields separated by *WSP ";" *WSP, a trailing delimiter allowed).
 * @param pos in: just after the previous field; out: the next field, the end, or the
 *            offending byte
 * @return 1 a field starts at *pos, 0 the record ends, -1 no ';' at *pos
 */
int dg_txt_next_field(const char *p, size_t len, size_t *pos);

#endif /* DANEGUARD_UTIL_H */
