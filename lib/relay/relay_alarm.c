/*
 * relay_alarm.c - the queue alarm: a periodic check of the scheduler's counters against
 * `alarm-queue-size` and `alarm-queue-age`, a warning when either is crossed, and the
 * operator's `alarm-command` run with a JSON description on its stdin.
 *
 * Private (relay_metrics.h): relay_alarm_new, relay_alarm_free, relay_alarm_check,
 * relay_alarm_is_active, relay_alarm_kind_str, relay_alarm_set_timing,
 * relay_alarm_cmd_running.
 *
 * States, per alarm kind: clear -> raised when the value reaches the threshold (value >=
 * threshold): one warning line and one command run; raised -> clear when it falls below (or
 * the threshold is set to 0): one info line, and the alarm is armed again. Nothing repeats
 * while an alarm stays raised.
 *
 * The command never blocks the loop: its stdin is a pipe already holding the JSON object
 * (written before the fork, so the parent can never get SIGPIPE), it runs under /bin/sh -c
 * in a process group of its own, and a timer reaps it with waitpid(pid, WNOHANG) - no
 * SIGCHLD handler is installed and no other child is touched. A command still running after
 * the run-time bound (30 s) gets SIGKILL on its whole group (STYLE 6: every wait has a
 * deadline).
 *
 * Ownership: struct relay_alarm owns its timers and its running commands; conf, log and the
 * stats callback are borrowed.
 */
#include "relay_metrics.h"

#include <event2/event.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ALARM_REAP_MS 100u
#define ALARM_JSON_MAX 256
#define ALARM_FD_SCAN 4096 /* descriptors closed one by one without close_range */

struct alarm_cmd {
	pid_t pid;         /* 0: none running */
	uint64_t start_ms; /* monotonic */
	bool killed;
};

struct relay_alarm {
	struct event_base *base;
	const struct dg_relay_conf *conf;
	relay_alarm_stats_fn *get_stats;
	void *arg;
	const struct dg_log *log;
	struct event *tick;
	struct event *reap;
	unsigned check_ms, limit_ms;
	bool active[RELAY_ALARM_KINDS];
	struct alarm_cmd cmd[RELAY_ALARM_KINDS];
};

static void tick_cb(evutil_socket_t fd, short what, void *arg);
static void reap_cb(evutil_socket_t fd, short what, void *arg);
static void alarm_run(struct relay_alarm *a, enum relay_alarm_kind k, uint64_t value,
                      uint64_t threshold);
static void alarm_child(int in_fd, const char *command) __attribute__((noreturn));
static void arm(struct event *ev, unsigned ms);
static void cmd_reap(struct relay_alarm *a, enum relay_alarm_kind k);

static void arm(struct event *ev, unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u)};

	event_add(ev, &tv);
}

enum dg_status relay_alarm_new(struct event_base *base, const struct dg_relay_conf *conf,
                               relay_alarm_stats_fn *get_stats, void *arg, const struct dg_log *log,
                               struct relay_alarm **out, struct dg_err *err)
{
	struct relay_alarm *a = dg_xcalloc(1, sizeof(*a));

	*out = NULL;
	a->base = base;
	a->conf = conf;
	a->get_stats = get_stats;
	a->arg = arg;
	a->log = log;
	a->check_ms = RELAY_ALARM_CHECK_MS;
	a->limit_ms = RELAY_ALARM_CMD_LIMIT_MS;
	a->tick = event_new(base, -1, EV_PERSIST, tick_cb, a);
	a->reap = event_new(base, -1, EV_PERSIST, reap_cb, a);
	if (a->tick == NULL || a->reap == NULL) {
		relay_alarm_free(a);
		return dg_err_set(err, DG_E_INTERNAL, "queue alarm: cannot arm its timer");
	}
	arm(a->tick, a->check_ms);
	*out = a;
	return DG_OK;
}

void relay_alarm_free(struct relay_alarm *a)
{
	if (a == NULL)
		return;
	for (int k = 0; k < RELAY_ALARM_KINDS; k++) {
		pid_t pid = a->cmd[k].pid;

		if (pid <= 0)
			continue;
		/* SIGKILL cannot be caught: the blocking wait ends at once */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		a->cmd[k].pid = 0;
	}
	if (a->reap != NULL)
		event_free(a->reap);
	if (a->tick != NULL)
		event_free(a->tick);
	free(a);
}

