#ifndef NVC_TEST_FIXTURE_H
#define NVC_TEST_FIXTURE_H

/* Fixture trees for the C tests: temporary directories, files and links, tiny shared
 * objects built with the real compiler, ld.so.cache files built with the real ldconfig.
 * All functions return 0 / -1 (with a "# " diagnostic on stderr). */

#include <stddef.h>

/* snprintf into a path buffer; -1 (with a diagnostic) instead of a silently cut path. */
int fx_path(char *out, size_t outsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A fresh directory under $TMPDIR (or /tmp), removed by fx_rmrf. */
int fx_tmpdir(char *out, size_t outsz);
void fx_rmrf(const char *path);

int fx_mkdirs(const char *base, const char *rel);
int fx_write(const char *base, const char *rel, const void *data, size_t len);
int fx_write_str(const char *base, const char *rel, const char *text);
int fx_symlink(const char *base, const char *rel, const char *target);
int fx_read_file(const char *path, char **data, size_t *len);

/* Run argv[0] (searched in PATH when it has no slash) and wait; returns its exit status.
 * fx_run_output captures stdout into buf (NUL-terminated, truncated to bufsz - 1). */
int fx_run(char *const argv[]);
int fx_run_output(char *const argv[], char *buf, size_t bufsz);

/* The compiler and ldconfig the tests were configured with; NULL when unusable. */
const char *fx_cc(void);
const char *fx_ldconfig(void);

/* Build base/rel as a shared object with the given soname. abi: NULL for no ABI tag
 * note, else "major.minor.patch" for an NT_GNU_ABI_TAG (Linux) note. m32 builds an
 * i386 object (fx_can_m32 says whether that works here). */
int fx_build_so(const char *base, const char *rel, const char *soname, const char *abi, int m32);
int fx_can_m32(void);

/* Write root/etc/ld.so.conf listing dirs (NULL-terminated) and run `ldconfig -r root`. */
int fx_make_ldcache(const char *root, const char *const dirs[]);

/* The host paths of a fixture host (a struct nvc_host, zeroed first): the driver root with
 * its /etc/ld.so.cache, proc, dev and sys under tmp, and the binaries' search path. */
struct nvc_host;
int fx_host(struct nvc_host *host, const char *root, const char *tmp, const char *bin_path);

#endif
