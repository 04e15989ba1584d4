#define _GNU_SOURCE
#include "nvc_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_strings[] = {
#define NVC_ERRCODE(name, str) [name] = str,
#include "nvc_errors.def"
#undef NVC_ERRCODE
};

const char *nvc_errcode_string(enum nvc_errcode code)
{
    if ((unsigned)code >= NVC_ERRCODE_COUNT)
        return "ERR_NVC_UNKNOWN";
    return code_strings[code];
}

static void fill(struct nvc_error *err, enum nvc_errcode code, int sys_errno, const char *step, const char *path,
                 const char *fmt, va_list ap)
{
    nvc_error_clear(err);
    err->code = code;
    err->sys_errno = sys_errno;
    snprintf(err->step, sizeof(err->step), "%s", step ? step : "");
    snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int nvc_error_set(struct nvc_error *err, enum nvc_errcode code, int sys_errno, const char *step, const char *path,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fill(err, code, sys_errno, step, path, fmt, ap);
    va_end(ap);
    return -1;
}

int nvc_error_sys(struct nvc_error *err, const char *step, const char *path, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    fill(err, NVC_ERR_SYSTEM, saved, step, path, fmt, ap);
    va_end(ap);
    if (saved == ENOMEM)
        err->code = NVC_ERR_NO_MEMORY;
    errno = saved;
    return -1;
}

void nvc_error_wrap(struct nvc_error *err, const char *fmt, ...)
{
    char prefix[512];
    char old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Both halves bounded so the result always fits: the prefix is context, the old message the cause. */
    snprintf(err->msg, sizeof(err->msg), "%.400s: %.600s", prefix, old);
}

void nvc_error_clear(struct nvc_error *err)
{
    memset(err, 0, sizeof(*err));
}
