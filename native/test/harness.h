#ifndef NVC_TEST_HARNESS_H
#define NVC_TEST_HARNESS_H

/* A tiny TAP harness in the manner of crun's C tests: each test is a function
 * returning 0 (pass), -1 (fail) or TEST_SKIP; main prints one TAP line per test and
 * exits 1 if any failed. Diagnostics go to stderr prefixed with "# ".
 *
 * Skips are never silent. A test (or part of one, or a whole suite) may be skipped only
 * because a feature of the machine is missing, and only when the environment variable
 * NVC_TEST_ABSENT (comma-separated feature names) says that this feature is known to be
 * missing here. Every skip site goes through test_absent() / suite_absent(): with the
 * feature named, the skip is printed with its name; without, the missing feature is a
 * failure whose message names the feature and the variable. A test returning TEST_SKIP
 * without going through test_absent() fails too. Feature names in use:
 *   root      running as root (namespaces, mounts, cgroups, chown)
 *   mknod     creating device nodes
 *   mountns   a private mount namespace with procfs (unshare + mount)
 *   cgroup1   a cgroup v1 "devices" hierarchy
 *   cgroup2   a cgroup2 (unified) mount
 *   openat2   openat2(2) with RESOLVE_IN_ROOT usable
 *   cc        the C compiler the tests were configured with
 *   ldconfig  glibc's ldconfig
 *   m32       building i386 objects with that compiler (-m32)
 *   abi-note  an NT_GNU_ABI_TAG note in executables the toolchain links
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_SKIP           77
#define NVC_TEST_ABSENT_ENV "NVC_TEST_ABSENT"

/* Why the running test skipped (all or part of itself), for its TAP line. Weak, so that
 * the one definition is shared by every file of a test program that includes this. */
__attribute__((weak)) char nvc_test_skip_note[256];
__attribute__((weak)) unsigned nvc_test_skips_allowed, nvc_test_skips_refused;

/* Does NVC_TEST_ABSENT name feature? Exact, comma-separated names; spaces around a name
 * are ignored so that "cgroup2, m32" works as one would expect. */
static inline int nvc_test_absent_named(const char *feature)
{
    const char *list = getenv(NVC_TEST_ABSENT_ENV);
    size_t flen = strlen(feature);

    /* What an ordinary user cannot have is absent without being declared (as in the mocha
     * suite): npm test as non-root runs what it can and names the rest. */
    if (geteuid() != 0 && (strcmp(feature, "root") == 0 || strcmp(feature, "mknod") == 0 || strcmp(feature, "mountns") == 0))
        return 1;

    while (list != NULL && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        const char *a = list, *b = list + len;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if ((size_t)(b - a) == flen && memcmp(a, feature, flen) == 0)
            return 1;
        list = end ? end + 1 : NULL;
    }
    return 0;
}

/* The one way to skip a test or part of one: `return test_absent("m32", "...")` for the
 * whole test, or `if (!have && test_absent("mknod", "the device case") < 0) return -1;`
 * for a part of it. Returns TEST_SKIP when NVC_TEST_ABSENT names the feature (the test
 * may leave out what needs it), else -1 after saying what is missing: callers must
 * return -1 then. what says what is left out. */
static inline int test_absent(const char *feature, const char *what)
{
    if (nvc_test_absent_named(feature)) {
        nvc_test_skips_allowed++;
        fprintf(stderr, "# SKIP %s absent (" NVC_TEST_ABSENT_ENV "): %s\n", feature, what);
        snprintf(nvc_test_skip_note, sizeof(nvc_test_skip_note), "%s absent (" NVC_TEST_ABSENT_ENV ")", feature);
        return TEST_SKIP;
    }
    nvc_test_skips_refused++;
    fprintf(stderr,
            "# FAIL: %s is missing here, so %s would be skipped; skips must be declared: set " NVC_TEST_ABSENT_ENV
            "=%s (comma-separated) if this machine really lacks it\n",
            feature, what, feature);
    return -1;
}

