/*
 * cmd_scan.c - "daneguard scan [options] FILE|-": check a list of mail domains, one per line,
 * and write one JSON object per domain (JSON Lines) as results complete.
 *
 * Public (cmd.h): cmd_scan_main, cmd_scan_usage.
 *
 * Streaming: at most --concurrency domains are in flight; a line of input is read only when
 * a result frees a slot, so memory stays flat in the size of the input (the engine's probe
 * table and DNS cache are what grows, with the distinct MX hosts). The input is read with
 * read(2): a regular file directly, a pipe non-blocking through an event on the loop.
 * Lines are parsed by dg_scan_input_feed() (lib/scan); a malformed line is reported on
 * stderr and as its own JSON line {"domain","line","error"}, counted, and the scan goes on.
 * Each object is exactly the one of 'check --json' (dg_report_json()); order is the order of
 * completion. Every --sync-every results: stdout flushed, history batch committed, resume
 * marks fsync'd (in that order, so a marked line is always in the output and the database).
 * --db: lib/history records the run, and at the end the changes since the previous complete
 * run are summarised on stderr, given to --on-change CMD as JSON on stdin, and new failures
 * make the exit status 1. The exit status is computed in scan_exit_code() alone.
 * --metrics ADDR:PORT serves the counters as Prometheus text on the same loop
 * (cmd_scan_metrics.c). --enqueue and --worker (PostgreSQL) are in cmd_scan_worker.c.
 *
 * Speed and memory (issue #7): the engine's DNS answer cache is capped (an LRU of
 * SCAN_DNS_CACHE_MAX answers: the names domains share stay), and libunbound validates in
 * worker threads (one per CPU, dg_dns_opts.resolver_threads), so the loop is free for TLS,
 * DANE verification and JSON. Memory is flat in the number of input domains; what remains
 * grows with --concurrency (each domain in flight holds its result).
 *
 * Ownership: results are freed as soon as they are written; option strings borrow argv.
 */
#include "cmd.h"
#include "cmd_scan_int.h"

#include <daneguard/history.h>
#include <daneguard/report.h>
#include <daneguard/scan.h>
#include <daneguard/util.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#define SCAN_MAX_RESOLVERS 16
#define SCAN_READ_CHUNK 65536
/* Answers kept by the engine's DNS cache: an LRU, so the names many domains share (their
 * MX hosts' A, AAAA, TLSA) stay, and each domain's own MX and TXT answers age out. */
#define SCAN_DNS_CACHE_MAX 4096
/* libunbound worker threads (DNSSEC validation beside the loop): one per online CPU, at most
 * this many (each has its own caches, a few MB). */
#define SCAN_MAX_RESOLVER_THREADS 4

enum {
	OPT_RESOLVER = 256,
	OPT_TA,
	OPT_PORT,
	OPT_TIMEOUT,
	OPT_HELO,
	OPT_CA_FILE,
	OPT_NO_STS,
	OPT_CONCURRENCY,
	OPT_PER_ADDR,
	OPT_RESUME,
	OPT_DB,
	OPT_ON_CHANGE,
	OPT_SYNC,
	OPT_PROGRESS,
	OPT_METRICS,
	OPT_ENQUEUE,
	OPT_WORKER,
	OPT_BATCH,
	OPT_LEASE
};

struct scan_cli {
	struct dg_engine_opts eo;
	struct dg_report_opts ropts;
	const char *resolvers[SCAN_MAX_RESOLVERS];
	size_t n_resolvers;
	bool only4, only6, progress, worker;
	unsigned concurrency, sync_every, batch, lease_s;
	const char *input, *resume, *db, *on_change, *metrics, *enqueue;
};

struct scan_run {
	struct scan_cli *cli;
	struct event_base *base;
	struct dg_engine *eng;
	struct event *read_ev, *refill_ev, *tick_ev, *sig_ev[2];
	int fd;
	bool is_file, eof, stop, interrupted;
	int fatal; /* exit code of a fatal error, 0 none */
	uint8_t rbuf[SCAN_READ_CHUNK];
	size_t rpos, rlen;
	struct dg_scan_input in;
	size_t in_flight;
	uint64_t done, malformed, resumed, total_lines, unsynced;
	uint64_t verdicts[DG_VERDICT_NULL_MX + 1];
	uint64_t started_ms;
	struct dg_scan_state *state;
	struct dg_history *hist;
	int64_t run_id;
	struct scan_metrics *metrics;
};

