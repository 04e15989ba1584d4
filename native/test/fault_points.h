#ifndef NVC_TEST_FAULT_POINTS_H
#define NVC_TEST_FAULT_POINTS_H

/* Failures a fixture tree cannot give (EIO from a disk, EACCES to root, a file that
 * shrinks between fstat and pread), for the C tests: this test program's own fstat,
 * fstatat and pread stand in front of libc's, and the core, linked statically into the
 * program, calls them. Unarmed they are libc's. Armed (fp_arm), every call of the named
 * function on a file whose path ends with the given suffix fails with the given errno
 * (pread with errno 0: returns 0, the end of the file) and is counted; fp_disarm returns
 * the count. Include this header in exactly one file of a test program: it defines those
 * three functions. Only for 64-bit builds, where pread is not renamed pread64. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
    const char *call, *suffix;
    int err;
    unsigned hits;
} fp_armed;

static void fp_arm(const char *call, const char *suffix, int err)
{
    fp_armed.call = call;
    fp_armed.suffix = suffix;
    fp_armed.err = err;
    fp_armed.hits = 0;
}

static unsigned fp_disarm(void)
{
    unsigned hits = fp_armed.hits;

    fp_armed.call = NULL;
    return hits;
}

static int fp_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Whether this call of `call` on fd (or on name below dirfd when name is not NULL) is to
 * fail. */
static int fp_hit(const char *call, int fd, const char *name)
{
    char link[64], path[4096];
    ssize_t n;
    int saved = errno;

    if (fp_armed.call == NULL || strcmp(fp_armed.call, call) != 0)
        return 0;
    if (name != NULL) {
        if (!fp_ends_with(name, fp_armed.suffix))
            return 0;
    } else {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, path, sizeof(path) - 1);
        errno = saved;
        if (n < 0)
            return 0;
        path[n] = '\0';
        if (!fp_ends_with(path, fp_armed.suffix))
            return 0;
    }
    fp_armed.hits++;
    return 1;
}

int fstat(int fd, struct stat *st)
{
    static int (*real)(int, struct stat *);

    if (fp_hit("fstat", fd, NULL)) {
        errno = fp_armed.err;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "fstat");
    return real(fd, st);
}

int fstatat(int dirfd, const char *name, struct stat *st, int flags)
{
    static int (*real)(int, const char *, struct stat *, int);

    if (fp_hit("fstatat", dirfd, name)) {
        errno = fp_armed.err;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "fstatat");
    return real(dirfd, name, st, flags);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
    static ssize_t (*real)(int, void *, size_t, off_t);

    if (fp_hit("pread", fd, NULL)) {
        if (fp_armed.err == 0)
            return 0;
        errno = fp_armed.err;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "pread");
    return real(fd, buf, len, off);
}

#endif
