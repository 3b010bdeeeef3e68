/*
 * relay_cidr.c - client networks allowed to relay (`allow` in the relay configuration).
 *
 * Public: dg_cidr_parse, dg_cidr_match, dg_cidr_format.
 *
 * A network is an address family, an address in network byte order and a prefix length.
 * Parsing is strict: inet_pton() for the address (no brackets, no zone ids), a decimal prefix
 * read with dg_parse_u32(), and no host bits beyond the prefix, because "10.1.2.3/8" is more
 * likely a typo than a wish to allow 10.0.0.0/8. Matching treats an IPv4-mapped IPv6 client
 * (a dual-stack listener's view of an IPv4 peer) as the IPv4 address it carries. Nothing here
 * allocates or logs. Never an open relay (issue 8): an empty list matches nothing.
 */
#include <daneguard/relay.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define CIDR_TEXT_MAX 64

static bool cidr_prefix_match(const uint8_t *net, const uint8_t *addr, unsigned prefix);
static bool cidr_host_bits_clear(const uint8_t *addr, size_t len, unsigned prefix);
static void cidr_mask(uint8_t *addr, size_t len, unsigned prefix);

/* Compare the first @p prefix bits of two addresses. */
static bool cidr_prefix_match(const uint8_t *net, const uint8_t *addr, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(net, addr, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	return ((net[bytes] ^ addr[bytes]) & (uint8_t)(0xffu << (8 - bits))) == 0;
}

static bool cidr_host_bits_clear(const uint8_t *addr, size_t len, unsigned prefix)
{
	uint8_t masked[16];

	memcpy(masked, addr, len);
	cidr_mask(masked, len, prefix);
	return memcmp(masked, addr, len) == 0;
}

/* Clear every bit of @p addr beyond @p prefix. */
static void cidr_mask(uint8_t *addr, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned first = (unsigned)i * 8;

		if (first >= prefix)
			addr[i] = 0;
		else if (prefix - first < 8)
			addr[i] &= (uint8_t)(0xffu << (8 - (prefix - first)));
	}
}

enum dg_status dg_cidr_parse(const char *text, struct dg_cidr *out, struct dg_err *err)
{
	char buf[CIDR_TEXT_MAX], shown[CIDR_TEXT_MAX + 8], fixed[DG_CIDR_STR_SIZE];
	const char *slash;
	struct dg_cidr c = {0};
	size_t alen, len;
	uint32_t prefix;

	if (text == NULL)
		return dg_err_set(err, DG_E_PARSE, "network: missing");
	len = strlen(text);
	dg_str_escape(shown, sizeof(shown), text, len < CIDR_TEXT_MAX ? len : CIDR_TEXT_MAX);
	slash = strchr(text, '/');
	alen = slash != NULL ? (size_t)(slash - text) : len;
	if (alen == 0 || alen >= sizeof(buf))
		return dg_err_set(err, DG_E_PARSE, "network '%s': not an IP address", shown);
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c.addr) == 1)
		c.family = AF_INET6;
	else
		return dg_err_set(err, DG_E_PARSE, "network '%s': not an IP address", shown);
	c.prefix = c.family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		if (dg_parse_u32(slash + 1, 0, c.prefix, &prefix) != DG_OK)
			return dg_err_set(err, DG_E_PARSE, "network '%s': prefix is not in 0..%u",
			                  shown, c.prefix);
		c.prefix = prefix;
	}
	if (!cidr_host_bits_clear(c.addr, c.family == AF_INET ? 4 : 16, c.prefix)) {
		cidr_mask(c.addr, c.family == AF_INET ? 4 : 16, c.prefix);
		return dg_err_set(err, DG_E_PARSE,
		                  "network '%s': host bits set beyond /%u (did you mean %s?)",
		                  shown, c.prefix, dg_cidr_format(&c, fixed, sizeof(fixed)));
	}
	*out = c;
	return DG_OK;
}

bool dg_cidr_match(const struct dg_cidr *list, size_t n, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *v4 = NULL, *v6 = NULL;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(&sin, sa, sizeof(sin));
		v4 = (const uint8_t *)&sin.sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&sin6, sa, sizeof(sin6));
		v6 = sin6.sin6_addr.s6_addr;
		if (memcmp(v6, mapped, sizeof(mapped)) == 0)
			v4 = v6 + 12;
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const struct dg_cidr *c = &list[i];

		if (c->family == AF_INET && v4 != NULL && cidr_prefix_match(c->addr, v4, c->prefix))
			return true;
		if (c->family == AF_INET6 && v6 != NULL &&
		    cidr_prefix_match(c->addr, v6, c->prefix))
			return true;
	}
	return false;
}

char *dg_cidr_format(const struct dg_cidr *c, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (size == 0)
		return out;
	if (inet_ntop(c->family, c->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(out, size, "%s/%u", ip, c->prefix);
	return out;
}
