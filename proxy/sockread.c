/*
 * Socket reads for bufferevents, without the ioctl(FIONREAD) that
 * libevent 2.1 makes before every read to size it: that ioctl is one of
 * every three system calls a proxied request costs.  Here the read is
 * sized by the room below the read high watermark instead, and the
 * socket says how much it had by what
 * readv() returns.  One read takes up to 64 KiB (libevent's: 4 KiB), so
 * that a 16 KiB response is one read, not five.
 *
 * The bufferevent keeps doing everything else: its read event (struct
 * bufferevent's ev_read, public in bufferevent_struct.h) is only given
 * another callback, so enabling and disabling reads and read timeouts
 * work as before.  What the callback reports matches libevent's own: data
 * to the read callback, end of file, errors and timeouts to the event
 * callback with reading disabled.  No deferred callbacks, rate limits or
 * low read watermarks are used on these bufferevents, so none is honoured
 * here.
 *
 * The read high watermark, which stops reading while the input is full,
 * is kept here too.  libevent's watches every change of the input and, on
 * each drain below the mark, enables reading again: event_add() on an
 * event already added, which moves its timeout in the timer heap.  That
 * was five calls and 7% of a proxied request's instructions.  Here
 * the read event is deleted when a read fills the input, and added again
 * only by the drain that makes room while it is deleted.  That event_add()
 * also moved the read timeout, which so runs from the last read or drain
 * of the input: a server's response_timeout must not cut a body it has
 * sent whole while a slow client takes what the input holds.  A drain
 * moves it still, save in the read callback, whose read just moved it.
 */
#include <sys/uio.h>

#include <errno.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "sockread.h"

#define SOCKREAD_MAX	(64 * 1024)	/* one read takes at most this */
#define SOCKREAD_DIRECT	4096		/* ... straight into the buffer */

/*
 * What a read brings beyond SOCKREAD_DIRECT lands here and is copied into
 * the buffer: one readv() takes a whole 16 KiB response, and a 100-byte
 * request still costs only a small buffer chain.
 */
static _Thread_local char	sockread_spill[SOCKREAD_MAX - SOCKREAD_DIRECT];

_Thread_local unsigned long	sockread_count;

/* The bufferevent whose read callback runs: its timeout was just moved. */
static _Thread_local struct bufferevent	*sockread_reading;

static void
sockread_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent	*bev = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[3];
	bufferevent_data_cb	 readcb;
	bufferevent_event_cb	 eventcb;
	void			*cbarg;
	size_t			 high = 0, len, room = SOCKREAD_MAX, direct;
	ssize_t			 n;
	int			 nv;
	short			 events = BEV_EVENT_READING;

	bufferevent_getcb(bev, &readcb, NULL, &eventcb, &cbarg);
	if (what == EV_TIMEOUT) {
		events |= BEV_EVENT_TIMEOUT;
		goto fail;
	}
	len = evbuffer_get_length(in);
	high = bev->wm_read.high;
	if (high != 0) {
		if (len >= high) {
			/* Full: sockread_drain_cb() adds it again. */
			event_del(&bev->ev_read);
			return;
		}
		if (high - len < room)
			room = high - len;
	}
	direct = room < SOCKREAD_DIRECT ? room : SOCKREAD_DIRECT;
	/* A bufferevent keeps its input's end frozen to all but itself. */
	evbuffer_unfreeze(in, 0);
	if ((nv = evbuffer_reserve_space(in, direct, v, 2)) <= 0) {
		evbuffer_freeze(in, 0);
		events |= BEV_EVENT_ERROR;
		goto fail;
	}
	/* The reservation may be larger: take no more than direct. */
	if (v[0].iov_len >= direct) {
		v[0].iov_len = direct;
		nv = 1;
	} else if (nv == 2 && v[1].iov_len > direct - v[0].iov_len)
		v[1].iov_len = direct - v[0].iov_len;
	if (room > direct) {
		v[nv].iov_base = sockread_spill;
		v[nv].iov_len = room - direct;
	}
	n = readv(fd, (struct iovec *)v, nv + (room > direct));
	if (n > 0) {
		if ((size_t)n <= v[0].iov_len) {
			v[0].iov_len = n;
			nv = 1;
		} else if (nv == 2 && (size_t)n <= direct)
			v[1].iov_len = n - v[0].iov_len;
		evbuffer_commit_space(in, v, nv);
		if ((size_t)n > direct)
			evbuffer_add(in, sockread_spill, n - direct);
	}
	evbuffer_freeze(in, 0);
	if (n > 0) {
		sockread_count++;
		/* Full: no timeout runs while the input waits for a drain. */
		if (high != 0 && len + (size_t)n >= high)
			event_del(&bev->ev_read);
		if (readcb != NULL) {
			sockread_reading = bev;
			readcb(bev, cbarg);
			sockread_reading = NULL;
		}
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	events |= n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
fail:
	bufferevent_disable(bev, EV_READ);
	if (eventcb != NULL)
		eventcb(bev, events, cbarg);
}

/*
 * The input lost bytes: reading that stopped on a full input starts again
 * once there is room, if it is still enabled, and a read timeout starts
 * over.  Cheap when nothing is to be done, as it runs on every change of
 * the input.
 */
static void
sockread_drain_cb(struct evbuffer *in, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct bufferevent	*bev = arg;

	if (info->n_deleted == 0 || !(bev->enabled & EV_READ) ||
	    evbuffer_get_length(in) >= bev->wm_read.high)
		return;
	if (event_pending(&bev->ev_read, EV_READ, NULL) &&
	    (bev == sockread_reading || !evutil_timerisset(&bev->timeout_read)))
		return;
	event_add(&bev->ev_read, evutil_timerisset(&bev->timeout_read) ?
	    &bev->timeout_read : NULL);
}

void
sockread_now(struct bufferevent *bev)
{
	sockread_cb(bufferevent_getfd(bev), EV_READ, bev);
}

void
sockread_install(struct bufferevent *bev, size_t high)
{
	evutil_socket_t	fd = bufferevent_getfd(bev);

	/*
	 * Only while the event is idle: event_assign() may not touch it.
	 * Otherwise libevent goes on reading, under its own watermark.
	 */
	if (fd < 0 || event_pending(&bev->ev_read, EV_READ | EV_TIMEOUT,
	    NULL)) {
		bufferevent_setwatermark(bev, EV_READ, 0, high);
		return;
	}
	event_assign(&bev->ev_read, bufferevent_get_base(bev), fd,
	    EV_READ | EV_PERSIST | EV_FINALIZE, sockread_cb, bev);
	/* Set by hand: bufferevent_setwatermark() would add libevent's. */
	bev->wm_read.low = 0;
	bev->wm_read.high = high;
	if (evbuffer_add_cb(bufferevent_get_input(bev), sockread_drain_cb,
	    bev) == NULL)
		bufferevent_setwatermark(bev, EV_READ, 0, high);
}
