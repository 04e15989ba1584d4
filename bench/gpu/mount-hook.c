/* The floor of a GPU prestart hook in runc: a hook that only makes N read-only bind mounts of a
 * file into the container's rootfs (as many as configure makes), with no discovery, no service
 * and no ldconfig. Comparing a runc start with it against one with a no-op hook gives what the
 * mounts themselves cost runc and the kernel (the container's mount namespace is larger to set
 * up and to tear down), which any hook that mounts the driver pays.
 *   mount-hook N SOURCE     (the OCI state on stdin, as runc gives it)
 * A bench tool for bench/gpu/native-hook-check.sh: it reads only "pid" and "bundle" from the state,
 * and the config's root.path must be "rootfs". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static const char *field(char *json, const char *key)
{
    char *p = strstr(json, key);
    return p == NULL ? NULL : p + strlen(key);
}

int main(int argc, char **argv)
{
    static char state[1 << 16];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(state) - 1 && (n = read(0, state + len, sizeof(state) - 1 - len)) > 0)
        len += (size_t)n;
    state[len] = '\0';
    const char *pid = field(state, "\"pid\":");
    char *bundle = (char *)field(state, "\"bundle\":\"");
    char *end = bundle ? strchr(bundle, '"') : NULL;
    if (argc != 3 || pid == NULL || end == NULL) {
        fprintf(stderr, "usage: mount-hook N SOURCE, with the OCI state (pid, bundle) on stdin\n");
        return 2;
    }
    *end = '\0';
    char path[4096];
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", atoi(pid));
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNS) < 0) {
        perror(path);
        return 1;
    }
    for (int i = 0; i < atoi(argv[1]); i++) {
        snprintf(path, sizeof(path), "%s/rootfs/tmp/mount-hook.%d", bundle, i);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 || close(fd) < 0 || mount(argv[2], path, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
            perror(path);
            return 1;
        }
    }
    return 0;
}
