#ifndef NVC_TEST_HARNESS_H
#define NVC_TEST_HARNESS_H

/* A tiny TAP harness in the manner of crun's C tests: each test is a function
 * returning 0 (pass), -1 (fail) or 77 (skip); main prints one TAP line per test and
 * exits 1 if any failed. Diagnostics go to stderr prefixed with "# ". */

#include <stdio.h>
#include <string.h>

#define TEST_SKIP 77

struct test_case {
    const char *name;
    int (*fn)(void);
};

#define TEST(fn) {#fn, fn}

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

#define CHECK_STR(a, b)                                                                                   \
    do {                                                                                                  \
        const char *a_ = (a), *b_ = (b);                                                                  \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                            \
            fprintf(stderr, "# %s:%d: \"%s\" != \"%s\" (%s vs %s)\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
                    b_ ? b_ : "(null)", #a, #b);                                                          \
            return -1;                                                                                    \
        }                                                                                                 \
    } while (0)

static inline int run_tests(const struct test_case *tests, size_t n)
{
    int failed = 0;

    printf("1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        int r;
        fflush(stdout);
        r = tests[i].fn();
        if (r == 0)
            printf("ok %zu - %s\n", i + 1, tests[i].name);
        else if (r == TEST_SKIP)
            printf("ok %zu - %s # SKIP\n", i + 1, tests[i].name);
        else {
            printf("not ok %zu - %s\n", i + 1, tests[i].name);
            failed++;
        }
    }
    fflush(stdout);
    return failed ? 1 : 0;
}

#define RUN_TESTS(arr) run_tests(arr, sizeof(arr) / sizeof((arr)[0]))

/* Tests sharing one fixture: build it, run them, tear it down. teardown also runs after a
 * half-built fixture, so it must cope with whatever setup got done. */
static inline int run_fixture_tests(int (*setup)(void), void (*teardown)(void), const struct test_case *tests,
                                    size_t n)
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
