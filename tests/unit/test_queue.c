/*
 * test_queue.c - lib/queue: the record parser and writer, put/get/update/list/remove,
 * recovery at open, and fault injection through the hook table (STYLE.md section 9):
 * failed writes, short writes, failed fsync, ENOSPC, failed rename, low free space, and
 * crashes (a forked child _exit()s at a crash point) during put and update.
 * Tables of input and expected result; failures print "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "queue/queue_int.h"

#include <daneguard/util.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ID_A "5f0000000123456789ab"
#define HEAD_A "daneguard-queue: 1\nid: " ID_A "\narrival: 1\n"
#define JOERG "j\xc3\xb6rg@b\xc3\xbc\x63her.example" /* U+00F6, U+00FC */

struct rec_case {
	const char *in;
	enum dg_status want;
};

static const struct rec_case rec_cases[] = {
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1700000000\nsender: a@example.org\n"
     "rcpt: pending 0 0 b@example.net\nbody: 5\nhello",
     DG_OK},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 0\nsender: <>\n"
     "rcpt: deferred 3 1700000600 b@example.net 451 4.7.5 TLSA mismatch\n"
     "rcpt: bounced 1 0 c@example.net 550 5.1.1 no such user\nrcpt: delivered 1 0 d@x\n"
     "body: 0\n",
     DG_OK},
    {"daneguard-queue: 2\nid: " ID_A "\narrival: 0\nsender: <>\nrcpt: pending 0 0 b@x\nbody: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 01\nsender: <>\nrcpt: pending 0 0 b@x\nbody: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: ../../etc/passwd000\narrival: 1\nsender: <>\n"
     "rcpt: pending 0 0 b@x\nbody: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nbody: 0\n", DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nrcpt: waiting 0 0 b@x\nbody: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nrcpt: pending 0 0 b@x \nbody: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nrcpt: pending 0 0 <b@x>\nbody: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nrcpt: pending 4294967296 0 b@x\n"
     "body: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A
     "\narrival: 1\nsender: <>\nrcpt: pending 0 0 b@x\nbody: 5\nhell",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A
     "\narrival: 1\nsender: <>\nrcpt: pending 0 0 b@x\nbody: 3\nhello",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nrcpt: pending 0 0 b@x\n"
     "body: 99999999999\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nrcpt: pending 0 0 b@x\nextra: 1\n"
     "body: 0\n",
     DG_E_PARSE},
    {"daneguard-queue: 1\nid: " ID_A "\narrival: 1\nsender: <>\nrcpt: pending 0 0 b@x\nbody: 0",
     DG_E_PARSE},
    {"", DG_E_PARSE},
    /* SMTPUTF8: the optional flag line and UTF-8 addresses (RFC 6531) */
    {HEAD_A "sender: " JOERG "\nsmtputf8: yes\n"
            "rcpt: pending 0 0 \xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example\n"
            "rcpt: deferred 1 5 \xf0\x9f\x98\x80@x.example 451 4.4.1 timeout\nbody: 2\nhi",
     DG_OK},
    {HEAD_A "sender: <>\nsmtputf8: yes\nrcpt: pending 0 0 b@x\nbody: 0\n", DG_OK},
    {HEAD_A "sender: <>\nrcpt: pending 0 0 " JOERG "\nbody: 0\n", DG_OK},        /* e.g. a DSN */
    {HEAD_A "sender: n\xc2\xa0\x62@x\nrcpt: pending 0 0 b@x\nbody: 0\n", DG_OK}, /* U+00A0 */
    {HEAD_A "sender: <>\nsmtputf8: no\nrcpt: pending 0 0 b@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: <>\nsmtputf8: yes \nrcpt: pending 0 0 b@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: <>\nsmtputf8: yes\nsmtputf8: yes\nrcpt: pending 0 0 b@x\nbody: 0\n",
     DG_E_PARSE},
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b@x\nsmtputf8: yes\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "smtputf8: yes\nsender: <>\nrcpt: pending 0 0 b@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\xc0\xaf@x\nbody: 0\n", DG_E_PARSE}, /* overlong */
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\xc2\x85@x\nbody: 0\n", DG_E_PARSE}, /* C1 NEL */
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\xc2\x9f@x\nbody: 0\n", DG_E_PARSE}, /* C1 APC */
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\x7f@x\nbody: 0\n", DG_E_PARSE},     /* DEL */
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\xed\xa0\x80@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\xf4\x90\x80\x80@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\x80@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\xff@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b@x\xc3\nbody: 0\n", DG_E_PARSE}, /* truncated */
    {HEAD_A "sender: <>\nrcpt: pending 0 0 b\xe2\x80@x\nbody: 0\n", DG_E_PARSE},
    {HEAD_A "sender: j\xc3\xb6 rg@x\nrcpt: pending 0 0 b@x\nbody: 0\n", DG_E_PARSE},
};

