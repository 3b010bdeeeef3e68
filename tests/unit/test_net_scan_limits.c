/*
 * test_net_scan_limits.c - the engine's probe limits (lib/scan/scan_probe.c) against the
 * fake resolver, in a network namespace of its own (test_net_ prefix).
 *
 * A listener on 127.0.0.9:25 accepts connections in the kernel and never answers, so each
 * probe stays in flight until its banner deadline: many MX hosts on that one address give
 * many probes at once, and the engine's statistics show the most that ran concurrently to
 * the address. With a cap of 4 the peak is exactly 4; with a cap of 64 (the control) it is
 * higher, so the first assertion can fail. Then: ten domains sharing one MX host cause ten
 * probe requests and one probe, however many domains point at it.
 *
 * The per-MX-host cap: one MX host with eight addresses (127.0.0.10-17, a silent listener
 * on each) runs at most max_probes_per_host probes to them at once (control: all eight).
 * The connection delay: six MX hosts on 127.0.0.9 with conn_delay_ms 80 start no two
 * probes to that address less than 80 ms apart (control: without the delay they do).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/scan.h>
#include <daneguard/util.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TLSA_OK "3 1 1 0102030405060708091011121314151617181920212223242526272829303132"
#define HOSTS 12
#define MULTI_ADDRS 8
#define DELAY_MS 80

/* Limits of one fixture run. */
struct limits {
	unsigned per_addr, per_host, delay_ms;
};

struct fx {
	struct event_base *base;
	struct dg_dns *dns;
	struct dg_engine *eng;
	int listener;
	int multi[MULTI_ADDRS];
	size_t results;
};

static void add_rrs(struct fx *f, const char *name, uint16_t type, const char **rrs,
		    size_t n);
static int listen_silent_on(const char *addr);
static void fx_init_limits(struct fx *f, const struct limits *lim);

static void add(struct fx *f, const char *name, uint16_t type, const char *rr)
{
	const char *rrs[1] = {rr};

	add_rrs(f, name, type, rrs, 1);
}

static void add_rrs(struct fx *f, const char *name, uint16_t type, const char **rrs,
		    size_t n)
{
	struct dg_dns_fake_answer fa = {
	    .name = name,
	    .rrtype = type,
	    .security = DG_DNS_SECURE,
	    .outcome = DG_DNS_ANSWER,
	    .rrs = rrs,
	    .n_rrs = n,
	};
	struct dg_err err = {0};

	if (dg_dns_fake_add(f->dns, &fa, &err) != DG_OK)
		fail_msg("fake_add %s: %s", name, err.msg);
}

static int listen_silent(void)
{
	return listen_silent_on("127.0.0.9");
}

static int listen_silent_on(const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(25)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, addr, &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 256) != 0)
		fail_msg("cannot listen on %s:25", addr);
	return fd;
}

static void fx_init(struct fx *f, unsigned per_addr)
{
	struct limits lim = {.per_addr = per_addr, .per_host = 8, .delay_ms = 0};

	fx_init_limits(f, &lim);
}

static void fx_init_limits(struct fx *f, const struct limits *lim)
{
	struct dg_engine_opts o;
	struct dg_err err = {0};
	unsigned per_addr = lim->per_addr;

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < MULTI_ADDRS; i++)
		f->multi[i] = -1;
	f->base = event_base_new();
	dg_engine_opts_init(&o);
	o.timeout_ms = 300;
	o.ipv6 = false;
	o.mta_sts = false;
	o.max_probes = 64;
	o.max_probes_per_addr = per_addr;
	o.max_probes_per_host = lim->per_host;
	o.conn_delay_ms = lim->delay_ms;
	f->dns = dg_dns_new_fake(f->base, &o.dns);
	if (dg_engine_new(f->base, &o, f->dns, &f->eng, &err) != DG_OK)
		fail_msg("engine: %s", err.msg);
	f->listener = listen_silent();
}

