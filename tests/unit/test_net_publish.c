/*
 * test_net_publish.c - lib/publish over real sockets, in a private network namespace
 * (tests/in-netns): a tiny fake DNS server on 127.0.0.1 (UDP + TCP, on the test's own
 * event_base) answers UPDATEs (applied and signed, BADKEY, REFUSED, silent, truncated
 * framing) and authoritative queries (SOA, DNSKEY, TLSA signed with an ldns-generated key;
 * the TLSA answer over UDP is truncated so the TCP fallback runs). The NS, DNSKEY and A
 * lookups come from the fake resolver (dg_dns_new_fake). Failures print "got X, want Y".
 */
#include <daneguard/publish.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <ldns/ldns.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

#define SECRET_B64 "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="
#define PORT 5353

enum srv_mode { M_APPLY = 0, M_BADKEY, M_REFUSED, M_SILENT, M_SHORT, M_AUTH };

struct fake {
	struct event_base *base;
	int udp, tcp;
	struct event *ev_udp, *ev_tcp;
	enum srv_mode mode;
	int held[8]; /* silent connections kept open */
	size_t n_held;
	unsigned tcp_queries, udp_queries;
	ldns_key_list *keys;
	ldns_rr *dnskey;
	ldns_rr_list *tlsa; /* what the auth server serves */
	bool tc_tlsa;
	/* results */
	enum dg_status st;
	char msg[DG_ERR_MSG_MAX];
	struct dg_publish_report *rep;
};

static void fake_open(struct fake *f, enum srv_mode mode);
static void fake_close(struct fake *f);
static void on_udp(evutil_socket_t fd, short what, void *arg);
static void on_tcp(evutil_socket_t fd, short what, void *arg);
static void on_tcp_read(struct bufferevent *bev, void *arg);
static void on_tcp_written(struct bufferevent *bev, void *arg);
static void on_tcp_event(struct bufferevent *bev, short what, void *arg);
static size_t reply_update(struct fake *f, ldns_pkt *q, uint8_t **out);
static size_t reply_auth(struct fake *f, ldns_pkt *q, bool udp, uint8_t **out);
static void key_of(struct dg_tsig_key *key);
static struct dg_tlsa_set *set_of(size_t n);
static void on_update(void *arg, enum dg_status st, const struct dg_publish_result *res,
                      const struct dg_err *err);
static enum dg_status run_update(enum srv_mode mode, unsigned timeout_ms, char *msg);
static void on_report(void *arg, struct dg_publish_report *rep);
static void fake_dns(struct dg_dns *dns, struct fake *f);

/* ---- the fake server --------------------------------------------------------------------- */

static void fake_open(struct fake *f, enum srv_mode mode)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	int one = 1;

	memset(f, 0, sizeof(*f));
	f->base = event_base_new();
	f->mode = mode;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	f->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	f->tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(f->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	CHECK(bind(f->udp, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	          bind(f->tcp, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(f->tcp, 8) == 0,
	      "fake server bind: %s", strerror(errno));
	f->ev_udp = event_new(f->base, f->udp, EV_READ | EV_PERSIST, on_udp, f);
	f->ev_tcp = event_new(f->base, f->tcp, EV_READ | EV_PERSIST, on_tcp, f);
	event_add(f->ev_udp, NULL);
	event_add(f->ev_tcp, NULL);
}

static void fake_close(struct fake *f)
{
	for (size_t i = 0; i < f->n_held; i++)
		close(f->held[i]);
	event_free(f->ev_udp);
	event_free(f->ev_tcp);
	close(f->udp);
	close(f->tcp);
	if (f->keys != NULL)
		ldns_key_list_free(f->keys);
	ldns_rr_free(f->dnskey);
	ldns_rr_list_deep_free(f->tlsa);
	dg_publish_report_free(f->rep);
	event_base_free(f->base);
}

static size_t reply_update(struct fake *f, ldns_pkt *q, uint8_t **out)
{
	ldns_pkt *r = ldns_pkt_new();
	ldns_rr *tsig = ldns_pkt_tsig(q);
	size_t len = 0;

	CHECK(tsig != NULL, "UPDATE without TSIG");
	CHECK(ldns_pkt_get_opcode(q) == LDNS_PACKET_UPDATE, "not an UPDATE");
	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, LDNS_PACKET_UPDATE);
	ldns_pkt_set_rcode(r, f->mode == M_REFUSED  ? LDNS_RCODE_REFUSED
	                      : f->mode == M_BADKEY ? LDNS_RCODE_NOTAUTH
	                                            : LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_tsig_sign(r, "update.example.", SECRET_B64, 300, "hmac-sha256.",
	                                    ldns_rr_rdf(tsig, 3)),
	                 LDNS_STATUS_OK);
	if (f->mode == M_BADKEY)
		ldns_rdf_deep_free(ldns_rr_set_rdf(
		    ldns_pkt_tsig(r), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 17), 5));
	assert_int_equal(ldns_pkt2wire(out, r, &len), LDNS_STATUS_OK);
	ldns_pkt_free(r);
	return len;
}

