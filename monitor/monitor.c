/* ketch-monitor: what a container's shim becomes once set up (src/ketch/shim/server.py
 * execs it, same pid, so it stays the init's parent and the child subreaper).
 *
 * One poll loop holds the container's stdio, writes its json-file log, serves the
 * shim socket (frames.py framing, the requests of docs/interfaces.md), reaps, and
 * records the exit in shim-state.json. Its configuration comes as key=value lines on
 * the fd named by KETCH_MONITOR_CONFIG_FD; the fds it holds are inherited. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"

#define HIGH_WATER (1024 * 1024)
#define DRAIN_TIMEOUT 1.0
#define START_TIMEOUT 30.0
#define MAX_PAYLOAD (16 * 1024 * 1024)
#define CLEANUP_REAP_SECONDS 2.0

enum { F_STDIN, F_STDOUT, F_STDERR, F_CLOSE_STDIN, F_RESIZE, F_EXIT, F_CONTROL };

struct client;

struct proc {
    char *id; /* "" for the init */
    int tty, stdin_once;
    int out[2];        /* stdout (or the pty master), stderr; -1 once closed */
    int master, stdin_w;
    int child_fds[3];  /* an exec's ends until it is forked */
    struct jlog *log;
    int log_failing;
    pid_t pid;         /* 0: not started */
    const char *status;
    int has_exit;
    int exit_code, oom_killed, reaped, paused;
    char started_at[40], finished_at[40];
    struct buf stdin_buffer;
    int stdin_closing;
    double drain_deadline; /* after the reap: exit reported even if output stays open */
    char *spec;            /* an exec's spec, as the request's JSON */
    struct proc *next;
};

struct client {
    int fd;
    struct buf in, out;
    struct proc *proc;
    /* hung_up: a protocol error; nothing more is read, what is queued is still sent */
    /* draining: all sent and our side shut; what the peer still sends is read and dropped
     * until it closes, since closing with unread input would reset the connection and
     * could take the output not yet read by the peer with it */
    int attached, waiting, want_out[2], has_stdin, closing, closed, hung_up, draining;
    struct client *next;
};

/* The configuration, as server.py wrote it. */
struct config {
    char *id, *state_dir, *socket, *python, *python_path, *seccomp_file;
    char *exec_process_file;
    char *freezer_kind, *freezer_dir, *oom_file;
    char **cgroup_dirs, **cgroup_procs;
    int n_cgroup_dirs, n_cgroup_procs;
    unsigned long long socket_ino;
    double linger;
    long long shim_start_time, init_start_time;
    int has_init_start_time;
};

static struct config cfg;
static struct proc *init_proc, *procs;
static struct client *clients;
static int listen_fd = -1, signal_fd = -1, sync_fd = -1, status_fd = -1, ready_fd = -1;
static int exiting;
static double linger_deadline = -1;
static int cgroup_paused;
static char start_error[4096];
static struct buf state_cache; /* the state's fields, "k": v, ... (no braces) */

/* --- small things ------------------------------------------------------- */

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stamp(char out[40])
{
    rfc3339_nano(out, now_ns());
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("ketch-monitor: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    fflush(stderr);
    va_end(args);
}

static void set_cloexec(int fd, int on)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0)
        fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Python's str(OSError): "[Errno 2] No such file or directory: 'path'". */
static void os_error(char *out, size_t size, int err, const char *path)
{
    if (path != NULL)
        snprintf(out, size, "[Errno %d] %s: '%s'", err, strerror(err), path);
    else
        snprintf(out, size, "[Errno %d] %s", err, strerror(err));
}

static int read_file(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < size - 1) {
        ssize_t r = read(fd, out + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    out[n] = '\0';
    return (int)n;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return r < 0 ? -1 : 0;
}

/* Field 22 of /proc/<pid>/stat, the start time a reused pid does not share; -1 if gone. */
static long long proc_start_time(pid_t pid)
{
    char path[64], stat[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_file(path, stat, sizeof(stat)) <= 0)
        return -1;
    char *p = strrchr(stat, ')');
    if (p == NULL)
        return -1;
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return -1;
        p++;
    }
    return strtoll(p, NULL, 10);
}

/* --- configuration ------------------------------------------------------ */

static int config_int(const char *value)
{
    return (int)strtol(value, NULL, 10);
}

static char **append_str(char **list, int *n, const char *value)
{
    list = realloc(list, sizeof(*list) * (size_t)(*n + 1));
    if (list == NULL)
        abort();
    list[(*n)++] = strdup(value);
    return list;
}

static void read_config(int fd, int *log_fd, long long *log_max_size, int *log_max_files,
                        char **log_path, int *tty, int *open_stdin)
{
    struct buf text = {0};
    char chunk[4096];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof(chunk))) > 0)
        buf_add(&text, chunk, (size_t)r);
    close(fd);
    buf_add(&text, "", 1);
    int stdout_fd = -1, stderr_fd = -1, master_fd = -1, stdin_fd = -1;
    pid_t init_pid = 0;
    int stdin_once = 0;
    char *line = text.data, *save = NULL;
    for (line = strtok_r(text.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        const char *key = line, *value = eq + 1;
#define STR(name)                  \
    if (strcmp(key, #name) == 0) { \
        cfg.name = strdup(value);  \
        continue;                  \
    }
        STR(id) STR(state_dir) STR(socket) STR(python) STR(python_path) STR(seccomp_file)
        STR(exec_process_file)
        STR(freezer_kind) STR(freezer_dir) STR(oom_file)
#undef STR
        if (strcmp(key, "cgroup_dir") == 0)
            cfg.cgroup_dirs = append_str(cfg.cgroup_dirs, &cfg.n_cgroup_dirs, value);
        else if (strcmp(key, "cgroup_procs") == 0)
            cfg.cgroup_procs = append_str(cfg.cgroup_procs, &cfg.n_cgroup_procs, value);
        else if (strcmp(key, "socket_ino") == 0)
            cfg.socket_ino = strtoull(value, NULL, 10);
        else if (strcmp(key, "linger") == 0)
            cfg.linger = strtod(value, NULL);
        else if (strcmp(key, "shim_start_time") == 0)
            cfg.shim_start_time = strtoll(value, NULL, 10);
        else if (strcmp(key, "init_start_time") == 0) {
            cfg.has_init_start_time = *value != '\0';
            cfg.init_start_time = strtoll(value, NULL, 10);
        } else if (strcmp(key, "listen_fd") == 0)
            listen_fd = config_int(value);
        else if (strcmp(key, "ready_fd") == 0)
            ready_fd = config_int(value);
        else if (strcmp(key, "sync_fd") == 0)
            sync_fd = config_int(value);
        else if (strcmp(key, "status_fd") == 0)
            status_fd = config_int(value);
        else if (strcmp(key, "stdout_fd") == 0)
            stdout_fd = config_int(value);
        else if (strcmp(key, "stderr_fd") == 0)
            stderr_fd = config_int(value);
        else if (strcmp(key, "master_fd") == 0)
            master_fd = config_int(value);
        else if (strcmp(key, "stdin_fd") == 0)
            stdin_fd = config_int(value);
        else if (strcmp(key, "init_pid") == 0)
            init_pid = config_int(value);
        else if (strcmp(key, "tty") == 0)
            *tty = config_int(value);
        else if (strcmp(key, "open_stdin") == 0)
            *open_stdin = config_int(value);
        else if (strcmp(key, "stdin_once") == 0)
            stdin_once = config_int(value);
        else if (strcmp(key, "log_fd") == 0)
            *log_fd = config_int(value);
        else if (strcmp(key, "log_path") == 0)
            *log_path = strdup(value);
        else if (strcmp(key, "log_max_size") == 0)
            *log_max_size = strtoll(value, NULL, 10);
        else if (strcmp(key, "log_max_files") == 0)
            *log_max_files = config_int(value);
    }
    buf_free(&text);
    struct proc *p = calloc(1, sizeof(*p));
    p->id = strdup("");
    p->tty = *tty;
    p->stdin_once = stdin_once;
    p->out[0] = *tty ? master_fd : stdout_fd;
    p->out[1] = *tty ? -1 : stderr_fd;
    p->master = master_fd;
    p->stdin_w = stdin_fd;
    p->child_fds[0] = p->child_fds[1] = p->child_fds[2] = -1;
    p->pid = init_pid;
    p->status = "created";
    init_proc = procs = p;
}

/* --- cgroup ------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The pids of every procs file, sorted, without duplicates; their count. */
static int cgroup_pids(int **out)
{
    int *pids = NULL, n = 0;
    for (int i = 0; i < cfg.n_cgroup_procs; i++) {
        FILE *f = fopen(cfg.cgroup_procs[i], "re");
        if (f == NULL)
            continue;
        int pid;
        while (fscanf(f, "%d", &pid) == 1) {
            pids = realloc(pids, sizeof(*pids) * (size_t)(n + 1));
            if (pids == NULL)
                abort();
            pids[n++] = pid;
        }
        fclose(f);
    }
    if (n > 1)
        qsort(pids, (size_t)n, sizeof(*pids), cmp_int);
    int unique = 0;
    for (int i = 0; i < n; i++)
        if (unique == 0 || pids[unique - 1] != pids[i])
            pids[unique++] = pids[i];
    *out = pids;
    return unique;
}

static int oom_killed(void)
{
    char text[4096];
    if (cfg.oom_file == NULL || *cfg.oom_file == '\0' ||
        read_file(cfg.oom_file, text, sizeof(text)) < 0)
        return 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "oom_kill ", 9) == 0)
            return strtoll(line + 9, NULL, 10) > 0;
    return 0;
}

