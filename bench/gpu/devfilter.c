/* Stand-in for a container runtime on the GPU host: attach to a cgroup v2 directory the
 * kind of device filter runc installs (a few pseudo-devices allowed, every other device
 * refused), so that `nvc-ts configure` has a real policy to extend. Demo tool only.
 *   devfilter CGROUP_DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_bpf.h"

int main(int argc, char **argv)
{
    /* null, zero, full, random, urandom, tty, console, ptmx */
    static const unsigned devs[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}};
    struct bpf_insn p[64];
    struct nvc_error err;
    size_t k = 0, n = sizeof(devs) / sizeof(devs[0]);

    if (argc != 2) {
        fprintf(stderr, "usage: devfilter CGROUP_DIR\n");
        return 2;
    }
    p[k++] = nvc_ldx_w(2, 1, 0);
    p[k++] = nvc_alu32_imm(BPF_AND, 2, 0xffff);
    p[k++] = nvc_ldx_w(3, 1, 4);
    p[k++] = nvc_ldx_w(4, 1, 8);
    p[k++] = nvc_jmp_imm(BPF_JNE, 2, BPF_DEVCG_DEV_CHAR, (int16_t)(n * 4));
    for (size_t i = 0; i < n; i++) {
        p[k++] = nvc_jmp_imm(BPF_JNE, 3, (int32_t)devs[i][0], 3);
        p[k++] = nvc_jmp_imm(BPF_JNE, 4, (int32_t)devs[i][1], 2);
        p[k++] = nvc_mov64_imm(0, 1);
        p[k++] = nvc_exit();
    }
    p[k++] = nvc_mov64_imm(0, 0);
    p[k++] = nvc_exit();
    int prog = nvc_bpf_load_devcg(p, k, "runtime_devices", &err);
    int cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (prog < 0 || cg < 0 || nvc_bpf_attach_devcg(cg, argv[1], prog, BPF_F_ALLOW_MULTI, -1, &err) < 0) {
        fprintf(stderr, "devfilter: %s\n", prog < 0 || cg >= 0 ? err.msg : strerror(errno));
        return 1;
    }
    printf("devfilter: runtime-style device filter attached to %s\n", argv[1]);
    return 0;
}
