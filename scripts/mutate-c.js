#!/usr/bin/env node
'use strict';
/*
 * npm run test:mutation:c — a scripted mutation run of the C core and executor.
 *
 * Each mutant below is one edit a reviewer would worry about (a dropped bounds check, an
 * off-by-one, a wrong flag, a skipped rollback, a wrong error path). The run copies
 * native/ and deps/ of the working tree into a scratch directory (the sources of
 * /work/main are never touched), and for each mutant in turn: applies it, compiles the
 * mutated file with the project's warning flags (-O0 and -O3 -D_FORTIFY_SOURCE=2, both
 * -Werror; a mutant that does not compile is a "compile-error", never "killed", and has
 * to be fixed in this list), runs the C suites that build that file, restores the file.
 *
 *   killed     some suite failed
 *   survived   every suite that builds the file passed
 *   timeout    a suite ran past its limit (reported apart: not counted as killed)
 *
 * Every `from` text must occur exactly once in its file; the run stops before doing
 * anything if one does not, so the list cannot rot silently as the sources change.
 *
 * Honest shortcut: the exec suite's two race tests run NVC_TEST_RACE_ITERATIONS=3 runs
 * per variant instead of 90 (t_hostile.c reads the variable and prints that it was
 * lowered). Everything else runs as in `npm run test:c`.
 *
 *   node scripts/mutate-c.js              all mutants
 *   node scripts/mutate-c.js path proto   only mutants whose id contains one of these
 *   node scripts/mutate-c.js --list       print the list and check it, run nothing
 *   NVC_MUTATE_DIR=/tmp/x                 scratch directory (default: a fresh /tmp/nvc-mutate-*)
 *   NVC_MUTATE_KEEP=1                     keep the scratch directory afterwards
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const RACE_ITERATIONS = '3';

/* Which suites build which sources: the first that kills a mutant ends its run. */
const SUITES = {
  ctest: { timeout: 300, cmd: 'cmake --build build/ctest -j 2 >/dev/null && ctest --test-dir build/ctest --output-on-failure --timeout 120' },
  cgroup: { timeout: 300, cmd: 'OUT=build/cgroup sh native/test/cgroup/build.sh' },
  ldconfig: { timeout: 300, cmd: 'sh native/test/ldconfig/build.sh build/ldconfig run' },
  exec: { timeout: 420, cmd: `NVC_EXEC_BUILD=$PWD/build/exec NVC_TEST_RACE_ITERATIONS=${RACE_ITERATIONS} sh native/test/exec/build.sh` },
};

function suitesFor(file) {
  if (file.startsWith('native/exec/')) return ['exec'];
  if (file.startsWith('native/ldconfig/')) return ['ldconfig'];
  const base = path.basename(file);
  if (base.startsWith('cgroup')) return ['cgroup'];
  switch (base) {
    case 'path.c':
      return ['ctest', 'exec'];
    case 'plan_codec.c':
    case 'plan_client.c':
      return ['exec'];
    case 'child.c':
      return ['ldconfig', 'exec'];
    case 'ldconfig_client.c':
      return ['ldconfig'];
    case 'wire.c':
      return ['ctest', 'exec', 'ldconfig'];
    case 'ldconfig_report.c':
      return ['ctest', 'ldconfig'];
    default:
      return ['ctest']; // proto.c, ldcache.c, elf_note.c, driver_*.c, device_info.c
  }
}