static char test_dir[64];
static const struct dg_queue_opts test_opts = {.max_message_bytes = 4096, .max_rcpts = 4, .reserve_bytes = 1};

/* Fault injection state: fail the nth call (1-based) of one operation. */
enum fault_op {
	FAULT_NONE,
	FAULT_WRITE,
	FAULT_SHORT_WRITE,
	FAULT_FSYNC,
	FAULT_RENAME,
	FAULT_STATVFS,
	FAULT_LOW_SPACE
};
static enum fault_op fault_op;
static int fault_nth, fault_errno, fault_calls;
static enum queue_stage crash_stage;

static ssize_t fault_write(int fd, const void *p, size_t n);
static int fault_fsync(int fd);
static int fault_rename(const char *from, const char *to);
static int fault_statvfs(const char *path, struct statvfs *sv);
static void fault_crash(enum queue_stage stage);
static void fault_arm(enum fault_op op, int nth, int e);
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw);
static int setup_dir(void **state);
static int teardown_dir(void **state);
static size_t count_dir(const char *sub);
static void make_env(struct dg_queue_msg *env, struct dg_queue_rcpt *r, size_t n);
static enum dg_status put_one(struct dg_queue *q, char id[DG_QUEUE_ID_SIZE], struct dg_err *err);
static void run_crash_child(enum queue_stage stage, const char *update_id);

static bool fault_hit(enum fault_op op)
{
	return fault_op == op && ++fault_calls == fault_nth;
}

static ssize_t fault_write(int fd, const void *p, size_t n)
{
	if (fault_op == FAULT_SHORT_WRITE) {
		if (++fault_calls == 1 && n > 1)
			return write(fd, p, n / 2); /* half now, then ENOSPC */
		errno = ENOSPC;
		return -1;
	}
	if (fault_hit(FAULT_WRITE)) {
		errno = fault_errno;
		return -1;
	}
	return write(fd, p, n);
}

static int fault_fsync(int fd)
{
	if (fault_hit(FAULT_FSYNC)) {
		errno = fault_errno;
		return -1;
	}
	return fsync(fd);
}

static int fault_rename(const char *from, const char *to)
{
	if (fault_hit(FAULT_RENAME)) {
		errno = fault_errno;
		return -1;
	}
	return rename(from, to);
}

static int fault_statvfs(const char *path, struct statvfs *sv)
{
	int rc;

	if (fault_hit(FAULT_STATVFS)) {
		errno = fault_errno;
		return -1;
	}
	rc = statvfs(path, sv);
	if (rc == 0 && fault_op == FAULT_LOW_SPACE) {
		sv->f_bavail = 100; /* 400 KiB: below the 1 MiB reserve of this case */
		sv->f_frsize = 4096;
	}
	return rc;
}

static void fault_crash(enum queue_stage stage)
{
	if (stage == crash_stage)
		_exit(0); /* the "crash": no cleanup, no unlink, nothing after this point */
}

