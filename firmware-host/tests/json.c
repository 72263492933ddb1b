#include "json.h"

#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p) { while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++; return p; }

static jval_t *parse(const char **pp);

static char *parse_string(const char **pp)
{
    const char *p = *pp + 1;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    while (*p && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            char e = *p++;
            c = (e == 'n') ? '\n' : (e == 't') ? '\t' : (e == 'u') ? '?' : e;
            if (e == 'u') p += 4;
        }
        if (n + 2 > cap) { cap *= 2; out = realloc(out, cap); }
        out[n++] = c;
    }
    out[n] = 0;
    *pp = (*p == '"') ? p + 1 : p;
    return out;
}

static void push(jval_t *v, jval_t *item, char *key)
{
    v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
    v->items[v->n] = item;
    if (v->type == J_OBJ) { v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys); v->keys[v->n] = key; }
    v->n++;
}

static jval_t *parse(const char **pp)
{
    const char *p = ws(*pp);
    jval_t *v = calloc(1, sizeof *v);
    if (*p == '{' || *p == '[') {
        char close = (*p == '{') ? '}' : ']';
        v->type = (*p == '{') ? J_OBJ : J_ARR;
        p = ws(p + 1);
        while (*p && *p != close) {
            char *key = NULL;
            if (v->type == J_OBJ) { key = parse_string(&p); p = ws(p); if (*p == ':') p++; }
            push(v, parse(&p), key);
            p = ws(p);
            if (*p == ',') p = ws(p + 1);
        }
        if (*p) p++;
    } else if (*p == '"') {
        v->type = J_STR;
        v->str = parse_string(&p);
    } else if (strncmp(p, "true", 4) == 0) { v->type = J_BOOL; v->b = true; p += 4; }
    else if (strncmp(p, "false", 5) == 0) { v->type = J_BOOL; p += 5; }
    else if (strncmp(p, "null", 4) == 0) { v->type = J_NULL; p += 4; }
    else { char *end; v->type = J_NUM; v->num = strtod(p, &end); p = end; }
    *pp = p;
    return v;
}

jval_t *json_parse(const char *text) { return parse(&text); }

void json_free(jval_t *v)
{
    size_t i;
    if (!v) return;
    for (i = 0; i < v->n; i++) { json_free(v->items[i]); if (v->keys) free(v->keys[i]); }
    free(v->items); free(v->keys); free(v->str); free(v);
}

const jval_t *json_get(const jval_t *obj, const char *key)
{
    size_t i;
    if (!obj || obj->type != J_OBJ) return NULL;
    for (i = 0; i < obj->n; i++) if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

const char *json_str(const jval_t *obj, const char *key)
{
    const jval_t *v = json_get(obj, key);
    return (v && v->type == J_STR) ? v->str : NULL;
}
