/* A JSON walker for OCI state and config documents: no allocation, no recursion limit
 * beyond a fixed depth, strings unescaped only for the member asked for. */
#include "json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct cur {
    const char *p;
};

static void ws(struct cur *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
        c->p++;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Reads a string at c (on its opening quote); out may be NULL (skip). -2 malformed or too
 * long, with c left on the opening quote: a caller may read the same string again (find
 * skips a key too long for its buffer), and must never resume past a NUL met inside. */
static int string(struct cur *c, char *out, size_t outsz)
{
    const char *p = c->p;
    size_t n = 0;
    if (*p != '"')
        return -2;
    p++;
    for (;;) {
        unsigned cp;
        char ch = *p++;
        if (ch == '\0' || (unsigned char)ch < 0x20)
            return -2;
        if (ch == '"')
            break;
        if (ch != '\\') {
            cp = (unsigned char)ch;
        } else {
            ch = *p++;
            switch (ch) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                int h[4];
                for (int i = 0; i < 4; i++)
                    if ((h[i] = hexval(p[i])) < 0)
                        return -2;
                cp = (unsigned)(h[0] << 12 | h[1] << 8 | h[2] << 4 | h[3]);
                p += 4;
                /* Paths never need code points beyond ASCII escapes; refuse the rest rather
                 * than decode surrogates wrongly. NUL would cut a path short. */
                if (cp == 0 || cp > 0x7f)
                    return -2;
                break;
            }
            default: return -2;
            }
        }
        if (out != NULL) {
            if (n + 1 >= outsz)
                return -2;
            out[n++] = (char)cp;
        }
    }
    if (out != NULL)
        out[n] = '\0';
    c->p = p;
    return 0;
}

static int value(struct cur *c, int depth);

static int container(struct cur *c, int depth, char open, char close)
{
    if (depth > MAX_DEPTH)
        return -2;
    c->p++; /* open */
    ws(c);
    if (*c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        ws(c);
        if (open == '{') {
            if (string(c, NULL, 0) < 0)
                return -2;
            ws(c);
            if (*c->p++ != ':')
                return -2;
        }
        if (value(c, depth + 1) < 0)
            return -2;
        ws(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return 0;
        }
        return -2;
    }
}

static int literal(struct cur *c, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(c->p, word, n) != 0)
        return -2;
    c->p += n;
    return 0;
}

/* Skips one value. */
static int value(struct cur *c, int depth)
{
    ws(c);
    switch (*c->p) {
    case '{': return container(c, depth, '{', '}');
    case '[': return container(c, depth, '[', ']');
    case '"': return string(c, NULL, 0);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default: {
        char *end;
        errno = 0;
        (void)strtod(c->p, &end);
        if (end == c->p)
            return -2;
        c->p = end;
        return 0;
    }
    }
}

/* Positions c on the value of keys[0..] inside the object at c. -1 absent, -2 malformed. */
static int find(struct cur *c, const char *const *keys)
{
    char key[256];
    ws(c);
    if (*keys == NULL)
        return 0;
    if (*c->p != '{')
        return -1;
    c->p++;
    ws(c);
    if (*c->p == '}')
        return -1;
    for (;;) {
        int r;
        ws(c);
        r = string(c, key, sizeof(key));
        if (r == -2) {
            /* A key too long to be one we look for: skip it. */
            struct cur k = *c;
            if (string(&k, NULL, 0) < 0)
                return -2;
            *c = k;
            key[0] = '\0';
        }
        ws(c);
        if (*c->p++ != ':')
            return -2;
        ws(c);
        if (strcmp(key, keys[0]) == 0)
            return find(c, keys + 1);
        if (value(c, 1) < 0)
            return -2;
        ws(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == '}')
            return -1;
        return -2;
    }
}

int hook_json_string(const char *text, const char *const *keys, char *out, size_t outsz)
{
    struct cur c = {text};
    int r = find(&c, keys);
    if (r < 0)
        return r;
    if (*c.p != '"')
        return -1;
    return string(&c, out, outsz);
}

int hook_json_long(const char *text, const char *const *keys, long *out)
{
    struct cur c = {text};
    char *end;
    long v;
    int r = find(&c, keys);
    if (r < 0)
        return r;
    if (*c.p != '-' && (*c.p < '0' || *c.p > '9'))
        return -1;
    errno = 0;
    v = strtol(c.p, &end, 10);
    if (errno != 0 || *end == '.' || *end == 'e' || *end == 'E')
        return -1;
    *out = v;
    return 0;
}