const char *relay_alarm_kind_str(enum relay_alarm_kind kind)
{
	return kind == RELAY_ALARM_QUEUE_AGE ? "queue-age" : "queue-size";
}

bool relay_alarm_is_active(const struct relay_alarm *a, enum relay_alarm_kind kind)
{
	return a != NULL && (unsigned)kind < RELAY_ALARM_KINDS && a->active[kind];
}

bool relay_alarm_cmd_running(const struct relay_alarm *a)
{
	for (int k = 0; k < RELAY_ALARM_KINDS; k++)
		if (a->cmd[k].pid > 0)
			return true;
	return false;
}

void relay_alarm_set_timing(struct relay_alarm *a, unsigned check_ms, unsigned limit_ms)
{
	if (check_ms == 0 || limit_ms == 0)
		DG_PANIC("relay_alarm_set_timing: zero period or bound");
	a->check_ms = check_ms;
	a->limit_ms = limit_ms;
	event_del(a->tick);
	arm(a->tick, a->check_ms);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_alarm_check(arg);
}

void relay_alarm_check(struct relay_alarm *a)
{
	struct relay_sched_stats st;
	uint64_t now = (uint64_t)dg_clock_wall();
	uint64_t value[RELAY_ALARM_KINDS], threshold[RELAY_ALARM_KINDS];

	memset(&st, 0, sizeof(st));
	a->get_stats(a->arg, &st);
	value[RELAY_ALARM_QUEUE_SIZE] = st.messages;
	value[RELAY_ALARM_QUEUE_AGE] =
	    st.oldest_arrival_s != 0 && now > st.oldest_arrival_s ? now - st.oldest_arrival_s : 0;
	threshold[RELAY_ALARM_QUEUE_SIZE] = a->conf->alarm_queue_size;
	threshold[RELAY_ALARM_QUEUE_AGE] = a->conf->alarm_queue_age_s;
	for (int i = 0; i < RELAY_ALARM_KINDS; i++) {
		enum relay_alarm_kind k = (enum relay_alarm_kind)i;
		bool on = threshold[k] > 0 && value[k] >= threshold[k];

		if (on && !a->active[k]) {
			a->active[k] = true;
			DG_LOG(a->log, DG_LOG_WARN, "alarm %s raised value=%llu threshold=%llu%s",
			       relay_alarm_kind_str(k), (unsigned long long)value[k],
			       (unsigned long long)threshold[k],
			       k == RELAY_ALARM_QUEUE_AGE ? " unit=s" : " unit=messages");
			alarm_run(a, k, value[k], threshold[k]);
		} else if (!on && a->active[k]) {
			a->active[k] = false;
			DG_LOG(a->log, DG_LOG_INFO, "alarm %s cleared value=%llu threshold=%llu",
			       relay_alarm_kind_str(k), (unsigned long long)value[k],
			       (unsigned long long)threshold[k]);
		}
	}
}

/* In the child: stdin from the pipe, stdout to /dev/null, stderr kept (the daemon's log),
   default signal dispositions, no inherited descriptor beyond 0-2. Async-signal-safe only. */
