/* Just enough JSON: the flat request objects of the shim protocol, status reports, and
 * strings encoded byte for byte as Python's json module (and Docker's json-file log). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

struct parser {
    const char *s;
    size_t len, pos;
    char *error;
    size_t error_size;
};

static int fail(struct parser *p, const char *what)
{
    snprintf(p->error, p->error_size, "%s: char %zu", what, p->pos);
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) != NULL && p->s[p->pos] != '\0')
        p->pos++;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
    unsigned char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (unsigned char)(0xF0 | cp >> 18);
        out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_add(b, out, n);
}

static int hex4(struct parser *p, uint32_t *out)
{
    if (p->pos + 4 > p->len)
        return fail(p, "Invalid \\uXXXX escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return fail(p, "Invalid \\uXXXX escape");
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* At the opening quote; decodes into `out` (NUL-terminated). */
static int parse_string(struct parser *p, struct buf *out)
{
    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "Unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(p, "Invalid control character");
        if (c != '\\') {
            buf_add(out, &c, 1);
            continue;
        }
        if (p->pos >= p->len)
            return fail(p, "Unterminated string");
        char e = p->s[p->pos++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(from, e) : NULL;
        if (hit != NULL) {
            buf_add(out, to + (hit - from), 1);
            continue;
        }
        if (e != 'u')
            return fail(p, "Invalid \\escape");
        uint32_t cp;
        if (hex4(p, &cp) < 0)
            return -1;
        if (cp >= 0xD800 && cp < 0xDC00 && p->pos + 6 <= p->len && p->s[p->pos] == '\\' &&
            p->s[p->pos + 1] == 'u') {
            size_t save = p->pos;
            uint32_t low;
            p->pos += 2;
            if (hex4(p, &low) == 0 && low >= 0xDC00 && low < 0xE000)
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            else
                p->pos = save;
        }
        if (cp >= 0xD800 && cp < 0xE000)
            cp = 0xFFFD; /* a lone surrogate has no UTF-8 */
        put_utf8(out, cp);
    }
    buf_add(out, "", 1);
    out->len--;
    return 0;
}

static int parse_value(struct parser *p, struct jval *v, int depth);

static int parse_container(struct parser *p, char open, int depth)
{
    char close = open == '{' ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        struct jval v;
        skip_ws(p);
        if (open == '{') {
            struct buf key = {0};
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, "Expecting property name enclosed in double quotes");
            int r = parse_string(p, &key);
            buf_free(&key);
            if (r < 0)
                return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, "Expecting ':' delimiter");
            p->pos++;
        }
        if (parse_value(p, &v, depth + 1) < 0)
            return -1;
        free(v.str);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return 0;
        }
        return fail(p, "Expecting ',' delimiter");
    }
}

static int parse_value(struct parser *p, struct jval *v, int depth)
{
    memset(v, 0, sizeof(*v));
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "Expecting value");
    if (depth > 64)
        return fail(p, "Nested too deeply");
    size_t start = p->pos;
    char c = p->s[p->pos];
    if (c == '"') {
        struct buf str = {0};
        if (parse_string(p, &str) < 0) {
            buf_free(&str);
            return -1;
        }
        v->type = J_STR;
        v->str = str.data ? str.data : calloc(1, 1);
        v->str_len = str.len;
    } else if (c == '{' || c == '[') {
        if (parse_container(p, c, depth) < 0)
            return -1;
        v->type = c == '{' ? J_OBJ : J_ARR;
    } else if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "true", 4) == 0) {
        v->type = J_TRUE;
        p->pos += 4;
    } else if (p->len - p->pos >= 5 && memcmp(p->s + p->pos, "false", 5) == 0) {
        v->type = J_FALSE;
        p->pos += 5;
    } else if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
        v->type = J_NULL;
        p->pos += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char text[64];
        size_t n = 0;
        while (p->pos < p->len && n < sizeof(text) - 1 &&
               strchr("+-.eE0123456789", p->s[p->pos]) != NULL && p->s[p->pos] != '\0')
            text[n++] = p->s[p->pos++];
        text[n] = '\0';
        char *end;
        v->num = strtod(text, &end);
        if (*end != '\0' || n == 0)
            return fail(p, "Invalid number");
        v->type = J_NUM;
    } else {
        return fail(p, "Expecting value");
    }
    v->raw = p->s + start;
    v->raw_len = p->pos - start;
    return 0;
}