/* docker pause/unpause; 0, or -1 with `error` set. Waits until the freezer got there. */
static int cgroup_freeze(int frozen, char *error, size_t size)
{
    char path[4096], wanted[32], text[4096];
    int v2 = cfg.freezer_kind != NULL && strcmp(cfg.freezer_kind, "v2") == 0;
    if (cfg.freezer_dir == NULL || *cfg.freezer_dir == '\0') {
        os_error(error, size, ENOTSUP, NULL);
        snprintf(error, size, "[Errno %d] no freezer cgroup hierarchy", ENOTSUP);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", cfg.freezer_dir, v2 ? "cgroup.freeze" : "freezer.state");
    if (write_file(path, v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED")) < 0) {
        os_error(error, size, errno, path);
        return -1;
    }
    if (v2) {
        snprintf(wanted, sizeof(wanted), "frozen %d", frozen);
        snprintf(path, sizeof(path), "%s/cgroup.events", cfg.freezer_dir);
    } else {
        snprintf(wanted, sizeof(wanted), "%s", frozen ? "FROZEN" : "THAWED");
    }
    double deadline = monotonic() + 5;
    for (;;) {
        if (read_file(path, text, sizeof(text)) < 0) {
            os_error(error, size, errno, path);
            return -1;
        }
        int done = 0;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            if (strcmp(line, wanted) == 0)
                done = 1;
        if (done)
            return 0;
        if (monotonic() > deadline) {
            snprintf(error, size, "the cgroup did not reach its freezer state");
            return -1;
        }
        usleep(1000);
    }
}

/* --- state -------------------------------------------------------------- */

static const char *shown_status(void)
{
    if (cgroup_paused && strcmp(init_proc->status, "running") == 0)
        return "paused";
    return init_proc->status;
}

static void add_string_field(struct buf *b, const char *key, const char *value)
{
    buf_addf(b, "\"%s\": ", key);
    json_string(b, value, strlen(value), 0);
}

/* shim-state.json, sorted keys as json.dumps(sort_keys=True); also what `state` replies. */
static void write_state(void)
{
    struct proc *init = init_proc;
    if (init->pid && !init->reaped) {
        long long t = proc_start_time(init->pid);
        if (t >= 0) {
            cfg.init_start_time = t;
            cfg.has_init_start_time = 1;
        }
    }
    struct buf *b = &state_cache;
    b->len = 0;
    add_string_field(b, "error", start_error);
    if (init->has_exit)
        buf_addf(b, ", \"exit_code\": %d", init->exit_code);
    else
        buf_adds(b, ", \"exit_code\": null");
    buf_adds(b, ", ");
    add_string_field(b, "finished_at", init->finished_at);
    buf_adds(b, ", ");
    add_string_field(b, "id", cfg.id);
    if (init->pid)
        buf_addf(b, ", \"init_pid\": %d", (int)init->pid);
    else
        buf_adds(b, ", \"init_pid\": null");
    if (cfg.has_init_start_time)
        buf_addf(b, ", \"init_start_time\": %lld", cfg.init_start_time);
    else
        buf_adds(b, ", \"init_start_time\": null");
    buf_addf(b, ", \"oom_killed\": %s", init->oom_killed ? "true" : "false");
    buf_addf(b, ", \"shim_pid\": %d, \"shim_start_time\": %lld", (int)getpid(),
             cfg.shim_start_time);
    buf_adds(b, ", ");
    add_string_field(b, "socket", cfg.socket);
    buf_adds(b, ", ");
    add_string_field(b, "started_at", init->started_at);
    buf_adds(b, ", ");
    add_string_field(b, "status", shown_status());

    /* Not fsynced: it describes processes, which an OS crash ends anyway. Three writes per
     * run: at create (by the Python side), at start, at exit. */
    char path[4096], temp[4096];
    snprintf(path, sizeof(path), "%s/shim-state.json", cfg.state_dir);
    snprintf(temp, sizeof(temp), "%s/.shim-state.json.%d.tmp", cfg.state_dir, (int)getpid());
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        note("cannot write %s: %s", temp, strerror(errno));
        return;
    }
    struct buf text = {0};
    buf_adds(&text, "{");
    buf_add(&text, b->data, b->len);
    buf_adds(&text, "}\n");
    ssize_t written = write(fd, text.data, text.len);
    int ok = written == (ssize_t)text.len;
    if (!ok)
        note("cannot write %s: %s", temp, written < 0 ? strerror(errno) : "short write");
    close(fd);
    buf_free(&text);
    /* A full disk: the file keeps its last state; clients get this one over the socket. */
    if (!ok || rename(temp, path) < 0) {
        if (ok)
            note("cannot rename %s: %s", temp, strerror(errno));
        unlink(temp);
    }
}

/* --- frames and replies ------------------------------------------------- */

static void send_frame(struct client *c, int type, const void *payload, size_t len)
{
    unsigned char header[8] = {(unsigned char)type, 0, 0, 0, (unsigned char)(len >> 24),
                               (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                               (unsigned char)len};
    buf_add(&c->out, header, 8);
    buf_add(&c->out, payload, len);
}

/* {"ok": true, <fields>} where `fields` is "" or `"k": v, ...`. */
static void reply_ok(struct client *c, const char *fields)
{
    struct buf b = {0};
    buf_adds(&b, "{\"ok\": true");
    if (*fields) {
        buf_adds(&b, ", ");
        buf_adds(&b, fields);
    }
    buf_adds(&b, "}");
    send_frame(c, F_CONTROL, b.data, b.len);
    buf_free(&b);
}

static void reply_error(struct client *c, const char *message, const char *kind, int has_code,
                        int code)
{
    struct buf b = {0};
    buf_adds(&b, "{\"ok\": false, \"error\": ");
    json_string(&b, message, strlen(message), 0);
    buf_addf(&b, ", \"kind\": \"%s\"", kind);
    if (has_code)
        buf_addf(&b, ", \"exit_code\": %d", code);
    buf_adds(&b, "}");
    send_frame(c, F_CONTROL, b.data, b.len);
    buf_free(&b);
}

static void exit_info(struct buf *b, struct proc *p)
{
    if (p->has_exit)
        buf_addf(b, "\"exit_code\": %d", p->exit_code);
    else
        buf_adds(b, "\"exit_code\": null");
    buf_addf(b, ", \"oom_killed\": %s, ", p->oom_killed ? "true" : "false");
    add_string_field(b, "finished_at", p->finished_at);
}

/* --- processes ---------------------------------------------------------- */

static int is_output(struct proc *p, int fd)
{
    return fd >= 0 && (p->out[0] == fd || p->out[1] == fd);
}

static void close_stdin_now(struct proc *p)
{
    if (p->stdin_w >= 0 && !is_output(p, p->stdin_w)) {
        close(p->stdin_w);
        p->stdin_w = -1;
    }
}

/* Writes what stdin takes now. */
static void flush_stdin(struct proc *p)
{
    while (p->stdin_buffer.len && p->stdin_w >= 0) {
        ssize_t n = write(p->stdin_w, p->stdin_buffer.data, p->stdin_buffer.len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            /* EPIPE, EIO, EBADF, or worse: nobody reads this input any more */
            buf_consume(&p->stdin_buffer, p->stdin_buffer.len);
            break;
        }
        buf_consume(&p->stdin_buffer, (size_t)n);
    }
    if (p->stdin_closing && !p->stdin_buffer.len)
        close_stdin_now(p);
}

static void write_stdin(struct proc *p, const char *data, size_t len)
{
    if (p->stdin_w < 0)
        return;
    buf_add(&p->stdin_buffer, data, len);
    flush_stdin(p);
}

/* Close the process's stdin once what is buffered for it has been written. */
static void close_stdin(struct proc *p)
{
    if (p->stdin_w < 0 || p->stdin_closing)
        return;
    if (p->tty) {
        write_stdin(p, "\x04", 1); /* a pty has no half-close: end-of-file is ^D */
        return;
    }
    p->stdin_closing = 1;
    flush_stdin(p);
}

static void finish(struct proc *p);

static void maybe_finish(struct proc *p)
{
    if (p->reaped && p->out[0] < 0 && p->out[1] < 0 && strcmp(p->status, "exited") != 0)
        finish(p);
}

static void close_output(struct proc *p, int index)
{
    int fd = p->out[index];
    p->out[index] = -1;
    if (fd == p->stdin_w) {
        p->stdin_w = -1;
        buf_consume(&p->stdin_buffer, p->stdin_buffer.len);
    }
    close(fd);
    maybe_finish(p);
}

static void read_output(struct proc *p, int index)
{
    static char data[65536];
    int fd = p->out[index];
    ssize_t n = read(fd, data, sizeof(data));
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        if (errno != EIO) /* EIO: the pty's last slave closed */
            note("reading output of %s: %s", *p->id ? p->id : "init", strerror(errno));
        n = 0;
    }
    if (n == 0) {
        close_output(p, index);
        return;
    }
    if (p->log != NULL) {
        if (jlog_write(p->log, index, data, (size_t)n) == 0) {
            p->log_failing = 0;
        } else if (!p->log_failing) {
            /* A full or vanished disk must not stop the container or its output to
             * attach: this output is lost to the log, and it is said once. */
            p->log_failing = 1;
            note("writing the log: %s", strerror(errno));
        }
    }
    for (struct client *c = clients; c; c = c->next) {
        if (c->proc != p || !c->attached || c->closed || !c->want_out[index])
            continue;
        send_frame(c, index == 0 ? F_STDOUT : F_STDERR, data, (size_t)n);
        if (c->out.len > HIGH_WATER)
            p->paused = 1;
    }
}

static void finish(struct proc *p)
{
    p->status = "exited";
    if (p->log != NULL) {
        if (jlog_close(p->log) < 0)
            note("closing the log: %s", strerror(errno));
        free(p->log);
        p->log = NULL;
    }
    if (p->stdin_w >= 0 && !is_output(p, p->stdin_w))
        close(p->stdin_w);
    p->stdin_w = -1;
    buf_consume(&p->stdin_buffer, p->stdin_buffer.len);
    char code[16];
    snprintf(code, sizeof(code), "%d", p->exit_code);
    struct buf info = {0};
    exit_info(&info, p);
    buf_add(&info, "", 1);
    for (struct client *c = clients; c; c = c->next) {
        if (c->proc != p || c->closed)
            continue;
        if (c->attached) {
            send_frame(c, F_EXIT, code, strlen(code));
            c->closing = 1;
            c->attached = 0;
        }
        if (c->waiting) {
            reply_ok(c, info.data);
            c->waiting = 0;
        }
    }
    buf_free(&info);
    if (p == init_proc)
        write_state();
}

static void force_finish(struct proc *p)
{
    if (strcmp(p->status, "exited") == 0)
        return;
    for (int index = 0; index < 2; index++) {
        if (p->out[index] < 0)
            continue;
        read_output(p, index);
        if (p->out[index] >= 0)
            close_output(p, index);
    }
    if (strcmp(p->status, "exited") != 0)
        finish(p);
}

static void on_signal(void)
{
    struct signalfd_siginfo info;
    while (read(signal_fd, &info, sizeof(info)) > 0) {
    }
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        struct proc *p = procs;
        while (p != NULL && !(p->pid == pid && !p->reaped))
            p = p->next;
        if (p == NULL)
            continue; /* an orphan of the container, reparented to us as subreaper */
        p->has_exit = 1;
        p->exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        p->reaped = 1;
        stamp(p->finished_at);
        if (p == init_proc)
            p->oom_killed = oom_killed();
        p->drain_deadline = monotonic() + DRAIN_TIMEOUT;
        maybe_finish(p);
    }
}

