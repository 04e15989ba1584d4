#ifndef NVC_CDI_HOOK_JSON_H
#define NVC_CDI_HOOK_JSON_H

/* Just enough JSON for an OCI hook: find a member of an object by a path of keys and read
 * it as a string or an integer. The text is checked as it is walked; anything malformed on
 * the way to the member makes the lookup fail. */

#include <stddef.h>

/* keys: NULL-terminated path from the top-level object, e.g. {"root", "path", NULL}.
 * Returns 0 and the unescaped string in out (NUL-terminated), -1 when absent or not a
 * string, -2 when the text is malformed or the string does not fit. */
int hook_json_string(const char *text, const char *const *keys, char *out, size_t outsz);

/* The same for an integer member; -1 when absent or not an integer. */
int hook_json_long(const char *text, const char *const *keys, long *out);

#endif