static void fx_cleanup(struct fx *f)
{
	dg_engine_free(f->eng);
	event_base_free(f->base);
	close(f->listener);
	for (size_t i = 0; i < MULTI_ADDRS; i++)
		if (f->multi[i] >= 0)
			close(f->multi[i]);
}

static void done(void *arg, struct dg_domain_result *res)
{
	struct fx *f = arg;

	f->results++;
	dg_domain_result_free(res);
}

/* Domain dN.example with MX host mxN.example (or one shared host), TLSA, A 127.0.0.9. */
static void add_domain(struct fx *f, unsigned n, const char *shared_mx)
{
	char dom[64], mx[64], rr[256], tlsa_owner[96];

	snprintf(dom, sizeof(dom), "d%u.example", n);
	if (shared_mx != NULL)
		snprintf(mx, sizeof(mx), "%s", shared_mx);
	else
		snprintf(mx, sizeof(mx), "mx%u.example", n);
	snprintf(rr, sizeof(rr), "%s. 300 IN MX 10 %s.", dom, mx);
	add(f, dom, DG_DNS_T_MX, rr);
	if (shared_mx != NULL && n > 0)
		return;
	snprintf(rr, sizeof(rr), "%s. 300 IN A 127.0.0.9", mx);
	add(f, mx, DG_DNS_T_A, rr);
	snprintf(tlsa_owner, sizeof(tlsa_owner), "_25._tcp.%s", mx);
	snprintf(rr, sizeof(rr), "%s. 300 IN TLSA " TLSA_OK, tlsa_owner);
	add(f, tlsa_owner, DG_DNS_T_TLSA, rr);
}

static void run_all(struct fx *f, unsigned n, const char *shared_mx)
{
	for (unsigned i = 0; i < n; i++) {
		char dom[64];
		struct dg_err err = {0};

		add_domain(f, i, shared_mx);
		snprintf(dom, sizeof(dom), "d%u.example", i);
		assert_int_equal(dg_engine_check(f->eng, dom, done, f, &err), DG_OK);
	}
	event_base_dispatch(f->base);
	assert_int_equal(f->results, n);
	assert_int_equal(dg_engine_pending(f->eng), 0);
}

static void test_per_address_cap(void **state)
{
	struct fx f;
	struct dg_engine_stats st;

	(void)state;
	fx_init(&f, 4);
	run_all(&f, HOSTS, NULL);
	dg_engine_get_stats(f.eng, &st);
	if (st.peak_per_addr != 4)
		fail_msg("peak probes to 127.0.0.9: got %u, want 4", st.peak_per_addr);
	assert_true(st.probes_started >= HOSTS); /* every host was probed */
	assert_int_equal(st.probes_started, st.probes_created);
	fx_cleanup(&f);
}

static void test_control_without_cap(void **state)
{
	struct fx f;
	struct dg_engine_stats st;

	(void)state;
	fx_init(&f, 64);
	run_all(&f, HOSTS, NULL);
	dg_engine_get_stats(f.eng, &st);
	if (st.peak_per_addr <= 4)
		fail_msg("control: peak %u, want > 4 (the probes must overlap)", st.peak_per_addr);
	fx_cleanup(&f);
}

static void test_shared_host_probed_once(void **state)
{
	struct fx f;
	struct dg_engine_stats st;

	(void)state;
	fx_init(&f, 4);
	run_all(&f, 10, "mx.shared.example");
	dg_engine_get_stats(f.eng, &st);
	assert_int_equal(st.checks_started, 10);
	if (st.probe_requests < 10 || st.probes_created != st.probes_started ||
	    st.probes_started != st.probe_requests / 10)
		fail_msg("shared MX: %llu requests, %llu entries, %llu probes started; want one "
		         "probe per (address, port, SNI, key type) for ten domains",
		         (unsigned long long)st.probe_requests,
		         (unsigned long long)st.probes_created,
		         (unsigned long long)st.probes_started);
	fx_cleanup(&f);
}