/* --- launching ---------------------------------------------------------- */

/* A child's status line (launch.py's protocol): 0 for end of file (it exec'd), 1 with
 * `message` and maybe `code` for a report, -1 on timeout (message set). */
static int read_report(int fd, double timeout, char *message, size_t size, int *has_code,
                       int *code, const char *fallback)
{
    struct buf data = {0};
    double deadline = monotonic() + timeout;
    *has_code = 0;
    while (data.len == 0 || data.data[data.len - 1] != '\n') {
        double remaining = deadline - monotonic();
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = remaining > 0 ? poll(&pfd, 1, (int)(remaining * 1000) + 1) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            buf_free(&data);
            snprintf(message, size, "timed out waiting for the container process");
            return -1;
        }
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf_add(&data, chunk, (size_t)n);
    }
    if (data.len == 0)
        return 0;
    struct jobj report;
    char error[256];
    int parsed = data.data[data.len - 1] == '\n' &&
                 json_parse_object(data.data, data.len, &report, error, sizeof(error)) == 0;
    if (!parsed) {
        /* a line cut short by the child's death: that text is the error */
        size_t start = 0, end = data.len;
        while (start < end && strchr(" \t\r\n", data.data[start]))
            start++;
        while (end > start && strchr(" \t\r\n", data.data[end - 1]))
            end--;
        struct buf text = {0};
        buf_add(&text, data.data + start, end - start);
        buf_add(&text, "", 1);
        snprintf(message, size, "%s", *text.data ? text.data : fallback);
        buf_free(&text);
    } else {
        const struct jval *e = json_get(&report, "error"), *c = json_get(&report, "exit_code");
        if (e != NULL && json_truthy(e, 0))
            snprintf(message, size, "%.*s", (int)(e->type == J_STR ? e->str_len : e->raw_len),
                     e->type == J_STR ? e->str : e->raw);
        else
            snprintf(message, size, "%s", fallback);
        if (c != NULL && c->type == J_NUM) {
            *has_code = 1;
            *code = (int)c->num;
        }
        json_free(&report);
    }
    buf_free(&data);
    return 1;
}