/* The same for a part of a test, the rest of which goes on: 0 when the part may be left
 * out, -1 (the test fails) when not. */
static inline int test_absent_part(const char *feature, const char *what)
{
    return test_absent(feature, what) == TEST_SKIP ? 0 : -1;
}

/* A whole test program that cannot run: main returns what this returns. TEST_SKIP (the
 * ctest SKIP_RETURN_CODE) with a TAP "1..0 # SKIP" plan when the feature is declared
 * absent; 1 (fail) with a "Bail out!" otherwise. */
static inline int suite_absent(const char *feature, const char *what)
{
    if (nvc_test_absent_named(feature)) {
        printf("1..0 # SKIP %s absent (" NVC_TEST_ABSENT_ENV "): %s\n", feature, what);
        fflush(stdout);
        return TEST_SKIP;
    }
    printf("Bail out! %s is missing here (%s); set " NVC_TEST_ABSENT_ENV "=%s if this machine really lacks it\n",
           feature, what, feature);
    fflush(stdout);
    return 1;
}

struct test_case {
    const char *name;
    int (*fn)(void);
};

#define TEST(fn)                                                                                                       \
    {                                                                                                                  \
#fn, fn                                                                                                        \
    }

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                 \
            return -1;                                                                                                 \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *a_ = (a), *b_ = (b);                                                                               \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                                         \
            fprintf(stderr, "# %s:%d: \"%s\" != \"%s\" (%s vs %s)\n", __FILE__, __LINE__, a_ ? a_ : "(null)",          \
                    b_ ? b_ : "(null)", #a, #b);                                                                       \
            return -1;                                                                                                 \
        }                                                                                                              \
    } while (0)

static inline int run_tests(const struct test_case *tests, size_t n)
{
    int failed = 0;

    printf("1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        int r;
        fflush(stdout);
        nvc_test_skip_note[0] = '\0';
        r = tests[i].fn();
        fflush(stderr);
        if (r == TEST_SKIP && !nvc_test_skip_note[0]) {
            /* a bare TEST_SKIP names no feature: not allowed */
            fprintf(stderr, "# FAIL: %s skipped without naming a missing feature (use test_absent)\n", tests[i].name);
            r = -1;
        }
        if (r == 0 && nvc_test_skip_note[0])
            printf("ok %zu - %s # part skipped: %s\n", i + 1, tests[i].name, nvc_test_skip_note);
        else if (r == 0)
            printf("ok %zu - %s\n", i + 1, tests[i].name);
        else if (r == TEST_SKIP)
            printf("ok %zu - %s # SKIP %s\n", i + 1, tests[i].name, nvc_test_skip_note);
        else {
            printf("not ok %zu - %s\n", i + 1, tests[i].name);
            failed++;
        }
    }
    if (nvc_test_skips_allowed || nvc_test_skips_refused)
        printf("# skips: %u declared in " NVC_TEST_ABSENT_ENV ", %u refused\n", nvc_test_skips_allowed,
               nvc_test_skips_refused);
    fflush(stdout);
    return failed ? 1 : 0;
}

#define RUN_TESTS(arr) run_tests(arr, sizeof(arr) / sizeof((arr)[0]))

/* Tests sharing one fixture: build it, run them, tear it down. teardown also runs after a
 * half-built fixture, so it must cope with whatever setup got done. */
static inline int run_fixture_tests(int (*setup)(void), void (*teardown)(void), const struct test_case *tests, size_t n)
{
    int r = 1;
    if (setup() < 0)
        printf("Bail out! fixture setup failed\n");
    else
        r = run_tests(tests, n);
    teardown();
    return r;
}

#define RUN_FIXTURE_TESTS(setup, teardown, arr) run_fixture_tests(setup, teardown, arr, sizeof(arr) / sizeof((arr)[0]))

#endif