/* Per domain in flight: the line it came from. */
struct scan_item {
	struct scan_run *run;
	uint64_t lineno;
};

static int parse_option(int c, struct scan_cli *cli, char **argv);
static int parse_args(int argc, char **argv, struct scan_cli *cli);
static int check_queue_args(struct scan_cli *cli);
static int run_queue(struct scan_cli *cli);
static int open_input(struct scan_run *run);
static uint64_t count_lines(int fd);
static int open_history(struct scan_run *run);
static void refill_cb(evutil_socket_t fd, short what, void *arg);
static int next_line(struct scan_run *run, struct dg_scan_line *line);
static void handle_line(struct scan_run *run, const struct dg_scan_line *line);
static void report_malformed(struct scan_run *run, const struct dg_scan_line *line);
static void on_result(void *arg, struct dg_domain_result *res);
static void record_result(struct scan_run *run, const struct dg_domain_result *res,
                          const char *json);
static void checkpoint(struct scan_run *run);
static void fatal(struct scan_run *run, int code, const char *msg);
static void maybe_finish(struct scan_run *run);
static void signal_cb(evutil_socket_t sig, short what, void *arg);
static void tick_cb(evutil_socket_t fd, short what, void *arg);
static void progress_line(struct scan_run *run, bool last);
static int run_loop(struct scan_run *run);
static int finish_run(struct scan_run *run);
static int scan_exit_code(const struct scan_run *run, const struct dg_changes *ch);
static void run_cleanup(struct scan_run *run);
static void metrics_snap(void *arg, struct scan_metrics_snap *out);
static int start_metrics(struct scan_run *run);
static unsigned scan_resolver_threads(void);

void cmd_scan_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: daneguard scan [options] FILE|-\n"
	    "\n"
	    "Check every mail domain of FILE (one per line; blank lines and # comments allowed;\n"
	    "'-' reads stdin) as 'daneguard check' does, and write one JSON object per domain\n"
	    "per line (JSON Lines) on stdout, exactly the object of 'check --json', in the order\n"
	    "results complete (not the input order). A malformed line is reported on stderr and\n"
	    "as {\"domain\",\"line\",\"error\"}, counted, and the scan goes on.\n"
	    "\n"
	    "options (as check): --resolver ADDR[@PORT], --trust-anchor FILE, --ca-file FILE,\n"
	    "  --no-mta-sts, --port N, --timeout SECONDS, -4, -6, --helo NAME\n"
	    "  --concurrency N        domains in flight at once, 1-10000 (default 200)\n"
	    "  --per-address N        TLS probes in flight to one address, 1-64 (default 4)\n"
	    "  --resume STATE         record finished lines in STATE; if STATE exists, continue\n"
	    "                         that scan without checking finished lines again\n"
	    "  --sync-every N         flush output, commit the history and fsync STATE every N\n"
	    "                         results, 1-100000 (default 100)\n"
	    "  --db FILE              record the run in an SQLite history; at the end summarise\n"
	    "                         the changes since the previous complete run on stderr\n"
	    "  --on-change CMD        with --db: run CMD (sh -c) with the changes as JSON on\n"
	    "                         stdin when there are any (waits at most 60 s)\n"
	    "  --metrics ADDR:PORT    serve Prometheus metrics on http://ADDR:PORT/metrics while\n"
	    "                         the scan runs (bound to ADDR only)\n"
	    "  --progress             progress on stderr even when it is not a terminal\n"
	    "  --enqueue FILE         with --db postgresql://...: create a run, queue FILE's\n"
	    "                         domains for workers, print {\"run\",\"queued\",...}, exit\n"
	    "  --worker               with --db postgresql://...: check queued domains in\n"
	    "                         batches until none is left (any number of machines)\n"
	    "  --batch N              domains per claim, 1-1000 (default 50)\n"
	    "  --lease SECONDS        a claim's lease, 1-86400 (default 600): a dead worker's\n"
	    "                         domains are claimed again after it\n"
	    "  -h, --help             print this help and exit\n"
	    "\n"
	    "exit status:\n"
	    "  0   the scan completed; no new failures\n"
	    "  1   the scan completed; new failures (dane-fail, dnssec-bogus) since the previous\n"
	    "      complete run of --db\n"
	    "  3   interrupted (SIGINT, SIGTERM); continue with --resume; run not complete\n"
	    "  64  usage error;  66  input file unreadable\n"
	    "  74  database, resume state or output could not be written; run not complete\n"
	    "  70  internal error\n"
	    "\n"
	    "example:\n"
	    "  daneguard scan --db scan.db --resume scan.state domains.txt > results.jsonl\n"
	    "  daneguard scan --db postgresql://db.example/dg --enqueue domains.txt\n"
	    "  daneguard scan --db postgresql://db.example/dg --worker > results.jsonl\n");
}