/* A pty from the container's devpts (so `tty` names /dev/pts/N inside), else the host's. */
static int open_pty(pid_t init_pid, int *master_out, int *slave_out)
{
    char path[256];
    snprintf(path, sizeof(path), "/proc/%d/root/dev/pts/ptmx", (int)init_pid);
    int master;
    if (access(path, F_OK) == 0) {
        master = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
            return -1;
        int unlock = 0;
        unsigned number;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &number) < 0) {
            close(master);
            return -1;
        }
        snprintf(path, sizeof(path), "/proc/%d/root/dev/pts/%u", (int)init_pid, number);
    } else {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
            ptsname_r(master, path, sizeof(path)) != 0) {
            if (master >= 0)
                close(master);
            return -1;
        }
    }
    int slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        close(master);
        return -1;
    }
    *master_out = master;
    *slave_out = slave;
    return 0;
}

/* An item of the exec helper's request: `key=value` and a NUL (values hold no NUL). */
static int add_item(struct buf *request, const char *key, const char *value, size_t len,
                    char *error, size_t size)
{
    if (memchr(value, '\0', len) != NULL) {
        snprintf(error, size, "the exec's %s has a NUL byte", key);
        return -1;
    }
    buf_addf(request, "%s=", key);
    buf_add(request, value, len);
    buf_add(request, "", 1);
    return 0;
}

/* What the exec helper reads on fd 4, so that it needs no JSON: `key=value` items, each
 * ended by a NUL: init_pid, process_file (the container's process, marshalled by the shim),
 * seccomp_file, then the exec's own: user, cwd, tty, privileged, an `arg` for each argument
 * and an `env` for each variable (none: the container's environment). */
static int exec_request(struct proc *p, struct buf *request, char *error, size_t size)
{
    struct jobj spec;
    if (json_parse_object(p->spec, strlen(p->spec), &spec, error, size) < 0)
        return -1;
    char number[32];
    snprintf(number, sizeof(number), "%d", (int)init_proc->pid);
    add_item(request, "init_pid", number, strlen(number), error, size);
    if (cfg.exec_process_file != NULL)
        add_item(request, "process_file", cfg.exec_process_file, strlen(cfg.exec_process_file),
                 error, size);
    if (cfg.seccomp_file != NULL && *cfg.seccomp_file)
        add_item(request, "seccomp_file", cfg.seccomp_file, strlen(cfg.seccomp_file), error,
                 size);
    int result = 0;
    const char *strings[] = {"user", "cwd"};
    for (size_t i = 0; i < 2 && result == 0; i++) {
        const struct jval *v = json_get(&spec, strings[i]);
        if (v != NULL && v->type == J_STR)
            result = add_item(request, strings[i], v->str, v->str_len, error, size);
    }
    const char *flags[] = {"tty", "privileged"};
    for (size_t i = 0; i < 2 && result == 0; i++)
        add_item(request, flags[i], json_truthy(json_get(&spec, flags[i]), 0) ? "1" : "0", 1,
                 error, size);
    const char *lists[][2] = {{"args", "arg"}, {"env", "env"}};
    for (size_t i = 0; i < 2 && result == 0; i++) {
        const struct jval *v = json_get(&spec, lists[i][0]);
        char **items;
        int n;
        if (v == NULL)
            continue;
        result = json_parse_strings(v->raw, v->raw_len, &items, &n, error, size);
        for (int j = 0; j < n && result == 0; j++)
            result = add_item(request, lists[i][1], items[j], strlen(items[j]), error, size);
        json_free_strings(items, n);
    }
    json_free(&spec);
    return result;
}

/* The child's end of the exec: fds 0-2 its stdio, 3 the status pipe, 4 what the exec
 * helper (ketch.shim.exechelper) reads (exec_request), 5 where this process says once it
 * has moved the child into the container's cgroup (join_cgroup); then the helper, which
 * joins the container. */
static void exec_child(struct proc *p, int status_w, int joined_r) __attribute__((noreturn));
static void exec_child(struct proc *p, int status_w, int joined_r)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int reset[] = {SIGCHLD, SIGPIPE, SIGXFSZ, SIGINT, SIGTERM};
    for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
        signal(reset[i], SIG_DFL);
    char message[512];
    struct buf text = {0};
    if (exec_request(p, &text, message, sizeof(message)) < 0)
        goto report;
    int request = memfd_create("ketch-exec", MFD_CLOEXEC);
    if (request < 0 || write(request, text.data, text.len) != (ssize_t)text.len ||
        lseek(request, 0, SEEK_SET) != 0)
        goto fail;
    /* Out of the way of 0-5 first, then into place (dup2 clears close-on-exec). */
    int from[6] = {p->child_fds[0], p->child_fds[1], p->child_fds[2], status_w, request,
                   joined_r};
    int moved[6];
    for (int i = 0; i < 6; i++) {
        moved[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 10);
        if (moved[i] < 0)
            goto fail;
    }
    for (int i = 0; i < 6; i++)
        if (dup2(moved[i], i) < 0)
            goto fail;
    status_w = 3;
    if (syscall(SYS_close_range, 6U, ~0U, 0U) < 0)
        for (int fd = 6; fd < 1024; fd++)
            close(fd);
    /* Isolated and without site: the helper imports only ketch (from python_path, the
     * directory holding it) and the standard library, and site's work is start-up time
     * every exec would pay. */
    char *argv[] = {cfg.python, "-I", "-S", "-c",
                    "import sys; sys.path.insert(0, sys.argv[1]); "
                    "from ketch.shim.exechelper import main; main()",
                    cfg.python_path, NULL};
    execv(cfg.python, argv);
fail:
    snprintf(message, sizeof(message), "cannot run %s: %s", cfg.python, strerror(errno));
report:;
    struct buf report = {0};
    char line[600];
    snprintf(line, sizeof(line), "exec setup: %s", message);
    buf_adds(&report, "{\"error\": ");
    json_string(&report, line, strlen(line), 0);
    buf_adds(&report, ", \"exit_code\": 126}\n");
    if (write(status_w, report.data, report.len) < 0) {
        /* nobody to tell */
    }
    _exit(126);
}

/* Moves the exec's child `pid` into the container's cgroup while it starts the helper (on
 * cgroup v1 a move waits for an RCU grace period: ~10 ms), then tells it on `joined_w`:
 * "c" when done, else "<errno>" or "<errno> <path>" (a procs file that could not be opened),
 * which the helper reports as Python's OSError would have (runtime/process.py). */
