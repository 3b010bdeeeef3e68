/*
 * dns_table.c - small intrusive chained hash table for the dns module.
 *
 * Private: dns_hash_key, dns_hash_id, dns_htab_insert, dns_htab_remove, dns_htab_first,
 * dns_htab_next, dns_htab_cleanup. The table owns only its bucket array; nodes are owned by
 * the structs that embed them (struct dns_entry, struct dns_waiter). It grows by doubling at
 * load factor 1 and never shrinks. No SPEC rules here.
 */
#include "dns/dns_int.h"

#include <stdlib.h>

static void htab_grow(struct dns_htab *t);

uint64_t dns_hash_key(const char *name, uint16_t type)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	h ^= type;
	h *= 1099511628211ULL;
	return h;
}

uint64_t dns_hash_id(uint64_t id)
{
	id += 0x9E3779B97F4A7C15ULL; /* splitmix64 finaliser */
	id = (id ^ (id >> 30)) * 0xBF58476D1CE4E5B9ULL;
	id = (id ^ (id >> 27)) * 0x94D049BB133111EBULL;
	return id ^ (id >> 31);
}

static void htab_grow(struct dns_htab *t)
{
	size_t nb = t->n_buckets == 0 ? 64 : t->n_buckets * 2;
	struct dns_hnode **b = dg_xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < t->n_buckets; i++) {
		struct dns_hnode *n = t->buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = nb;
}

void dns_htab_insert(struct dns_htab *t, struct dns_hnode *n)
{
	if (t->count >= t->n_buckets)
		htab_grow(t);
	n->next = t->buckets[n->hash & (t->n_buckets - 1)];
	t->buckets[n->hash & (t->n_buckets - 1)] = n;
	t->count++;
}

void dns_htab_remove(struct dns_htab *t, struct dns_hnode *n)
{
	struct dns_hnode **pp;

	if (t->n_buckets == 0)
		DG_PANIC("dns_htab_remove on an empty table");
	for (pp = &t->buckets[n->hash & (t->n_buckets - 1)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
	DG_PANIC("dns_htab_remove: node not in table");
}

struct dns_hnode *dns_htab_first(const struct dns_htab *t, uint64_t hash)
{
	struct dns_hnode *n;

	if (t->n_buckets == 0)
		return NULL;
	for (n = t->buckets[hash & (t->n_buckets - 1)]; n != NULL; n = n->next)
		if (n->hash == hash)
			return n;
	return NULL;
}

struct dns_hnode *dns_htab_next(const struct dns_hnode *n, uint64_t hash)
{
	for (n = n->next; n != NULL; n = n->next)
		if (n->hash == hash)
			return (struct dns_hnode *)n;
	return NULL;
}

void dns_htab_cleanup(struct dns_htab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->n_buckets = 0;
	t->count = 0;
}
