/* Linked only into the coverage build (scripts/coverage.js, with -Wl,--wrap=chroot): the
 * driver service chroots into the driver root before serving requests, and gcov writes
 * its .gcda files at exit by absolute host path, which does not exist inside that root.
 * Dumping the counters just before the chroot keeps at least what ran up to there (option
 * parsing, loading NVML); what runs inside the chroot is not recorded. Where the root is
 * "/" there is no chroot, and the exit dump records everything. */
#include <stddef.h>

extern void __gcov_dump(void);
extern void __gcov_reset(void);
int __real_chroot(const char *path);
int __wrap_chroot(const char *path);

int __wrap_chroot(const char *path)
{
    if (path != NULL) {
        __gcov_dump();
        /* Counted once: the exit dump (which may still succeed if the chroot does
         * not happen or is left) must not add the same counts again. */
        __gcov_reset();
    }
    return __real_chroot(path);
}