static void fault_arm(enum fault_op op, int nth, int e)
{
	struct dg_queue_hooks h = {fault_write, fault_fsync, fault_rename, fault_statvfs, NULL};

	fault_op = op;
	fault_nth = nth;
	fault_errno = e;
	fault_calls = 0;
	dg_queue_hooks_set(&h);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/dg-queue-XXXXXX");
	if (mkdtemp(test_dir) == NULL)
		return -1;
	dg_queue_hooks_set(NULL);
	fault_op = FAULT_NONE;
	dg_log_global()->level = DG_LOG_ERROR;
	return 0;
}

static int teardown_dir(void **state)
{
	(void)state;
	dg_queue_hooks_set(NULL);
	return nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t count_dir(const char *sub)
{
	char path[256];
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", test_dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void make_env(struct dg_queue_msg *env, struct dg_queue_rcpt *r, size_t n)
{
	memset(env, 0, sizeof(*env));
	memset(r, 0, n * sizeof(*r));
	strcpy(env->sender, "sender@example.org");
	for (size_t i = 0; i < n; i++)
		snprintf(r[i].addr, sizeof(r[i].addr), "rcpt%zu@example.net", i);
	env->rcpt = r;
	env->n_rcpt = n;
	env->arrival_s = 1700000000;
}

static enum dg_status put_one(struct dg_queue *q, char id[DG_QUEUE_ID_SIZE], struct dg_err *err)
{
	static const uint8_t body[] = "Subject: t\r\n\r\nhello\r\n";
	struct dg_queue_msg env;
	struct dg_queue_rcpt r[2];

	make_env(&env, r, 2);
	return dg_queue_put(q, &env, body, sizeof(body) - 1, id, err);
}

static void test_record_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
		const struct rec_case *c = &rec_cases[i];
		struct dg_queue_msg msg;
		struct dg_err err;
		uint8_t *out = NULL;
		size_t len = 0;
		enum dg_status st =
		    dg_queue_record_parse((const uint8_t *)c->in, strlen(c->in), &msg, &err);

		if (st != c->want)
			fail_msg("case %zu: got %s (%s), want %s", i, dg_status_str(st), err.msg,
			         dg_status_str(c->want));
		if (st == DG_OK) {
			assert_int_equal(dg_queue_record_format(&msg, &out, &len, &err), DG_OK);
			if (len != strlen(c->in) || memcmp(out, c->in, len) != 0)
				fail_msg("case %zu: round trip got \"%.*s\"", i, (int)len, out);
			free(out);
		}
		dg_queue_msg_cleanup(&msg);
	}
}

static void test_id_ok(void **state)
{
	static const struct {
		const char *id;
		bool want;
	} cases[] = {{ID_A, true},
	             {"5F0000000123456789ab", false},
	             {"5f0000000123456789a", false},
	             {"5f0000000123456789abc", false},
	             {"../00000123456789ab", false},
	             {"", false},
	             {NULL, false}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (dg_queue_id_ok(cases[i].id) != cases[i].want)
			fail_msg("case %zu: got %d, want %d", i, !cases[i].want, cases[i].want);
	}
}

static void test_addr_ok(void **state)
{
	static const struct {
		const char *addr;
		bool want;
	} cases[] = {{"a@example.org", true},
	             {JOERG, true},
	             {"\xf0\x9f\x98\x80@x", true},
	             {"\xef\xbf\xbd@x", true},
	             {"a b@x", false},
	             {"<a@x>", false},
	             {"a\t@x", false},
	             {"a\xc2\x80@x", false},
	             {"a\xc1\xbf@x", false},
	             {"a\xe0\x9f\xbf@x", false},
	             {"a\xf0\x8f\xbf\xbf@x", false},
	             {"a\xf5\x80\x80\x80@x", false},
	             {"", false},
	             {NULL, false}};
	char max[DG_QUEUE_ADDR_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (dg_queue_addr_ok(cases[i].addr) != cases[i].want)
			fail_msg("case %zu: got %d, want %d", i, !cases[i].want, cases[i].want);
	}
	/* 320 bytes ending in a 2-byte character fit; one byte more does not */
	memset(max, 'a', sizeof(max));
	memcpy(max + DG_QUEUE_ADDR_MAX - 2, "\xc3\xa9", 2);
	max[DG_QUEUE_ADDR_MAX] = '\0';
	assert_true(dg_queue_addr_ok(max));
	assert_true(dg_queue_addr_is_utf8(max));
	max[DG_QUEUE_ADDR_MAX - 1] = '\0'; /* a character cut in half */
	assert_false(dg_queue_addr_ok(max));
	max[DG_QUEUE_ADDR_MAX - 1] = '\xa9';
	max[DG_QUEUE_ADDR_MAX] = 'a';
	max[DG_QUEUE_ADDR_MAX + 1] = '\0';
	assert_false(dg_queue_addr_ok(max));
	assert_false(dg_queue_addr_is_utf8("a@example.org"));
}