const M = (id, file, desc, from, to) => ({ id, file, desc, from, to });
const MUTANTS = [
  // ---- core/util/path.c: the in-root resolver -------------------------------------------------
  M(
    'path-no-in-root',
    'native/core/util/path.c',
    'openat2 without RESOLVE_IN_ROOT (absolute links and .. leave the root)',
    'how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);\n    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;',
    'how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);\n    how.resolve = RESOLVE_NO_MAGICLINKS;',
  ),
  M(
    'path-no-magiclinks',
    'native/core/util/path.c',
    'openat2 without RESOLVE_NO_MAGICLINKS (/proc/self/root followed)',
    'how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);\n    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;',
    'how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);\n    how.resolve = RESOLVE_IN_ROOT;',
  ),
  M(
    'path-walk-follows',
    'native/core/util/path.c',
    'walk opens components without O_NOFOLLOW (kernel follows links from the host root)',
    'fd = openat(w.cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);',
    'fd = openat(w.cur, comp, O_PATH | O_CLOEXEC);',
  ),
  M(
    'path-abs-link-no-reset',
    'native/core/util/path.c',
    'walk: an absolute link target does not restart at the root',
    "if (target[0] == '/' && walk_reset(w) < 0)",
    "if (target[0] == '/' && 0 && walk_reset(w) < 0)",
  ),
  M(
    'path-magic-link-ok',
    'native/core/util/path.c',
    'walk: deep procfs links are not treated as magic links',
    'return dir.st_ino != PROC_ROOT_INODE;',
    'return dir.st_ino == (ino_t)-1;',
  ),
  M(
    'path-dotdot-kernel',
    'native/core/util/path.c',
    'walk: ".." is asked of the kernel instead of resolved lexically',
    'if (strcmp(comp, "..") == 0) {\n            if (walk_up(&w) < 0)',
    'if (strcmp(comp, "..") == 0 && 0) {\n            if (walk_up(&w) < 0)',
  ),
  M(
    'path-links-off-by-one',
    'native/core/util/path.c',
    'walk: link limit off by one (40 links refused)',
    'if (++*links > NVC_PATH_MAX_LINKS) {',
    'if (++*links >= NVC_PATH_MAX_LINKS) {',
  ),
  M(
    'path-reopen-no-inode-check',
    'native/core/util/path.c',
    'reopen of the last component does not check it is the same inode',
    'if (fstat(r, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {',
    'if (fstat(r, &now) < 0) {',
  ),
  M(
    'path-fd-in-root-prefix',
    'native/core/util/path.c',
    'fd_in_root: a sibling "<root>X" passes the prefix test',
    "if (strncmp(p, rootp, rl) != 0 || (p[rl] != '/' && p[rl] != '\\0'))\n        return nvc_error_set(err, NVC_ERR_PATH_ESCAPE, 0,",
    'if (strncmp(p, rootp, rl) != 0)\n        return nvc_error_set(err, NVC_ERR_PATH_ESCAPE, 0,',
  ),
  M(
    'path-regular-accepts-fifo',
    'native/core/util/path.c',
    'open_regular_in_root accepts FIFOs and device nodes',
    'if (!S_ISREG(st.st_mode)) {\n        close(pfd);',
    'if (S_ISDIR(st.st_mode)) {\n        close(pfd);',
  ),
  M(
    'path-allows-creat',
    'native/core/util/path.c',
    'open_in_root lets O_CREAT through',
    'if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {',
    'if ((flags & O_TMPFILE) == O_TMPFILE) {',
  ),

  // ---- core/discovery/ldcache.c ---------------------------------------------------------------------
  M(
    'ldcache-no-nul-check',
    'native/core/discovery/ldcache.c',
    'string_at: no check that a NUL ends the string inside the file',
    "if (memchr(d + abs, '\\0', size - abs) == NULL)\n        return NULL;",
    "if (0 && memchr(d + abs, '\\0', size - abs) == NULL)\n        return NULL;",
  ),
  M(
    'ldcache-entry-count-bound',
    'native/core/discovery/ldcache.c',
    'entry count checked against the file without the header',
    'if (n > (size - hdr - NEW_HEADER_SIZE) / NEW_ENTRY_SIZE)',
    'if (n > (size - hdr) / NEW_ENTRY_SIZE)',
  ),
  M(
    'ldcache-any-endian',
    'native/core/discovery/ldcache.c',
    'a cache of the other byte order is accepted',
    'if (endian != ENDIAN_UNSET && endian != native_endian_flag())',
    'if (endian != ENDIAN_UNSET && endian != native_endian_flag() && 0)',
  ),
  M(
    'ldcache-any-arch',
    'native/core/discovery/ldcache.c',
    'entry_usable ignores the architecture (i386 taken for x86-64)',
    'return (f & NVC_LDCACHE_ARCH_MASK) == (uint32_t)arch;',
    'return (f & NVC_LDCACHE_ARCH_MASK) == (uint32_t)arch || 1;',
  ),
  M(
    'ldcache-not-elf-ok',
    'native/core/discovery/ldcache.c',
    'entry_usable accepts entries not flagged ELF',
    'if (arch < 0 || !(f & NVC_LDCACHE_FLAG_ELF))',
    'if (arch < 0)',
  ),

  // ---- core/wire/wire.c: the wire layer of every helper protocol; core/wire/driver_proto.c, ldconfig_report.c -
  M('wire-field-past-body', 'native/core/wire/wire.c', 'get_field: length not checked against the body', 'if (r->len - r->off < l) {', 'if (0) {'),
  M(
    'wire-field-nul-ok',
    'native/core/wire/wire.c',
    'get_field: a NUL inside a text field accepted',
    "if ((flags & NVC_WIRE_TEXT) && memchr(d, '\\0', l) != NULL) {",
    "if ((flags & NVC_WIRE_TEXT) && memchr(d, '\\0', l) != NULL && 0) {",
  ),
  M(
    'wire-str-off-by-one',
    'native/core/wire/wire.c',
    'get_str: outsz bytes accepted (terminator written past out)',
    'nvc_wire_get_field(r, outsz - 1, NVC_WIRE_TEXT, &n);',
    'nvc_wire_get_field(r, outsz, NVC_WIRE_TEXT, &n);',
  ),
  M(
    'wire-len-mismatch',
    'native/core/wire/wire.c',
    'a record longer than its length field is accepted',
    'if (h->len != n - NVC_WIRE_HEADER_SIZE) {',
    'if (h->len > n - NVC_WIRE_HEADER_SIZE) {',
  ),
  M('wire-any-version', 'native/core/wire/wire.c', 'protocol version not checked', 'if (h->version != version) {', 'if (h->version != version && 0) {'),
  M('wire-raw-short', 'native/core/wire/wire.c', 'get_raw reads with one byte too few left', 'if (r->len - r->off < n) {', 'if (r->len - r->off + 1 < n) {'),
  M(
    'wire-error-ok-code',
    'native/core/wire/wire.c',
    'an error frame with code "OK" accepted',
    'for (int c = 1; c < NVC_ERRCODE_COUNT; c++) {\n        if (strcmp(code, nvc_errcode_string((enum nvc_errcode)c)) == 0) {\n            e->code',
    'for (int c = 0; c < NVC_ERRCODE_COUNT; c++) {\n        if (strcmp(code, nvc_errcode_string((enum nvc_errcode)c)) == 0) {\n            e->code',
  ),
  M('proto-no-seq', 'native/core/wire/driver_proto.c', 'a driver-service record without a sequence number accepted', 'if (body->bad) {', 'if (0) {'),
  M(
    'ldreport-error-anywhere',
    'native/core/wire/ldconfig_report.c',
    'an ldconfig report with an error flag its outcome does not allow accepted',
    'if (!r.bad && flagged != has_error(rep->outcome))',
    'if (!r.bad && flagged != has_error(rep->outcome) && 0)',
  ),

  // ---- core/wire/plan_codec.c: the plan checks both sides make -----------------------------------
  M(
    'plan-dotdot-target',
    'native/core/wire/plan_codec.c',
    'target check lets ".." components through',
    "if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))\n            return",
    "if (cl == 1 && c[0] == '.')\n            return",
  ),
  M(
    'plan-setuid-mode',
    'native/core/wire/plan_codec.c',
    'mode check allows set-id bits',
    'if (e->mode > (is_write ? 0777u : 01777u))',
    'if (e->mode > 07777u)',
  ),
  M(
    'plan-any-flags',
    'native/core/wire/plan_codec.c',
    'unknown mount flags accepted',
    'if (e->flags & ~((1u << NVC_MNT_BIT_END_) - 1))',
    'if (e->flags & ~((1u << NVC_MNT_BIT_END_) - 1) & 0)',
  ),
  M(
    'plan-relative-target',
    'native/core/wire/plan_codec.c',
    'relative targets accepted',
    'if (t == NULL || t[0] != \'/\')\n        return "must be an absolute path";',
    'if (t == NULL)\n        return "must be an absolute path";',
  ),
  M(
    'plan-decode-nul-ok',
    'native/core/wire/plan_codec.c',
    'decoder accepts strings with a NUL inside',
    'nvc_wire_get_field(r, max, NVC_WIRE_TEXT | (may_be_absent ? NVC_WIRE_OPTIONAL : 0), &n);',
    'nvc_wire_get_field(r, max, may_be_absent ? NVC_WIRE_OPTIONAL : 0, &n);',
  ),

  // ---- core/setup/cgroup_v1.c, cgroup_v2.c ---------------------------------------------------------
  M(
    'cg1-major-minor-swapped',
    'native/core/setup/cgroup_v1.c',
    'v1 rule written as minor:major',
    'rules[i].type, rules[i].major, rules[i].minor, rules[i].access);',
    'rules[i].type, rules[i].minor, rules[i].major, rules[i].access);',
  ),
  M(
    'cg1-eperm-message',
    'native/core/setup/cgroup_v1.c',
    'v1 EPERM as root reported as the rootless case',
    'if (geteuid() == 0)\n                return nvc_error_set(err, NVC_ERR_PERMISSION,',
    'if (geteuid() != 0)\n                return nvc_error_set(err, NVC_ERR_PERMISSION,',
  ),
  M(
    'cg2-r-grants-w',
    'native/core/setup/cgroup_v2.c',
    'v2 program: "r" access also grants write',
    "if (strchr(r->access, 'r'))\n            deny &= ~BPF_DEVCG_ACC_READ;",
    "if (strchr(r->access, 'r'))\n            deny &= ~(BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE);",
  ),
  M(
    'cg2-any-minor',
    'native/core/setup/cgroup_v2.c',
    'v2 program: the minor test jumps nowhere (every minor of the major)',
    'o[k++] = nvc_jmp_imm(BPF_JNE, 5, (int32_t)r->minor, (int16_t)(left - 2));',
    'o[k++] = nvc_jmp_imm(BPF_JNE, 5, (int32_t)r->minor, 0);',
  ),
  M(
    'cg2-block-for-char',
    'native/core/setup/cgroup_v2.c',
    'v2 program: every rule matched as a block device',
    "int32_t type = r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;",
    "int32_t type = r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_BLOCK;",
  ),

  // ---- core/driver_*.c -------------------------------------------------------------------------
  M(
    'drv-any-version',
    'native/core/discovery/driver_libs.c',
    'libraries of another driver version selected',
    'if (already_selected(sel, real) || !has_version_suffix(real, version))',
    'if (already_selected(sel, real) || (!has_version_suffix(real, version) && 0))',
  ),
  M(
    'drv-tls-abi-unchecked',
    'native/core/discovery/driver_libs.c',
    'the TLS library ABI note is not checked',
    'if (strcmp(lib_prefixes[p].prefix, TLS_PREFIX) == 0 && !tls_abi_ok(rootfd, real))',
    'if (strcmp(lib_prefixes[p].prefix, TLS_PREFIX) == 0 && !tls_abi_ok(rootfd, real) && 0)',
  ),
  M(
    'drv-cap-dotdot',
    'native/core/discovery/driver_devices.c',
    'capability path check lets ".." through',
    "if ((end - c == 1 && c[0] == '.') || (end - c == 2 && c[0] == '.' && c[1] == '.'))",
    "if (end - c == 1 && c[0] == '.')",
  ),
  M(
    'drv-cap-procfoo',
    'native/core/discovery/driver_devices.c',
    'capability path "/procX/..." accepted as under /proc',
    "if (strncmp(p, \"/proc\", 5) != 0 || (p[5] != '/' && p[5] != '\\0'))",
    'if (strncmp(p, "/proc", 5) != 0)',
  ),

  // ---- core/util/child.c ---------------------------------------------------------------------------
  M('child-kill-noop', 'native/core/util/child.c', 'nvc_child_kill sends no signal', 'nvc_child_signal_pid(pid, SIGKILL);', 'nvc_child_signal_pid(pid, 0);'),

  // ---- native/exec ----------------------------------------------------------------------------
  M(
    'exec-src-follows-link',
    'native/exec/sources.c',
    'sources opened without O_NOFOLLOW',
    'int fd;\n\n    fd = open(e->source, O_PATH | O_NOFOLLOW | O_CLOEXEC);',
    'int fd;\n\n    fd = open(e->source, O_PATH | O_CLOEXEC);',
  ),
  M(
    'exec-src-any-devnum',
    'native/exec/sources.c',
    'a char device source of other numbers accepted',
    'if (st->st_rdev != makedev(e->major, e->minor))',
    'if (st->st_rdev != makedev(e->major, e->minor) && 0)',
  ),
  M(
    'exec-bind-no-flags',
    'native/exec/sources.c',
    'mount API: the bind clone gets no flags (MS_RDONLY etc. dropped)',
    'exec_flags_to_attr(e->flags), 0, MS_PRIVATE)',
    'exec_flags_to_attr(e->flags) & 0, 0, MS_PRIVATE)',
  ),
  M('exec-ms-rdonly-dropped', 'native/exec/sysmount.c', 'mount(2) path: NVC_MNT_RDONLY not turned into MS_RDONLY', 'm |= MS_RDONLY;', 'm |= 0;'),
  M('exec-attr-wrong-bit', 'native/exec/sysmount.c', 'mount API: read-only mapped to MOUNT_ATTR_NOSUID', 'a |= ATTR_RDONLY;', 'a |= ATTR_NOSUID;'),
  M(
    'exec-mount-over-symlink',
    'native/exec/edit_mount.c',
    'an existing symlink accepted as mount point',
    'if (S_ISLNK(st.st_mode))\n        return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "open", target,',
    'if (S_ISLNK(st.st_mode) && 0)\n        return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "open", target,',
  ),
  M(
    'exec-placeholder-any-type',
    'native/exec/edit_mount.c',
    'a FIFO or socket accepted as mount point for a device or file',
    'if (!want_dir && !S_ISREG(st.st_mode) && (st.st_mode & S_IFMT) != src_type)',
    'if (!want_dir && !S_ISREG(st.st_mode) && (st.st_mode & S_IFMT) != src_type && 0)',
  ),
  M(
    'exec-remount-wrong-add',
    'native/exec/edit_mount.c',
    'remount adds the flags already there instead of the missing ones',
    'add = e->flags & ~cur;',
    'add = e->flags & cur;',
  ),
  M(
    'exec-undo-replaced-ok',
    'native/exec/undo.c',
    'rollback removes an entry even if it was replaced',
    'if (st.st_dev != u->dev || st.st_ino != u->ino) {',
    'if ((st.st_dev != u->dev || st.st_ino != u->ino) && 0) {',
  ),
  M(
    'exec-undo-forward',
    'native/exec/undo.c',
    'rollback in creation order instead of reverse',
    'for (size_t i = ctx->nundo; i-- > 0;) {',
    'for (size_t i = 0; i < ctx->nundo; i++) {',
  ),
  M(
    'exec-undo-mounts-kept',
    'native/exec/undo.c',
    'rollback leaves mounts attached',
    'case UNDO_MOUNT: r = undo_mount(ctx, u, why, sizeof(why)); break;',
    'case UNDO_MOUNT: r = ((void)undo_mount, 0); break;',
  ),
  M(
    'exec-undo-flags-kept',
    'native/exec/undo.c',
    'mount API rollback sets the added flags again instead of clearing them',
    'r = sys_mount_setattr(u->fd, "", AT_EMPTY_PATH, 0, exec_flags_to_attr(u->added), 0);',
    'r = sys_mount_setattr(u->fd, "", AT_EMPTY_PATH, exec_flags_to_attr(u->added), 0, 0);',
  ),
  M('exec-write-anywhere', 'native/exec/edit_fs.c', "WRITE allowed outside the plan's tmpfs", 'if (inside <= 0) {', 'if (inside < 0) {'),
  M('exec-write-mode', 'native/exec/edit_fs.c', 'WRITE ignores the mode of the plan', 'fchmod(fd, (mode_t)e->mode)', 'fchmod(fd, (mode_t)e->mode | 0200)'),
  M(
    'exec-no-rollback',
    'native/exec/apply.c',
    'a failed edit is reported without rolling back',
    '                snprintf(err->path, sizeof(err->path), "%s", e->target);\n            exec_rollback(ctx, err);',
    '                snprintf(err->path, sizeof(err->path), "%s", e->target);',
  ),
  M(
    'exec-shared-not-private',
    'native/exec/guard.c',
    'the shared mount under a mount point is not made private',
    'if (sys_mount_setattr(root, "", AT_EMPTY_PATH, 0, 0, MS_PRIVATE) < 0) {\n        ctx->nguards--;',
    'if (sys_mount_setattr(root, "", AT_EMPTY_PATH, 0, 0, 0) < 0) {\n        ctx->nguards--;',
  ),
];

