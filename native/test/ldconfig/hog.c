#define _GNU_SOURCE
/* A hostile "ldconfig" for the write-budget tests, linked statically so it needs nothing
 * from the test rootfs. It reads what to do from /hog.mode and says how far it got on
 * stdout (the tail the helper reports):
 *   huge   one file, as large as it can (1 GiB asked);
 *   bytes  1 MiB files until a write fails (64 MiB asked);
 *   links  symbolic links in the library directory until one fails (100000 asked);
 *   extra  a cache, a link, and entries ldconfig has no business writing; then exit 0.
 * Except where noted it exits 0 whatever failed: the budget must hold on its own. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIBDIR "/usr/lib/x86_64-linux-gnu"

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static void huge(void)
{
    static char block[1 << 16];
    memset(block, 'h', sizeof(block));
    int fd = open("/etc/ld.so.cache~", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    long long done = 0;
    while (fd >= 0 && done < (1LL << 30) && write_all(fd, block, sizeof(block)) == 0)
        done += (long long)sizeof(block);
    printf("hog: huge stopped at %lld bytes: %s\n", done, strerror(errno));
}

static void bytes(void)
{
    static char block[1 << 20];
    memset(block, 'b', sizeof(block));
    int i = 0;
    for (; i < 64; i++) {
        char name[64];
        snprintf(name, sizeof(name), "/bulk.%d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int bad = fd < 0 || write_all(fd, block, sizeof(block)) < 0;
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (bad) {
            printf("hog: bytes stopped after %d MiB: %s\n", i, strerror(e));
            return;
        }
    }
    printf("hog: bytes wrote all %d MiB\n", i);
}

static void links(void)
{
    int i = 0;
    for (; i < 100000; i++) {
        char name[96];
        snprintf(name, sizeof(name), LIBDIR "/libhog.so.%d", i);
        if (symlink("libfoo.so.1.0.0", name) < 0) {
            printf("hog: links stopped after %d: %s\n", i, strerror(errno));
            return;
        }
    }
    printf("hog: links made all %d\n", i);
}

static void extra(void)
{
    int fd = open("/etc/ld.so.cache~", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        write_all(fd, "hog cache\n", 10);
        close(fd);
        rename("/etc/ld.so.cache~", "/etc/ld.so.cache");
    }
    int made = symlink("libbar.so.2", LIBDIR "/libhog-link.so") == 0;
    mkdir("/newdir", 0755);
    made += symlink("x", "/newdir/link-in-new-dir") == 0;
    fd = open("/stray", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    fd = open(LIBDIR "/libstray.so", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fd >= 0)
        close(fd);
    printf("hog: extra done (%d links)\n", made);
}

int main(void)
{
    char mode[16] = "";
    int fd = open("/hog.mode", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, mode, sizeof(mode) - 1);
    mode[n > 0 ? n : 0] = '\0';
    mode[strcspn(mode, "\n")] = '\0';
    if (strcmp(mode, "huge") == 0)
        huge();
    else if (strcmp(mode, "bytes") == 0)
        bytes();
    else if (strcmp(mode, "links") == 0)
        links();
    else if (strcmp(mode, "extra") == 0)
        extra();
    else
        return 2;
    fflush(stdout);
    return 0;
}
