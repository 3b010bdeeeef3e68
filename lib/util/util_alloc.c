/*
 * util_alloc.c - allocation that never returns NULL.
 *
 * Public: dg_xmalloc, dg_xcalloc, dg_xrealloc, dg_xstrdup, dg_xstrndup.
 * Every function returns heap memory that the caller frees with free(). On
 * exhaustion (or a size overflow) the process stops with DG_PANIC, so call
 * sites stay simple; sizes that come from input are capped before they get
 * here (STYLE.md sections 4 and 7).
 */
#include <daneguard/util.h>

#include <stdlib.h>
#include <string.h>

void *dg_xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		DG_PANIC("out of memory allocating %zu bytes", size);
	return p;
}

void *dg_xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		DG_PANIC("calloc overflow: %zu * %zu bytes", nmemb, size);
	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	p = calloc(nmemb, size);
	if (p == NULL)
		DG_PANIC("out of memory allocating %zu * %zu bytes", nmemb, size);
	return p;
}

void *dg_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);

	if (p == NULL)
		DG_PANIC("out of memory reallocating to %zu bytes", size);
	return p;
}

char *dg_xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *p = dg_xmalloc(n + 1);

	memcpy(p, s, n + 1);
	return p;
}

char *dg_xstrndup(const char *s, size_t n)
{
	size_t len = 0;
	char *p;

	while (len < n && s[len] != '\0')
		len++;
	p = dg_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
