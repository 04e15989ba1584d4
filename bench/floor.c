/* The floors the benchmarks compare against, measured in the same run on the same machine:
 *   floor binds N DIR       N bind mounts of a file and their read-only remounts in a private
 *                           mount namespace of its own, then gone with it; prints microseconds
 *   floor fork N            N fork + _exit + waitpid; prints microseconds per round
 * Built by bench/suite.js with the system compiler. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int binds(int n, const char *dir)
{
    char src[4096], dst[4096];
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        perror("unshare");
        return 1;
    }
    snprintf(src, sizeof(src), "%s/source", dir);
    int fd = open(src, O_CREAT | O_WRONLY, 0644);
    if (fd < 0) {
        perror(src);
        return 1;
    }
    close(fd);
    for (int i = 0; i < n; i++) {
        snprintf(dst, sizeof(dst), "%s/target%d", dir, i);
        fd = open(dst, O_CREAT | O_WRONLY, 0644);
        if (fd >= 0)
            close(fd);
    }
    double start = now_us();
    for (int i = 0; i < n; i++) {
        snprintf(dst, sizeof(dst), "%s/target%d", dir, i);
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
            perror(dst);
            return 1;
        }
    }
    printf("%.1f\n", now_us() - start);
    return 0;
}

static int forks(int n)
{
    double start = now_us();
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        if (p < 0 || waitpid(p, NULL, 0) != p) {
            perror("fork");
            return 1;
        }
    }
    printf("%.2f\n", (now_us() - start) / n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "binds") == 0)
        return binds(atoi(argv[2]), argv[3]);
    if (argc >= 3 && strcmp(argv[1], "fork") == 0)
        return forks(atoi(argv[2]));
    fprintf(stderr, "usage: floor binds N DIR | floor fork N\n");
    return 2;
}
