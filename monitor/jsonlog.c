/* Docker's json-file log driver, byte for byte as src/ketch/shim/jsonlog.py writes it:
 * one JSON object a line, output split on newlines, lines over 16 KiB cut into pieces,
 * rotation to <path>.1, .2 ... at max-size. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"

#define MAX_LINE (16 * 1024)

static const char *const STREAMS[2] = {"stdout", "stderr"};

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void rfc3339_nano(char out[40], int64_t ns)
{
    time_t seconds = (time_t)(ns / 1000000000);
    long nanos = (long)(ns % 1000000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%09ldZ", nanos);
}

void jlog_init(struct jlog *log, const char *path, int fd, long long max_size, int max_files)
{
    memset(log, 0, sizeof(*log));
    log->path = strdup(path);
    log->fd = fd;
    log->max_size = max_size > 0 ? max_size : 0;
    log->max_files = max_files > 1 ? max_files : 1;
    struct stat st;
    log->size = fstat(fd, &st) == 0 ? st.st_size : 0;
}

static void encode_line(struct buf *out, const char *msg, size_t len, int stream, const char *time)
{
    buf_adds(out, "{\"log\":");
    json_string(out, msg, len, 1);
    buf_addf(out, ",\"stream\":\"%s\",\"time\":\"%s\"}\n", STREAMS[stream], time);
}

static int append(struct jlog *log, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    ssize_t written = write(log->fd, data, len);
    if (written < 0)
        return -1;
    if ((size_t)written < len) {
        /* The disk took part of a line: cut it off, so readers never meet a torn one. */
        if (ftruncate(log->fd, log->size) < 0) {
            /* the ENOSPC below is what the caller needs to hear */
        }
        errno = ENOSPC;
        return -1;
    }
    log->size += written;
    return 0;
}

static int rotate(struct jlog *log)
{
    close(log->fd);
    log->fd = -1;
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC;
    size_t n = strlen(log->path) + 32;
    char *older = malloc(n), *newer = malloc(n);
    int result = 0;
    if (log->max_files > 1) {
        for (int index = log->max_files - 1; index > 1; index--) {
            snprintf(older, n, "%s.%d", log->path, index - 1);
            snprintf(newer, n, "%s.%d", log->path, index);
            if (access(older, F_OK) == 0 && rename(older, newer) < 0) {
                result = -1;
                goto out;
            }
        }
        snprintf(newer, n, "%s.1", log->path);
        if (rename(log->path, newer) < 0) {
            result = -1;
            goto out;
        }
    } else {
        flags |= O_TRUNC;
    }
    log->fd = open(log->path, flags, 0640);
    if (log->fd < 0)
        result = -1;
    log->size = 0;
out:
    free(older);
    free(newer);
    if (result < 0 && log->fd < 0)
        errno = errno ? errno : EBADF;
    return result;
}

/* Each message (pieces of `data` delimited by `ends`) as one line, all stamped `now`. */
static int write_messages(struct jlog *log, int stream, const char *data, const size_t *ends,
                          size_t count)
{
    char time[40];
    rfc3339_nano(time, now_ns());
    struct buf batch = {0}, line = {0};
    size_t start = 0;
    int result = 0;
    for (size_t i = 0; i < count; i++) {
        line.len = 0;
        encode_line(&line, data + start, ends[i] - start, stream, time);
        start = ends[i];
        long long pending = log->size + (long long)batch.len;
        if (log->max_size && pending && pending + (long long)line.len > log->max_size) {
            if (append(log, batch.data, batch.len) < 0 || rotate(log) < 0) {
                result = -1;
                goto out;
            }
            batch.len = 0;
        }
        buf_add(&batch, line.data, line.len);
    }
    if (log->fd < 0) {
        errno = EBADF;
        result = -1;
    } else {
        result = append(log, batch.data, batch.len);
    }
out:
    buf_free(&batch);
    buf_free(&line);
    return result;
}

int jlog_write(struct jlog *log, int stream, const char *data, size_t len)
{
    struct buf *pending = &log->pending[stream];
    buf_add(pending, data, len);
    size_t count = 0, start = 0;
    /* The ends of the complete messages, as jsonlog.split_lines cuts them. */
    size_t *ends = NULL, ends_cap = 0;
#define PUSH(e)                                                                  \
    do {                                                                         \
        if (count == ends_cap) {                                                 \
            ends_cap = ends_cap ? ends_cap * 2 : 16;                             \
            ends = realloc(ends, ends_cap * sizeof(*ends));                      \
            if (ends == NULL)                                                    \
                abort();                                                         \
        }                                                                        \
        ends[count++] = (e);                                                     \
    } while (0)
    for (;;) {
        const char *nl = memchr(pending->data + start, '\n', pending->len - start);
        if (nl == NULL)
            break;
        size_t end = (size_t)(nl - pending->data) + 1;
        while (end - start > MAX_LINE) {
            start += MAX_LINE;
            PUSH(start);
        }
        PUSH(end);
        start = end;
    }
    while (pending->len - start >= MAX_LINE) {
        start += MAX_LINE;
        PUSH(start);
    }
#undef PUSH
    int result = 0;
    if (count > 0) {
        /* The rest stays pending whether or not the write succeeds, as in jsonlog.py. */
        struct buf messages = {0};
        buf_add(&messages, pending->data, start);
        buf_consume(pending, start);
        result = write_messages(log, stream, messages.data, ends, count);
        int saved = errno;
        buf_free(&messages);
        errno = saved;
    }
    free(ends);
    return result;
}

int jlog_close(struct jlog *log)
{
    int result = 0, saved = 0;
    for (int stream = 0; stream < 2; stream++) {
        struct buf *pending = &log->pending[stream];
        if (pending->len == 0)
            continue;
        struct buf rest = *pending;
        size_t end = rest.len;
        memset(pending, 0, sizeof(*pending));
        if (write_messages(log, stream, rest.data, &end, 1) < 0 && result == 0) {
            result = -1;
            saved = errno;
        }
        buf_free(&rest);
    }
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    free(log->path);
    log->path = NULL;
    buf_free(&log->pending[0]);
    buf_free(&log->pending[1]);
    errno = saved;
    return result;
}