int json_parse_object(const char *text, size_t len, struct jobj *out, char *error, size_t size)
{
    struct parser p = {text, len, 0, error, size};
    memset(out, 0, sizeof(*out));
    skip_ws(&p);
    if (p.pos >= p.len || text[p.pos] != '{')
        return fail(&p, "Expecting a JSON object");
    p.pos++;
    skip_ws(&p);
    if (p.pos < p.len && text[p.pos] == '}') {
        p.pos++;
    } else {
        for (;;) {
            struct buf key = {0};
            skip_ws(&p);
            if (p.pos >= p.len || text[p.pos] != '"') {
                buf_free(&key);
                json_free(out);
                return fail(&p, "Expecting property name enclosed in double quotes");
            }
            if (parse_string(&p, &key) < 0) {
                buf_free(&key);
                json_free(out);
                return -1;
            }
            skip_ws(&p);
            struct jval v;
            if (p.pos >= p.len || text[p.pos] != ':') {
                buf_free(&key);
                json_free(out);
                return fail(&p, "Expecting ':' delimiter");
            }
            p.pos++;
            if (parse_value(&p, &v, 1) < 0) {
                buf_free(&key);
                json_free(out);
                return -1;
            }
            struct jfield *fields = realloc(out->fields, sizeof(*fields) * (size_t)(out->n + 1));
            if (fields == NULL)
                abort();
            out->fields = fields;
            fields[out->n].key = key.data ? key.data : calloc(1, 1);
            fields[out->n].val = v;
            out->n++;
            skip_ws(&p);
            if (p.pos < p.len && text[p.pos] == ',') {
                p.pos++;
                continue;
            }
            if (p.pos < p.len && text[p.pos] == '}') {
                p.pos++;
                break;
            }
            json_free(out);
            return fail(&p, "Expecting ',' delimiter");
        }
    }
    skip_ws(&p);
    if (p.pos != p.len) {
        json_free(out);
        return fail(&p, "Extra data");
    }
    return 0;
}

/* A JSON array of strings, or null for none: `*out` (`*n` of them, each NUL-terminated and
 * holding no NUL, as an argv or environment entry must); 0, or -1 with `error` set. */
