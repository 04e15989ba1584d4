#ifndef NVC_ERROR_H
#define NVC_ERROR_H

/* The one error type of the C core. Every failing function fills a caller-owned
 * struct nvc_error and returns -1 (or NULL); success never touches it. Fixed-size
 * buffers keep error reporting free of allocation, so it works when memory is short. */

#include <stddef.h>

enum nvc_errcode {
#define NVC_ERRCODE(name, str) name,
#include "nvc_errors.def"
#undef NVC_ERRCODE
    NVC_ERRCODE_COUNT
};

struct nvc_error {
    enum nvc_errcode code;
    int sys_errno;   /* errno of the failing system call, 0 if none */
    char step[64];   /* what was being done: "open", "ldcache", "nvmlDeviceGetName", ... */
    char path[4096]; /* the path involved, "" if none */
    char msg[1024];  /* one human sentence, without the path/errno repeated */
    int nvml_ret;    /* NVML return code for NVC_ERR_NVML, 0 otherwise (TypeScript names it) */
};

const char *nvc_errcode_string(enum nvc_errcode code);

/* Record an error. path may be NULL. Returns -1 so callers can `return nvc_error_set(...)`. */
int nvc_error_set(struct nvc_error *err, enum nvc_errcode code, int sys_errno, const char *step, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Shorthand for a failed system call: code NVC_ERR_SYSTEM, errno taken from `errno`. */
int nvc_error_sys(struct nvc_error *err, const char *step, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix context onto an existing message: "reading ld.so.cache: <old msg>". */
void nvc_error_wrap(struct nvc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void nvc_error_clear(struct nvc_error *err);

#endif