static size_t reply_auth(struct fake *f, ldns_pkt *q, bool udp, uint8_t **out)
{
	ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	ldns_rr_type t = ldns_rr_get_type(question);
	ldns_pkt *r = ldns_pkt_new();
	ldns_rr_list *rrs = ldns_rr_list_new(), *sigs;
	size_t len = 0;

	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_aa(r, true);
	CHECK(!ldns_pkt_rd(q) && ldns_pkt_edns_do(q), "query must have RD=0 DO=1");
	ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
	if (t == LDNS_RR_TYPE_TLSA && udp && f->tc_tlsa) {
		ldns_pkt_set_tc(r, true);
	} else {
		if (t == LDNS_RR_TYPE_DNSKEY)
			ldns_rr_list_push_rr(rrs, ldns_rr_clone(f->dnskey));
		for (size_t i = 0; t == LDNS_RR_TYPE_TLSA && i < ldns_rr_list_rr_count(f->tlsa);
		     i++)
			ldns_rr_list_push_rr(rrs, ldns_rr_clone(ldns_rr_list_rr(f->tlsa, i)));
		if (t == LDNS_RR_TYPE_SOA) {
			ldns_rr *soa = NULL;
			ldns_rr_new_frm_str(&soa,
			                    "example.net. 300 IN SOA ns1.example.net. h.example."
			                    "net. 7 300 60 86400 60",
			                    0, NULL, NULL);
			ldns_rr_list_push_rr(rrs, soa);
		}
		sigs = ldns_rr_list_rr_count(rrs) ? ldns_sign_public(rrs, f->keys) : NULL;
		ldns_pkt_push_rr_list(r, LDNS_SECTION_ANSWER, rrs);
		if (sigs != NULL)
			ldns_pkt_push_rr_list(r, LDNS_SECTION_ANSWER, sigs);
		ldns_rr_list_free(sigs);
	}
	ldns_rr_list_free(rrs);
	assert_int_equal(ldns_pkt2wire(out, r, &len), LDNS_STATUS_OK);
	ldns_pkt_free(r);
	return len;
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	uint8_t buf[4096], *out = NULL;
	ldns_pkt *q = NULL;
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	size_t len;

	(void)what;
	if (n <= 0 || ldns_wire2pkt(&q, buf, (size_t)n) != LDNS_STATUS_OK)
		return;
	f->udp_queries++;
	len = reply_auth(f, q, true, &out);
	sendto(fd, out, len, 0, (struct sockaddr *)&from, flen);
	free(out);
	ldns_pkt_free(q);
}

/* Test-side TCP: one query per connection, on the same event_base as the client. */
static void on_tcp(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	struct bufferevent *bev;
	int c = accept(fd, NULL, NULL);

	(void)what;
	if (c < 0)
		return;
	f->tcp_queries++;
	if (f->mode == M_SILENT && f->n_held < 8) {
		f->held[f->n_held++] = c;
		return;
	}
	evutil_make_socket_nonblocking(c);
	bev = bufferevent_socket_new(f->base, c, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, on_tcp_read, on_tcp_written, on_tcp_event, f);
	bufferevent_enable(bev, EV_READ);
}

static void on_tcp_read(struct bufferevent *bev, void *arg)
{
	struct fake *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[2], *out = NULL, *p;
	ldns_pkt *q = NULL;
	size_t len, want;

	if (evbuffer_copyout(in, hdr, 2) != 2)
		return;
	want = ((size_t)hdr[0] << 8) | hdr[1];
	if (evbuffer_get_length(in) < want + 2)
		return;
	p = evbuffer_pullup(in, (ev_ssize_t)(want + 2));
	if (ldns_wire2pkt(&q, p + 2, want) != LDNS_STATUS_OK) {
		bufferevent_free(bev);
		return;
	}
	len = f->mode == M_AUTH ? reply_auth(f, q, false, &out) : reply_update(f, q, &out);
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	if (f->mode == M_SHORT) { /* announce more than is sent, then close */
		hdr[0] = (uint8_t)((len + 10) >> 8);
		hdr[1] = (uint8_t)(len + 10);
	}
	evbuffer_drain(in, want + 2);
	bufferevent_write(bev, hdr, 2);
	bufferevent_write(bev, out, len);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	free(out);
	ldns_pkt_free(q);
}

