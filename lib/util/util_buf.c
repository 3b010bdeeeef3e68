/*
 * util_buf.c - growable byte/string buffer with a maximum size.
 *
 * Public: dg_buf_init, dg_buf_append, dg_buf_append_str, dg_buf_putc,
 * dg_buf_printf, dg_buf_vprintf, dg_buf_consume, dg_buf_reset,
 * dg_buf_cleanup, dg_buf_take, dg_buf_str, dg_buf_bytes, dg_buf_len.
 *
 * The embedder owns struct dg_buf; the buffer owns data until dg_buf_take()
 * hands it over or dg_buf_cleanup() frees it. Content is always followed by a
 * NUL byte. Growth past max_bytes returns DG_E_LIMIT and changes nothing
 * (STYLE.md section 5, as curl's dynbuf). See docs/internals/util.md.
 */
#include <daneguard/util.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BUF_MIN_CAP = 64 };

static enum dg_status buf_reserve(struct dg_buf *b, size_t add);

/* Make room for add more content bytes plus the NUL, within max_bytes. */
static enum dg_status buf_reserve(struct dg_buf *b, size_t add)
{
	size_t need, cap;

	if (add > b->max_bytes || b->len > b->max_bytes - add)
		return DG_E_LIMIT;
	need = b->len + add + 1;
	if (need <= b->cap)
		return DG_OK;
	cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max_bytes + 1 && b->max_bytes < SIZE_MAX)
		cap = b->max_bytes + 1;
	if (cap < need)
		cap = need;
	b->data = dg_xrealloc(b->data, cap);
	b->cap = cap;
	return DG_OK;
}

void dg_buf_init(struct dg_buf *b, size_t max_bytes)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max_bytes = max_bytes == SIZE_MAX ? SIZE_MAX - 1 : max_bytes;
}

enum dg_status dg_buf_append(struct dg_buf *b, const void *p, size_t n)
{
	enum dg_status st = buf_reserve(b, n);

	if (st != DG_OK)
		return st;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return DG_OK;
}

enum dg_status dg_buf_append_str(struct dg_buf *b, const char *s)
{
	return dg_buf_append(b, s, strlen(s));
}

enum dg_status dg_buf_putc(struct dg_buf *b, int c)
{
	unsigned char ch = (unsigned char)c;

	return dg_buf_append(b, &ch, 1);
}

enum dg_status dg_buf_vprintf(struct dg_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	enum dg_status st;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return DG_E_INTERNAL;
	st = buf_reserve(b, (size_t)n);
	if (st != DG_OK)
		return st;
	if (vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap) != n) {
		b->data[b->len] = '\0';
		return DG_E_INTERNAL;
	}
	b->len += (size_t)n;
	return DG_OK;
}

enum dg_status dg_buf_printf(struct dg_buf *b, const char *fmt, ...)
{
	va_list ap;
	enum dg_status st;

	va_start(ap, fmt);
	st = dg_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return st;
}

void dg_buf_consume(struct dg_buf *b, size_t n)
{
	if (n >= b->len) {
		dg_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void dg_buf_reset(struct dg_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void dg_buf_cleanup(struct dg_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *dg_buf_take(struct dg_buf *b)
{
	char *s = b->data;

	if (s == NULL)
		s = dg_xstrdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return s;
}

const char *dg_buf_str(const struct dg_buf *b)
{
	return b->data != NULL ? b->data : "";
}

const uint8_t *dg_buf_bytes(const struct dg_buf *b)
{
	return (const uint8_t *)dg_buf_str(b);
}

size_t dg_buf_len(const struct dg_buf *b)
{
	return b->len;
}
