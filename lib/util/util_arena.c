/*
 * util_arena.c - bump allocator for short-lived data.
 *
 * Public: dg_arena_init, dg_arena_alloc, dg_arena_strdup, dg_arena_memdup,
 * dg_arena_free_all, dg_arena_cleanup.
 * The arena owns every block it hands out; they all go at once with
 * dg_arena_free_all() (which keeps one normal chunk for reuse) or
 * dg_arena_cleanup(). Pointers are aligned to alignof(max_align_t).
 * Requests larger than a quarter of a chunk get a chunk of their own so the
 * current chunk keeps its free space (STYLE.md section 5, as Unbound's
 * regional allocator).
 */
#include <daneguard/util.h>

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

enum { ARENA_DEFAULT_CHUNK = 4096 };

struct dg_arena_chunk {
	struct dg_arena_chunk *next;
	size_t size; /* usable bytes in data */
	size_t used;
	max_align_t data[]; /* aligned for any object */
};

static size_t arena_round(size_t size);
static struct dg_arena_chunk *arena_chunk_new(size_t size);

/* Round size up to the alignment; panic on overflow. */
static size_t arena_round(size_t size)
{
	const size_t align = alignof(max_align_t);

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - align)
		DG_PANIC("arena allocation of %zu bytes overflows", size);
	return (size + align - 1) & ~(align - 1);
}

static struct dg_arena_chunk *arena_chunk_new(size_t size)
{
	struct dg_arena_chunk *ch;

	if (size > SIZE_MAX - sizeof(*ch))
		DG_PANIC("arena chunk of %zu bytes overflows", size);
	ch = dg_xmalloc(sizeof(*ch) + size);
	ch->next = NULL;
	ch->size = size;
	ch->used = 0;
	return ch;
}

void dg_arena_init(struct dg_arena *a, size_t chunk_bytes)
{
	a->head = NULL;
	a->chunk_bytes = arena_round(chunk_bytes == 0 ? ARENA_DEFAULT_CHUNK : chunk_bytes);
	a->allocated = 0;
}

void *dg_arena_alloc(struct dg_arena *a, size_t size)
{
	struct dg_arena_chunk *ch;
	size_t n = arena_round(size);
	void *p;

	a->allocated += n;
	if (n > a->chunk_bytes / 4) {
		/* Big block: own chunk, linked behind the current one. */
		ch = arena_chunk_new(n);
		ch->used = n;
		if (a->head == NULL) {
			a->head = ch;
		} else {
			ch->next = a->head->next;
			a->head->next = ch;
		}
		return ch->data;
	}
	if (a->head == NULL || a->head->size - a->head->used < n) {
		ch = arena_chunk_new(a->chunk_bytes);
		ch->next = a->head;
		a->head = ch;
	}
	p = (char *)a->head->data + a->head->used;
	a->head->used += n;
	return p;
}

char *dg_arena_strdup(struct dg_arena *a, const char *s)
{
	return dg_arena_memdup(a, s, strlen(s) + 1);
}

void *dg_arena_memdup(struct dg_arena *a, const void *p, size_t size)
{
	void *d = dg_arena_alloc(a, size);

	if (size > 0)
		memcpy(d, p, size);
	return d;
}

void dg_arena_free_all(struct dg_arena *a)
{
	struct dg_arena_chunk *keep = NULL, *ch, *next;

	for (ch = a->head; ch != NULL; ch = next) {
		next = ch->next;
		if (keep == NULL && ch->size == a->chunk_bytes) {
			keep = ch;
			continue;
		}
		free(ch);
	}
	if (keep != NULL) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
	a->allocated = 0;
}

void dg_arena_cleanup(struct dg_arena *a)
{
	struct dg_arena_chunk *ch, *next;

	if (a == NULL)
		return;
	for (ch = a->head; ch != NULL; ch = next) {
		next = ch->next;
		free(ch);
	}
	a->head = NULL;
	a->allocated = 0;
}
