/*
 * cmd_scan_worker.c - "daneguard scan --db postgresql://... --enqueue FILE" and
 * "daneguard scan --db postgresql://... --worker": one scan spread over many machines.
 *
 * Internal (cmd_scan_int.h): scan_enqueue_main, scan_worker_main.
 *
 * --enqueue creates an incomplete run and one work row per domain of FILE (lib/history,
 * history_pg.c). Each --worker, on any machine, loops on its own event loop: claim up to
 * --batch domains (FOR UPDATE SKIP LOCKED, leased for --lease seconds), check them with
 * the engine, --concurrency at a time, print each result (JSON Lines) and record it with
 * its work row marked done; the batch is committed when the next one is claimed. With
 * nothing to claim while other workers still hold domains, it polls every
 * WORKER_POLL_MS until their work is done or their lease expires (a killed worker's
 * domains are then claimed again), at most WORKER_MAX_POLLS times (then exit 3). When no domain is
 * left, runs whose every domain has its result are marked complete, and the worker exits 0. A
 * database error ends the worker with one line naming the database and exit 74; the run stays
 * incomplete.
 *
 * Ownership: the worker owns its loop, engine, history and batch; results are freed as
 * soon as they are recorded.
 */
#include "cmd.h"
#include "cmd_scan_int.h"

#include <daneguard/history.h>
#include <daneguard/util.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

enum { WORKER_POLL_MS = 500, WORKER_MAX_POLLS = 100000, ENQ_CHUNK = 65536 };

struct worker {
	const struct scan_worker_opts *o;
	struct event_base *base;
	struct dg_engine *eng;
	struct dg_history *hist;
	struct event *next_ev, *poll_ev, *sig_ev[2];
	struct dg_history_batch batch;
	size_t next, in_flight;
	uint64_t done, polls;
	int fatal;
	bool interrupted; /* a signal, or given up waiting for other workers: exit 3 */
	char name[128];
};

static int enqueue_file(struct dg_history *h, int64_t run, int fd, uint64_t *queued,
                        uint64_t *malformed, struct dg_err *err);
static enum dg_status enqueue_line(struct dg_history *h, int64_t run,
                                   const struct dg_scan_line *line, uint64_t *queued,
                                   uint64_t *malformed, struct dg_err *err);
static void worker_next(evutil_socket_t fd, short what, void *arg);
static void worker_claim(struct worker *w);
static void worker_idle(struct worker *w);
static void worker_result(void *arg, struct dg_domain_result *res);
static void worker_fatal(struct worker *w, const char *msg);
static void worker_signal(evutil_socket_t sig, short what, void *arg);
static int worker_setup(struct worker *w);
static void worker_cleanup(struct worker *w);

/* ---- --enqueue ------------------------------------------------------------------------------ */

int scan_enqueue_main(const char *db, const char *file)
{
	struct dg_history *h = NULL;
	struct dg_err err = {0};
	int64_t run = 0;
	uint64_t queued = 0, malformed = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC), rc = CMD_EXIT_OK;

	if (fd < 0) {
		fprintf(stderr, "daneguard: cannot read input '%s': %s\n", file, strerror(errno));
		return CMD_EXIT_NOINPUT;
	}
	if (dg_history_open(db, true, &h, &err) != DG_OK ||
	    dg_history_run_begin(h, dg_clock_wall(), &run, &err) != DG_OK)
		rc = CMD_EXIT_IOERR;
	if (rc == CMD_EXIT_OK)
		rc = enqueue_file(h, run, fd, &queued, &malformed, &err);
	if (rc == CMD_EXIT_OK && dg_history_commit(h, &err) != DG_OK)
		rc = CMD_EXIT_IOERR;
	if (rc == CMD_EXIT_IOERR)
		fprintf(stderr, "daneguard: %s\n", err.msg);
	if (rc == CMD_EXIT_OK) {
		printf("{\"run\":%" PRId64 ",\"queued\":%" PRIu64 ",\"malformed\":%" PRIu64 "}\n",
		       run, queued, malformed);
		fprintf(stderr,
		        "daneguard: run %" PRId64 ": %" PRIu64 " domains queued for workers\n", run,
		        queued);
	}
	dg_history_free(h);
	close(fd);
	return rc;
}

