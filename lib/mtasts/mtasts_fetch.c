/*
 * mtasts_fetch.c - fetch MTA-STS policies over HTTPS with the libcurl multi socket interface
 * driven by the caller's libevent event_base (STYLE.md section 6).
 *
 * Public: dg_sts_fetcher_new, dg_sts_fetcher_free, dg_sts_fetch_start, dg_sts_fetch_cancel,
 * dg_sts_fetch_outcome_str.
 *
 * How it runs: curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one struct
 * fetch_sock and one persistent event per socket) and when to wake it
 * (CURLMOPT_TIMERFUNCTION: one evtimer); both hand control back with
 * curl_multi_socket_action(), after which finished transfers are reaped with
 * curl_multi_info_read() and their callbacks run. No callback runs from inside a curl
 * callback or from dg_sts_fetch_start().
 *
 * Ownership: the fetcher owns the multi handle, the timer, every socket record and every fetch
 * in flight; a fetch is freed after its callback returns, or by dg_sts_fetch_cancel() /
 * dg_sts_fetcher_free() without a callback.
 *
 * Implements SPEC STS-2: GET https://HOST/.well-known/mta-sts.txt; PKIX validation (system
 * store or a CA file); SNI = HOST; only 200 is valid; redirects are never followed (a 3xx is a
 * fetch error); no proxy and no cache; text/plain media type; size and time limits. The
 * address comes from the caller (CURLOPT_RESOLVE), so the fetch uses the engine's validating
 * resolver and never the system one.
 */
#include "mtasts/mtasts_int.h"

#include <curl/curl.h>
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fetch_sock {
	struct dg_sts_fetcher *f;
	curl_socket_t fd;
	struct event *ev;
	struct fetch_sock *next, *prev;
};

struct dg_sts_fetcher {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct dg_sts_fetch *fetches; /* in flight */
	struct fetch_sock *socks;
};

struct dg_sts_fetch {
	struct dg_sts_fetcher *f;
	CURL *easy;
	struct curl_slist *resolve;
	struct dg_buf body;
	char *url;
	bool oversize;
	char errbuf[CURL_ERROR_SIZE];
	dg_sts_fetch_cb *cb;
	void *arg;
	struct dg_sts_fetch *next, *prev;
};

enum { FETCH_MAX_CONNECTIONS = 64 };

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
static void sock_free(struct dg_sts_fetcher *f, struct fetch_sock *fs);
static int on_timer_set(CURLM *multi, long timeout_ms, void *userp);
static void on_event(evutil_socket_t fd, short what, void *arg);
static void on_timeout(evutil_socket_t fd, short what, void *arg);
static void fetch_reap(struct dg_sts_fetcher *f);
static void fetch_finish(struct dg_sts_fetch *fe, CURLcode rc);
static void fetch_classify(struct dg_sts_fetch *fe, CURLcode rc, struct dg_sts_fetch_result *r);
static bool media_is_text_plain(const char *ct);
static size_t on_body(char *p, size_t size, size_t n, void *arg);
static void fetch_unlink(struct dg_sts_fetch *fe);
static void fetch_free(struct dg_sts_fetch *fe);
static enum dg_status fetch_setup(struct dg_sts_fetch *fe, const struct dg_sts_fetch_opts *o,
                                  struct dg_err *err);
static struct curl_slist *resolve_list(const struct dg_sts_fetch_opts *o);

enum dg_status dg_sts_fetcher_new(struct event_base *base, struct dg_sts_fetcher **out,
                                  struct dg_err *err)
{
	static bool global_done;
	struct dg_sts_fetcher *f;