/* SMTPUTF8 survives put, get and update; a message without it gets no flag line. */
static void test_put_get_smtputf8(void **state)
{
	static const uint8_t body[] = "Subject: t\r\n\r\nhi\r\n";
	static const char want_line[] = "\nsender: " JOERG "\nsmtputf8: yes\nrcpt: ";
	struct dg_queue *q;
	struct dg_queue_msg env, msg;
	struct dg_queue_rcpt r[2];
	struct dg_err err;
	char id[DG_QUEUE_ID_SIZE], path[512];
	uint8_t *raw = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
	make_env(&env, r, 2);
	snprintf(env.sender, sizeof(env.sender), "%s", JOERG);
	snprintf(r[1].addr, sizeof(r[1].addr), "\xe7\x94\xa8@\xe4\xbe\x8b.example");
	env.smtputf8 = true;
	assert_int_equal(dg_queue_put(q, &env, body, sizeof(body) - 1, id, &err), DG_OK);
	snprintf(path, sizeof(path), "%s/queue/%s", test_dir, id);
	assert_int_equal(queue_read_file(path, &raw, &len, &err), DG_OK);
	if (memmem(raw, len, want_line, sizeof(want_line) - 1) == NULL)
		fail_msg("record: got \"%.*s\", want the smtputf8 line after the sender", (int)len,
		         raw);
	free(raw);
	assert_int_equal(dg_queue_get(q, id, &msg, &err), DG_OK);
	assert_true(msg.smtputf8);
	assert_string_equal(msg.sender, JOERG);
	assert_string_equal(msg.rcpt[1].addr, "\xe7\x94\xa8@\xe4\xbe\x8b.example");
	msg.rcpt[1].state = DG_QUEUE_RCPT_BOUNCED;
	strcpy(msg.rcpt[1].reason, "553 5.6.7 SMTPUTF8 required but not offered by the server");
	assert_int_equal(dg_queue_update(q, id, msg.rcpt, msg.n_rcpt, &err), DG_OK);
	dg_queue_msg_cleanup(&msg);
	assert_int_equal(dg_queue_get(q, id, &msg, &err), DG_OK);
	assert_true(msg.smtputf8); /* kept by the update */
	assert_int_equal(msg.rcpt[1].state, DG_QUEUE_RCPT_BOUNCED);
	dg_queue_msg_cleanup(&msg);
	/* without the flag: no line, and a bad UTF-8 address is refused before any write */
	env.smtputf8 = false;
	assert_int_equal(dg_queue_put(q, &env, body, sizeof(body) - 1, id, &err), DG_OK);
	snprintf(path, sizeof(path), "%s/queue/%s", test_dir, id);
	assert_int_equal(queue_read_file(path, &raw, &len, &err), DG_OK);
	if (memmem(raw, len, "smtputf8", 8) != NULL)
		fail_msg("record: got \"%.*s\", want no smtputf8 line", (int)len, raw);
	free(raw);
	assert_int_equal(dg_queue_get(q, id, &msg, &err), DG_OK);
	assert_false(msg.smtputf8);
	dg_queue_msg_cleanup(&msg);
	snprintf(r[0].addr, sizeof(r[0].addr), "b\xc2\x85@x.example");
	assert_int_equal(dg_queue_put(q, &env, body, sizeof(body) - 1, id, &err), DG_E_PARSE);
	assert_int_equal(count_dir("queue"), 2);
	assert_int_equal(count_dir("incoming"), 0);
	dg_queue_free(q);
}