static void on_tcp_written(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev); /* one query per connection: close */
}

static void on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

/* ---- UPDATE over TCP --------------------------------------------------------------------- */

static void key_of(struct dg_tsig_key *key)
{
	assert_int_equal(dg_tsig_key_parse_arg("update.example:hmac-sha256:" SECRET_B64, key, NULL),
	                 DG_OK);
}

static struct dg_tlsa_set *set_of(size_t n)
{
	struct dg_tlsa_set *set = dg_tlsa_set_new();
	uint8_t data[32];

	for (size_t i = 0; i < n; i++) {
		memset(data, (int)(0x40 + i), sizeof(data));
		assert_int_equal(dg_tlsa_set_add(set, 3, 1, 1, data, sizeof(data), NULL), DG_OK);
	}
	return set;
}

static void on_update(void *arg, enum dg_status st, const struct dg_publish_result *res,
                      const struct dg_err *err)
{
	struct fake *f = arg;

	(void)res;
	f->st = st;
	snprintf(f->msg, sizeof(f->msg), "%s", err->msg);
	event_base_loopbreak(f->base);
}

static enum dg_status run_update(enum srv_mode mode, unsigned timeout_ms, char *msg)
{
	struct fake f;
	struct dg_tsig_key key;
	struct dg_tlsa_set *set = set_of(2);
	struct dg_publish_change ch = {
	    .zone = "example.net", .host = "mx1.example.net", .port = 25, .ttl_s = 300, .set = set};
	struct dg_err err = {0};
	uint16_t port = PORT;

	fake_open(&f, mode);
	f.st = DG_E_INTERNAL;
	key_of(&key);
	if (mode == M_AUTH) /* nothing listens on that port: connection refused */
		port = PORT + 1;
	assert_int_equal(dg_publish_update_start(f.base, "127.0.0.1", port, &ch, &key, timeout_ms,
	                                         on_update, &f, NULL, &err),
	                 DG_OK);
	event_base_dispatch(f.base);
	snprintf(msg, DG_ERR_MSG_MAX, "%s", f.msg);
	fake_close(&f);
	dg_tlsa_set_free(set);
	return f.st;
}

static void test_update_over_tcp(void **state)
{
	struct {
		enum srv_mode mode;
		enum dg_status st;
		const char *msg;
	} cases[] = {
	    {M_APPLY, DG_OK, ""},
	    {M_BADKEY, DG_E_PROTO, "TSIG key update.example rejected by 127.0.0.1@5353: BADKEY"},
	    {M_REFUSED, DG_E_CONFIG, "update of zone example.net refused by 127.0.0.1@5353"},
	    {M_SILENT, DG_E_TIMEOUT, "no reply to the UPDATE of example.net from 127.0.0.1@5353"},
	    {M_SHORT, DG_E_PROTO, "connection closed before a full reply"},
	    {M_AUTH, DG_E_IO, "connection failed"},
	};
	char msg[DG_ERR_MSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dg_status st = run_update(cases[i].mode, 400, msg);
		CHECK(st == cases[i].st && strstr(msg, cases[i].msg) != NULL,
		      "mode %d: got %d \"%s\", want %d \"%s\"", cases[i].mode, st, msg, cases[i].st,
		      cases[i].msg);
	}
}

/* ---- authoritative check ----------------------------------------------------------------- */

static void on_report(void *arg, struct dg_publish_report *rep)
{
	struct fake *f = arg;

	f->rep = rep;
	event_base_loopbreak(f->base);
}