static void alarm_child(int in_fd, const char *command)
{
	static const int sigs[] = {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
	sigset_t none;
	int null_fd = open("/dev/null", O_WRONLY);

	setpgid(0, 0);
	if (dup2(in_fd, STDIN_FILENO) < 0)
		_exit(126);
	if (null_fd >= 0)
		dup2(null_fd, STDOUT_FILENO);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (close_range(3, ~0u, 0) != 0) /* kernels before 5.9 */
		for (int fd = 3; fd < ALARM_FD_SCAN; fd++)
			close(fd);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	_exit(127);
}

static void alarm_run(struct relay_alarm *a, enum relay_alarm_kind k, uint64_t value,
                      uint64_t threshold)
{
	char json[ALARM_JSON_MAX], stamp[32];
	time_t t = dg_clock_wall();
	struct tm tm;
	int fds[2], n;
	pid_t pid;

	if (a->conf->alarm_command == NULL || a->conf->alarm_command[0] == '\0')
		return;
	if (a->cmd[k].pid > 0) {
		DG_LOG(a->log, DG_LOG_WARN,
		       "alarm %s command not started: the previous one "
		       "(pid=%ld) is still running",
		       relay_alarm_kind_str(k), (long)a->cmd[k].pid);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(json, sizeof(json),
	             "{\"alarm\":\"%s\",\"value\":%llu,\"threshold\":%llu,\"time\":\"%s\"}\n",
	             relay_alarm_kind_str(k), (unsigned long long)value,
	             (unsigned long long)threshold, stamp);
	if (n < 0 || (size_t)n >= sizeof(json))
		DG_PANIC("alarm JSON longer than %d bytes", ALARM_JSON_MAX);
	/* the whole object fits the empty pipe's buffer (PIPE_BUF at least): never blocks */
	if (pipe2(fds, O_CLOEXEC) != 0) {
		DG_LOG_ERRNO(a->log, DG_LOG_WARN, errno, "alarm %s command not started: pipe",
		             relay_alarm_kind_str(k));
		return;
	}
	if (write(fds[1], json, (size_t)n) != n) {
		DG_LOG_ERRNO(a->log, DG_LOG_WARN, errno, "alarm %s command not started: write",
		             relay_alarm_kind_str(k));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	close(fds[1]);
	pid = fork();
	if (pid == 0)
		alarm_child(fds[0], a->conf->alarm_command);
	close(fds[0]);
	if (pid < 0) {
		DG_LOG_ERRNO(a->log, DG_LOG_WARN, errno, "alarm %s command not started: fork",
		             relay_alarm_kind_str(k));
		return;
	}
	setpgid(pid, pid); /* also here: the group exists before any kill below */
	a->cmd[k].pid = pid;
	a->cmd[k].start_ms = dg_clock_mono_ms();
	a->cmd[k].killed = false;
	DG_LOG(a->log, DG_LOG_INFO, "alarm %s command started pid=%ld", relay_alarm_kind_str(k),
	       (long)pid);
	if (!event_pending(a->reap, EV_TIMEOUT, NULL))
		arm(a->reap,
		    a->limit_ms < ALARM_REAP_MS * 4 ? (a->limit_ms + 3) / 4 : ALARM_REAP_MS);
}

static void cmd_reap(struct relay_alarm *a, enum relay_alarm_kind k)
{
	struct alarm_cmd *c = &a->cmd[k];
	int status = 0;
	pid_t r = waitpid(c->pid, &status, WNOHANG);

	if (r == c->pid) {
		if (WIFEXITED(status))
			DG_LOG(a->log, WEXITSTATUS(status) == 0 ? DG_LOG_INFO : DG_LOG_WARN,
			       "alarm %s command ended pid=%ld status=%d", relay_alarm_kind_str(k),
			       (long)c->pid, WEXITSTATUS(status));
		else
			DG_LOG(a->log, c->killed ? DG_LOG_INFO : DG_LOG_WARN,
			       "alarm %s command ended pid=%ld signal=%d", relay_alarm_kind_str(k),
			       (long)c->pid, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		c->pid = 0;
		return;
	}
	if (r < 0 && errno != EINTR) {
		/* reaped elsewhere (SIGCHLD ignored): nothing left to wait for */
		c->pid = 0;
		return;
	}
	if (!c->killed && dg_clock_mono_ms() - c->start_ms >= a->limit_ms) {
		DG_LOG(a->log, DG_LOG_WARN, "alarm %s command killed pid=%ld after=%ums",
		       relay_alarm_kind_str(k), (long)c->pid, a->limit_ms);
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
		c->killed = true;
	}
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_alarm *a = arg;

	(void)fd;
	(void)what;
	for (int k = 0; k < RELAY_ALARM_KINDS; k++)
		if (a->cmd[k].pid > 0)
			cmd_reap(a, (enum relay_alarm_kind)k);
	if (!relay_alarm_cmd_running(a))
		event_del(a->reap);
}
