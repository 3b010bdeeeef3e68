/*
 * publish_xfer.c - one DNS query/response exchange over UDP or TCP on a libevent base.
 *
 * Private (publish_int.h): pub_xfer_start, pub_xfer_cancel.
 *
 * Every socket is non-blocking (STYLE.md section 6): UDP uses a connected datagram socket
 * and an EV_READ event (replies from other addresses never reach it; a reply with another
 * id is ignored, at most UDP_STRAY_MAX of them); TCP uses a bufferevent with 2-octet length
 * framing (RFC 1035 §4.2.2), reading at most PUB_MSG_MAX octets. One timer bounds the whole
 * exchange (connect, send, reply). The exchange owns its socket, bufferevent, events and
 * copies of the message; it is freed after its callback returns, or by pub_xfer_cancel()
 * without a callback.
 *
 * SPEC: section 12 PUB-6 (transport of the UPDATE and of the authoritative check).
 */
#include "publish/publish_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

enum { UDP_STRAY_MAX = 16 };

struct pub_xfer {
	struct event_base *base;
	enum pub_xfer_proto proto;
	char where[64]; /* "ADDR@PORT" for messages */
	struct sockaddr_storage sa;
	socklen_t salen;
	uint8_t *msg; /* query (owned) */
	size_t len;
	int fd;                  /* UDP socket, -1 for TCP */
	struct event *rd;        /* UDP read event */
	struct bufferevent *bev; /* TCP */
	struct event *timer;
	unsigned strays;
	pub_xfer_cb *cb;
	void *arg;
};

static enum dg_status parse_addr(struct pub_xfer *x, const char *addr, uint16_t port,
                                 struct dg_err *err);
static void xfer_free(struct pub_xfer *x);
static void xfer_done(struct pub_xfer *x, enum dg_status st, const uint8_t *p, size_t len,
                      const struct dg_err *err);
static void xfer_fail(struct pub_xfer *x, enum dg_status st, int sys_errno, const char *what);
static void on_timeout(evutil_socket_t fd, short what, void *arg);
static enum dg_status udp_start(struct pub_xfer *x, struct dg_err *err);
static void udp_on_read(evutil_socket_t fd, short what, void *arg);
static enum dg_status tcp_start(struct pub_xfer *x, struct dg_err *err);
static void tcp_on_read(struct bufferevent *bev, void *arg);
static void tcp_on_event(struct bufferevent *bev, short what, void *arg);

static enum dg_status parse_addr(struct pub_xfer *x, const char *addr, uint16_t port,
                                 struct dg_err *err)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&x->sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&x->sa;

	memset(&x->sa, 0, sizeof(x->sa));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		x->salen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		x->salen = sizeof(*sin6);
	} else {
		return dg_err_set(err, DG_E_CONFIG, "server address \"%.64s\" is not an IP address",
		                  addr);
	}
	snprintf(x->where, sizeof(x->where), "%s@%u", addr, (unsigned)port);
	return DG_OK;
}

enum dg_status pub_xfer_start(struct event_base *base, enum pub_xfer_proto proto, const char *addr,
                              uint16_t port, const uint8_t *msg, size_t len, unsigned timeout_ms,
                              pub_xfer_cb *cb, void *arg, struct pub_xfer **out, struct dg_err *err)
{
	struct pub_xfer *x = dg_xcalloc(1, sizeof(*x));
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	enum dg_status st;

	x->base = base;
	x->proto = proto;
	x->fd = -1;
	x->cb = cb;
	x->arg = arg;
	if (len < 12 || len > PUB_MSG_MAX) {
		free(x);
		return dg_err_set(err, DG_E_LIMIT, "DNS message of %zu octets", len);
	}
	x->msg = dg_xmalloc(len);
	memcpy(x->msg, msg, len);
	x->len = len;
	if ((st = parse_addr(x, addr, port, err)) != DG_OK ||
	    (st = proto == PUB_XFER_UDP ? udp_start(x, err) : tcp_start(x, err)) != DG_OK) {
		xfer_free(x);
		return st;
	}
	x->timer = evtimer_new(base, on_timeout, x);
	if (x->timer == NULL)
		DG_PANIC("evtimer_new failed");
	evtimer_add(x->timer, &tv);
	if (out != NULL)
		*out = x;
	return DG_OK;
}

static void xfer_free(struct pub_xfer *x)
{
	if (x == NULL)
		return;
	if (x->timer != NULL)
		event_free(x->timer);
	if (x->rd != NULL)
		event_free(x->rd);
	if (x->bev != NULL)
		bufferevent_free(x->bev);
	if (x->fd >= 0)
		close(x->fd);
	free(x->msg);
	free(x);
}