static void fake_dns(struct dg_dns *dns, struct fake *f)
{
	char *key_text = ldns_rr2str(f->dnskey);
	const char *ns[] = {"example.net. 300 IN NS ns1.example.net."};
	const char *keys[] = {key_text};
	const char *a[] = {"ns1.example.net. 300 IN A 127.0.0.1"};
	const char *soa[] = {"example.net. 300 IN SOA ns1.example.net. h.example.net. 7 300 60 "
	                     "86400 60"};
	struct dg_dns_fake_answer fa[] = {
	    {.name = "example.net",
	     .rrtype = DG_DNS_T_NS,
	     .security = DG_DNS_SECURE,
	     .outcome = DG_DNS_ANSWER,
	     .rrs = ns,
	     .n_rrs = 1},
	    {.name = "example.net",
	     .rrtype = DG_DNS_T_DNSKEY,
	     .security = DG_DNS_SECURE,
	     .outcome = DG_DNS_ANSWER,
	     .rrs = keys,
	     .n_rrs = 1},
	    {.name = "ns1.example.net",
	     .rrtype = DG_DNS_T_A,
	     .security = DG_DNS_SECURE,
	     .outcome = DG_DNS_ANSWER,
	     .rrs = a,
	     .n_rrs = 1},
	    {.name = "ns1.example.net",
	     .rrtype = DG_DNS_T_AAAA,
	     .security = DG_DNS_SECURE,
	     .outcome = DG_DNS_NODATA,
	     .authority = soa,
	     .n_authority = 1},
	};
	struct dg_err err = {0};

	for (size_t i = 0; i < sizeof(fa) / sizeof(fa[0]); i++)
		CHECK(dg_dns_fake_add(dns, &fa[i], &err) == DG_OK, "fake_add: %s", err.msg);
	free(key_text);
}

static void test_auth_check(void **state)
{
	struct fake f;
	ldns_key *k = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
	struct dg_tlsa_set *want = set_of(2), *other = set_of(1);
	struct dg_publish_check_opts o = {.zone = "example.net",
	                                  .host = "mx1.example.net",
	                                  .port = 25,
	                                  .want = want,
	                                  .dns_port = PORT,
	                                  .timeout_ms = 1000};
	struct dg_dns *dns;
	struct dg_err err = {0};

	(void)state;
	fake_open(&f, M_AUTH);
	f.tc_tlsa = true;
	ldns_key_set_pubkey_owner(k, ldns_dname_new_frm_str("example.net."));
	ldns_key_set_flags(k, 257);
	f.keys = ldns_key_list_new();
	ldns_key_list_push_key(f.keys, k);
	f.dnskey = ldns_key2rr(k);
	ldns_key_set_keytag(k, ldns_calc_keytag(f.dnskey));
	f.tlsa = ldns_rr_list_new();
	for (size_t i = 0; i < want->count; i++) {
		char text[256], *hex = dg_tlsa_rr_format(&want->rr[i], 0);
		ldns_rr *rr = NULL;
		snprintf(text, sizeof(text), "_25._tcp.mx1.example.net. 300 IN TLSA %s", hex);
		free(hex);
		assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_rr_list_push_rr(f.tlsa, rr);
	}
	dns = dg_dns_new_fake(f.base, NULL);
	fake_dns(dns, &f);
	assert_int_equal(dg_publish_check_start(f.base, dns, &o, on_report, &f, NULL, &err), DG_OK);
	event_base_dispatch(f.base);
	CHECK(f.rep != NULL && f.rep->status == DG_OK, "check: %s", f.rep ? f.rep->reason : "none");
	CHECK(f.rep->n_srv == 1 && f.rep->published, "got %zu servers, published %d (%s: %s)",
	      f.rep->n_srv, f.rep->published, dg_publish_srv_state_str(f.rep->srv[0].state),
	      f.rep->srv[0].reason);
	assert_string_equal(f.rep->srv[0].addr, "127.0.0.1");
	assert_string_equal(f.rep->srv[0].ns, "ns1.example.net");
	assert_int_equal(f.rep->srv[0].soa_serial, 7);
	CHECK(f.tcp_queries == 1, "got %u TCP queries, want 1 (TC fallback)", f.tcp_queries);
	dg_publish_report_free(f.rep);
	f.rep = NULL;
	/* the same server checked against another desired set: "different" */
	o.want = other;
	assert_int_equal(dg_publish_check_start(f.base, dns, &o, on_report, &f, NULL, &err), DG_OK);
	event_base_dispatch(f.base);
	CHECK(!f.rep->published && f.rep->srv[0].state == DG_PUBLISH_SRV_DIFFERENT,
	      "got %s, want different", dg_publish_srv_state_str(f.rep->srv[0].state));
	/* a check cancelled before it runs never calls back */
	struct dg_publish_check *chk = NULL;
	assert_int_equal(dg_publish_check_start(f.base, dns, &o, on_report, NULL, &chk, &err),
	                 DG_OK);
	dg_publish_check_cancel(chk);
	dg_dns_free(dns);
	fake_close(&f);
	dg_tlsa_set_free(want);
	dg_tlsa_set_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_update_over_tcp),
	    cmocka_unit_test(test_auth_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
