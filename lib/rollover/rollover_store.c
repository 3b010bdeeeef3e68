/*
 * rollover_store.c - the rollover state directory on disk.
 *
 * Public: dg_rollover_write_atomic, dg_rollover_read_file, dg_rollover_key_store,
 * dg_rollover_key_load, dg_rollover_pkey_read, dg_rollover_install, dg_rollover_installed_id,
 * dg_rollover_load, dg_rollover_save, dg_rollover_gc.
 *
 * Every write goes to PATH.tmp.PID, is fsync'ed, renamed into place, and the directory is
 * fsync'ed (STYLE.md section 6, as in OpenSMTPD queue_fs.c). Keys are stored once under
 * their id (SHA-256 of the SPKI) and never rewritten; state.json is the commit point of the
 * journal. Reads are capped. Key material is cleansed from memory buffers after use.
 *
 * Ownership: loaded keys and file contents belong to the caller.
 */
#include <daneguard/rollover.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum dg_status fsync_dir(const char *path, struct dg_err *err);
static enum dg_status write_all(int fd, const void *p, size_t len, const char *path,
                                struct dg_err *err);
static char *key_pem(EVP_PKEY *key, size_t *len);
static void key_path(const char *dir, const char *id, char *out, size_t size);

static enum dg_status fsync_dir(const char *path, struct dg_err *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return dg_err_set_errno(err, DG_E_IO, e, "fsync of directory %s: %s", dir,
		                        strerror(e));
	}
	close(fd);
	return DG_OK;
}

static enum dg_status write_all(int fd, const void *p, size_t len, const char *path,
                                struct dg_err *err)
{
	const char *c = p;

	while (len > 0) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return dg_err_set_errno(err, DG_E_IO, errno, "write %s: %s", path,
			                        strerror(errno));
		c += n;
		len -= (size_t)n;
	}
	return DG_OK;
}

enum dg_status dg_rollover_write_atomic(const char *path, const void *p, size_t len, unsigned mode,
                                        struct dg_err *err)
{
	char tmp[PATH_MAX];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return dg_err_set(err, DG_E_IO, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, p, len, tmp, err) != DG_OK ||
	    fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		if (err != NULL && err->code == DG_E_IO)
			return DG_E_IO;
		return dg_err_set_errno(err, DG_E_IO, e, "write %s: %s", tmp, strerror(e));
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return dg_err_set_errno(err, DG_E_IO, e, "rename %s to %s: %s", tmp, path,
		                        strerror(e));
	}
	return fsync_dir(path, err);
}

enum dg_status dg_rollover_read_file(const char *path, size_t max, char **out, size_t *len,
                                     struct dg_err *err)
{
	FILE *f = fopen(path, "rb");
	struct dg_buf b;
	char chunk[4096];
	size_t n;

	*out = NULL;
	if (f == NULL)
		return dg_err_set_errno(err, errno == ENOENT ? DG_E_NOTFOUND : DG_E_IO, errno,
		                        "cannot read %s: %s", path, strerror(errno));
	dg_buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (dg_buf_append(&b, chunk, n) != DG_OK) {
			fclose(f);
			dg_buf_cleanup(&b);
			return dg_err_set(err, DG_E_LIMIT, "%s: larger than %zu octets", path, max);
		}
	fclose(f);
	if (len != NULL)
		*len = dg_buf_len(&b);
	*out = dg_buf_take(&b);
	return DG_OK;
}

static char *key_pem(EVP_PKEY *key, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_secmem()); /* cleansed when freed */
	char *p = NULL, *copy = NULL;
	long n;

	if (bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) {
		n = BIO_get_mem_data(bio, &p);
		copy = dg_xmalloc((size_t)n + 1);
		memcpy(copy, p, (size_t)n);
		copy[n] = '\0';
		*len = (size_t)n;
	}
	BIO_free(bio);
	return copy;
}

static void key_path(const char *dir, const char *id, char *out, size_t size)
{
	snprintf(out, size, "%s/keys/%s.key", dir, id);
}

enum dg_status dg_rollover_key_store(const char *dir, EVP_PKEY *key, char *id, struct dg_err *err)
{
	char path[PATH_MAX];
	size_t len = 0;
	char *pem;
	enum dg_status st;

	if (dg_rollover_key_id(key, id, err) != DG_OK)
		return DG_E_TLS;
	snprintf(path, sizeof(path), "%s/keys", dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return dg_err_set_errno(err, DG_E_IO, errno, "mkdir %s: %s", path, strerror(errno));
	pem = key_pem(key, &len);
	if (pem == NULL)
		return dg_err_set(err, DG_E_TLS, "cannot encode the private key");
	key_path(dir, id, path, sizeof(path));
	st = dg_rollover_write_atomic(path, pem, len, 0600, err);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return st;
}

enum dg_status dg_rollover_pkey_read(const char *path, EVP_PKEY **out, struct dg_err *err)
{
	char *text = NULL;
	size_t len = 0;
	BIO *bio;
	enum dg_status st = dg_rollover_read_file(path, DG_TLSA_FILE_MAX, &text, &len, err);

