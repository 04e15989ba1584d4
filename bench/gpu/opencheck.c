/* Opens a path read-write and prints the result: run inside a container's cgroup to show
 * what its device policy allows. Demo tool only.  opencheck PATH... */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDWR | O_CLOEXEC);
        printf("open %s: %s\n", argv[i], fd >= 0 ? "ok" : strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
