#define _GNU_SOURCE
/* A stand-in "ldconfig" for the confinement tests, linked statically so it needs nothing
 * from the test rootfs. It records what it can see and do into /etc/ld.so.cache (in the
 * rootfs, after the pivot: the one regular file the write budget keeps of what an ldconfig
 * writes) and exits 0 when it got ldconfig's argv. It only looks:
 * every "forbidden" attempt is an open without a write, or a socket it closes. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

static void copy_file(int out, const char *path)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dprintf(out, "open %s failed: %d\n", path, errno);
        return;
    }
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            break;
    close(fd);
}

static void list_dir(int out, const char *key, const char *path)
{
    DIR *d = opendir(path);
    dprintf(out, "%s=", key);
    if (d == NULL) {
        dprintf(out, "(errno %d)\n", errno);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        /* the directory stream's and the report's fds are ours, not inherited */
        if (strcmp(path, "/proc/self/fd") == 0 && (atoi(e->d_name) == dirfd(d) || atoi(e->d_name) == out))
            continue;
        dprintf(out, "%s,", e->d_name);
    }
    dprintf(out, "\n");
    closedir(d);
}

static void try_open(int out, const char *key, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    dprintf(out, "%s=%d\n", key, fd >= 0 ? 0 : errno);
    if (fd >= 0)
        close(fd);
}

/* The filesystem types of the mounts it sees, in mountinfo's order. */
static void list_fstypes(int out)
{
    char buf[65536];
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    dprintf(out, "fstypes=");
    buf[n > 0 ? n : 0] = '\0';
    for (char *line = buf; n > 0 && *line;) {
        char *end = strchr(line, '\n');
        char *dash = strstr(line, " - ");
        if (dash != NULL && (end == NULL || dash < end))
            dprintf(out, "%.*s,", (int)strcspn(dash + 3, " \n"), dash + 3);
        if (end == NULL)
            break;
        line = end + 1;
    }
    dprintf(out, "\n");
}

int main(int argc, char **argv)
{
    static const char *const ns[] = {"pid", "net", "ipc", "uts", "mnt", "cgroup"};
    char link[256];
    int out = open("/etc/ld.so.cache", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return 10;

    dprintf(out, "pid=%d\nuid=%d\ngid=%d\n", (int)getpid(), (int)getuid(), (int)getgid());
    dprintf(out, "argv=");
    for (int i = 0; i < argc; i++)
        dprintf(out, "%s%s", i ? " " : "", argv[i]);
    int nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    dprintf(out, "\nenv=%d\n", nenv);
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        link[n > 0 ? n : 0] = '\0';
        dprintf(out, "ns.%s=%s\n", ns[i], link);
    }
    ssize_t n = readlink("/proc/self/exe", link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    dprintf(out, "exe=%s\n", link);

    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    dprintf(out, "socket=%d\n", s >= 0 ? 0 : errno);
    if (s >= 0)
        close(s);
    try_open(out, "write_exe", "/proc/self/exe", O_WRONLY);
    try_open(out, "write_core_pattern", "/proc/sys/kernel/core_pattern", O_WRONLY);
    try_open(out, "open_devnode", "/devnode", O_RDONLY);
    list_dir(out, "fds", "/proc/self/fd");
    list_dir(out, "dev", "/dev");
    list_dir(out, "sys", "/sys");
    list_fstypes(out);
    int w = open("/mps/owned", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    dprintf(out, "write_bind=%d\n", w >= 0 ? 0 : errno);
    if (w >= 0)
        close(w);
    dprintf(out, "--- status\n");
    copy_file(out, "/proc/self/status");
    close(out);
    return argc > 2 && strcmp(argv[1], "-f") == 0 ? 0 : 9;
}