/* Read @p fd to its end (bounded by its size), queueing each domain. */
static int enqueue_file(struct dg_history *h, int64_t run, int fd, uint64_t *queued,
                        uint64_t *malformed, struct dg_err *err)
{
	static uint8_t buf[ENQ_CHUNK];
	struct dg_scan_input in;
	struct dg_scan_line line;
	ssize_t got;

	dg_scan_input_init(&in);
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		for (size_t pos = 0; pos < (size_t)got;) {
			pos += dg_scan_input_feed(&in, buf + pos, (size_t)got - pos, &line);
			if (enqueue_line(h, run, &line, queued, malformed, err) != DG_OK)
				return CMD_EXIT_IOERR;
		}
	}
	if (got < 0) {
		fprintf(stderr, "daneguard: reading input: %s\n", strerror(errno));
		return CMD_EXIT_NOINPUT;
	}
	if (dg_scan_input_finish(&in, &line) &&
	    enqueue_line(h, run, &line, queued, malformed, err) != DG_OK)
		return CMD_EXIT_IOERR;
	return CMD_EXIT_OK;
}

static enum dg_status enqueue_line(struct dg_history *h, int64_t run,
                                   const struct dg_scan_line *line, uint64_t *queued,
                                   uint64_t *malformed, struct dg_err *err)
{
	if (line->kind == DG_SCAN_LINE_MALFORMED) {
		fprintf(stderr, "daneguard: line %" PRIu64 ": malformed domain '%s': %s\n",
		        line->lineno, line->domain, line->why);
		(*malformed)++;
	}
	if (line->kind != DG_SCAN_LINE_DOMAIN)
		return DG_OK;
	(*queued)++;
	return dg_history_enqueue(h, run, line->domain, err);
}

/* ---- --worker ------------------------------------------------------------------------------- */

int scan_worker_main(const struct scan_worker_opts *o)
{
	struct worker w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.o = o;
	rc = worker_setup(&w);
	if (rc == CMD_CONTINUE) {
		event_active(w.next_ev, 0, 0);
		if (event_base_dispatch(w.base) < 0) {
			fprintf(stderr, "daneguard: the event loop failed\n");
			w.fatal = CMD_EXIT_INTERNAL;
		}
		if (fflush(stdout) != 0)
			w.fatal = w.fatal != 0 ? w.fatal : CMD_EXIT_IOERR;
		rc = w.fatal != 0 ? w.fatal : w.interrupted ? CMD_EXIT_TEMP : CMD_EXIT_OK;
	}
	if (rc == CMD_EXIT_OK)
		fprintf(stderr, "daneguard: worker %s: %" PRIu64 " domains checked, no work left\n",
		        w.name, w.done);
	worker_cleanup(&w);
	return rc;
}

