#define _GNU_SOURCE
#include "fdutil.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

void nvc_fd_close_above(int fd)
{
    if (syscall(SYS_close_range, (unsigned)fd + 1, ~0U, 0) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    for (long i = fd + 1; i < (max > 0 && max < 65536 ? max : 65536); i++)
        close((int)i);
}

void nvc_fd_stdio_to_null(void)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return;
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
        close(null);
}