static void test_put_get_update_remove(void **state)
{
	struct dg_queue *q;
	struct dg_queue_msg msg;
	struct dg_err err;
	char id[DG_QUEUE_ID_SIZE], (*ids)[DG_QUEUE_ID_SIZE];
	size_t n;

	(void)state;
	assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
	assert_int_equal(put_one(q, id, &err), DG_OK);
	assert_true(dg_queue_id_ok(id));
	assert_int_equal(dg_queue_get(q, id, &msg, &err), DG_OK);
	assert_string_equal(msg.sender, "sender@example.org");
	assert_int_equal(msg.n_rcpt, 2);
	msg.rcpt[1].state = DG_QUEUE_RCPT_DEFERRED;
	msg.rcpt[1].attempts = 1;
	msg.rcpt[1].next_try_s = 1700000600;
	strcpy(msg.rcpt[1].reason, "451 4.4.1 connection timed out");
	assert_int_equal(dg_queue_update(q, id, msg.rcpt, msg.n_rcpt, &err), DG_OK);
	strcpy(msg.rcpt[0].addr, "other@example.net");
	assert_int_equal(dg_queue_update(q, id, msg.rcpt, msg.n_rcpt, &err), DG_E_PARSE);
	dg_queue_msg_cleanup(&msg);
	assert_int_equal(dg_queue_get(q, id, &msg, &err), DG_OK);
	assert_int_equal(msg.rcpt[1].state, DG_QUEUE_RCPT_DEFERRED);
	assert_string_equal(msg.rcpt[1].reason, "451 4.4.1 connection timed out");
	dg_queue_msg_cleanup(&msg);
	assert_int_equal(dg_queue_list(q, &ids, &n, &err), DG_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	free(ids);
	assert_int_equal(dg_queue_get(q, "../../../etc/passwd", &msg, &err), DG_E_PARSE);
	assert_int_equal(dg_queue_remove(q, id, &err), DG_OK);
	assert_int_equal(dg_queue_remove(q, id, &err), DG_E_NOTFOUND);
	assert_int_equal(dg_queue_get(q, id, &msg, &err), DG_E_NOTFOUND);
	dg_queue_free(q);
}

static void test_limits(void **state)
{
	static uint8_t big[5000];
	struct dg_queue *q;
	struct dg_queue_msg env;
	struct dg_queue_rcpt r[5];
	struct dg_err err;
	char id[DG_QUEUE_ID_SIZE];

	(void)state;
	assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
	make_env(&env, r, 1);
	assert_int_equal(dg_queue_put(q, &env, big, sizeof(big), id, &err), DG_E_LIMIT);
	make_env(&env, r, 5);
	assert_int_equal(dg_queue_put(q, &env, big, 10, id, &err), DG_E_LIMIT);
	make_env(&env, r, 1);
	strcpy(r[0].addr, "has space@example.net");
	assert_int_equal(dg_queue_put(q, &env, big, 10, id, &err), DG_E_PARSE);
	assert_int_equal(count_dir("queue") + count_dir("incoming"), 0);
	dg_queue_free(q);
}

struct fault_case {
	const char *name;
	enum fault_op op;
	int nth, err_no;
	enum dg_status want;
	const char *msg_part;
};

static const struct fault_case fault_cases[] = {
    {"write ENOSPC", FAULT_WRITE, 1, ENOSPC, DG_E_IO, "write at byte 0"},
    {"short write", FAULT_SHORT_WRITE, 0, 0, DG_E_IO, "write at byte"},
    {"fsync file EIO", FAULT_FSYNC, 1, EIO, DG_E_IO, "fsync"},
    {"fsync dir EIO", FAULT_FSYNC, 2, EIO, DG_E_IO, "fsync directory"},
    {"rename EXDEV", FAULT_RENAME, 1, EXDEV, DG_E_IO, "rename"},
    {"statvfs EIO", FAULT_STATVFS, 1, EIO, DG_E_IO, "statvfs"},
    {"low space", FAULT_LOW_SPACE, 0, 0, DG_E_LIMIT, "only 0 MiB free"},
};

static void test_faults(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]); i++) {
		const struct fault_case *c = &fault_cases[i];
		struct dg_queue_opts o = test_opts;
		struct dg_queue *q;
		struct dg_err err;
		char id[DG_QUEUE_ID_SIZE];
		enum dg_status st;

		o.reserve_bytes = c->op == FAULT_LOW_SPACE ? 1024 * 1024 : 1;
		dg_queue_hooks_set(NULL);
		assert_int_equal(dg_queue_open(test_dir, &o, &q, &err), DG_OK);
		fault_arm(c->op, c->nth, c->err_no);
		dg_err_clear(&err);
		st = put_one(q, id, &err);
		if (st != c->want || strstr(err.msg, c->msg_part) == NULL)
			fail_msg("%s: got %s \"%s\", want %s \"%s\"", c->name, dg_status_str(st),
			         err.msg, dg_status_str(c->want), c->msg_part);
		if (count_dir("queue") != 0 || count_dir("incoming") != 0 || id[0] != '\0')
			fail_msg("%s: got queue=%zu incoming=%zu, want nothing left", c->name,
			         count_dir("queue"), count_dir("incoming"));
		dg_queue_free(q);
	}
}

