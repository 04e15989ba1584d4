/* Writes the wire targets' seed corpora with the real encoders, so that the seeds stay
 * well-formed when a protocol changes: sh native/fuzz/build.sh && build/fuzz/make-seeds
 * native/fuzz/corpus. The text and file targets' seeds are committed as they are. */
#include "fuzz.h"

#include <sys/stat.h>

#include "driver_proto.h"
#include "ldconfig_report.h"
#include "plan_codec.h"
#include "wire.h"

static const char *corpus;

static void seed(const char *target, const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", corpus, target);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
    fuzz_write_file(path, data, n);
}

static void driver_seeds(void)
{
    static uint8_t buf[NVC_PROTO_MAX_MSG];
    struct nvc_wbuf w;
    struct nvc_error e;
    size_t n;

    nvc_proto_begin(&w, buf, sizeof(buf), NVC_OP_READY, 0);
    nvc_wire_put_u32(&w, NVC_STATUS_OK);
    n = nvc_wire_end(&w);
    seed("wire_driver_reply", "ready", buf, n);

    nvc_proto_begin(&w, buf, sizeof(buf), NVC_OP_CALLING, 0);
    nvc_wire_put_str(&w, "nvmlDeviceGetHandleByIndex_v2");
    nvc_wire_put_u32(&w, 0);
    n = nvc_wire_end(&w);
    seed("wire_driver_reply", "calling", buf, n);

    nvc_proto_begin(&w, buf, sizeof(buf), NVC_OP_DRIVER, 7);
    nvc_wire_put_u32(&w, NVC_STATUS_OK);
    nvc_wire_put_str(&w, "580.159.04");
    nvc_wire_put_i32(&w, 13000);
    n = nvc_wire_end(&w);
    seed("wire_driver_reply", "driver", buf, n);

    nvc_proto_begin(&w, buf, sizeof(buf), NVC_OP_DEVICE_COUNT, 8);
    nvc_wire_put_u32(&w, NVC_STATUS_OK);
    nvc_wire_put_u32(&w, 2);
    n = nvc_wire_end(&w);
    seed("wire_driver_reply", "count", buf, n);

    nvc_proto_begin(&w, buf, sizeof(buf), NVC_OP_DEVICE, 9);
    nvc_wire_put_u32(&w, NVC_STATUS_OK);
    nvc_wire_put_u32(&w, 0);                                          /* index */
    nvc_wire_put_u32(&w, 0);                                          /* minor */
    nvc_wire_put_str(&w, "NVIDIA H200");                              /* model */
    nvc_wire_put_u32(&w, 2);                                          /* brand */
    nvc_wire_put_str(&w, "GPU-8a1b2c3d-0000-1111-2222-333344445555"); /* uuid */
    nvc_wire_put_u32(&w, 0);
    nvc_wire_put_u32(&w, 0x1b);
    nvc_wire_put_u32(&w, 0);
    nvc_wire_put_i32(&w, 9);
    nvc_wire_put_i32(&w, 0);
    nvc_wire_put_u32(&w, 1); /* MIG capable */
    nvc_wire_put_u32(&w, 1); /* MIG enabled */
    nvc_wire_put_u32(&w, NVC_PERSISTENCE_ON);
    nvc_wire_put_u32(&w, 2);
    for (unsigned i = 0; i < 2; i++) {
        nvc_wire_put_u32(&w, i);
        nvc_wire_put_str(&w,
                         i ? "MIG-11111111-2222-3333-4444-555555555555" : "MIG-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        nvc_wire_put_u32(&w, i + 1);
        nvc_wire_put_u32(&w, 0);
    }
    n = nvc_wire_end(&w);
    seed("wire_driver_reply", "device-mig", buf, n);

    nvc_proto_begin(&w, buf, sizeof(buf), NVC_OP_DEVICE, 10);
    nvc_error_set(&e, NVC_ERR_NVML, 0, "nvmlDeviceGetUUID", NULL, "GPU is lost");
    e.nvml_ret = 15;
    nvc_proto_fail(&w, &e);
    n = nvc_wire_end(&w);
    seed("wire_driver_reply", "error", buf, n);

    for (unsigned op = NVC_OP_DRIVER; op <= NVC_OP_SHUTDOWN; op++) {
        char name[32];
        nvc_proto_begin(&w, buf, sizeof(buf), (uint16_t)op, op * 3);
        if (op == NVC_OP_DEVICE)
            nvc_wire_put_u32(&w, 1);
        n = nvc_wire_end(&w);
        snprintf(name, sizeof(name), "op-%u", op);
        seed("wire_driver_request", name, buf, n);
    }
}

static void plan_seeds(void)
{
    static const char conf[] = "/usr/lib/x86_64-linux-gnu\n";
    struct nvc_edit edits[] = {
        {.kind = NVC_EDIT_TMPFS, .target = "/run/nvidia", .mode = 0755, .flags = 1u << NVC_MNT_BIT_NOSUID},
        {.kind = NVC_EDIT_WRITE,
         .target = "/run/nvidia/ld.so.conf",
         .data = conf,
         .data_len = sizeof(conf) - 1,
         .mode = 0644},
        {.kind = NVC_EDIT_BIND,
         .target = "/usr/bin/nvidia-smi",
         .source = "/usr/bin/nvidia-smi",
         .source_kind = NVC_SRC_FILE,
         .flags = 1u << NVC_MNT_BIT_RDONLY},
        {.kind = NVC_EDIT_BIND,
         .target = "/dev/nvidia0",
         .source = "/dev/nvidia0",
         .source_kind = NVC_SRC_CHAR,
         .major = 195,
         .minor = 0},
        {.kind = NVC_EDIT_SYMLINK, .target = "/usr/lib/libcuda.so", .link = "libcuda.so.1"},
        {.kind = NVC_EDIT_REMOUNT, .target = "/run/nvidia", .flags = 1u << NVC_MNT_BIT_RDONLY},
    };
    struct nvc_plan plan = {.pid = 1234,
                            .pid_start = 99,
                            .rootfs = "/var/lib/ctr/rootfs",
                            .edits = edits,
                            .nedits = sizeof(edits) / sizeof(edits[0])};
    struct nvc_error e;
    uint8_t *buf;
    size_t len;

    if (nvc_plan_encode(&plan, &buf, &len, &e) < 0) {
        fprintf(stderr, "plan seed: %s\n", e.msg);
        exit(1);
    }
    seed("wire_plan", "six-edits", buf, len);
    free(buf);
    plan.nedits = 0;
    if (nvc_plan_encode(&plan, &buf, &len, &e) == 0) {
        seed("wire_plan", "empty", buf, len);
        free(buf);
    }

    enum nvc_edit_outcome outcomes[3] = {NVC_OUTCOME_DONE, NVC_OUTCOME_SKIPPED, NVC_OUTCOME_DONE};
    struct nvc_change changes[4] = {
        {.kind = NVC_CHANGE_DIR, .path = "/usr/lib64", .dev = 2049, .ino = 77},
        {.kind = NVC_CHANGE_FILE,
         .path = "/usr/lib64/libcuda.so.1",
         .dev = 2049,
         .ino = 78,
         .btime = 1764000000123456789ull},
        {.kind = NVC_CHANGE_MOUNT,
         .path = "/usr/lib64/libcuda.so.1",
         .mnt_id = 512,
         .mnt_unique = 1ull << 32 | 9,
         .dev = 2050,
         .ino = 1234},
        {.kind = NVC_CHANGE_FLAGS, .path = "/proc/driver/nvidia", .mnt_id = 513, .flags = NVC_MNT_RDONLY},
    };
    struct nvc_teardown td = {
        .pid = 4242, .pid_start = 123456, .rootfs = "/run/c/rootfs", .changes = changes, .nchanges = 4};
    if (nvc_teardown_encode(&td, &buf, &len, &e) == 0) {
        seed("wire_teardown", "four-changes", buf, len);
        free(buf);
    }
    td.nchanges = 0;
    if (nvc_teardown_encode(&td, &buf, &len, &e) == 0) {
        seed("wire_teardown", "empty", buf, len);
        free(buf);
    }
    struct nvc_undo_report reports[2] = {{NVC_UNDO_DONE, "unmounted"}, {NVC_UNDO_KEPT, "replaced; left alone"}};
    if (nvc_teardown_encode_undone(reports, 2, &buf, &len) == 0) {
        uint8_t *s = malloc(len - NVC_PLAN_FRAME_HEADER + 2);
        s[0] = 0x80 | NVC_FRAME_UNDONE; /* the target reads 0x80 as "a teardown's answer" */
        s[1] = 2;
        memcpy(s + 2, buf + NVC_PLAN_FRAME_HEADER, len - NVC_PLAN_FRAME_HEADER);
        seed("wire_plan_result", "undone", s, len - NVC_PLAN_FRAME_HEADER + 2);
        free(s);
        free(buf);
    }
    if (nvc_plan_encode_done(outcomes, 3, 1234, changes, 4, &buf, &len) == 0) {
        /* the target reads: type, nedits, then the body */
        uint8_t *s = malloc(len - NVC_PLAN_FRAME_HEADER + 2);
        s[0] = NVC_FRAME_DONE;
        s[1] = 3;
        memcpy(s + 2, buf + NVC_PLAN_FRAME_HEADER, len - NVC_PLAN_FRAME_HEADER);
        seed("wire_plan_result", "done", s, len - NVC_PLAN_FRAME_HEADER + 2);
        free(s);
        free(buf);
    }
    nvc_error_set(&e, NVC_ERR_PATH_ESCAPE, 40, "resolve", "/usr/lib/x", "a symlink loop");
    if (nvc_plan_encode_error(&e, &buf, &len) == 0) {
        uint8_t *s = malloc(len - NVC_PLAN_FRAME_HEADER + 2);
        s[0] = NVC_FRAME_ERROR;
        s[1] = 3;
        memcpy(s + 2, buf + NVC_PLAN_FRAME_HEADER, len - NVC_PLAN_FRAME_HEADER);
        seed("wire_plan_result", "error", s, len - NVC_PLAN_FRAME_HEADER + 2);
        free(s);
        free(buf);
    }
}

static void ldconfig_seeds(void)
{
    static struct nvc_ldconfig_report rep;
    static uint8_t buf[NVC_LDCONFIG_REPORT_MAX];
    size_t n;

    rep.outcome = NVC_LDCONFIG_EXITED;
    rep.status = 0;
    rep.output_len = (uint32_t)snprintf(rep.output, sizeof(rep.output), "ldconfig: /lib/libfoo.so is not a symlink\n");
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    seed("wire_ldconfig_report", "exited", buf, n);

    memset(&rep, 0, sizeof(rep));
    rep.outcome = NVC_LDCONFIG_SETUP_FAILED;
    nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, 1, "seccomp", NULL, "cannot install the filter");
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    seed("wire_ldconfig_report", "setup-failed", buf, n);

    memset(&rep, 0, sizeof(rep));
    rep.outcome = NVC_LDCONFIG_TIMEOUT;
    rep.status = 10000;
    rep.output_cut = 1;
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    seed("wire_ldconfig_report", "timeout", buf, n);

    memset(&rep, 0, sizeof(rep));
    rep.outcome = NVC_LDCONFIG_OVER_BUDGET;
    nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, 122, "budget", NULL, "wrote more than its budget");
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    seed("wire_ldconfig_report", "over-budget", buf, n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-seeds CORPUS_DIR\n");
        return 2;
    }
    corpus = argv[1];
    mkdir(corpus, 0755);
    driver_seeds();
    plan_seeds();
    ldconfig_seeds();
    return 0;
}
