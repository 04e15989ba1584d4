/* Teardown through the executor: after a configure, the change list it reported undoes it
 * exactly (the container's mount table and rootfs tree as before), a second teardown finds
 * nothing to do, and the wire format of change lists and teardown answers round-trips and
 * refuses damage. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "plan_codec.h"
#include "tests.h"
#include "tutil.h"

static struct nvc_teardown request_of(const struct t_run *r)
{
    struct nvc_teardown td = {
        .pid = r->c.pid, .pid_start = 0, .rootfs = r->rootfs, .changes = r->res.changes, .nchanges = r->res.nchanges};
    return td;
}

static size_t count_status(const struct nvc_teardown_result *t, enum nvc_undo_status s)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nchanges; i++)
        n += t->reports[i].status == s;
    return n;
}

int test_teardown_restores(void)
{
    for (int v = 0; v < T_NVARIANTS; v++) {
        char rootfs[256], *tree_before, *tree_after, *cmi_after;
        struct nvc_edit e[T_STD_EDITS];
        struct nvc_plan plan;
        struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 1, .exec = t_exec_path(v), .plan = &plan};
        struct nvc_teardown td;
        struct nvc_teardown_result res;
        struct nvc_error err;
        int ok = 0;

        fprintf(stderr, "# variant %s\n", t_variant_name(v));
        CHECK(t_rootfs("teardown", rootfs, sizeof(rootfs)) == 0);
        t_std_plan(&plan, e, 0, rootfs);
        tree_before = t_tree(rootfs, 0);
        if (t_run_plan(&r) < 0 || r.rc < 0) {
            fprintf(stderr, "# configure failed: %s\n", r.err.msg);
            ok = -1;
        }
        if (ok == 0 && r.res.nchanges == 0) {
            fprintf(stderr, "# no changes reported\n");
            ok = -1;
        }
        td = request_of(&r);
        if (ok == 0 && nvc_teardown(r.exec, &td, &res, &err) < 0) {
            fprintf(stderr, "# teardown failed: %s\n", err.msg);
            ok = -1;
        } else if (ok == 0) {
            for (size_t i = 0; i < res.nchanges; i++) {
                if (res.reports[i].status != NVC_UNDO_DONE) {
                    fprintf(stderr, "# change %zu (%s) not undone: %s\n", i, r.res.changes[i].path, res.reports[i].why);
                    ok = -1;
                }
            }
            nvc_teardown_result_free(&res);
        }
        cmi_after = t_mountinfo(r.c.pid);
        tree_after = t_tree(rootfs, 0);
        if (ok == 0 && strcmp(cmi_after, r.cmi_before) != 0) {
            fprintf(stderr, "# mounts differ after teardown:\n# before:\n%s# after:\n%s", r.cmi_before, cmi_after);
            ok = -1;
        }
        if (ok == 0 && strcmp(tree_after, tree_before) != 0) {
            fprintf(stderr, "# tree differs after teardown:\n# before:\n%s# after:\n%s", tree_before, tree_after);
            ok = -1;
        }
        /* Again: everything is gone already, nothing is touched. */
        if (ok == 0 &&
            (nvc_teardown(r.exec, &td, &res, &err) < 0 || count_status(&res, NVC_UNDO_ABSENT) != td.nchanges)) {
            fprintf(stderr, "# the second teardown was not a no-op\n");
            ok = -1;
        }
        if (ok == 0)
            nvc_teardown_result_free(&res);
        free(cmi_after);
        free(tree_before);
        free(tree_after);
        t_run_end(&r);
        CHECK(ok == 0);
    }
    return 0;
}

/* A directory configure created that holds something else by teardown time is kept, and
 * what it holds too; everything else is undone. */
int test_teardown_keeps_nonempty(void)
{
    char rootfs[256], extra[4096];
    struct nvc_edit e[T_STD_EDITS];
    struct nvc_plan plan;
    struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 1, .exec = t_exec_path(T_DEFAULT), .plan = &plan};
    struct nvc_teardown td;
    struct nvc_teardown_result res;
    struct nvc_error err;
    int kept_dir = 0;

    CHECK(t_rootfs("teardown-nonempty", rootfs, sizeof(rootfs)) == 0);
    t_std_plan(&plan, e, 0, rootfs);
    CHECK(t_run_plan(&r) == 0 && r.rc == 0);
    snprintf(extra, sizeof(extra), "%s/run/nvc-probe/extra", rootfs);
    CHECK(t_write(extra, "someone else's\n") == 0);
    td = request_of(&r);
    CHECK(nvc_teardown(r.exec, &td, &res, &err) == 0);
    for (size_t i = 0; i < res.nchanges; i++) {
        if (strcmp(r.res.changes[i].path, "/run/nvc-probe") == 0) {
            kept_dir = res.reports[i].status == NVC_UNDO_KEPT && strstr(res.reports[i].why, "not empty") != NULL;
            continue;
        }
        if (res.reports[i].status != NVC_UNDO_DONE)
            fprintf(stderr, "# %s: %s\n", r.res.changes[i].path, res.reports[i].why);
        CHECK(res.reports[i].status == NVC_UNDO_DONE);
    }
    CHECK(kept_dir);
    CHECK(access(extra, F_OK) == 0);
    nvc_teardown_result_free(&res);
    t_run_end(&r);
    return 0;
}