static void join_cgroup(pid_t pid, int joined_w)
{
    char reply[4200] = "c", number[32];
    int n = snprintf(number, sizeof(number), "%d", (int)pid);
    for (int i = 0; i < cfg.n_cgroup_procs; i++) {
        int fd = open(cfg.cgroup_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(reply, sizeof(reply), "%d %s", errno, cfg.cgroup_procs[i]);
            break;
        }
        int written = write(fd, number, (size_t)n) == n;
        int saved = errno;
        close(fd);
        if (!written) {
            snprintf(reply, sizeof(reply), "%d", saved);
            break;
        }
    }
    if (send(joined_w, reply, strlen(reply), MSG_NOSIGNAL) < 0) {
        /* the child is gone: its status pipe says why */
    }
    close(joined_w);
}

/* fork(), the child in the container's PID namespace; this process's own stays. */
static pid_t fork_into_pid_namespace(pid_t init_pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)init_pid);
    int before = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (before < 0 || target < 0) {
        int saved = errno;
        if (before >= 0)
            close(before);
        if (target >= 0)
            close(target);
        errno = saved;
        return -1;
    }
    struct stat a, b;
    int joined = 0;
    if (fstat(before, &a) == 0 && fstat(target, &b) == 0 && a.st_ino != b.st_ino) {
        if (setns(target, CLONE_NEWPID) < 0) {
            int saved = errno;
            close(before);
            close(target);
            errno = saved;
            return -1;
        }
        joined = 1;
    }
    close(target);
    pid_t pid = fork();
    int saved = errno;
    if (pid != 0 && joined && setns(before, CLONE_NEWPID) < 0)
        note("cannot return to the monitor's PID namespace: %s", strerror(errno));
    close(before);
    errno = saved;
    return pid;
}

/* --- clients ------------------------------------------------------------ */

static void stdin_closed(struct client *c)
{
    c->has_stdin = 0;
    struct proc *p = c->proc;
    if (p != NULL && (p->stdin_once || p != init_proc))
        close_stdin(p);
}

static void resume_output(struct proc *p)
{
    if (!p->paused)
        return;
    for (struct client *c = clients; c; c = c->next)
        if (c->proc == p && c->attached && !c->closed && c->out.len > HIGH_WATER)
            return;
    p->paused = 0;
}

static void close_client(struct client *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    struct proc *p = c->proc;
    c->attached = c->waiting = 0;
    if (p != NULL) {
        if (c->has_stdin)
            stdin_closed(c);
        resume_output(p);
    }
    close(c->fd);
    c->fd = -1;
}

/* Everything was sent to a client that is done: let go of what it held, shut our side
 * (the peer reads to the end), and close once the peer does. */
static void end_client(struct client *c)
{
    struct proc *p = c->proc;
    c->attached = c->waiting = 0;
    if (p != NULL) {
        if (c->has_stdin)
            stdin_closed(c);
        resume_output(p);
    }
    if (shutdown(c->fd, SHUT_WR) < 0) {
        close_client(c);
        return;
    }
    c->draining = 1;
}

