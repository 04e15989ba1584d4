/* The order of things: probe the mount API, open the container's namespace, check and
 * pin every bind source on the host, enter, open the rootfs, apply the edits in plan
 * order, give shared mounts their propagation back. Any failure after the first
 * change rolls everything back before the error goes out. */
#define _GNU_SOURCE
#include "exec.h"
#include "plan_codec.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "sysmount.h"

volatile int exec_cancelled;

void exec_test_delay(const struct exec_ctx *ctx)
{
    if (ctx->delay_us > 0)
        usleep(ctx->delay_us);
}

static int apply_one(struct exec_ctx *ctx, size_t i, struct nvc_error *err)
{
    switch (ctx->plan->edits[i].kind) {
    case NVC_EDIT_TMPFS: return exec_edit_tmpfs(ctx, i, err);
    case NVC_EDIT_WRITE: return exec_edit_write(ctx, i, err);
    case NVC_EDIT_BIND: return exec_edit_bind(ctx, i, err);
    case NVC_EDIT_SYMLINK: return exec_edit_symlink(ctx, i, err);
    case NVC_EDIT_REMOUNT: return exec_edit_remount(ctx, i, err);
    case NVC_EDIT_INVALID_:
    case NVC_EDIT_END_: break;
    }
    return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "unknown edit kind");
}

static int cancelled(struct nvc_error *err)
{
    return nvc_error_set(err, NVC_ERR_SERVICE_TIMEOUT, EINTR, "apply", NULL,
                         "the executor was told to stop before the plan was complete");
}

/* Everything before the first change: failures here have nothing to undo. */
int exec_prepare(struct exec_ctx *ctx, struct nvc_error *err)
{
    const struct nvc_plan *plan = ctx->plan;
    int nsfd = -1, rc = -1;

    if (!exec_mount_api_available())
        ctx->legacy = 1;
    if (plan->pid != 0 && exec_ns_open(plan->pid, plan->pid_start, &nsfd, err) < 0)
        return -1;
    /* Sources are host paths: check and pin them while still in the host's namespace. */
    if (exec_sources_open(ctx, err) < 0)
        goto out;
    if (nsfd >= 0 && exec_ns_enter(nsfd, plan->pid, err) < 0)
        goto out;
    if (exec_open_rootfs(ctx, err) < 0)
        goto out;
    if (ctx->legacy && nsfd >= 0 && exec_sources_reopen(ctx, err) < 0)
        goto out;
    rc = 0;
out:
    if (nsfd >= 0)
        close(nsfd);
    return rc;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int exec_apply(struct exec_ctx *ctx, struct nvc_error *err)
{
    const struct nvc_plan *plan = ctx->plan;
    uint64_t started, took;

    if (exec_prepare(ctx, err) < 0)
        return -1;
    /* The edits' own time, reported with the result: the rest of the executor's run is its
     * start, the source checks and the namespace entry (the service's metrics split them). */
    started = now_us();
    for (size_t i = 0; i < plan->nedits; i++) {
        const struct nvc_edit *e = &plan->edits[i];
        if (exec_cancelled || apply_one(ctx, i, err) < 0) {
            if (exec_cancelled)
                cancelled(err);
            nvc_error_wrap(err, "edit %zu (%s %s)", i, nvc_edit_kind_name(e->kind), e->target);
            if (err->path[0] == '\0')
                snprintf(err->path, sizeof(err->path), "%s", e->target);
            exec_rollback(ctx, err);
            return -1;
        }
    }
    if (guard_release_all(ctx, err) < 0) {
        exec_rollback(ctx, err);
        return -1;
    }
    took = now_us() - started;
    ctx->edits_us = took < UINT32_MAX ? (uint32_t)took : UINT32_MAX - 1; /* UINT32_MAX: not said */
    return 0;
}