	*out = NULL;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return dg_err_set(err, DG_E_INTERNAL, "curl_global_init failed");
		global_done = true;
	}
	f = dg_xcalloc(1, sizeof(*f));
	f->base = base;
	f->multi = curl_multi_init();
	f->timer = evtimer_new(base, on_timeout, f);
	if (f->multi == NULL || f->timer == NULL) {
		dg_sts_fetcher_free(f);
		return dg_err_set(err, DG_E_INTERNAL, "cannot create the HTTPS fetcher");
	}
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)FETCH_MAX_CONNECTIONS);
	*out = f;
	return DG_OK;
}

void dg_sts_fetcher_free(struct dg_sts_fetcher *f)
{
	if (f == NULL)
		return;
	while (f->fetches != NULL)
		dg_sts_fetch_cancel(f->fetches);
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	while (f->socks != NULL)
		sock_free(f, f->socks);
	if (f->timer != NULL)
		event_free(f->timer);
	free(f);
}

/* ---- curl's socket and timer callbacks ------------------------------------------------------ */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct dg_sts_fetcher *f = userp;
	struct fetch_sock *fs = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			curl_multi_assign(f->multi, s, NULL);
			sock_free(f, fs);
		}
		return 0;
	}
	if (fs == NULL) {
		fs = dg_xcalloc(1, sizeof(*fs));
		fs->f = f;
		fs->fd = s;
		fs->next = f->socks;
		if (f->socks != NULL)
			f->socks->prev = fs;
		f->socks = fs;
		curl_multi_assign(f->multi, s, fs);
	} else if (fs->ev != NULL) {
		event_free(fs->ev);
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	       ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	fs->ev = event_new(f->base, s, kind, on_event, fs);
	if (fs->ev == NULL || event_add(fs->ev, NULL) != 0)
		DG_PANIC("mtasts: cannot watch socket %d", (int)s);
	return 0;
}

static void sock_free(struct dg_sts_fetcher *f, struct fetch_sock *fs)
{
	if (fs->prev != NULL)
		fs->prev->next = fs->next;
	else
		f->socks = fs->next;
	if (fs->next != NULL)
		fs->next->prev = fs->prev;
	if (fs->ev != NULL)
		event_free(fs->ev);
	free(fs);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
	struct dg_sts_fetcher *f = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(f->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(f->timer, &tv) == 0 ? 0 : -1;
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_sock *fs = arg;
	struct dg_sts_fetcher *f = fs->f; /* fs may be freed inside socket_action */
	int action =
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(f->multi, fd, action, &running);
	fetch_reap(f);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dg_sts_fetcher *f = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	fetch_reap(f);
}

/* ---- finished transfers --------------------------------------------------------------------- */

static void fetch_reap(struct dg_sts_fetcher *f)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		if (priv != NULL)
			fetch_finish((struct dg_sts_fetch *)(void *)priv, rc);
	}
}

static void fetch_finish(struct dg_sts_fetch *fe, CURLcode rc)
{
	struct dg_sts_fetch_result r;

	memset(&r, 0, sizeof(r));
	fetch_classify(fe, rc, &r);
	fetch_unlink(fe);
	curl_multi_remove_handle(fe->f->multi, fe->easy);
	fe->cb(fe->arg, &r); /* strings in r belong to fe->easy, freed just after */
	fetch_free(fe);
}