int test_teardown_codec(void)
{
    struct nvc_change c[3] = {
        {.kind = NVC_CHANGE_DIR, .path = "/usr/lib64", .dev = 1, .ino = 2, .btime = 1764000000000000001ull},
        {.kind = NVC_CHANGE_MOUNT,
         .path = "/usr/lib64/x",
         .mnt_id = 77,
         .mnt_unique = 0x1234567890ull,
         .dev = 3,
         .ino = 0xfffffffffull},
        {.kind = NVC_CHANGE_FLAGS, .path = "/proc/driver/nvidia", .mnt_id = 78, .flags = NVC_MNT_RDONLY},
    };
    enum nvc_edit_outcome o[1] = {NVC_OUTCOME_DONE};
    struct nvc_teardown td = {.pid = 10, .pid_start = 1ull << 40, .rootfs = "/r", .changes = c, .nchanges = 3};
    struct nvc_teardown_decoded d;
    struct nvc_plan_result pr;
    struct nvc_teardown_result tr;
    struct nvc_undo_report rep[3] = {{NVC_UNDO_DONE, "unmounted"}, {NVC_UNDO_ABSENT, ""}, {NVC_UNDO_KEPT, "x"}};
    struct nvc_error err, reported;
    const char *why;
    uint8_t *buf;
    size_t len;
    uint16_t type;
    uint32_t body;

    /* DONE with the change list */
    CHECK(nvc_plan_encode_done(o, 1, NVC_PLAN_NO_TIME, c, 3, &buf, &len) == 0);
    CHECK(nvc_plan_frame_header(buf, &type, &body, &why) == 0 && type == NVC_FRAME_DONE);
    CHECK(nvc_plan_decode_result(type, buf + 12, body, 1, &pr, &reported, &why) == 0);
    CHECK(pr.nchanges == 3 && strcmp(pr.changes[1].path, "/usr/lib64/x") == 0 &&
          pr.changes[1].mnt_unique == 0x1234567890ull && pr.changes[1].ino == 0xfffffffffull &&
          pr.changes[2].flags == NVC_MNT_RDONLY && pr.changes[0].btime == 1764000000000000001ull);
    nvc_plan_result_free(&pr);
    for (size_t cut = 0; cut < body; cut++)
        CHECK(nvc_plan_decode_result(type, buf + 12, cut, 1, &pr, &reported, &why) < 0);
    free(buf);

    /* TEARDOWN both ways, and every truncation refused */
    CHECK(nvc_teardown_encode(&td, &buf, &len, &err) == 0);
    CHECK(nvc_plan_frame_header(buf, &type, &body, &why) == 0 && type == NVC_FRAME_TEARDOWN);
    CHECK(nvc_teardown_decode(buf + 12, body, &d, &err) == 0);
    CHECK(d.req.pid == 10 && d.req.pid_start == 1ull << 40 && strcmp(d.req.rootfs, "/r") == 0 && d.req.nchanges == 3 &&
          d.changes[0].kind == NVC_CHANGE_DIR && d.changes[1].mnt_id == 77);
    nvc_teardown_decoded_free(&d);
    for (size_t cut = 0; cut < body; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf + 12, cut);
        CHECK(nvc_teardown_decode(copy, cut, &d, &err) < 0 && err.code == NVC_ERR_SERVICE_PROTOCOL);
        free(copy);
    }
    free(buf);

    /* the checks: a relative path, "..", an unknown kind, flags on an entry */
    c[0].path = "usr/lib64";
    CHECK(nvc_teardown_encode(&td, &buf, &len, &err) < 0 && err.code == NVC_ERR_INVALID_ARGUMENT);
    c[0].path = "/usr/../etc";
    CHECK(nvc_teardown_encode(&td, &buf, &len, &err) < 0);
    c[0].path = "/usr/lib64";
    c[0].kind = (enum nvc_change_kind)9;
    CHECK(nvc_teardown_encode(&td, &buf, &len, &err) < 0);
    c[0].kind = NVC_CHANGE_DIR;
    c[0].flags = NVC_MNT_RDONLY;
    CHECK(nvc_teardown_encode(&td, &buf, &len, &err) < 0);
    c[0].flags = 0;

    /* UNDONE */
    CHECK(nvc_teardown_encode_undone(rep, 3, &buf, &len) == 0);
    CHECK(nvc_plan_frame_header(buf, &type, &body, &why) == 0 && type == NVC_FRAME_UNDONE);
    CHECK(nvc_teardown_decode_result(type, buf + 12, body, 3, &tr, &reported, &why) == 0);
    CHECK(tr.nchanges == 3 && tr.reports[2].status == NVC_UNDO_KEPT && strcmp(tr.reports[0].why, "unmounted") == 0);
    nvc_teardown_result_free(&tr);
    CHECK(nvc_teardown_decode_result(type, buf + 12, body, 2, &tr, &reported, &why) < 0); /* count mismatch */
    buf[12 + 4] = 7;                                                                      /* unknown status */
    CHECK(nvc_teardown_decode_result(type, buf + 12, body, 3, &tr, &reported, &why) < 0);
    free(buf);
    return 0;
}
