/* A small JSON reader for the test vectors' index.json (tests only; allocates). */
#ifndef WF_TEST_JSON_H
#define WF_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jval {
    jtype_t type;
    bool b;
    double num;
    char *str;               /* J_STR */
    size_t n;                /* J_ARR / J_OBJ element count */
    struct jval **items;     /* J_ARR / J_OBJ values */
    char **keys;             /* J_OBJ keys */
} jval_t;

jval_t *json_parse(const char *text);
void json_free(jval_t *v);
const jval_t *json_get(const jval_t *obj, const char *key);
const char *json_str(const jval_t *obj, const char *key); /* NULL unless a string */
#endif
