/*
 * rollover_hook.c - run the configured certificate, reload and publish commands.
 *
 * Public: dg_rollover_hook_run.
 *
 * The command runs under /bin/sh -c in a process group of its own, stdin from /dev/null,
 * stdout joined to stderr (the tool's stdout is for its own report), with extra environment
 * variables (DANEGUARD_CSR, DANEGUARD_CERT, DANEGUARD_RECORDS, ...). The wait is bounded: at
 * the deadline the group gets SIGTERM, then SIGKILL a second later (STYLE.md section 6:
 * every wait has a deadline). No network I/O here.
 *
 * Ownership: nothing is kept; strings are borrowed for the call.
 */
#include <daneguard/rollover.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOOK_POLL_MS 20

static void hook_child(const char *command, const struct dg_rollover_env *env, size_t n_env)
    __attribute__((noreturn));
static bool hook_wait(pid_t pid, uint64_t deadline_ms, int *status);
static enum dg_status hook_verdict(const char *command, int status, struct dg_err *err);

static void hook_child(const char *command, const struct dg_rollover_env *env, size_t n_env)
{
	int fd = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	dup2(STDERR_FILENO, STDOUT_FILENO);
	for (size_t i = 0; i < n_env; i++)
		setenv(env[i].name, env[i].value, 1);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	_exit(127);
}

static bool hook_wait(pid_t pid, uint64_t deadline_ms, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return r == pid;
		if (dg_clock_mono_ms() >= deadline_ms)
			return false;
		usleep(HOOK_POLL_MS * 1000);
	}
}

static enum dg_status hook_verdict(const char *command, int status, struct dg_err *err)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return DG_OK;
	if (WIFEXITED(status))
		return dg_err_set(err, DG_E_IO, "command '%.120s' exited with status %d", command,
		                  WEXITSTATUS(status));
	return dg_err_set(err, DG_E_IO, "command '%.120s' killed by signal %d", command,
	                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

enum dg_status dg_rollover_hook_run(const char *command, const struct dg_rollover_env *env,
                                    size_t n_env, uint32_t timeout_s, struct dg_err *err)
{
	uint64_t deadline = dg_clock_mono_ms() + (uint64_t)timeout_s * 1000u;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "cannot start '%.120s': %s", command,
		                        strerror(errno));
	if (pid == 0)
		hook_child(command, env, n_env);
	setpgid(pid, pid);
	if (hook_wait(pid, deadline, &status))
		return hook_verdict(command, status, err);
	kill(-pid, SIGTERM);
	if (!hook_wait(pid, dg_clock_mono_ms() + 1000, &status)) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return dg_err_set(err, DG_E_TIMEOUT, "command '%.120s' did not finish within %u s",
	                  command, timeout_s);
}
