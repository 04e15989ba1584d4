#define _GNU_SOURCE
#include "ldconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

/* Flags newer than the oldest headers we build with. */
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

/* ldconfig is a few hundred KiB; anything far larger is not what we think it is. */
#define MAX_BINARY_SIZE (64L << 20)

static int fail(char *why, size_t whysz, const char *fmt, const char *path)
{
    int e = errno;
    snprintf(why, whysz, fmt, path);
    errno = e;
    return -1;
}

int lc_copy_file(int dst, int src, off_t size)
{
    off_t done = 0;
    while (done < size) {
        ssize_t n = sendfile(dst, src, NULL, (size_t)(size - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS))
            break; /* no sendfile between these two: copy by hand below */
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO; /* the file shrank under us */
            return -1;
        }
        done += n;
    }
    char buf[65536];
    while (done < size) {
        ssize_t n = pread(src, buf, sizeof(buf), done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(dst, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1;
            off += w;
        }
        done += n;
    }
    return 0;
}

/* The host ldconfig is executed from a private, sealed copy: a process in the container
 * that gets hold of the executable (/proc/self/exe, an inherited fd) finds a memfd that
 * cannot be written, grown or shrunk, never the host file (CVE-2024-0135). */
int lc_seal_host_binary(const char *path, char *why, size_t whysz)
{
    int src = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (src < 0)
        return fail(why, whysz, "cannot open the host ldconfig %s", path);
    struct stat st;
    if (fstat(src, &st) < 0) {
        fail(why, whysz, "cannot stat the host ldconfig %s", path);
        goto bad_src;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 4 || st.st_size > MAX_BINARY_SIZE) {
        errno = EINVAL;
        fail(why, whysz, "the host ldconfig %s is not a regular file of a plausible size", path);
        goto bad_src;
    }
    /* Only ELF: a script would need its interpreter, which would come from the container,
     * and a memfd script cannot be re-opened by it after exec anyway. */
    unsigned char magic[4];
    if (pread(src, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) || memcmp(magic, "\177ELF", 4) != 0) {
        errno = ENOEXEC;
        fail(why, whysz,
             "the host ldconfig %s is not an ELF executable (a wrapper script?); name the real binary, "
             "e.g. @/sbin/ldconfig.real",
             path);
        goto bad_src;
    }

    int fd = memfd_create("nvc-ldconfig", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) /* kernels before 6.3 do not know MFD_EXEC */
        fd = memfd_create("nvc-ldconfig", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        fail(why, whysz, "cannot create a memfd for the host ldconfig %s", path);
        goto bad_src;
    }
    if (lc_copy_file(fd, src, st.st_size) < 0) {
        fail(why, whysz, "cannot copy the host ldconfig %s into a memfd", path);
        goto bad_fd;
    }
    int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    if (fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) < 0 && fcntl(fd, F_ADD_SEALS, seals) < 0) {
        fail(why, whysz, "cannot seal the memfd copy of the host ldconfig %s", path);
        goto bad_fd;
    }
    close(src);
    return fd;

bad_fd:
    close(fd);
bad_src:;
    int e = errno;
    close(src);
    errno = e;
    return -1;
}
