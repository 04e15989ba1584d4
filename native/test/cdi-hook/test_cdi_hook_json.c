/* The hook reads the container's pid and bundle from the OCI state the runtime writes, and
 * root.path from the bundle's config: members found at any position and depth, escapes
 * decoded, other members of every JSON type skipped, and malformed or oversized text refused
 * rather than half-read. */
#include <string.h>

#include "harness.h"
#include "json.h"

static const char *const k_pid[] = {"pid", NULL}, *const k_bundle[] = {"bundle", NULL},
                         *const k_root[] = {"root", "path", NULL};

static int test_state(void)
{
    static const char state[] = " {\"ociVersion\":\"1.2.0\",\"id\":\"c\\\"1\",\"status\":\"creating\","
                                "\"annotations\":{\"a\":[1,2.5e3,true,false,null,{\"pid\":7}]},"
                                "\"pid\" : 4242 , \"bundle\":\"\\/run\\/b\\u0041\"}\n";
    char bundle[64];
    long pid = 0;

    CHECK(hook_json_long(state, k_pid, &pid) == 0);
    CHECK(pid == 4242);
    CHECK(hook_json_string(state, k_bundle, bundle, sizeof(bundle)) == 0);
    CHECK_STR(bundle, "/run/bA");
    return 0;
}

static int test_nested(void)
{
    static const char config[] = "{\"process\":{\"args\":[\"sh\"]},\"root\":{\"readonly\":true,\"path\":\"rootfs\"}}";
    char root[16];
    long n;

    CHECK(hook_json_string(config, k_root, root, sizeof(root)) == 0);
    CHECK_STR(root, "rootfs");
    CHECK(hook_json_long(config, k_pid, &n) == -1);                                       /* absent */
    CHECK(hook_json_string("{\"root\":{\"path\":3}}", k_root, root, sizeof(root)) == -1); /* not a string */
    CHECK(hook_json_long("{\"pid\":1.5}", k_pid, &n) == -1);                              /* not an integer */
    return 0;
}

static int test_refusals(void)
{
    char out[8];
    long n;

    CHECK(hook_json_string("{\"bundle\":\"/0123456789\"}", k_bundle, out, sizeof(out)) == -2); /* too long */
    CHECK(hook_json_string("{\"bundle\":\"/a\\u0000b\"}", k_bundle, out, sizeof(out)) == -2);  /* NUL cuts a path */
    CHECK(hook_json_string("{\"bundle\":\"/a\\x\"}", k_bundle, out, sizeof(out)) == -2);       /* bad escape */
    CHECK(hook_json_string("{\"bundle\":\"/a", k_bundle, out, sizeof(out)) == -2);             /* unterminated */
    CHECK(hook_json_long("{\"x\":[1,,2],\"pid\":3}", k_pid, &n) == -2);                        /* malformed before */
    CHECK(hook_json_long("{\"x\":tru,\"pid\":3}", k_pid, &n) == -2);
    CHECK(hook_json_long("", k_pid, &n) == -1);
    CHECK(hook_json_long("[]", k_pid, &n) == -1);
    return 0;
}

static int test_depth(void)
{
    static char deep[8192];
    long n = 0;
    size_t i;

    /* Well-formed, but nested far deeper than any OCI document: refused, not followed down
     * the stack (without the limit the pid after it would be found). */
    memcpy(deep, "{\"x\":", 5);
    i = 5;
    for (int d = 0; d < 2000; d++)
        deep[i++] = '[';
    deep[i++] = '1';
    for (int d = 0; d < 2000; d++)
        deep[i++] = ']';
    memcpy(deep + i, ",\"pid\":3}", 10);
    CHECK(hook_json_long(deep, k_pid, &n) == -2);
    CHECK(hook_json_long("{\"x\":[[[1]]],\"pid\":3}", k_pid, &n) == 0 && n == 3);
    return 0;
}

/* Found by the cdi_json fuzz target: a key cut short by the end of the text made the
 * reader retry it from past the terminating NUL and go on reading whatever memory followed.
 * Here what follows is a well-formed member, which the reader used to find. */
static int test_unterminated_key(void)
{
    static const char text[] = "{\"ab\0\"x\":0,\"pid\":7}";
    long n = -1;

    CHECK(hook_json_long(text, k_pid, &n) == -2);
    CHECK(n == -1);
    CHECK(hook_json_long("{\"i%Vot&", k_pid, &n) == -2);
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {TEST(test_state), TEST(test_nested), TEST(test_refusals), TEST(test_depth),
                                             TEST(test_unterminated_key)};
    return RUN_TESTS(tests);
}