/* ---- arguments ------------------------------------------------------------------------------ */

static int parse_option(int c, struct scan_cli *cli, char **argv)
{
	uint32_t v;
	int rc = CMD_CONTINUE;

	switch (c) {
	case OPT_RESOLVER:
		if (cli->n_resolvers == SCAN_MAX_RESOLVERS)
			return cmd_usage_error("scan", "--resolver: more than %d resolvers",
			                       SCAN_MAX_RESOLVERS);
		cli->resolvers[cli->n_resolvers++] = optarg;
		break;
	case OPT_TA:
		cli->eo.dns.ta_file = optarg;
		return cmd_check_readable("trust anchor", optarg);
	case OPT_CA_FILE: cli->eo.ca_file = optarg; return cmd_check_readable("CA file", optarg);
	case OPT_NO_STS: cli->eo.mta_sts = false; break;
	case OPT_PORT:
		if ((rc = cmd_parse_num("scan", "--port", optarg, 1, 65535, &v)) == CMD_CONTINUE)
			cli->eo.port = (uint16_t)v;
		break;
	case OPT_TIMEOUT:
		if ((rc = cmd_parse_num("scan", "--timeout", optarg, 1, 600, &v)) == CMD_CONTINUE)
			cli->eo.timeout_ms = v * 1000u;
		break;
	case OPT_CONCURRENCY:
		rc = cmd_parse_num("scan", "--concurrency", optarg, 1, 10000, &cli->concurrency);
		break;
	case OPT_PER_ADDR:
		rc = cmd_parse_num("scan", "--per-address", optarg, 1, 64,
		                   &cli->eo.max_probes_per_addr);
		break;
	case OPT_SYNC:
		rc = cmd_parse_num("scan", "--sync-every", optarg, 1, 100000, &cli->sync_every);
		break;
	case OPT_HELO:
		if (!dg_name_is_valid(optarg, NULL))
			return cmd_usage_error("scan", "--helo: '%s' is not a valid host name",
			                       optarg);
		cli->eo.helo = optarg;
		break;
	case OPT_RESUME: cli->resume = optarg; break;
	case OPT_DB: cli->db = optarg; break;
	case OPT_ON_CHANGE: cli->on_change = optarg; break;
	case OPT_PROGRESS: cli->progress = true; break;
	case OPT_METRICS: cli->metrics = optarg; break;
	case OPT_ENQUEUE: cli->enqueue = optarg; break;
	case OPT_WORKER: cli->worker = true; break;
	case OPT_BATCH: rc = cmd_parse_num("scan", "--batch", optarg, 1, 1000, &cli->batch); break;
	case OPT_LEASE:
		rc = cmd_parse_num("scan", "--lease", optarg, 1, 86400, &cli->lease_s);
		break;
	case '4': cli->only4 = true; break;
	case '6': cli->only6 = true; break;
	case 'h': cmd_scan_usage(stdout); return CMD_EXIT_OK;
	case ':': return cmd_usage_error("scan", "option '%s' needs a value", argv[optind - 1]);
	default: return cmd_usage_error("scan", "unknown option '%s'", argv[optind - 1]);
	}
	return rc;
}