static void fetch_classify(struct dg_sts_fetch *fe, CURLcode rc, struct dg_sts_fetch_result *r)
{
	char *ct = NULL, *loc = NULL;
	const char *detail = fe->errbuf[0] != '\0' ? fe->errbuf : curl_easy_strerror(rc);

	curl_easy_getinfo(fe->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
	curl_easy_getinfo(fe->easy, CURLINFO_CONTENT_TYPE, &ct);
	curl_easy_getinfo(fe->easy, CURLINFO_REDIRECT_URL, &loc);
	r->url = fe->url;
	r->content_type = ct;
	r->redirect = loc;
	if (rc == CURLE_OK && r->http_status == 200 && media_is_text_plain(ct)) {
		r->outcome = DG_STS_FETCH_OK;
		r->body = dg_buf_bytes(&fe->body);
		r->len = dg_buf_len(&fe->body);
		return;
	}
	if (rc == CURLE_OK && r->http_status == 200) {
		r->outcome = DG_STS_FETCH_MEDIA;
		snprintf(r->reason, sizeof(r->reason),
		         "%s: media type %.60s, not text/plain "
		         "(RFC 8461 3.2)",
		         fe->url, ct != NULL ? ct : "(none)");
	} else if (rc == CURLE_OK) {
		r->outcome = DG_STS_FETCH_HTTP;
		snprintf(r->reason, sizeof(r->reason), "%s: HTTP status %ld%s%.80s%s", fe->url,
		         r->http_status, loc != NULL ? ", a redirect to " : "",
		         loc != NULL ? loc : "",
		         r->http_status >= 300 && r->http_status < 400
		             ? " (redirects are never followed, RFC 8461 3.3)"
		             : " (only 200 is valid, RFC 8461 3.3)");
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		r->outcome = DG_STS_FETCH_TIMEOUT;
		snprintf(r->reason, sizeof(r->reason), "%s: timed out: %.120s", fe->url, detail);
	} else if (rc == CURLE_FILESIZE_EXCEEDED || fe->oversize) {
		r->outcome = DG_STS_FETCH_OVERSIZE;
		snprintf(r->reason, sizeof(r->reason), "%s: the policy is larger than %zu bytes",
		         fe->url, fe->body.max_bytes);
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
	           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CIPHER ||
	           rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_CACERT_BADFILE) {
		r->outcome = DG_STS_FETCH_TLS;
		snprintf(r->reason, sizeof(r->reason),
		         "%s: TLS or certificate validation failed: "
		         "%.140s",
		         fe->url, detail);
	} else {
		r->outcome = DG_STS_FETCH_NETWORK;
		snprintf(r->reason, sizeof(r->reason), "%s: %.160s", fe->url, detail);
	}
}

/* "text/plain" with optional parameters, any case (RFC 8461 3.2 SHOULD). */
static bool media_is_text_plain(const char *ct)
{
	size_t n = 10;

	if (ct == NULL || dg_ascii_strncasecmp(ct, "text/plain", n) != 0)
		return false;
	while (ct[n] == ' ' || ct[n] == '\t')
		n++;
	return ct[n] == '\0' || ct[n] == ';';
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct dg_sts_fetch *fe = arg;
	long status = 0;

	curl_easy_getinfo(fe->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return size * n; /* only a 200 body is kept */
	if (dg_buf_append(&fe->body, p, size * n) != DG_OK) {
		fe->oversize = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return size * n;
}

/* ---- starting and stopping ------------------------------------------------------------------ */

static struct curl_slist *resolve_list(const struct dg_sts_fetch_opts *o)
{
	struct dg_buf b;
	struct curl_slist *l;

	dg_buf_init(&b, 4096);
	if (dg_buf_printf(&b, "%s:%u:", o->host, (unsigned)o->port) != DG_OK)
		return NULL;
	for (size_t i = 0; i < o->n_addrs; i++) {
		bool v6 = strchr(o->addrs[i], ':') != NULL;

		if (dg_buf_printf(&b, "%s%s%s%s", i > 0 ? "," : "", v6 ? "[" : "", o->addrs[i],
		                  v6 ? "]" : "") != DG_OK)
			break;
	}
	l = curl_slist_append(NULL, dg_buf_str(&b));
	dg_buf_cleanup(&b);
	return l;
}

static enum dg_status fetch_setup(struct dg_sts_fetch *fe, const struct dg_sts_fetch_opts *o,
                                  struct dg_err *err)
{
	CURL *e = fe->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(e, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, fe->url);
	SET(CURLOPT_PRIVATE, (void *)fe);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)fe);
	SET(CURLOPT_ERRORBUFFER, fe->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_file != NULL)
		SET(CURLOPT_CAINFO, o->ca_file);
	SET(CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	SET(CURLOPT_RESOLVE, fe->resolve);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_USERAGENT, "daneguard (MTA-STS policy check)");
#undef SET
	if (rc != CURLE_OK)
		return dg_err_set(err, DG_E_INTERNAL, "%s: curl option: %s", fe->url,
		                  curl_easy_strerror(rc));
	return DG_OK;
}

enum dg_status dg_sts_fetch_start(struct dg_sts_fetcher *f, const struct dg_sts_fetch_opts *o,
                                  dg_sts_fetch_cb *cb, void *arg, struct dg_sts_fetch **out,
                                  struct dg_err *err)
{
	struct dg_sts_fetch *fe;
	struct dg_buf url;
	enum dg_status st;

	if (out != NULL)
		*out = NULL;
	if (!dg_name_is_valid(o->host, err))
		return DG_E_CONFIG;
	if (o->n_addrs == 0)
		return dg_err_set(err, DG_E_CONFIG, "%s: no address to connect to", o->host);
	fe = dg_xcalloc(1, sizeof(*fe));
	fe->f = f;
	fe->cb = cb;
	fe->arg = arg;
	dg_buf_init(&fe->body, o->max_bytes);
	dg_buf_init(&url, 1024);
	if (o->port == 443)
		dg_buf_printf(&url, "https://%s/.well-known/mta-sts.txt", o->host);
	else
		dg_buf_printf(&url, "https://%s:%u/.well-known/mta-sts.txt", o->host,
		              (unsigned)o->port);
	fe->url = dg_buf_take(&url);
	fe->resolve = resolve_list(o);
	fe->easy = curl_easy_init();
	if (fe->easy == NULL || fe->resolve == NULL)
		st = dg_err_set(err, DG_E_INTERNAL, "%s: cannot create a transfer", fe->url);
	else if ((st = fetch_setup(fe, o, err)) == DG_OK &&
	         curl_multi_add_handle(f->multi, fe->easy) != CURLM_OK)
		st = dg_err_set(err, DG_E_INTERNAL, "%s: curl_multi_add_handle failed", fe->url);
	if (st != DG_OK) {
		fetch_free(fe);
		return st;
	}
	fe->next = f->fetches;
	if (f->fetches != NULL)
		f->fetches->prev = fe;
	f->fetches = fe;
	if (out != NULL)
		*out = fe;
	return DG_OK;
}

static void fetch_unlink(struct dg_sts_fetch *fe)
{
	struct dg_sts_fetcher *f = fe->f;

	if (fe->prev != NULL)
		fe->prev->next = fe->next;
	else
		f->fetches = fe->next;
	if (fe->next != NULL)
		fe->next->prev = fe->prev;
	fe->next = fe->prev = NULL;
}

void dg_sts_fetch_cancel(struct dg_sts_fetch *fe)
{
	if (fe == NULL)
		return;
	fetch_unlink(fe);
	curl_multi_remove_handle(fe->f->multi, fe->easy);
	fetch_free(fe);
}

static void fetch_free(struct dg_sts_fetch *fe)
{
	if (fe->easy != NULL)
		curl_easy_cleanup(fe->easy);
	curl_slist_free_all(fe->resolve);
	dg_buf_cleanup(&fe->body);
	free(fe->url);
	free(fe);
}

const char *dg_sts_fetch_outcome_str(enum dg_sts_fetch_outcome o)
{
	switch (o) {
	case DG_STS_FETCH_OK: return "ok";
	case DG_STS_FETCH_HTTP: return "http-status";
	case DG_STS_FETCH_MEDIA: return "media-type";
	case DG_STS_FETCH_TLS: return "tls";
	case DG_STS_FETCH_TIMEOUT: return "timeout";
	case DG_STS_FETCH_OVERSIZE: return "oversize";
	case DG_STS_FETCH_NETWORK: return "network";
	}
	return "unknown";
}