	*out = NULL;
	if (st != DG_OK)
		return st;
	bio = BIO_new_mem_buf(text, (int)len);
	*out = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	OPENSSL_cleanse(text, len);
	free(text);
	if (*out == NULL)
		return dg_err_set(err, DG_E_PARSE, "%s: no PEM private key", path);
	return DG_OK;
}

enum dg_status dg_rollover_key_load(const char *dir, const char *id, EVP_PKEY **out,
                                    struct dg_err *err)
{
	char path[PATH_MAX], got[DG_ROLLOVER_ID_LEN + 1];
	enum dg_status st;

	key_path(dir, id, path, sizeof(path));
	st = dg_rollover_pkey_read(path, out, err);
	if (st != DG_OK)
		return st;
	if (dg_rollover_key_id(*out, got, err) != DG_OK || strcmp(got, id) != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return dg_err_set(err, DG_E_PARSE, "%s: holds another key than its name says",
		                  path);
	}
	return DG_OK;
}

enum dg_status dg_rollover_install(const char *cert_file, const char *key_file,
                                   const char *chain_pem, EVP_PKEY *key, struct dg_err *err)
{
	size_t klen = 0;
	char *kpem = key_pem(key, &klen);
	struct dg_buf b;
	enum dg_status st;

	if (kpem == NULL)
		return dg_err_set(err, DG_E_TLS, "cannot encode the private key");
	if (strcmp(cert_file, key_file) == 0) {
		dg_buf_init(&b, klen + strlen(chain_pem) + 1);
		dg_buf_append(&b, kpem, klen);
		dg_buf_append_str(&b, chain_pem);
		st = dg_rollover_write_atomic(cert_file, dg_buf_bytes(&b), dg_buf_len(&b), 0600,
		                              err);
		OPENSSL_cleanse((void *)dg_buf_bytes(&b), dg_buf_len(&b));
		dg_buf_cleanup(&b);
	} else {
		st = dg_rollover_write_atomic(key_file, kpem, klen, 0600, err);
		if (st == DG_OK)
			st = dg_rollover_write_atomic(cert_file, chain_pem, strlen(chain_pem), 0644,
			                              err);
	}
	OPENSSL_cleanse(kpem, klen);
	free(kpem);
	return st;
}

void dg_rollover_installed_id(const char *cert_file, const char *key_file, char *cert_id,
                              bool *key_ok)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	char kid[DG_ROLLOVER_ID_LEN + 1];

	cert_id[0] = '\0';
	*key_ok = false;
	if (dg_tlsa_load_certs(cert_file, &chain, NULL) == DG_OK && sk_X509_num(chain) > 0)
		dg_rollover_key_id(X509_get0_pubkey(sk_X509_value(chain, 0)), cert_id, NULL);
	sk_X509_pop_free(chain, X509_free);
	if (cert_id[0] != '\0' && dg_rollover_pkey_read(key_file, &key, NULL) == DG_OK &&
	    dg_rollover_key_id(key, kid, NULL) == DG_OK)
		*key_ok = strcmp(kid, cert_id) == 0;
	EVP_PKEY_free(key);
}

enum dg_status dg_rollover_load(const char *dir, struct dg_rollover_conf *conf,
                                struct dg_rollover_state *st, struct dg_err *err)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	enum dg_status rc;

	snprintf(path, sizeof(path), "%s/rollover.conf", dir);
	rc = dg_rollover_read_file(path, DG_ROLLOVER_FILE_MAX, &text, &len, err);
	if (rc == DG_OK)
		rc = dg_rollover_conf_parse(text, len, conf, err);
	free(text);
	text = NULL;
	if (rc != DG_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	rc = dg_rollover_read_file(path, DG_ROLLOVER_FILE_MAX, &text, &len, err);
	if (rc == DG_OK)
		rc = dg_rollover_state_parse(text, len, st, err);
	free(text);
	return rc;
}

enum dg_status dg_rollover_save(const char *dir, const struct dg_rollover_state *st,
                                struct dg_err *err)
{
	char path[PATH_MAX], *text = dg_rollover_state_format(st);
	enum dg_status rc;

	snprintf(path, sizeof(path), "%s/state.json", dir);
	rc = dg_rollover_write_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return rc;
}

void dg_rollover_gc(const char *dir, const struct dg_rollover_state *st)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/keys", dir);
	d = opendir(path);
	while (d != NULL && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		if (n == DG_ROLLOVER_ID_LEN + 4 && strcmp(e->d_name + DG_ROLLOVER_ID_LEN, ".key") == 0 &&
		    (strncmp(e->d_name, st->current, DG_ROLLOVER_ID_LEN) == 0 ||
		     strncmp(e->d_name, st->next, DG_ROLLOVER_ID_LEN) == 0))
			continue;
		snprintf(path, sizeof(path), "%s/keys/%s", dir, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	if (st->step != DG_ROLLOVER_IDLE)
		return;
	for (const char *const *f = (const char *const[]){"next.csr", "next.pem", "backup.cert",
	                                                   "backup.key", NULL};
	     *f != NULL; f++) {
		snprintf(path, sizeof(path), "%s/work/%s", dir, *f);
		unlink(path);
	}
}
