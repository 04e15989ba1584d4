#ifndef NVC_FUZZ_H
#define NVC_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* as the core sources it includes define it */
#endif

/* Helpers shared by the libFuzzer targets: the parsers under test read C strings or
 * files, while libFuzzer hands over a byte buffer. */

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A NUL-terminated malloc'd copy of the input (text parsers stop at the first NUL, as
 * they do on a real file read into a string). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Replaces the file at path with the input, for parsers that open a path themselves. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size)) {
        perror(path);
        abort();
    }
    close(fd);
}

/* A private scratch directory under /dev/shm (tmpfs: the file targets stay fast). */
static inline const char *fuzz_scratch_dir(void)
{
    static char dir[64];
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/dev/shm/nvc-fuzz-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

/* Every field a parser handed back must be readable whole: ASan then flags any string
 * that is not terminated inside its buffer. */
static inline size_t fuzz_touch(const char *s)
{
    return s == NULL ? 0 : strlen(s);
}

#endif