static int worker_setup(struct worker *w)
{
	static const int sigs[2] = {SIGINT, SIGTERM};
	struct dg_err err = {0};
	char host[64] = "localhost";

	(void)gethostname(host, sizeof(host) - 1);
	snprintf(w->name, sizeof(w->name), "%s:%ld", host, (long)getpid());
	if (dg_history_open(w->o->db, true, &w->hist, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return CMD_EXIT_IOERR;
	}
	w->base = event_base_new();
	if (w->base == NULL || dg_engine_new(w->base, w->o->eo, NULL, &w->eng, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg[0] ? err.msg : "cannot create the loop");
		return err.code == DG_E_CONFIG ? CMD_EXIT_USAGE : CMD_EXIT_INTERNAL;
	}
	w->next_ev = event_new(w->base, -1, 0, worker_next, w);
	w->poll_ev = event_new(w->base, -1, 0, worker_next, w);
	for (int i = 0; i < 2; i++) {
		w->sig_ev[i] = evsignal_new(w->base, sigs[i], worker_signal, w);
		event_add(w->sig_ev[i], NULL);
	}
	return CMD_CONTINUE;
}

/* Start checks of the batch up to --concurrency; claim the next batch when it is done. */
static void worker_next(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct dg_err err = {0};

	(void)fd;
	(void)what;
	while (w->fatal == 0 && !w->interrupted && w->next < w->batch.n &&
	       w->in_flight < w->o->concurrency) {
		if (dg_engine_check(w->eng, w->batch.domains[w->next], worker_result, w, &err) !=
		    DG_OK) {
			worker_fatal(w, err.msg);
			return;
		}
		w->next++;
		w->in_flight++;
	}
	if (w->fatal != 0 || w->interrupted || w->in_flight > 0 || w->next < w->batch.n)
		return;
	worker_claim(w);
}

static void worker_claim(struct worker *w)
{
	struct dg_err err = {0};

	if (fflush(stdout) != 0) {
		worker_fatal(w, "writing the results to stdout failed");
		return;
	}
	dg_history_batch_cleanup(&w->batch);
	w->next = 0;
	if (dg_history_claim(w->hist, w->name, w->o->batch, w->o->lease_s, &w->batch, &err) !=
	    DG_OK) {
		worker_fatal(w, err.msg);
		return;
	}
	if (w->batch.n > 0) {
		w->polls = 0;
		event_active(w->next_ev, 0, 0);
		return;
	}
	worker_idle(w);
}

/* Nothing to claim: finish complete runs; wait for other workers' leases, or stop. */
static void worker_idle(struct worker *w)
{
	struct timeval poll = {0, WORKER_POLL_MS * 1000};
	struct dg_err err = {0};
	int64_t completed = 0;
	bool left = false;

	if (dg_history_work_left(w->hist, &left, &completed, &err) != DG_OK) {
		worker_fatal(w, err.msg);
		return;
	}
	if (completed > 0)
		fprintf(stderr,
		        "daneguard: run %" PRId64 " complete: every domain has its result\n",
		        completed);
	if (left && ++w->polls < WORKER_MAX_POLLS) {
		event_add(w->poll_ev, &poll);
		return;
	}
	if (left) {
		fprintf(stderr,
		        "daneguard: worker %s: other workers still hold domains after %d s;"
		        " stopping, the run is not complete\n",
		        w->name, WORKER_MAX_POLLS / (1000 / WORKER_POLL_MS));
		w->interrupted = true;
	}
	event_base_loopbreak(w->base);
}

static void worker_result(void *arg, struct dg_domain_result *res)
{
	struct worker *w = arg;
	json_t *doc = dg_report_json(res, w->o->ropts);
	char *text = json_dumps(doc, JSON_COMPACT);
	struct dg_history_row row;
	struct dg_err err = {0};

	if (text == NULL)
		DG_PANIC("json_dumps failed for %s", res->domain);
	w->in_flight--;
	if (w->fatal == 0) {
		puts(text);
		dg_history_row_make(res, &row);
		if (dg_history_add(w->hist, w->batch.run_id, &row, text, &err) != DG_OK)
			worker_fatal(w, err.msg);
		dg_history_row_cleanup(&row);
		w->done++;
	}
	free(text);
	json_decref(doc);
	dg_domain_result_free(res);
	if (w->fatal == 0)
		event_active(w->next_ev, 0, 0);
}

static void worker_fatal(struct worker *w, const char *msg)
{
	if (w->fatal == 0) {
		w->fatal = CMD_EXIT_IOERR;
		fprintf(stderr, "daneguard: %s\n", msg);
	}
	event_base_loopbreak(w->base);
}

static void worker_signal(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;

	(void)what;
	fprintf(stderr,
	        "daneguard: %s: worker stopping; its domains go to other workers when "
	        "the lease expires\n",
	        sig == SIGINT ? "interrupted" : "terminated");
	w->interrupted = true;
	event_base_loopbreak(w->base);
}

static void worker_cleanup(struct worker *w)
{
	struct event *evs[] = {w->next_ev, w->poll_ev, w->sig_ev[0], w->sig_ev[1]};

	dg_engine_free(w->eng);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->fatal == 0 && w->hist != NULL) {
		struct dg_err err = {0};

		if (dg_history_commit(w->hist, &err) != DG_OK)
			fprintf(stderr, "daneguard: %s\n", err.msg);
	}
	dg_history_free(w->hist);
	dg_history_batch_cleanup(&w->batch);
}