/* Fork a child that crashes at @p stage during a put (or an update of @p update_id). */
static void run_crash_child(enum queue_stage stage, const char *update_id)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct dg_queue_hooks h = {NULL, NULL, NULL, NULL, fault_crash};
		struct dg_queue *q;
		struct dg_queue_msg msg;
		char id[DG_QUEUE_ID_SIZE];

		crash_stage = stage;
		if (dg_queue_open(test_dir, &test_opts, &q, NULL) != DG_OK)
			_exit(2);
		dg_queue_hooks_set(&h);
		if (update_id == NULL) {
			put_one(q, id, NULL);
			_exit(1);
		}
		if (dg_queue_get(q, update_id, &msg, NULL) != DG_OK)
			_exit(2);
		for (size_t i = 0; i < msg.n_rcpt; i++) {
			msg.rcpt[i].state = DG_QUEUE_RCPT_BOUNCED;
			strcpy(msg.rcpt[i].reason, "550 5.1.1 gone");
		}
		dg_queue_update(q, update_id, msg.rcpt, msg.n_rcpt, NULL);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("crash child: got status %d, want exit 0 at the crash point", status);
}

static void test_crash_put(void **state)
{
	static const struct {
		enum queue_stage stage;
		size_t want_in_queue;
	} cases[] = {{QUEUE_STAGE_TEMP_WRITTEN, 1}, {QUEUE_STAGE_RENAMED, 2}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_queue *q;
		struct dg_err err;
		char acked[DG_QUEUE_ID_SIZE], (*ids)[DG_QUEUE_ID_SIZE];
		size_t n, seen = 0;

		teardown_dir(NULL);
		setup_dir(NULL);
		assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
		assert_int_equal(put_one(q, acked, &err), DG_OK);
		dg_queue_free(q);
		run_crash_child(cases[i].stage, NULL);
		assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
		assert_int_equal(dg_queue_list(q, &ids, &n, &err), DG_OK);
		for (size_t k = 0; k < n; k++)
			seen += strcmp(ids[k], acked) == 0;
		if (n != cases[i].want_in_queue || seen != 1 || count_dir("incoming") != 0)
			fail_msg("stage %d: got %zu queued (%zu acked), want %zu (1)",
			         (int)cases[i].stage, n, seen, cases[i].want_in_queue);
		assert_int_equal(dg_queue_corrupt_count(q), 0);
		free(ids);
		dg_queue_free(q);
	}
}

