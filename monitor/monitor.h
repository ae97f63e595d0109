/* ketch-monitor: a container's monitor once the Python shim has set it up.
 * See docs/architecture.md (shim) and docs/interfaces.md (shim/). */
#ifndef KETCH_MONITOR_H
#define KETCH_MONITOR_H

#include <stddef.h>
#include <stdint.h>

/* --- growable byte buffers (buf.c) --- */
struct buf {
    char *data;
    size_t len, cap;
};
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

/* --- JSON (json.c) --- */
enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };
struct jval {
    enum jtype type;
    const char *raw; /* the value's text in the parsed document */
    size_t raw_len;
    char *str;       /* J_STR: decoded, NUL-terminated (UTF-8) */
    size_t str_len;
    double num;
};
struct jfield {
    char *key;
    struct jval val;
};
struct jobj {
    struct jfield *fields;
    int n;
};
/* Parses one JSON object (nested values are kept as raw text); 0, or -1 with `error` set. */
int json_parse_object(const char *text, size_t len, struct jobj *out, char *error, size_t size);
void json_free(struct jobj *obj);
/* A JSON array of strings (or null: none), each NUL-terminated and without a NUL inside;
 * 0, or -1 with `error` set. */
int json_parse_strings(const char *text, size_t len, char ***out, int *n, char *error,
                       size_t size);
void json_free_strings(char **items, int n);
const struct jval *json_get(const struct jobj *obj, const char *key);
/* Python's truth of a value; `missing` when absent. */
int json_truthy(const struct jval *v, int missing);
/* Python's int() of a number or a numeric string; 0 on success, -1 if it has none. */
int json_int(const struct jval *v, long long *out);

/* UTF-8 decoding as Python's errors="replace": one U+FFFD per maximal invalid subpart. */
size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp);
/* A JSON string of `len` bytes: as Python's json.dumps (ensure_ascii), or with `go_log`
 * as the json-file log writes it (UTF-8 kept, <>& U+2028 U+2029 escaped as Go does). */
void json_string(struct buf *out, const char *s, size_t len, int go_log);

/* --- the json-file log (jsonlog.c) --- */
struct jlog {
    char *path;
    long long max_size;
    int max_files;
    int fd;
    long long size;
    struct buf pending[2]; /* stdout, stderr */
};
void jlog_init(struct jlog *log, const char *path, int fd, long long max_size, int max_files);
/* Raw output of `stream` (0 stdout, 1 stderr); -1 with errno on a write failure. */
int jlog_write(struct jlog *log, int stream, const char *data, size_t len);
/* Writes what is left without a newline and closes; -1 with errno if that failed. */
int jlog_close(struct jlog *log);
void rfc3339_nano(char out[40], int64_t ns);
int64_t now_ns(void);

#endif