static int parse_args(int argc, char **argv, struct scan_cli *cli)
{
	static const struct option longopts[] = {
	    {"resolver", required_argument, NULL, OPT_RESOLVER},
	    {"trust-anchor", required_argument, NULL, OPT_TA},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"helo", required_argument, NULL, OPT_HELO},
	    {"ca-file", required_argument, NULL, OPT_CA_FILE},
	    {"no-mta-sts", no_argument, NULL, OPT_NO_STS},
	    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	    {"per-address", required_argument, NULL, OPT_PER_ADDR},
	    {"resume", required_argument, NULL, OPT_RESUME},
	    {"sync-every", required_argument, NULL, OPT_SYNC},
	    {"db", required_argument, NULL, OPT_DB},
	    {"on-change", required_argument, NULL, OPT_ON_CHANGE},
	    {"progress", no_argument, NULL, OPT_PROGRESS},
	    {"metrics", required_argument, NULL, OPT_METRICS},
	    {"enqueue", required_argument, NULL, OPT_ENQUEUE},
	    {"worker", no_argument, NULL, OPT_WORKER},
	    {"batch", required_argument, NULL, OPT_BATCH},
	    {"lease", required_argument, NULL, OPT_LEASE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":46h", longopts, NULL)) != -1)
		if ((rc = parse_option(c, cli, argv)) != CMD_CONTINUE)
			return rc;
	if (cli->only4 && cli->only6)
		return cmd_usage_error("scan", "options -4 and -6 exclude each other");
	if (cli->on_change != NULL && cli->db == NULL)
		return cmd_usage_error("scan", "--on-change needs --db");
	cli->eo.ipv4 = !cli->only6;
	cli->eo.ipv6 = !cli->only4;
	cli->eo.dns.forwarders = cli->resolvers;
	cli->eo.dns.n_forwarders = cli->n_resolvers;
	if (cli->worker || cli->enqueue != NULL)
		return optind == argc
		           ? check_queue_args(cli)
		           : cmd_usage_error("scan", "--worker and --enqueue take no FILE");
	if (optind + 1 != argc)
		return cmd_usage_error("scan", "scan needs exactly one FILE (or - for stdin)");
	cli->input = argv[optind];
	return CMD_CONTINUE;
}

/* --worker and --enqueue: the shared work queue of a PostgreSQL history. */
static int check_queue_args(struct scan_cli *cli)
{
	if (cli->worker && cli->enqueue != NULL)
		return cmd_usage_error("scan", "--worker and --enqueue exclude each other");
	if (cli->db == NULL || !dg_history_target_is_pg(cli->db))
		return cmd_usage_error("scan", "--worker and --enqueue need --db postgresql://...");
	if (cli->resume != NULL || cli->on_change != NULL)
		return cmd_usage_error("scan", "--resume and --on-change do not apply to workers");
	return CMD_CONTINUE;
}

static int run_queue(struct scan_cli *cli)
{
	struct scan_worker_opts o = {&cli->eo,         &cli->ropts, cli->db,
	                             cli->concurrency, cli->batch,  cli->lease_s};

	if (cli->enqueue != NULL)
		return scan_enqueue_main(cli->db, cli->enqueue);
	return scan_worker_main(&o);
}

/* ---- input ---------------------------------------------------------------------------------- */