/* One domain whose one MX host has MULTI_ADDRS addresses, each with a silent listener. */
static void run_multi_address_host(struct fx *f)
{
	char rrbuf[MULTI_ADDRS][96], addr[32];
	const char *rrs[MULTI_ADDRS];
	struct dg_err err = {0};

	for (size_t i = 0; i < MULTI_ADDRS; i++) {
		snprintf(addr, sizeof(addr), "127.0.0.%zu", 10 + i);
		f->multi[i] = listen_silent_on(addr);
		snprintf(rrbuf[i], sizeof(rrbuf[i]), "mx.multi.example. 300 IN A %s", addr);
		rrs[i] = rrbuf[i];
	}
	add(f, "multi.example", DG_DNS_T_MX, "multi.example. 300 IN MX 10 mx.multi.example.");
	add_rrs(f, "mx.multi.example", DG_DNS_T_A, rrs, MULTI_ADDRS);
	add(f, "_25._tcp.mx.multi.example", DG_DNS_T_TLSA,
	    "_25._tcp.mx.multi.example. 300 IN TLSA " TLSA_OK);
	assert_int_equal(dg_engine_check(f->eng, "multi.example", done, f, &err), DG_OK);
	event_base_dispatch(f->base);
	assert_int_equal(f->results, 1);
}

static void test_per_host_cap(void **state)
{
	struct limits lim = {.per_addr = 4, .per_host = 2, .delay_ms = 0};
	struct fx f;
	struct dg_engine_stats st;

	(void)state;
	fx_init_limits(&f, &lim);
	run_multi_address_host(&f);
	dg_engine_get_stats(f.eng, &st);
	if (st.peak_per_host != 2)
		fail_msg("peak probes to mx.multi.example: got %u, want 2", st.peak_per_host);
	assert_int_equal(st.probes_started, MULTI_ADDRS);
	fx_cleanup(&f);
}

static void test_per_host_control(void **state)
{
	struct limits lim = {.per_addr = 4, .per_host = 64, .delay_ms = 0};
	struct fx f;
	struct dg_engine_stats st;

	(void)state;
	fx_init_limits(&f, &lim);
	run_multi_address_host(&f);
	dg_engine_get_stats(f.eng, &st);
	if (st.peak_per_host <= 2)
		fail_msg("control: host peak %u, want > 2 (the probes must overlap)",
			 st.peak_per_host);
	fx_cleanup(&f);
}

static void test_conn_delay(void **state)
{
	struct limits lim = {.per_addr = 64, .per_host = 8, .delay_ms = DELAY_MS};
	struct fx f;
	struct dg_engine_stats st;

	(void)state;
	fx_init_limits(&f, &lim);
	run_all(&f, 6, NULL);
	dg_engine_get_stats(f.eng, &st);
	assert_int_equal(st.probes_started, 6);
	if (st.min_addr_gap_ms < DELAY_MS)
		fail_msg("shortest gap between starts to 127.0.0.9: got %llu ms, want >= %d",
			 (unsigned long long)st.min_addr_gap_ms, DELAY_MS);
	fx_cleanup(&f);
}

static void test_conn_delay_control(void **state)
{
	struct limits lim = {.per_addr = 64, .per_host = 8, .delay_ms = 0};
	struct fx f;
	struct dg_engine_stats st;

	(void)state;
	fx_init_limits(&f, &lim);
	run_all(&f, 6, NULL);
	dg_engine_get_stats(f.eng, &st);
	if (st.min_addr_gap_ms >= DELAY_MS)
		fail_msg("control: shortest gap %llu ms, want < %d (no delay)",
			 (unsigned long long)st.min_addr_gap_ms, DELAY_MS);
	fx_cleanup(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_per_address_cap),
	    cmocka_unit_test(test_control_without_cap),
	    cmocka_unit_test(test_shared_host_probed_once),
	    cmocka_unit_test(test_per_host_cap),
	    cmocka_unit_test(test_per_host_control),
	    cmocka_unit_test(test_conn_delay),
	    cmocka_unit_test(test_conn_delay_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