int json_parse_strings(const char *text, size_t len, char ***out, int *n, char *error,
                       size_t size)
{
    struct parser p = {text, len, 0, error, size};
    *out = NULL;
    *n = 0;
    skip_ws(&p);
    if (p.len - p.pos >= 4 && memcmp(text + p.pos, "null", 4) == 0) {
        p.pos += 4;
        skip_ws(&p);
        return p.pos == p.len ? 0 : fail(&p, "Extra data");
    }
    if (p.pos >= p.len || text[p.pos] != '[')
        return fail(&p, "Expecting a JSON array");
    p.pos++;
    skip_ws(&p);
    int closed = p.pos < p.len && text[p.pos] == ']';
    if (closed)
        p.pos++;
    while (!closed) {
        skip_ws(&p);
        struct buf item = {0};
        if (p.pos >= p.len || text[p.pos] != '"' || parse_string(&p, &item) < 0) {
            if (p.pos >= p.len || text[p.pos] != '"')
                fail(&p, "Expecting a string");
            buf_free(&item);
            goto fail;
        }
        if (memchr(item.data, '\0', item.len) != NULL) {
            buf_free(&item);
            snprintf(error, size, "embedded null byte");
            goto fail;
        }
        char **items = realloc(*out, sizeof(*items) * (size_t)(*n + 1));
        if (items == NULL)
            abort();
        *out = items;
        items[(*n)++] = item.data ? item.data : calloc(1, 1);
        skip_ws(&p);
        if (p.pos < p.len && text[p.pos] == ',') {
            p.pos++;
            continue;
        }
        if (p.pos < p.len && text[p.pos] == ']') {
            p.pos++;
            closed = 1;
            continue;
        }
        fail(&p, "Expecting ',' delimiter");
        goto fail;
    }
    skip_ws(&p);
    if (p.pos == p.len)
        return 0;
    fail(&p, "Extra data");
fail:
    json_free_strings(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

void json_free_strings(char **items, int n)
{
    for (int i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

void json_free(struct jobj *obj)
{
    for (int i = 0; i < obj->n; i++) {
        free(obj->fields[i].key);
        free(obj->fields[i].val.str);
    }
    free(obj->fields);
    obj->fields = NULL;
    obj->n = 0;
}

const struct jval *json_get(const struct jobj *obj, const char *key)
{
    for (int i = obj->n - 1; i >= 0; i--) /* the last of duplicate keys, as Python */
        if (strcmp(obj->fields[i].key, key) == 0)
            return &obj->fields[i].val;
    return NULL;
}

int json_truthy(const struct jval *v, int missing)
{
    if (v == NULL)
        return missing;
    switch (v->type) {
    case J_NULL:
    case J_FALSE:
        return 0;
    case J_TRUE:
        return 1;
    case J_NUM:
        return v->num != 0;
    case J_STR:
        return v->str_len > 0;
    case J_ARR:
    case J_OBJ:
        return v->raw_len > 2; /* "[]" / "{}"; whitespace inside counts as not empty */
    }
    return 0;
}

int json_int(const struct jval *v, long long *out)
{
    if (v == NULL)
        return -1;
    if (v->type == J_TRUE || v->type == J_FALSE) {
        *out = v->type == J_TRUE;
        return 0;
    }
    if (v->type == J_NUM) {
        if (!isfinite(v->num))
            return -1;
        *out = (long long)v->num;
        return 0;
    }
    if (v->type == J_STR) {
        char *end;
        errno = 0;
        long long n = strtoll(v->str, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        if (end == v->str || *end != '\0' || errno != 0)
            return -1;
        *out = n;
        return 0;
    }
    return -1;
}

size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    uint32_t v;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= len || s[i] < lo || s[i] > hi) {
            *cp = 0xFFFD; /* the start and the valid continuation bytes so far: one U+FFFD */
            return i;
        }
        lo = 0x80;
        hi = 0xBF;
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return need + 1;
}

void json_string(struct buf *out, const char *s, size_t len, int go_log)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    buf_add(out, "\"", 1);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next(u + i, len - i, &cp);
        char esc[13];
        const char *simple = NULL;
        switch (cp) {
        case '"': simple = "\\\""; break;
        case '\\': simple = "\\\\"; break;
        case '\n': simple = "\\n"; break;
        case '\r': simple = "\\r"; break;
        case '\t': simple = "\\t"; break;
        case '\b': simple = "\\b"; break;
        case '\f': simple = "\\f"; break;
        default: break;
        }
        if (simple != NULL) {
            buf_adds(out, simple);
        } else if (cp < 0x20 || (go_log && (cp == '<' || cp == '>' || cp == '&' ||
                                            cp == 0x2028 || cp == 0x2029)) ||
                   (!go_log && cp > 0x7E && cp < 0x10000)) {
            esc[0] = '\\';
            esc[1] = 'u';
            for (int k = 0; k < 4; k++)
                esc[2 + k] = hex[cp >> (12 - 4 * k) & 0xF];
            buf_add(out, esc, 6);
        } else if (!go_log && cp >= 0x10000) {
            uint32_t v = cp - 0x10000, high = 0xD800 | v >> 10, low = 0xDC00 | (v & 0x3FF);
            for (int half = 0; half < 2; half++) {
                uint32_t unit = half ? low : high;
                esc[0] = '\\';
                esc[1] = 'u';
                for (int k = 0; k < 4; k++)
                    esc[2 + k] = hex[unit >> (12 - 4 * k) & 0xF];
                buf_add(out, esc, 6);
            }
        } else if (cp == 0xFFFD && !(n == 3 && u[i] == 0xEF)) {
            buf_add(out, "\xEF\xBF\xBD", 3); /* a replaced invalid sequence */
        } else {
            buf_add(out, s + i, n);
        }
        i += n;
    }
    buf_add(out, "\"", 1);
}