void pub_xfer_cancel(struct pub_xfer *x)
{
	xfer_free(x);
}

static void xfer_done(struct pub_xfer *x, enum dg_status st, const uint8_t *p, size_t len,
                      const struct dg_err *err)
{
	x->cb(x->arg, st, p, len, err);
	xfer_free(x);
}

static void xfer_fail(struct pub_xfer *x, enum dg_status st, int sys_errno, const char *what)
{
	struct dg_err e;

	dg_err_clear(&e);
	if (sys_errno != 0)
		dg_err_set_errno(&e, st, sys_errno, "%s %s: %s: %s",
		                 x->proto == PUB_XFER_UDP ? "UDP" : "TCP", x->where, what,
		                 strerror(sys_errno));
	else
		dg_err_set(&e, st, "%s %s: %s", x->proto == PUB_XFER_UDP ? "UDP" : "TCP", x->where,
		           what);
	xfer_done(x, st, NULL, 0, &e);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	xfer_fail(arg, DG_E_TIMEOUT, 0, "no reply in time");
}

/* ---- UDP --------------------------------------------------------------------------------- */

static enum dg_status udp_start(struct pub_xfer *x, struct dg_err *err)
{
	x->fd = socket(x->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "UDP socket: %s", strerror(errno));
	if (connect(x->fd, (struct sockaddr *)&x->sa, x->salen) != 0 ||
	    send(x->fd, x->msg, x->len, 0) != (ssize_t)x->len)
		return dg_err_set_errno(err, DG_E_IO, errno, "UDP %s: %s", x->where,
		                        strerror(errno));
	x->rd = event_new(x->base, x->fd, EV_READ | EV_PERSIST, udp_on_read, x);
	if (x->rd == NULL)
		DG_PANIC("event_new failed");
	event_add(x->rd, NULL);
	return DG_OK;
}

static void udp_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct pub_xfer *x = arg;
	uint8_t buf[PUB_MSG_MAX];
	ssize_t n;

	(void)what;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		xfer_fail(x, DG_E_IO, errno, "receive");
		return;
	}
	if (n < 12 || buf[0] != x->msg[0] || buf[1] != x->msg[1]) {
		if (++x->strays > UDP_STRAY_MAX)
			xfer_fail(x, DG_E_PROTO, 0, "too many replies with a wrong id");
		return; /* not ours: keep waiting until the deadline */
	}
	xfer_done(x, DG_OK, buf, (size_t)n, NULL);
}

/* ---- TCP --------------------------------------------------------------------------------- */

static enum dg_status tcp_start(struct pub_xfer *x, struct dg_err *err)
{
	uint8_t hdr[2] = {(uint8_t)(x->len >> 8), (uint8_t)x->len};

	x->bev = bufferevent_socket_new(x->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (x->bev == NULL)
		DG_PANIC("bufferevent_socket_new failed");
	bufferevent_setcb(x->bev, tcp_on_read, NULL, tcp_on_event, x);
	bufferevent_setwatermark(x->bev, EV_READ, 2, PUB_MSG_MAX + 2);
	if (bufferevent_socket_connect(x->bev, (struct sockaddr *)&x->sa, (int)x->salen) != 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "TCP %s: connect: %s", x->where,
		                        strerror(errno));
	if (bufferevent_write(x->bev, hdr, 2) != 0 ||
	    bufferevent_write(x->bev, x->msg, x->len) != 0)
		return dg_err_set(err, DG_E_INTERNAL, "TCP %s: cannot queue the message", x->where);
	bufferevent_enable(x->bev, EV_READ | EV_WRITE);
	return DG_OK;
}

static void tcp_on_read(struct bufferevent *bev, void *arg)
{
	struct pub_xfer *x = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[2], *p;
	size_t want;

	if (evbuffer_copyout(in, hdr, 2) != 2)
		return;
	want = ((size_t)hdr[0] << 8) | hdr[1];
	if (want < 12) {
		xfer_fail(x, DG_E_PROTO, 0, "reply shorter than a DNS header");
		return;
	}
	if (evbuffer_get_length(in) < want + 2)
		return;
	p = evbuffer_pullup(in, (ev_ssize_t)(want + 2));
	if (p == NULL)
		DG_PANIC("evbuffer_pullup failed");
	xfer_done(x, DG_OK, p + 2, want, NULL);
}

static void tcp_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pub_xfer *x = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_ERROR)
		xfer_fail(x, DG_E_IO, EVUTIL_SOCKET_ERROR(), "connection failed");
	else if (what & BEV_EVENT_EOF)
		xfer_fail(x, DG_E_PROTO, 0, "connection closed before a full reply");
}