static int open_input(struct scan_run *run)
{
	const char *name = run->cli->input;
	struct stat st;

	run->fd = strcmp(name, "-") == 0 ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
	if (run->fd < 0 || fstat(run->fd, &st) != 0) {
		fprintf(stderr, "daneguard: cannot read input '%s': %s\n", name, strerror(errno));
		return CMD_EXIT_NOINPUT;
	}
	if (S_ISDIR(st.st_mode)) {
		fprintf(stderr, "daneguard: cannot read input '%s': is a directory\n", name);
		return CMD_EXIT_NOINPUT;
	}
	run->is_file = S_ISREG(st.st_mode);
	if (!run->is_file) {
		int fl = fcntl(run->fd, F_GETFL);

		if (fl < 0 || fcntl(run->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
			fprintf(stderr, "daneguard: input '%s': %s\n", name, strerror(errno));
			return CMD_EXIT_NOINPUT;
		}
	} else if (run->cli->progress) {
		run->total_lines = count_lines(run->fd);
	}
	return CMD_CONTINUE;
}

/* Lines of a regular file (for progress), read with pread so the position stays. */
static uint64_t count_lines(int fd)
{
	uint8_t buf[SCAN_READ_CHUNK];
	uint64_t n = 0;
	off_t off = 0;
	ssize_t got;

	while ((got = pread(fd, buf, sizeof(buf), off)) > 0) {
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
		off += got;
	}
	return n;
}

/* DG_OK-like: 1 a line, 0 none for now (wait or EOF), -1 read error. */
static int next_line(struct scan_run *run, struct dg_scan_line *line)
{
	for (;;) {
		ssize_t got;

		if (run->rpos < run->rlen) {
			run->rpos += dg_scan_input_feed(&run->in, run->rbuf + run->rpos,
			                                run->rlen - run->rpos, line);
			if (line->kind != DG_SCAN_LINE_NONE)
				return 1;
			continue;
		}
		if (run->eof)
			return 0;
		got = read(run->fd, run->rbuf, sizeof(run->rbuf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(run->read_ev, NULL);
			return 0;
		}
		if (got < 0) {
			fprintf(stderr, "daneguard: reading input '%s': %s\n", run->cli->input,
			        strerror(errno));
			return -1;
		}
		run->rpos = 0;
		run->rlen = (size_t)got;
		if (got == 0) {
			run->eof = true;
			return dg_scan_input_finish(&run->in, line) ? 1 : 0;
		}
	}
}

/* Start checks until the window is full, the input waits, or it ends. */
static void refill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scan_run *run = arg;
	struct dg_scan_line line;
	int r = 1;

	(void)fd;
	(void)what;
	while (!run->stop && run->in_flight < run->cli->concurrency &&
	       (r = next_line(run, &line)) == 1)
		handle_line(run, &line);
	if (r < 0)
		fatal(run, CMD_EXIT_NOINPUT, NULL);
	maybe_finish(run);
}

static void handle_line(struct scan_run *run, const struct dg_scan_line *line)
{
	struct dg_err err = {0};
	struct scan_item *item;

	if (dg_scan_state_is_done(run->state, line->lineno)) {
		run->resumed += line->kind == DG_SCAN_LINE_DOMAIN;
		return;
	}
	if (line->kind != DG_SCAN_LINE_DOMAIN) {
		if (line->kind == DG_SCAN_LINE_MALFORMED)
			report_malformed(run, line);
		dg_scan_state_mark(run->state, line->lineno);
		return;
	}
	item = dg_xcalloc(1, sizeof(*item));
	item->run = run;
	item->lineno = line->lineno;
	if (dg_engine_check(run->eng, line->domain, on_result, item, &err) != DG_OK) {
		struct dg_scan_line bad = *line;

		free(item);
		bad.kind = DG_SCAN_LINE_MALFORMED;
		snprintf(bad.why, sizeof(bad.why), "%.150s", err.msg);
		report_malformed(run, &bad);
		dg_scan_state_mark(run->state, line->lineno);
		return;
	}
	run->in_flight++;
}

static void report_malformed(struct scan_run *run, const struct dg_scan_line *line)
{
	json_t *o = json_object();

	run->malformed++;
	fprintf(stderr, "daneguard: %s:%" PRIu64 ": malformed domain '%s': %s\n", run->cli->input,
	        line->lineno, line->domain, line->why);
	json_object_set_new(o, "domain", json_string(line->domain));
	json_object_set_new(o, "line", json_integer((json_int_t)line->lineno));
	json_object_set_new(o, "error", json_string(line->why));
	(void)json_dumpf(o, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(o);
}

/* ---- results -------------------------------------------------------------------------------- */

static void on_result(void *arg, struct dg_domain_result *res)
{
	struct scan_item *item = arg;
	struct scan_run *run = item->run;
	json_t *doc = dg_report_json(res, &run->cli->ropts);
	char *text = json_dumps(doc, JSON_COMPACT);

	if (text == NULL)
		DG_PANIC("json_dumps failed for %s", res->domain);
	fputs(text, stdout);
	fputc('\n', stdout);
	record_result(run, res, text);
	dg_scan_state_mark(run->state, item->lineno);
	run->done++;
	run->verdicts[res->verdict]++;
	run->in_flight--;
	if (++run->unsynced >= run->cli->sync_every)
		checkpoint(run);
	free(text);
	json_decref(doc);
	dg_domain_result_free(res);
	free(item);
	event_active(run->refill_ev, 0, 0);
}

static void record_result(struct scan_run *run, const struct dg_domain_result *res,
                          const char *json)
{
	struct dg_history_row row;
	struct dg_err err = {0};

	if (run->hist == NULL || run->fatal != 0)
		return;
	dg_history_row_make(res, &row);
	if (dg_history_add(run->hist, run->run_id, &row, json, &err) != DG_OK)
		fatal(run, CMD_EXIT_IOERR, err.msg);
	dg_history_row_cleanup(&row);
}

/* Output, then history, then resume marks: a marked line is always in the other two. */
static void checkpoint(struct scan_run *run)
{
	struct dg_err err = {0};

	run->unsynced = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fatal(run, CMD_EXIT_IOERR, "writing the results to stdout failed");
		return;
	}
	if (run->hist != NULL && run->fatal == 0 && dg_history_commit(run->hist, &err) != DG_OK) {
		fatal(run, CMD_EXIT_IOERR, err.msg);
		return;
	}
	if (run->fatal == 0 && dg_scan_state_sync(run->state, &err) != DG_OK)
		fatal(run, CMD_EXIT_IOERR, err.msg);
}

static void fatal(struct scan_run *run, int code, const char *msg)
{
	if (run->fatal == 0) {
		run->fatal = code;
		if (msg != NULL)
			fprintf(stderr, "daneguard: %s\n", msg);
	}
	run->stop = true;
	event_base_loopbreak(run->base);
}

static void maybe_finish(struct scan_run *run)
{
	if ((run->eof && run->rpos >= run->rlen && run->in_flight == 0) || run->stop)
		event_base_loopbreak(run->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct scan_run *run = arg;

	(void)what;
	fprintf(stderr, "\ndaneguard: %s: stopping; continue with --resume\n",
	        sig == SIGINT ? "interrupted" : "terminated");
	run->interrupted = run->stop = true;
	event_base_loopbreak(run->base);
}

/* ---- progress ------------------------------------------------------------------------------- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	progress_line(arg, false);
}

static void progress_line(struct scan_run *run, bool last)
{
	double s = (double)(dg_clock_mono_ms() - run->started_ms) / 1000.0;

	if (!run->cli->progress)
		return;
	if (run->total_lines > 0)
		fprintf(stderr, "\rdaneguard: %" PRIu64 "/%" PRIu64 " lines", run->in.lineno,
		        run->total_lines);
	else
		fprintf(stderr, "\rdaneguard: %" PRIu64 " lines", run->in.lineno);
	fprintf(stderr,
	        ", %" PRIu64 " checked (%.1f/s): ok %" PRIu64 " partial %" PRIu64 " fail %" PRIu64
	        " bogus %" PRIu64 " no-dane %" PRIu64 " temp %" PRIu64 " malformed %" PRIu64 "%s",
	        run->done, s > 0 ? (double)run->done / s : 0.0, run->verdicts[DG_VERDICT_DANE_OK],
	        run->verdicts[DG_VERDICT_DANE_PARTIAL], run->verdicts[DG_VERDICT_DANE_FAIL],
	        run->verdicts[DG_VERDICT_DNSSEC_BOGUS],
	        run->verdicts[DG_VERDICT_NO_DANE] + run->verdicts[DG_VERDICT_NULL_MX],
	        run->verdicts[DG_VERDICT_TEMP_FAIL], run->malformed, last ? "\n" : "   ");
}

/* ---- the run -------------------------------------------------------------------------------- */

static int open_history(struct scan_run *run)
{
	const struct scan_cli *cli = run->cli;
	struct dg_err err = {0};
	int64_t state_run = 0;
	enum dg_status st = DG_E_NOTFOUND;

	if (cli->db != NULL && dg_history_open(cli->db, true, &run->hist, &err) != DG_OK)
		goto fail;
	if (cli->resume != NULL &&
	    (st = dg_scan_state_load(cli->resume, &state_run, &run->state, &err)) != DG_OK &&
	    st != DG_E_NOTFOUND)
		goto fail;
	if (st == DG_OK && run->hist != NULL) {
		if (state_run <= 0) {
			snprintf(err.msg, sizeof(err.msg), "resume state %s: started without --db",
			         cli->resume);
			goto fail;
		}
		run->run_id = state_run;
		if (dg_history_run_reopen(run->hist, run->run_id, &err) != DG_OK)
			goto fail;
	} else if (run->hist != NULL &&
	           dg_history_run_begin(run->hist, dg_clock_wall(), &run->run_id, &err) != DG_OK) {
		goto fail;
	}
	if (cli->resume != NULL && run->state == NULL &&
	    dg_scan_state_create(cli->resume, run->run_id, &run->state, &err) != DG_OK)
		goto fail;
	if (run->state != NULL && dg_scan_state_loaded(run->state) > 0)
		fprintf(stderr, "daneguard: resuming: %" PRIu64 " lines already done\n",
		        dg_scan_state_loaded(run->state));
	return CMD_CONTINUE;
fail:
	fprintf(stderr, "daneguard: %s\n", err.msg);
	return CMD_EXIT_IOERR;
}

static int run_loop(struct scan_run *run)
{
	struct dg_err err = {0};
	struct timeval tick = {0, 500000};
	static const int sigs[2] = {SIGINT, SIGTERM};

	run->base = event_base_new();
	if (run->base == NULL ||
	    dg_engine_new(run->base, &run->cli->eo, NULL, &run->eng, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg[0] ? err.msg : "cannot create the loop");
		return err.code == DG_E_CONFIG ? CMD_EXIT_USAGE : CMD_EXIT_INTERNAL;
	}
	run->refill_ev = event_new(run->base, -1, 0, refill_cb, run);
	run->read_ev = event_new(run->base, run->fd, EV_READ, refill_cb, run);
	run->tick_ev = event_new(run->base, -1, EV_PERSIST, tick_cb, run);
	for (int i = 0; i < 2; i++) {
		run->sig_ev[i] = evsignal_new(run->base, sigs[i], signal_cb, run);
		event_add(run->sig_ev[i], NULL);
	}
	if (run->cli->progress)
		event_add(run->tick_ev, &tick);
	if (start_metrics(run) != CMD_CONTINUE)
		return CMD_EXIT_USAGE;
	run->started_ms = dg_clock_mono_ms();
	event_active(run->refill_ev, 0, 0);
	if (event_base_dispatch(run->base) < 0) {
		fprintf(stderr, "daneguard: the event loop failed\n");
		return CMD_EXIT_INTERNAL;
	}
	checkpoint(run);
	progress_line(run, true);
	return CMD_CONTINUE;
}

/* The run completed: mark it, compare with the previous complete one, report. */
static int finish_run(struct scan_run *run)
{
	struct dg_changes ch = {0};
	struct dg_err err = {0};
	int64_t prev = 0;
	enum dg_status st = DG_OK;
	int rc;

	if (run->hist != NULL) {
		st = dg_history_run_finish(run->hist, run->run_id, dg_clock_wall(), &err);
		if (st == DG_OK) {
			st = dg_history_complete_before(run->hist, run->run_id, &prev, &err);
			if (st == DG_E_NOTFOUND)
				st = DG_OK;
		}
		if (st == DG_OK)
			st = dg_history_changes(run->hist, prev, run->run_id, &ch, &err);
		if (st != DG_OK) {
			fprintf(stderr, "daneguard: %s\n", err.msg);
			dg_changes_cleanup(&ch);
			return CMD_EXIT_IOERR;
		}
	}
	if (run->state != NULL && dg_scan_state_remove(run->state, &err) != DG_OK)
		fprintf(stderr, "daneguard: warning: %s\n", err.msg);
	fprintf(stderr,
	        "daneguard: scan complete: %" PRIu64 " domains checked, %" PRIu64
	        " malformed lines, %" PRIu64 " skipped (resume)\n",
	        run->done, run->malformed, run->resumed);
	if (run->hist != NULL) {
		cmd_print_changes(stderr, &ch);
		if (run->cli->on_change != NULL && ch.n > 0)
			cmd_run_on_change(run->cli->on_change, &ch);
	}
	rc = scan_exit_code(run, &ch);
	dg_changes_cleanup(&ch);
	return rc;
}

/* The one place the scan's outcome becomes the exit status (documented in the usage). */
static int scan_exit_code(const struct scan_run *run, const struct dg_changes *ch)
{
	if (run->fatal != 0)
		return run->fatal;
	if (run->interrupted)
		return CMD_EXIT_TEMP;
	return ch->count[DG_CHANGE_NEW_FAILURE] > 0 ? CMD_EXIT_FAIL : CMD_EXIT_OK;
}

static void run_cleanup(struct scan_run *run)
{
	struct event *evs[] = {run->read_ev, run->refill_ev, run->tick_ev, run->sig_ev[0],
	                       run->sig_ev[1]};

	scan_metrics_free(run->metrics);
	dg_engine_free(run->eng);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (run->base != NULL)
		event_base_free(run->base);
	dg_history_free(run->hist);
	dg_scan_state_free(run->state);
	if (run->fd > STDIN_FILENO)
		close(run->fd);
}

/* ---- metrics (cmd_scan_metrics.c) ---------------------------------------------------------- */

static int start_metrics(struct scan_run *run)
{
	struct dg_err err = {0};

	if (run->cli->metrics == NULL)
		return CMD_CONTINUE;
	if (scan_metrics_start(run->base, run->cli->metrics, metrics_snap, run, &run->metrics,
	                       &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return CMD_EXIT_USAGE;
	}
	return CMD_CONTINUE;
}

static void metrics_snap(void *arg, struct scan_metrics_snap *out)
{
	const struct scan_run *run = arg;

	memcpy(out->verdicts, run->verdicts, sizeof(out->verdicts));
	out->malformed = run->malformed;
	out->in_flight = run->in_flight;
	dg_engine_get_stats(run->eng, &out->eng);
}

/* One libunbound worker thread per online CPU (1..SCAN_MAX_RESOLVER_THREADS): signature
 * checks are most of a scan's CPU, the loop itself needs little (issue #7). */
static unsigned scan_resolver_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > SCAN_MAX_RESOLVER_THREADS ? SCAN_MAX_RESOLVER_THREADS : (unsigned)n;
}

int cmd_scan_main(int argc, char **argv)
{
	struct scan_cli cli = {0};
	struct scan_run *run;
	int rc;

	dg_engine_opts_init(&cli.eo);
	cli.eo.conn_delay_ms = DG_ENGINE_SCAN_CONN_DELAY_MS; /* a scan spaces its connections */
	/* Memory flat in the number of domains, DNSSEC checks on the second core (issue #7). */
	cli.eo.dns.cache_max = SCAN_DNS_CACHE_MAX;
	cli.eo.dns.resolver_threads = scan_resolver_threads();
	dg_report_opts_init(&cli.ropts);
	cli.concurrency = 200;
	cli.sync_every = 100;
	cli.batch = 50;
	cli.lease_s = 600;
	if ((rc = parse_args(argc, argv, &cli)) != CMD_CONTINUE)
		return rc;
	cli.progress = cli.progress || isatty(STDERR_FILENO);
	cli.eo.max_probes = cli.concurrency < 64 ? 64 : cli.concurrency;
	if (cli.worker || cli.enqueue != NULL)
		return run_queue(&cli);
	run = dg_xcalloc(1, sizeof(*run));
	run->cli = &cli;
	run->fd = -1;
	dg_scan_input_init(&run->in);
	if ((rc = open_input(run)) == CMD_CONTINUE && (rc = open_history(run)) == CMD_CONTINUE &&
	    (rc = run_loop(run)) == CMD_CONTINUE) {
		struct dg_changes none = {0};

		rc = run->fatal != 0 || run->interrupted ? scan_exit_code(run, &none)
		                                         : finish_run(run);
	}
	run_cleanup(run);
	free(run);
	return rc;
}