static void test_crash_update(void **state)
{
	static const struct {
		enum queue_stage stage;
		enum dg_queue_rcpt_state want;
	} cases[] = {{QUEUE_STAGE_TEMP_WRITTEN, DG_QUEUE_RCPT_PENDING},
	             {QUEUE_STAGE_RENAMED, DG_QUEUE_RCPT_BOUNCED}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_queue *q;
		struct dg_queue_msg msg;
		struct dg_err err;
		char id[DG_QUEUE_ID_SIZE];

		assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
		assert_int_equal(put_one(q, id, &err), DG_OK);
		dg_queue_free(q);
		run_crash_child(cases[i].stage, id);
		assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
		assert_int_equal(dg_queue_get(q, id, &msg, &err), DG_OK);
		for (size_t k = 0; k < msg.n_rcpt; k++) {
			if (msg.rcpt[k].state != cases[i].want)
				fail_msg("stage %d rcpt %zu: got %s, want %s", (int)cases[i].stage,
				         k, dg_queue_rcpt_state_str(msg.rcpt[k].state),
				         dg_queue_rcpt_state_str(cases[i].want));
		}
		assert_int_equal(count_dir("incoming"), 0);
		dg_queue_msg_cleanup(&msg);
		dg_queue_free(q);
	}
}

static void test_recover_corrupt(void **state)
{
	static const char *const bad[] = {"queue/" ID_A, "queue/not-an-id", "incoming/" ID_A};
	struct dg_queue *q;
	struct dg_err err;
	char path[256], id[DG_QUEUE_ID_SIZE], (*ids)[DG_QUEUE_ID_SIZE];
	size_t n;
	FILE *f;

	(void)state;
	assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
	assert_int_equal(put_one(q, id, &err), DG_OK);
	dg_queue_free(q);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", test_dir, bad[i]);
		assert_non_null(f = fopen(path, "w"));
		fputs("daneguard-queue: 1\nid: garbage\n", f);
		fclose(f);
	}
	assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
	assert_int_equal(dg_queue_corrupt_count(q), 2);
	assert_int_equal(count_dir("corrupt"), 2);
	assert_int_equal(count_dir("incoming"), 0);
	assert_int_equal(dg_queue_list(q, &ids, &n, &err), DG_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	free(ids);
	dg_queue_free(q);
}

/* A second process attaching with no_recover removes and moves nothing: the owner may be
 * writing incoming/ at that moment (the relay's children, `relay queue list`). */
static void test_attach_no_recover(void **state)
{
	static const char *const bad[] = {"queue/not-an-id", "incoming/" ID_A};
	struct dg_queue_opts o = test_opts;
	struct dg_queue *q;
	struct dg_err err;
	char path[256];
	FILE *f;

	(void)state;
	assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
	dg_queue_free(q);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", test_dir, bad[i]);
		assert_non_null(f = fopen(path, "w"));
		fputs("daneguard-queue: 1\n", f);
		fclose(f);
	}
	o.no_recover = true;
	assert_int_equal(dg_queue_open(test_dir, &o, &q, &err), DG_OK);
	assert_int_equal(dg_queue_corrupt_count(q), 0);
	assert_int_equal(count_dir("incoming"), 1);
	assert_int_equal(count_dir("corrupt"), 0);
	dg_queue_free(q);
	/* the owner's open still recovers */
	assert_int_equal(dg_queue_open(test_dir, &test_opts, &q, &err), DG_OK);
	assert_int_equal(count_dir("incoming"), 0);
	assert_int_equal(count_dir("corrupt"), 1);
	dg_queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_table),
	    cmocka_unit_test(test_id_ok),
	    cmocka_unit_test(test_addr_ok),
	    cmocka_unit_test_setup_teardown(test_put_get_smtputf8, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_put_get_update_remove, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_limits, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_faults, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_crash_put, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_crash_update, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_recover_corrupt, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_attach_no_recover, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
