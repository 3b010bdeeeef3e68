/*
 * util_cursor.c - bounds-checked read cursor over a byte string.
 *
 * Public: dg_cursor_init, dg_cursor_u8, dg_cursor_u16, dg_cursor_u32,
 * dg_cursor_bytes, dg_cursor_copy, dg_cursor_skip, dg_cursor_remaining,
 * dg_cursor_offset, dg_cursor_ok, dg_cursor_fail, dg_cursor_expect_end,
 * dg_cursor_err.
 *
 * The cursor borrows the input bytes. Each read checks the remaining length
 * first; the first error and its offset are kept and later reads return
 * zeros, so parsers check once at the end (STYLE.md section 7, as
 * OpenSMTPD's unpack_dns.c). Nothing here allocates.
 */
#include <daneguard/util.h>

#include <string.h>

static const uint8_t *cursor_take(struct dg_cursor *c, size_t n);

/* Return n bytes and advance, or record "truncated" and return NULL. */
static const uint8_t *cursor_take(struct dg_cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->err != NULL)
		return NULL;
	if (n > c->len - c->off) {
		c->err = "truncated";
		c->err_off = c->off;
		c->err_need = n;
		return NULL;
	}
	p = c->p == NULL ? NULL : c->p + c->off; /* no arithmetic on NULL */
	c->off += n;
	return p;
}

void dg_cursor_init(struct dg_cursor *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->len = p == NULL ? 0 : len;
	c->off = 0;
	c->err = NULL;
	c->err_off = 0;
	c->err_need = 0;
}

uint8_t dg_cursor_u8(struct dg_cursor *c)
{
	const uint8_t *p = cursor_take(c, 1);

	return p == NULL ? 0 : p[0];
}

uint16_t dg_cursor_u16(struct dg_cursor *c)
{
	const uint8_t *p = cursor_take(c, 2);

	return p == NULL ? 0 : (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

uint32_t dg_cursor_u32(struct dg_cursor *c)
{
	const uint8_t *p = cursor_take(c, 4);

	if (p == NULL)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

const uint8_t *dg_cursor_bytes(struct dg_cursor *c, size_t n)
{
	static const uint8_t empty[1];
	const uint8_t *p = cursor_take(c, n);

	/* A zero-length take over a NULL input still yields a usable pointer. */
	if (p == NULL && c->err == NULL)
		return empty;
	return p;
}

void dg_cursor_copy(struct dg_cursor *c, void *dst, size_t n)
{
	const uint8_t *p = cursor_take(c, n);

	if (n == 0)
		return;
	if (p == NULL)
		memset(dst, 0, n);
	else
		memcpy(dst, p, n);
}

void dg_cursor_skip(struct dg_cursor *c, size_t n)
{
	(void)cursor_take(c, n);
}

size_t dg_cursor_remaining(const struct dg_cursor *c)
{
	return c->err != NULL ? 0 : c->len - c->off;
}

size_t dg_cursor_offset(const struct dg_cursor *c)
{
	return c->off;
}

bool dg_cursor_ok(const struct dg_cursor *c)
{
	return c->err == NULL;
}

void dg_cursor_fail(struct dg_cursor *c, const char *why)
{
	if (c->err != NULL)
		return;
	c->err = why;
	c->err_off = c->off;
	c->err_need = 0;
}

void dg_cursor_expect_end(struct dg_cursor *c)
{
	if (c->err == NULL && c->off != c->len)
		dg_cursor_fail(c, "trailing bytes");
}

enum dg_status dg_cursor_err(const struct dg_cursor *c, const char *what, struct dg_err *err)
{
	if (c->err == NULL)
		return DG_OK;
	if (err == NULL)
		return DG_E_PARSE;
	if (c->err_need > 0)
		dg_err_set(err, DG_E_PARSE, "%s: %s at offset %zu (need %zu bytes, %zu left)", what,
		           c->err, c->err_off, c->err_need, c->len - c->err_off);
	else if (c->err_off < c->len)
		dg_err_set(err, DG_E_PARSE, "%s: %s at offset %zu (%zu bytes left)", what, c->err,
		           c->err_off, c->len - c->err_off);
	else
		dg_err_set(err, DG_E_PARSE, "%s: %s at offset %zu", what, c->err, c->err_off);
	err->offset = c->err_off;
	return DG_E_PARSE;
}
