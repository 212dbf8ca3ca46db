/* Atomic file writes: a temporary file beside the target, flushed,
 * fsynced and renamed over it, so readers see the old file or the whole
 * new one, never a part. */
#include "netshare/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
ns_atomic_open(struct ns_atomic *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	size_t n = strlen(path);
	a->tmp = malloc(n + sizeof(".tmpXXXXXX"));
	if (!a->tmp)
		return -1;
	memcpy(a->tmp, path, n);
	memcpy(a->tmp + n, ".tmpXXXXXX", sizeof(".tmpXXXXXX"));
	int fd = mkstemp(a->tmp);
	if (fd < 0 || !(a->f = fdopen(fd, "wb"))) {
		int e = errno;
		if (fd >= 0) {
			close(fd);
			unlink(a->tmp);
		}
		free(a->tmp);
		a->tmp = NULL;
		errno = e;
		return -1;
	}
	a->path = path;
	return 0;
}

int
ns_atomic_close(struct ns_atomic *a, int ok)
{
	int rc = ok ? 0 : -1, e = 0;
	if (a->f) {
		if (rc == 0 && (fflush(a->f) != 0 || ferror(a->f) ||
				fchmod(fileno(a->f), 0644) != 0 ||
				fsync(fileno(a->f)) != 0)) {
			e = errno;
			rc = -1;
		}
		if (fclose(a->f) != 0 && rc == 0) {
			e = errno;
			rc = -1;
		}
	} else if (rc == 0 && chmod(a->tmp, 0644) != 0) {
		e = errno;
		rc = -1;
	}
	if (rc == 0 && rename(a->tmp, a->path) != 0) {
		e = errno;
		rc = -1;
	}
	if (rc != 0)
		unlink(a->tmp);
	free(a->tmp);
	memset(a, 0, sizeof(*a));
	if (e)
		errno = e;
	return rc;
}

int
ns_write_file_atomic(const char *path, const void *buf, size_t len)
{
	struct ns_atomic a;
	if (ns_atomic_open(&a, path))
		return -1;
	int ok = fwrite(buf, 1, len, a.f) == len;
	return ns_atomic_close(&a, ok);
}