function sh(cmd, opts = {}) {
  return spawnSync('sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 256 << 20, ...opts });
}

function count(hay, needle) {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

/* Every mutant's `from` must occur exactly once: checked before anything runs. */
function checkList(dir) {
  const ids = new Set();
  const bad = [];
  for (const m of MUTANTS) {
    if (ids.has(m.id)) bad.push(`${m.id}: duplicate id`);
    ids.add(m.id);
    if (m.from === m.to) bad.push(`${m.id}: replacement equals the original`);
    const file = path.join(dir, m.file);
    if (!fs.existsSync(file)) {
      bad.push(`${m.id}: ${m.file} does not exist`);
      continue;
    }
    const n = count(fs.readFileSync(file, 'utf8'), m.from);
    if (n !== 1) bad.push(`${m.id}: original text found ${n} times in ${m.file} (must be exactly once)`);
  }
  if (bad.length) {
    console.error('mutate-c: the mutant list does not match the sources:\n  ' + bad.join('\n  '));
    process.exit(2);
  }
}

const CFLAGS =
  '-std=gnu11 -Wall -Wextra -Werror -pthread -Inative/include -Inative/core/discovery -Inative/core/driver-client -Inative/core/wire -Inative/core/setup -Inative/core/util -Inative/exec -Inative/test -Ideps/nvml';
function compiles(dir, file) {
  for (const opt of ['-O0', '-O3 -D_FORTIFY_SOURCE=2']) {
    const r = sh(`gcc ${CFLAGS} ${opt} -c -o /dev/null ${file}`, { cwd: dir });
    if (r.status !== 0)
      return (r.stderr || '')
        .split('\n')
        .filter((l) => /error/.test(l))
        .slice(0, 3)
        .join('\n');
  }
  return null;
}

/* One suite, in its own process group under timeout(1), so that a hung test and all its
 * children are killed together. Output goes to a log file per mutant and suite. */
function runSuite(dir, suite, logName) {
  const s = SUITES[suite];
  const log = path.join(dir, 'logs', `${logName}.log`);
  const r = sh(`timeout -k 10 ${s.timeout} sh -c '${s.cmd.replace(/'/g, "'\\''")}' >${log} 2>&1`, { cwd: dir });
  if (r.status === 0) return { result: 'pass', log };
  if (r.status === 124 || r.status === 137) return { result: 'timeout', log };
  return { result: 'fail', log };
}

function main() {
  const args = process.argv.slice(2);
  const listOnly = args.includes('--list');
  const filters = args.filter((a) => !a.startsWith('--'));
  const dir = process.env.NVC_MUTATE_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-mutate-'));

  if (process.getuid && process.getuid() !== 0 && !listOnly) {
    console.error('mutate-c: the C suites need root (mount namespaces, cgroups); run as root');
    process.exit(2);
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const d of ['native', 'deps']) {
    fs.rmSync(path.join(dir, d), { recursive: true, force: true });
    const r = sh(`cp -a ${JSON.stringify(path.join(ROOT, d))} ${JSON.stringify(dir)}/`);
    if (r.status !== 0) throw new Error(`copying ${d}: ${r.stderr}`);
  }
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  checkList(dir);
  const chosen = MUTANTS.filter((m) => filters.length === 0 || filters.some((f) => m.id.includes(f)));
  if (listOnly) {
    for (const m of chosen) console.log(`${m.id.padEnd(28)} ${m.file.padEnd(28)} ${m.desc}`);
    console.log(`${chosen.length} mutants, every original text found exactly once`);
    return;
  }
  console.log(`mutate-c: ${chosen.length} mutants in ${dir} (race tests at ${RACE_ITERATIONS} runs per variant, NVC_TEST_RACE_ITERATIONS)`);

  /* Baseline: the unmutated sources must pass every suite used, or nothing means anything. */
  const used = [...new Set(chosen.flatMap((m) => suitesFor(m.file)))];
  const cfg = sh('cmake -S native -B build/ctest -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-Wno-format-truncation', { cwd: dir });
  if (cfg.status !== 0) throw new Error('cmake configure failed:\n' + cfg.stderr);
  for (const s of used) {
    const t0 = Date.now();
    const r = runSuite(dir, s, `baseline-${s}`);
    console.log(`baseline ${s}: ${r.result} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    if (r.result !== 'pass') {
      console.error(`mutate-c: the unmutated ${s} suite does not pass; see ${r.log}`);
      process.exit(2);
    }
  }

  const rows = [];
  for (const m of chosen) {
    const file = path.join(dir, m.file);
    const orig = fs.readFileSync(file, 'utf8');
    const t0 = Date.now();
    let result = 'survived';
    let by = '';
    fs.writeFileSync(
      file,
      orig.replace(m.from, () => m.to),
    );
    try {
      const why = compiles(dir, m.file);
      if (why !== null) {
        result = 'compile-error';
        by = why.split('\n')[0];
      } else {
        for (const s of suitesFor(m.file)) {
          const r = runSuite(dir, s, `${m.id}-${s}`);
          if (r.result === 'fail') {
            result = 'killed';
            by = s;
            break;
          }
          if (r.result === 'timeout') {
            result = 'timeout';
            by = s;
            break;
          }
        }
      }
    } finally {
      fs.writeFileSync(file, orig);
    }
    const secs = ((Date.now() - t0) / 1000).toFixed(0);
    rows.push({ ...m, result, by, secs });
    console.log(`${result.padEnd(13)} ${m.id.padEnd(28)} ${(by || '-').padEnd(8)} ${secs.padStart(4)} s  ${m.desc}`);
  }

  const n = rows.length;
  const killed = rows.filter((r) => r.result === 'killed').length;
  const by = (k) => rows.filter((r) => r.result === k);
  console.log('\n| id | file | description | result | killed by |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.id} | ${r.file.replace('native/', '')} | ${r.desc} | ${r.result} | ${r.by || '-'} |`);
  console.log(
    `\nkilled ${killed}/${n} (${n ? ((100 * killed) / n).toFixed(1) : 0}%), survived ${by('survived').length}, ` +
      `timeout ${by('timeout').length}, compile-error ${by('compile-error').length}`,
  );
  for (const r of by('survived')) console.log(`  survived: ${r.id} (${r.file}): ${r.desc}`);
  for (const r of by('compile-error')) console.log(`  compile-error (fix the mutant): ${r.id}: ${r.by}`);
  if (!process.env.NVC_MUTATE_KEEP && !process.env.NVC_MUTATE_DIR) fs.rmSync(dir, { recursive: true, force: true });
  else console.log(`scratch kept in ${dir} (logs/ has every suite's output)`);
  process.exit(n >= 30 && killed / n >= 0.8 && by('compile-error').length === 0 ? 0 : 1);
}

main();
