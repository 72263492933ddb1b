/* Identifier patterns and semver precedence (protocol/fields.ts, protocol/semver.ts). */
#include "wf/text.h"

#include <string.h>

static bool is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool all_of(wf_slice_t s, const char *extra)
{
    size_t i;
    if (s.len < 1u || s.len > 64u) { return false; }
    for (i = 0; i < s.len; i++) {
        if (!is_alnum(s.ptr[i]) && strchr(extra, s.ptr[i]) == NULL) { return false; }
        if (s.ptr[i] == '\0') { return false; }
    }
    return true;
}

bool wf_is_device_id(wf_slice_t s) { return all_of(s, "_-"); }
bool wf_is_component(wf_slice_t s) { return all_of(s, "._-"); }

/* One numeric core part: 0 or [1-9][0-9]{0,8}. Advances *i. */
static bool core_number(wf_slice_t s, size_t *i, unsigned long *value)
{
    size_t start = *i;
    unsigned long v = 0;
    while (*i < s.len && s.ptr[*i] >= '0' && s.ptr[*i] <= '9') {
        v = v * 10u + (unsigned long)(s.ptr[*i] - '0');
        (*i)++;
    }
    if (*i == start || *i - start > 9u) { return false; }
    if (s.ptr[start] == '0' && *i - start > 1u) { return false; }
    if (value != NULL) { *value = v; }
    return true;
}

bool wf_is_semver(wf_slice_t s)
{
    size_t i = 0, k;
    int part;
    for (part = 0; part < 3; part++) {
        if (!core_number(s, &i, NULL)) { return false; }
        if (part < 2) {
            if (i >= s.len || s.ptr[i] != '.') { return false; }
            i++;
        }
    }
    if (i == s.len) { return true; }
    if (s.ptr[i] != '-') { return false; }
    i++;
    if (s.len - i < 1u || s.len - i > 20u) { return false; }
    for (k = i; k < s.len; k++) {
        if (!is_alnum(s.ptr[k]) && s.ptr[k] != '.' && s.ptr[k] != '-') { return false; }
    }
    return true;
}

int wf_slice_compare(wf_slice_t a, wf_slice_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = (n > 0u) ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) { return c; }
    return (a.len > b.len) - (a.len < b.len);
}

static bool all_digits(wf_slice_t s)
{
    size_t i;
    if (s.len == 0u) { return false; }
    for (i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9') { return false; }
    }
    return true;
}

/* Next dot-separated identifier of a prerelease, from *i. */
static wf_slice_t next_ident(wf_slice_t s, size_t *i)
{
    wf_slice_t id;
    size_t start = *i;
    while (*i < s.len && s.ptr[*i] != '.') { (*i)++; }
    id.ptr = s.ptr + start;
    id.len = *i - start;
    if (*i < s.len) { (*i)++; }
    return id;
}

static int compare_ident(wf_slice_t a, wf_slice_t b)
{
    bool an = all_digits(a), bn = all_digits(b);
    if (an && bn) {
        if (a.len != b.len) { return a.len < b.len ? -1 : 1; } /* no leading zeros to worry of */
        return wf_slice_compare(a, b);
    }
    if (an) { return -1; }
    if (bn) { return 1; }
    return wf_slice_compare(a, b);
}

int wf_semver_compare(wf_slice_t a, wf_slice_t b)
{
    size_t ia = 0, ib = 0;
    int part;
    wf_slice_t pa, pb;
    for (part = 0; part < 3; part++) {
        unsigned long va = 0, vb = 0;
        (void)core_number(a, &ia, &va);
        (void)core_number(b, &ib, &vb);
        if (va != vb) { return va < vb ? -1 : 1; }
        ia++;
        ib++;
    }
    /* after the loop ia/ib point one past the '-' (or past the end): prerelease or none */
    pa.ptr = a.ptr + (ia <= a.len ? ia : a.len);
    pa.len = (ia <= a.len) ? a.len - ia : 0u;
    pb.ptr = b.ptr + (ib <= b.len ? ib : b.len);
    pb.len = (ib <= b.len) ? b.len - ib : 0u;
    if (pa.len == 0u || pb.len == 0u) {
        /* a version without prerelease ranks above one with (semver §11.3) */
        return (pa.len == 0u) - (pb.len == 0u) == 0 ? 0 : (pa.len == 0u ? 1 : -1);
    }
    {
        size_t i = 0, k = 0;
        while (i < pa.len && k < pb.len) {
            wf_slice_t x = next_ident(pa, &i), y = next_ident(pb, &k);
            int c = compare_ident(x, y);
            if (c != 0) { return c; }
        }
        if (i < pa.len) { return 1; }
        if (k < pb.len) { return -1; }
    }
    return 0;
}