static struct proc *find_exec(const char *id)
{
    for (struct proc *p = procs; p; p = p->next)
        if (p != init_proc && strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

static int running(void)
{
    return strcmp(init_proc->status, "running") == 0 && !init_proc->reaped;
}

/* The request's process ("id": an exec's, else the init); NULL after replying not_found. */
static struct proc *request_process(struct client *c, const struct jobj *req)
{
    const struct jval *id = json_get(req, "id");
    if (!json_truthy(id, 0))
        return init_proc;
    struct proc *p = id->type == J_STR ? find_exec(id->str) : NULL;
    if (p == NULL) {
        char message[512];
        snprintf(message, sizeof(message), "No such exec instance: %.*s",
                 (int)(id->type == J_STR ? id->str_len : id->raw_len),
                 id->type == J_STR ? id->str : id->raw);
        reply_error(c, message, "not_found", 0, 0);
    }
    return p;
}

static void not_running(struct client *c, const char *what)
{
    char message[512];
    snprintf(message, sizeof(message), "Container %s is not %s", cfg.id, what);
    reply_error(c, message, "conflict", 0, 0);
}

static void op_state(struct client *c, const struct jobj *req)
{
    if (json_truthy(json_get(req, "id"), 0)) {
        struct proc *p = request_process(c, req);
        if (p == NULL)
            return;
        struct buf b = {0};
        add_string_field(&b, "status", p->status);
        if (p->pid)
            buf_addf(&b, ", \"pid\": %d, ", (int)p->pid);
        else
            buf_adds(&b, ", \"pid\": null, ");
        exit_info(&b, p);
        buf_add(&b, "", 1);
        reply_ok(c, b.data);
        buf_free(&b);
        return;
    }
    buf_add(&state_cache, "", 1);
    state_cache.len--;
    reply_ok(c, state_cache.data);
}

static void op_start(struct client *c)
{
    struct proc *init = init_proc;
    if (strcmp(init->status, "created") != 0 || init->reaped || sync_fd < 0) {
        reply_error(c, "container already started", "conflict", 0, 0);
        return;
    }
    char message[4096];
    int has_code = 0, code = 0, result;
    int sync = sync_fd, status = status_fd;
    sync_fd = status_fd = -1;
    if (write(sync, "s", 1) != 1) {
        os_error(message, sizeof(message), errno, NULL);
        close(sync);
        close(status);
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    result = read_report(status, START_TIMEOUT, message, sizeof(message), &has_code, &code,
                         "start failed");
    close(sync);
    close(status);
    if (result != 0) {
        snprintf(start_error, sizeof(start_error), "%s", message);
        init->status = "stopped"; /* the init exits with this code; `wait` reports it */
        write_state();
        reply_error(c, start_error, "start", 1, has_code ? code : 126);
        return;
    }
    init->status = "running";
    stamp(init->started_at);
    write_state();
    char fields[64];
    snprintf(fields, sizeof(fields), "\"pid\": %d", (int)init->pid);
    reply_ok(c, fields);
}

static void op_kill(struct client *c, const struct jobj *req)
{
    long long sig = SIGKILL;
    const struct jval *s = json_get(req, "signal");
    if (s != NULL && json_int(s, &sig) < 0) {
        reply_error(c, "invalid signal", "internal", 0, 0);
        return;
    }
    struct proc *p = request_process(c, req);
    if (p == NULL)
        return;
    if (!p->pid || p->reaped || strcmp(p->status, "running") != 0) {
        /* Docker's words; a created container is removed with shutdown(force) */
        not_running(c, "running");
        return;
    }
    char message[256];
    if (json_truthy(json_get(req, "all"), 0) && p == init_proc) {
        int *pids;
        int n = cgroup_pids(&pids);
        for (int i = 0; i < n; i++) {
            if (kill(pids[i], (int)sig) < 0 && errno != ESRCH) {
                os_error(message, sizeof(message), errno, NULL);
                free(pids);
                reply_error(c, message, "internal", 0, 0);
                return;
            }
        }
        free(pids);
    } else if (kill(p->pid, (int)sig) < 0) {
        os_error(message, sizeof(message), errno, NULL);
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    if (cgroup_paused && p == init_proc) {
        /* A frozen v1 task does not die until thawed; Docker thaws on kill too. */
        if (cgroup_freeze(0, message, sizeof(message)) < 0) {
            reply_error(c, message, "internal", 0, 0);
            return;
        }
        cgroup_paused = 0;
        write_state();
    }
    reply_ok(c, "");
}

static void op_wait(struct client *c, const struct jobj *req)
{
    struct proc *p = request_process(c, req);
    if (p == NULL)
        return;
    if (strcmp(p->status, "exited") == 0) {
        struct buf b = {0};
        exit_info(&b, p);
        buf_add(&b, "", 1);
        reply_ok(c, b.data);
        buf_free(&b);
        return;
    }
    c->proc = p;
    c->waiting = 1;
}

static void op_attach(struct client *c, const struct jobj *req)
{
    struct proc *p = request_process(c, req);
    if (p == NULL)
        return;
    c->proc = p;
    c->want_out[0] = json_truthy(json_get(req, "stdout"), 1);
    c->want_out[1] = json_truthy(json_get(req, "stderr"), 1);
    c->has_stdin = json_truthy(json_get(req, "stdin"), 0) && p->stdin_w >= 0;
    reply_ok(c, p->tty ? "\"tty\": true" : "\"tty\": false");
    if (strcmp(p->status, "exited") == 0) {
        char code[16];
        snprintf(code, sizeof(code), "%d", p->exit_code);
        send_frame(c, F_EXIT, code, strlen(code));
        c->closing = 1;
    } else {
        c->attached = 1;
    }
}

static int set_winsize(int fd, long long height, long long width)
{
    struct winsize size = {(unsigned short)height, (unsigned short)width, 0, 0};
    return ioctl(fd, TIOCSWINSZ, &size);
}

static void op_resize(struct client *c, const struct jobj *req)
{
    struct proc *p = request_process(c, req);
    if (p == NULL)
        return;
    if (p->master < 0) {
        reply_error(c, "the process has no tty", "conflict", 0, 0);
        return;
    }
    long long h, w;
    if (json_int(json_get(req, "h"), &h) < 0 || json_int(json_get(req, "w"), &w) < 0) {
        reply_error(c, "resize needs integers h and w", "internal", 0, 0);
        return;
    }
    if (is_output(p, p->master) && set_winsize(p->master, h, w) < 0) {
        char message[256];
        os_error(message, sizeof(message), errno, NULL);
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    reply_ok(c, "");
}

static void op_exec(struct client *c, const struct jobj *req)
{
    const struct jval *spec = json_get(req, "spec");
    struct jobj fields;
    char error[256];
    if (spec == NULL || spec->type != J_OBJ ||
        json_parse_object(spec->raw, spec->raw_len, &fields, error, sizeof(error)) < 0) {
        reply_error(c, spec == NULL ? "'spec'" : "the exec spec is not a JSON object",
                    "internal", 0, 0);
        return;
    }
    const struct jval *id = json_get(&fields, "id");
    if (id == NULL || id->type != J_STR) {
        json_free(&fields);
        reply_error(c, "the exec spec has no id", "internal", 0, 0);
        return;
    }
    if (find_exec(id->str) != NULL) {
        char message[512];
        snprintf(message, sizeof(message), "exec %s exists", id->str);
        json_free(&fields);
        reply_error(c, message, "conflict", 0, 0);
        return;
    }
    if (!running()) {
        json_free(&fields);
        not_running(c, "running");
        return;
    }
    int tty = json_truthy(json_get(&fields, "tty"), 0);
    int open_stdin = json_truthy(json_get(&fields, "stdin"), 0);
    struct proc *p = calloc(1, sizeof(*p));
    p->tty = tty;
    p->stdin_once = 1;
    p->master = p->stdin_w = -1;
    p->out[0] = p->out[1] = -1;
    p->status = "created";
    char message[512];
    if (tty) {
        int master, slave;
        if (open_pty(init_proc->pid, &master, &slave) < 0) {
            os_error(message, sizeof(message), errno, NULL);
            goto fail;
        }
        set_nonblocking(master);
        p->master = p->out[0] = master;
        if (open_stdin)
            p->stdin_w = master;
        p->child_fds[0] = p->child_fds[1] = p->child_fds[2] = slave;
    } else {
        int in[2] = {-1, -1}, out[2], err[2];
        if (open_stdin) {
            if (pipe2(in, O_CLOEXEC) < 0) {
                os_error(message, sizeof(message), errno, NULL);
                goto fail;
            }
            set_nonblocking(in[1]);
            p->stdin_w = in[1];
        } else {
            in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        if (in[0] < 0 || pipe2(out, O_CLOEXEC) < 0) {
            os_error(message, sizeof(message), errno, NULL);
            if (in[0] >= 0)
                close(in[0]);
            if (in[1] >= 0)
                close(in[1]);
            goto fail;
        }
        if (pipe2(err, O_CLOEXEC) < 0) {
            os_error(message, sizeof(message), errno, NULL);
            close(in[0]);
            if (in[1] >= 0)
                close(in[1]);
            close(out[0]);
            close(out[1]);
            goto fail;
        }
        set_nonblocking(out[0]);
        set_nonblocking(err[0]);
        p->out[0] = out[0];
        p->out[1] = err[0];
        p->child_fds[0] = in[0];
        p->child_fds[1] = out[1];
        p->child_fds[2] = err[1];
    }
    p->id = strdup(id->str);
    p->spec = strndup(spec->raw, spec->raw_len);
    p->next = procs;
    procs = p;
    json_free(&fields);
    char reply[600];
    struct buf b = {0};
    buf_adds(&b, "\"id\": ");
    json_string(&b, p->id, strlen(p->id), 0);
    buf_add(&b, "", 1);
    snprintf(reply, sizeof(reply), "%s", b.data);
    buf_free(&b);
    reply_ok(c, reply);
    return;
fail:
    free(p);
    json_free(&fields);
    reply_error(c, message, "internal", 0, 0);
}

static void close_child_ends(struct proc *p)
{
    for (int i = 0; i < 3; i++) {
        int fd = p->child_fds[i];
        if (fd < 0)
            continue;
        for (int j = i; j < 3; j++)
            if (p->child_fds[j] == fd)
                p->child_fds[j] = -1;
        close(fd);
    }
}

static void op_exec_start(struct client *c, const struct jobj *req)
{
    struct proc *p = request_process(c, req);
    if (p == NULL)
        return;
    if (p == init_proc || strcmp(p->status, "created") != 0) {
        reply_error(c, "exec already started", "conflict", 0, 0);
        return;
    }
    if (!running()) {
        not_running(c, "running");
        return;
    }
    char message[4096];
    int status[2], joined[2];
    if (pipe2(status, O_CLOEXEC) < 0) {
        os_error(message, sizeof(message), errno, NULL);
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    /* A socket rather than a pipe: sent to with MSG_NOSIGNAL, a child that died first costs
     * no SIGPIPE. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, joined) < 0) {
        os_error(message, sizeof(message), errno, NULL);
        close(status[0]);
        close(status[1]);
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    pid_t pid = fork_into_pid_namespace(init_proc->pid);
    if (pid == 0)
        exec_child(p, status[1], joined[0]);
    int saved = errno;
    close(status[1]);
    close(joined[0]);
    close_child_ends(p);
    if (pid < 0) {
        close(status[0]);
        close(joined[1]);
        os_error(message, sizeof(message), saved, NULL);
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    join_cgroup(pid, joined[1]);
    p->pid = pid;
    p->status = "running";
    stamp(p->started_at);
    int has_code, code;
    int result = read_report(status[0], START_TIMEOUT, message, sizeof(message), &has_code,
                             &code, "exec failed");
    close(status[0]);
    if (result != 0) {
        reply_error(c, message, "start", has_code, code);
        return;
    }
    char fields[64];
    snprintf(fields, sizeof(fields), "\"pid\": %d", (int)pid);
    reply_ok(c, fields);
}

static void op_pause(struct client *c)
{
    char message[512];
    if (!running() || cgroup_paused) {
        not_running(c, "running");
        return;
    }
    if (cgroup_freeze(1, message, sizeof(message)) < 0) {
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    cgroup_paused = 1;
    write_state();
    reply_ok(c, "");
}

static void op_resume(struct client *c)
{
    char message[512];
    if (!cgroup_paused) {
        not_running(c, "paused");
        return;
    }
    if (cgroup_freeze(0, message, sizeof(message)) < 0) {
        reply_error(c, message, "internal", 0, 0);
        return;
    }
    cgroup_paused = 0;
    write_state();
    reply_ok(c, "");
}

static void op_shutdown(struct client *c, const struct jobj *req)
{
    if (strcmp(init_proc->status, "exited") != 0) {
        if (!json_truthy(json_get(req, "force"), 0)) {
            reply_error(c, "container is running: stop it first", "conflict", 0, 0);
            return;
        }
        if (init_proc->pid && !init_proc->reaped)
            kill(init_proc->pid, SIGKILL);
    }
    exiting = 1;
    reply_ok(c, "");
}

static void on_request(struct client *c, const char *payload, size_t len)
{
    struct jobj req;
    char error[256];
    if (json_parse_object(payload, len, &req, error, sizeof(error)) < 0) {
        reply_error(c, error, "internal", 0, 0);
        return;
    }
    const struct jval *opv = json_get(&req, "op");
    const char *op = opv != NULL && opv->type == J_STR ? opv->str : NULL;
    if (op == NULL) {
        char message[512];
        snprintf(message, sizeof(message), "unknown request %.*s",
                 opv ? (int)opv->raw_len : 4, opv ? opv->raw : "None");
        reply_error(c, message, "invalid", 0, 0);
    } else if (strcmp(op, "state") == 0) {
        op_state(c, &req);
    } else if (strcmp(op, "start") == 0) {
        op_start(c);
    } else if (strcmp(op, "kill") == 0) {
        op_kill(c, &req);
    } else if (strcmp(op, "wait") == 0 || strcmp(op, "exec_wait") == 0) {
        op_wait(c, &req);
    } else if (strcmp(op, "attach") == 0 || strcmp(op, "exec_attach") == 0) {
        op_attach(c, &req);
    } else if (strcmp(op, "resize") == 0 || strcmp(op, "exec_resize") == 0) {
        op_resize(c, &req);
    } else if (strcmp(op, "exec") == 0) {
        op_exec(c, &req);
    } else if (strcmp(op, "exec_start") == 0) {
        op_exec_start(c, &req);
    } else if (strcmp(op, "pause") == 0) {
        op_pause(c);
    } else if (strcmp(op, "resume") == 0) {
        op_resume(c);
    } else if (strcmp(op, "shutdown") == 0) {
        op_shutdown(c, &req);
    } else {
        char message[512];
        snprintf(message, sizeof(message), "unknown request '%s'", op);
        reply_error(c, message, "invalid", 0, 0);
    }
    json_free(&req);
}

/* One frame; -1 to close the client. */
static int on_frame(struct client *c, int type, const char *payload, size_t len)
{
    struct proc *p = c->proc;
    if (type == F_CONTROL) {
        on_request(c, payload, len);
    } else if (type == F_STDIN && p != NULL && c->has_stdin) {
        write_stdin(p, payload, len);
    } else if (type == F_CLOSE_STDIN && c->has_stdin) {
        stdin_closed(c);
    } else if (type == F_RESIZE && p != NULL) {
        char text[64];
        long long h, w;
        char extra;
        snprintf(text, sizeof(text), "%.*s", (int)(len < 63 ? len : 63), payload);
        if (len > 63 || sscanf(text, "%lld %lld %c", &h, &w, &extra) != 2)
            return -1;
        if (p->master >= 0 && is_output(p, p->master))
            set_winsize(p->master, h, w);
    }
    return 0;
}

/* A client that broke the protocol: read nothing more from it and relay no more output,
 * but send what was queued before (the reply to its attach) and then close. */
static void hang_up(struct client *c)
{
    if (c->out.len == 0) {
        close_client(c);
        return;
    }
    c->hung_up = c->closing = 1;
    c->want_out[0] = c->want_out[1] = 0;
}

static void on_client_readable(struct client *c)
{
    char data[65536];
    ssize_t n = recv(c->fd, data, sizeof(data), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_client(c);
        return;
    }
    if (c->draining)
        return;
    buf_add(&c->in, data, (size_t)n);
    size_t used = 0;
    while (!c->closed && !c->hung_up && c->in.len - used >= 8) {
        const unsigned char *h = (const unsigned char *)c->in.data + used;
        size_t length = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
        if (h[0] > F_CONTROL || h[1] || h[2] || h[3] || length > MAX_PAYLOAD) {
            hang_up(c); /* a header this protocol does not have */
            return;
        }
        if (c->in.len - used < 8 + length)
            break;
        if (on_frame(c, h[0], c->in.data + used + 8, length) < 0) {
            hang_up(c);
            return;
        }
        used += 8 + length;
    }
    if (!c->closed)
        buf_consume(&c->in, used);
}

static void on_client_writable(struct client *c)
{
    ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            close_client(c);
        return;
    }
    buf_consume(&c->out, (size_t)n);
    if (c->proc != NULL)
        resume_output(c->proc);
    if (c->out.len == 0 && c->closing)
        end_client(c);
}

static void on_accept(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct client *c = calloc(1, sizeof(*c));
        c->fd = fd;
        c->next = clients;
        clients = c;
    }
}

static void free_closed_clients(void)
{
    struct client **link = &clients;
    while (*link) {
        struct client *c = *link;
        if (c->closed) {
            *link = c->next;
            buf_free(&c->in);
            buf_free(&c->out);
            free(c);
        } else {
            link = &c->next;
        }
    }
}

/* --- the loop ----------------------------------------------------------- */

enum kind { K_LISTEN, K_SIGNAL, K_PROC, K_CLIENT };
struct watch {
    enum kind kind;
    void *obj;
};

static size_t n_watch, cap_watch;
static struct pollfd *pfds;
static struct watch *watches;

static void watch(int fd, short events, enum kind kind, void *obj)
{
    if (fd < 0 || events == 0)
        return;
    if (n_watch == cap_watch) {
        cap_watch = cap_watch ? cap_watch * 2 : 16;
        pfds = realloc(pfds, cap_watch * sizeof(*pfds));
        watches = realloc(watches, cap_watch * sizeof(*watches));
        if (pfds == NULL || watches == NULL)
            abort();
    }
    pfds[n_watch] = (struct pollfd){fd, events, 0};
    watches[n_watch] = (struct watch){kind, obj};
    n_watch++;
}

static int client_stdin_full(struct client *c)
{
    return c->has_stdin && c->proc != NULL && c->proc->stdin_buffer.len > HIGH_WATER;
}

static void on_process_fd(struct proc *p, int fd, short revents)
{
    if (fd == p->stdin_w && (revents & (POLLOUT | POLLERR)) && p->stdin_buffer.len)
        flush_stdin(p);
    for (int index = 0; index < 2; index++)
        if (p->out[index] == fd && !p->paused && (revents & (POLLIN | POLLHUP | POLLERR)))
            read_output(p, index);
}

static void serve(void)
{
    for (;;) {
        n_watch = 0;
        watch(listen_fd, POLLIN, K_LISTEN, NULL);
        watch(signal_fd, POLLIN, K_SIGNAL, NULL);
        double next = -1;
        for (struct proc *p = procs; p; p = p->next) {
            for (int index = 0; index < 2; index++) {
                int fd = p->out[index];
                short events = p->paused ? 0 : POLLIN;
                if (fd >= 0 && fd == p->stdin_w && p->stdin_buffer.len)
                    events |= POLLOUT;
                watch(fd, events, K_PROC, p);
            }
            if (p->stdin_w >= 0 && !is_output(p, p->stdin_w) && p->stdin_buffer.len)
                watch(p->stdin_w, POLLOUT, K_PROC, p);
            if (p->drain_deadline > 0 && strcmp(p->status, "exited") != 0 &&
                (next < 0 || p->drain_deadline < next))
                next = p->drain_deadline;
        }
        for (struct client *c = clients; c; c = c->next) {
            if (c->closed)
                continue;
            short readable = c->draining                              ? POLLIN
                             : c->hung_up || client_stdin_full(c) ? 0
                                                                   : POLLIN;
            short events = (short)(readable | (c->out.len ? POLLOUT : 0));
            watch(c->fd, events, K_CLIENT, c);
        }
        if (linger_deadline >= 0 && (next < 0 || linger_deadline < next))
            next = linger_deadline;
        int timeout = -1;
        if (next >= 0) {
            double wait = next - monotonic();
            timeout = wait <= 0 ? 0 : (int)(wait * 1000) + 1;
        }
        int ready = poll(pfds, n_watch, timeout);
        if (ready < 0 && errno != EINTR) {
            note("poll: %s", strerror(errno));
            return;
        }
        for (size_t i = 0; ready > 0 && i < n_watch; i++) {
            short revents = pfds[i].revents;
            if (!revents)
                continue;
            int fd = pfds[i].fd;
            switch (watches[i].kind) {
            case K_LISTEN:
                on_accept();
                break;
            case K_SIGNAL:
                on_signal();
                break;
            case K_PROC:
                on_process_fd(watches[i].obj, fd, revents);
                break;
            case K_CLIENT: {
                struct client *c = watches[i].obj;
                if (c->closed || c->fd != fd)
                    break;
                if ((revents & (POLLOUT | POLLERR)) && c->out.len)
                    on_client_writable(c);
                if (!c->closed && (revents & (POLLIN | POLLHUP | POLLERR)))
                    on_client_readable(c);
                break;
            }
            }
        }
        double now = monotonic();
        for (struct proc *p = procs; p; p = p->next)
            if (p->drain_deadline > 0 && p->drain_deadline <= now) {
                p->drain_deadline = 0;
                force_finish(p);
            }
        if (linger_deadline >= 0 && now >= linger_deadline)
            exiting = 1;
        free_closed_clients();
        int pending = 0;
        for (struct client *c = clients; c; c = c->next)
            pending |= c->out.len > 0;
        if (exiting && !pending)
            return;
        /* A client draining its end is done with us: it does not hold the linger off. */
        int busy = 0;
        for (struct client *c = clients; c; c = c->next)
            busy |= !c->draining;
        if (strcmp(init_proc->status, "exited") == 0 && !busy) {
            if (linger_deadline < 0)
                linger_deadline = monotonic() + cfg.linger;
        } else {
            linger_deadline = -1;
        }
    }
}

/* Reap what is left, remove the cgroup and the socket; the state file stays. */
static void cleanup(void)
{
    struct proc *init = init_proc;
    if (init->pid && !init->reaped)
        kill(init->pid, SIGKILL);
    double deadline = monotonic() + CLEANUP_REAP_SECONDS;
    for (;;) {
        int left = 0;
        for (struct proc *p = procs; p; p = p->next)
            left |= p->pid && !p->reaped;
        if (!left || monotonic() >= deadline)
            break;
        on_signal();
        usleep(5000);
    }
    if (strcmp(init->status, "exited") != 0 && init->reaped)
        finish(init);
    /* A new shim for the same container (docker start after an exit) may already own the
     * socket path and the cgroup: leave them to it. */
    struct stat st;
    if (stat(cfg.socket, &st) == 0 && st.st_ino == cfg.socket_ino)
        unlink(cfg.socket);
    int *pids;
    int n = cgroup_pids(&pids);
    free(pids);
    if (n > 0)
        return;
    deadline = monotonic() + 0.5;
    for (int i = 0; i < cfg.n_cgroup_dirs; i++) {
        /* a cgroup empties a moment after its last process is reaped */
        int rc;
        while ((rc = rmdir(cfg.cgroup_dirs[i])) < 0 && errno == EBUSY && monotonic() < deadline)
            usleep(10000);
        if (rc < 0 && errno != ENOENT)
            note("cannot remove the cgroup %s: %s", cfg.cgroup_dirs[i], strerror(errno));
    }
}

/* `ketch-monitor --jsonlog PATH MAX_SIZE MAX_FILES`: for tests, records from stdin (a
 * stream byte 'o' or 'e', a big-endian u32 length, the data) written as the log would. */
static int jsonlog_tool(char **argv)
{
    int fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        perror(argv[2]);
        return 1;
    }
    struct jlog log;
    jlog_init(&log, argv[2], fd, strtoll(argv[3], NULL, 10), (int)strtol(argv[4], NULL, 10));
    for (;;) {
        unsigned char header[5];
        if (fread(header, 1, 5, stdin) != 5)
            break;
        size_t len = (size_t)header[1] << 24 | (size_t)header[2] << 16 |
                     (size_t)header[3] << 8 | header[4];
        char *data = malloc(len ? len : 1);
        if (fread(data, 1, len, stdin) != len) {
            free(data);
            return 1;
        }
        if (jlog_write(&log, header[0] == 'e', data, len) < 0)
            perror("write");
        free(data);
    }
    return jlog_close(&log) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--jsonlog") == 0)
        return jsonlog_tool(argv);
    const char *config_fd = getenv("KETCH_MONITOR_CONFIG_FD");
    if (config_fd == NULL) {
        fputs("ketch-monitor is started by the ketch shim, not by hand\n", stderr);
        return 2;
    }
    int fd = (int)strtol(config_fd, NULL, 10);
    unsetenv("KETCH_MONITOR_CONFIG_FD"); /* not for the execs' environment */
    prctl(PR_SET_NAME, "ketch-shim", 0, 0, 0);
    int log_fd = -1, log_max_files = 1, tty = 0, open_stdin = 0;
    long long log_max_size = 0;
    char *log_path = NULL;
    read_config(fd, &log_fd, &log_max_size, &log_max_files, &log_path, &tty, &open_stdin);
    int own[] = {listen_fd, sync_fd, status_fd, init_proc->out[0], init_proc->out[1],
                 init_proc->stdin_w, log_fd};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (own[i] >= 0)
            set_cloexec(own[i], 1);
    if (log_fd >= 0 && log_path != NULL) {
        init_proc->log = malloc(sizeof(struct jlog));
        jlog_init(init_proc->log, log_path, log_fd, log_max_size, log_max_files);
    }
    free(log_path);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    signal_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) {
        note("signalfd: %s", strerror(errno));
        return 1;
    }
    set_nonblocking(listen_fd);
    /* The state as the Python side wrote it, for `state` until the next write. */
    write_state();
    if (ready_fd >= 0) {
        /* The fork server's reply to the spawn: this container is created, its monitor runs. */
        char ready[96];
        int n = snprintf(ready, sizeof(ready), "{\"pid\": %d, \"init_pid\": %d}\n",
                         (int)getpid(), (int)init_proc->pid);
        if (write(ready_fd, ready, (size_t)n) != n) {
            /* The fork server died holding the spawn, which therefore failed: nobody will
             * start this container or ask for it, so it is undone rather than left waiting. */
            note("cannot report ready: %s", strerror(errno));
            close(ready_fd);
            cleanup();
            return 1;
        }
        close(ready_fd);
    }
    on_signal(); /* a child that exited before this program ran */
    serve();
    cleanup();
    return 0;
}
