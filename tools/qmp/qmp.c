// SPDX-License-Identifier: GPL-2.0
/*
 * qmp - a tiny QMP client for the mig-mdev guest test scripts.
 *
 * No dependencies beyond libc, meant to be linked statically and run from a
 * busybox initramfs where there is no python and no socat.
 *
 *   qmp [-t SECS] [-v] SOCKET COMMAND...
 *	Connect, read the greeting, negotiate capabilities, then send each
 *	COMMAND (a JSON object, or a bare command name such as "query-status")
 *	and print its "return" value on one line.  Stops at the first error:
 *	prints the "error" object on stdout and its "desc" on stderr, exit 1.
 *
 *   qmp [-t SECS] SOCKET --wait-qmp
 *	Retry the connection every 50 ms until QEMU answers (exit 0) or SECS
 *	pass (exit 2).
 *
 *   qmp [-v] SOCKET --wait-migrate TIMEOUT [STATUS...]
 *	Poll query-migrate every 100 ms until its status is one of STATUS
 *	(default: completed): exit 0.  "failed" or "cancelled" (when not
 *	listed) end the wait with exit 1 and the error-desc on stderr; the
 *	timeout with exit 2.  The last query-migrate return is printed.
 *
 *   qmp [-v] SOCKET --wait-status TIMEOUT STATUS...
 *	Same with query-status (running, paused, postmigrate, inmigrate...).
 *
 *   qmp --get PATH [DEFAULT]
 *	Read one JSON value on stdin and print the member at PATH, a dotted
 *	list of object keys and array indexes ("ram.transferred").  Strings
 *	are printed without their quotes.  Missing: print DEFAULT, exit 1.
 *
 * -t SECS bounds the connection and every reply (default 30).  -v copies
 * asynchronous events and polled states to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_TIMEOUT	2

static double timeout_s = 30.0;
static int verbose;

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("qmp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* JSON: just enough to walk a reply without building a tree.          */
/* ------------------------------------------------------------------ */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* p at '"': returns the character after the closing quote, NULL if none. */
static const char *skip_string(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return NULL;
			p++;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* Returns the character after the value that starts at p, NULL if bad. */
static const char *skip_value(const char *p)
{
	p = skip_ws(p);
	if (*p == '"')
		return skip_string(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';

		p = skip_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (*p != '"')
					return NULL;
				p = skip_string(p);
				if (!p)
					return NULL;
				p = skip_ws(p);
				if (*p != ':')
					return NULL;
				p++;
			}
			p = skip_value(p);
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p = skip_ws(p + 1);
		}
	}
	/* number, true, false, null */
	if (!*p || strchr(",}]", *p))
		return NULL;
	while (*p && !strchr(",}] \t\r\n", *p))
		p++;
	return p;
}

/*
 * In the value at p, find member @key (length @klen) if it is an object,
 * element number @key if it is an array.  Returns its start or NULL.
 */
static const char *json_member(const char *p, const char *key, size_t klen)
{
	p = skip_ws(p);
	if (*p == '{') {
		p = skip_ws(p + 1);
		while (*p == '"') {
			const char *k = p + 1, *end = skip_string(p);

			if (!end)
				return NULL;
			p = skip_ws(end);
			if (*p != ':')
				return NULL;
			p = skip_ws(p + 1);
			if ((size_t)(end - 1 - k) == klen && !memcmp(k, key, klen))
				return p;
			p = skip_value(p);
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p != ',')
				return NULL;
			p = skip_ws(p + 1);
		}
		return NULL;
	}
	if (*p == '[') {
		char *endnum;
		long idx;

		if (!klen)
			return NULL;
		idx = strtol(key, &endnum, 10);
		if (endnum != key + klen || idx < 0)
			return NULL;
		p = skip_ws(p + 1);
		if (*p == ']')
			return NULL;
		for (; idx > 0; idx--) {
			p = skip_value(p);
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p != ',')
				return NULL;
			p = skip_ws(p + 1);
		}
		return p;
	}
	return NULL;
}

/* Value at a dotted @path inside the value at p; NULL if missing. */
static const char *json_path(const char *p, const char *path)
{
	while (p && *path) {
		size_t len = strcspn(path, ".");

		p = json_member(p, path, len);
		path += len;
		if (*path == '.')
			path++;
	}
	return p ? skip_ws(p) : NULL;
}

/* Print the value at p: strings unquoted (simple escapes undone). */
static void print_value(FILE *out, const char *p, int newline)
{
	const char *end = skip_value(p);

	if (!end) {
		fputs(p, out);
	} else if (*p == '"') {
		for (p++; p < end - 1; p++) {
			if (*p == '\\') {
				p++;
				switch (*p) {
				case 'n': fputc('\n', out); break;
				case 't': fputc('\t', out); break;
				case 'r': fputc('\r', out); break;
				case 'u': fputs("\\u", out); break;
				default: fputc(*p, out);
				}
			} else {
				fputc(*p, out);
			}
		}
	} else {
		fwrite(p, 1, end - p, out);
	}
	if (newline)
		fputc('\n', out);
}

/* Copy of the string value at path, or NULL. */
static char *json_string(const char *p, const char *path)
{
	const char *v = json_path(p, path), *end;

	if (!v || *v != '"')
		return NULL;
	end = skip_string(v);
	if (!end)
		return NULL;
	return strndup(v + 1, end - v - 2);
}

/* ------------------------------------------------------------------ */
/* The connection                                                      */
/* ------------------------------------------------------------------ */

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(c->fd);
		c->fd = -1;
		errno = e;
		return -1;
	}
	c->len = 0;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/*
 * Next line from QEMU (without CR/LF), NUL-terminated, valid until the next
 * call.  NULL with errno ETIMEDOUT after the deadline, EPIPE at EOF.
 */
static char *conn_line(struct conn *c, double deadline)
{
	static char *line;
	static size_t line_cap;

	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;

		if (nl) {
			size_t n = nl - c->buf;

			if (n + 1 > line_cap) {
				line_cap = n + 1;
				line = realloc(line, line_cap);
				if (!line)
					die(1, "out of memory");
			}
			memcpy(line, c->buf, n);
			line[n] = 0;
			if (n && line[n - 1] == '\r')
				line[n - 1] = 0;
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return line;
		}
		if (c->cap - c->len < 4096) {
			c->cap = c->cap ? c->cap * 2 : 65536;
			c->buf = realloc(c->buf, c->cap);
			if (!c->buf)
				die(1, "out of memory");
		}

		double left = deadline - now();
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return NULL;
		}
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (!r)
			continue;
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return NULL;
		}
		if (!r) {
			errno = EPIPE;
			return NULL;
		}
		c->len += r;
	}
}

static int conn_send(struct conn *c, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t w = write(c->fd, s + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += w;
	}
	return 0;
}

/*
 * Send one command and return QEMU's reply line (events are skipped, or
 * echoed to stderr with -v).  NULL with errno on I/O error or timeout.
 */
static char *conn_cmd(struct conn *c, const char *cmd)
{
	double deadline = now() + timeout_s;
	char *line;

	if (conn_send(c, cmd) || conn_send(c, "\n"))
		return NULL;
	while ((line = conn_line(c, deadline))) {
		const char *p = skip_ws(line);

		if (*p != '{')
			continue;
		if (json_member(p, "event", 5)) {
			if (verbose)
				fprintf(stderr, "qmp: event %s\n", p);
			continue;
		}
		if (json_member(p, "return", 6) || json_member(p, "error", 5))
			return line;
	}
	return NULL;
}

/* Connect and negotiate; -1 with errno on failure. */
static int conn_handshake(struct conn *c, const char *path)
{
	char *line;

	if (conn_open(c, path))
		return -1;
	line = conn_line(c, now() + timeout_s);
	if (!line)
		goto fail;
	if (!json_member(line, "QMP", 3)) {
		errno = EPROTO;
		goto fail;
	}
	line = conn_cmd(c, "{\"execute\":\"qmp_capabilities\"}");
	if (!line)
		goto fail;
	if (!json_member(line, "return", 6)) {
		errno = EPROTO;
		goto fail;
	}
	return 0;
fail:
	{
		int e = errno;

		conn_close(c);
		errno = e;
	}
	return -1;
}

/* A bare name becomes {"execute":"name"}; JSON passes through. */
static char *make_cmd(const char *arg)
{
	char *s;

	if (*skip_ws(arg) == '{')
		return strdup(arg);
	if (asprintf(&s, "{\"execute\":\"%s\"}", arg) < 0)
		die(1, "out of memory");
	return s;
}

static void report_error(const char *line)
{
	const char *err = json_path(line, "error");
	char *desc = json_string(line, "error.desc");

	if (err)
		print_value(stdout, err, 1);
	fprintf(stderr, "qmp: error: %s\n", desc ? desc : line);
	free(desc);
}

/* ------------------------------------------------------------------ */
/* Modes                                                               */
/* ------------------------------------------------------------------ */

static int run_commands(struct conn *c, char **cmds, int n)
{
	for (int i = 0; i < n; i++) {
		char *cmd = make_cmd(cmds[i]);
		char *line = conn_cmd(c, cmd);
		const char *ret;

		if (!line)
			die(errno == ETIMEDOUT ? EXIT_TIMEOUT : 1,
			    "%s: no reply: %s", cmd, strerror(errno));
		free(cmd);
		ret = json_path(line, "return");
		if (!ret) {
			report_error(line);
			return 1;
		}
		print_value(stdout, ret, 1);
		fflush(stdout);
	}
	return 0;
}

static int in_list(const char *s, char **list, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

/*
 * Poll @cmd every 100 ms until the "status" of its return is one of @want.
 * @fail_on_end: also stop (exit 1) at "failed" / "cancelled".
 */
static int wait_status(struct conn *c, const char *cmd, double limit,
		       char **want, int nwant, int fail_on_end)
{
	double deadline = now() + limit;
	char *last = NULL, *prev_status = NULL;
	int rc;

	for (;;) {
		char *line = conn_cmd(c, cmd);
		char *status;

		if (!line)
			die(errno == ETIMEDOUT ? EXIT_TIMEOUT : 1,
			    "%s: no reply: %s", cmd, strerror(errno));
		if (!json_path(line, "return")) {
			report_error(line);
			return 1;
		}
		free(last);
		last = strdup(line);
		status = json_string(line, "return.status");
		if (!status)
			status = strdup("none");
		if (verbose && (!prev_status || strcmp(prev_status, status)))
			fprintf(stderr, "qmp: %.1fs status %s\n",
				limit - (deadline - now()), status);
		free(prev_status);
		prev_status = status;
		if (in_list(status, want, nwant)) {
			rc = 0;
			break;
		}
		if (fail_on_end && (!strcmp(status, "failed") ||
				    !strcmp(status, "cancelled"))) {
			char *desc = json_string(line, "return.error-desc");

			fprintf(stderr, "qmp: migration %s: %s\n", status,
				desc ? desc : "(no error-desc)");
			free(desc);
			rc = 1;
			break;
		}
		if (now() >= deadline) {
			fprintf(stderr, "qmp: timeout after %gs, status %s\n",
				limit, status);
			rc = EXIT_TIMEOUT;
			break;
		}
		nap_ms(100);
	}
	print_value(stdout, json_path(last, "return"), 1);
	free(last);
	free(prev_status);
	return rc;
}

static int get_mode(int argc, char **argv)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	const char *v;
	ssize_t r;

	if (argc < 1)
		die(1, "--get needs a PATH");
	if (!buf)
		die(1, "out of memory");
	while ((r = read(0, buf + len, cap - len - 1)) > 0) {
		len += r;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die(1, "out of memory");
		}
	}
	buf[len] = 0;
	v = json_path(buf, argv[0]);
	if (!v || !*v || !skip_value(v)) {
		if (argc > 1)
			puts(argv[1]);
		return 1;
	}
	print_value(stdout, v, 1);
	return 0;
}

static void usage(void)
{
	fputs("usage: qmp [-t SECS] [-v] SOCKET COMMAND...\n"
	      "       qmp [-t SECS] SOCKET --wait-qmp\n"
	      "       qmp [-v] SOCKET --wait-migrate TIMEOUT [STATUS...]\n"
	      "       qmp [-v] SOCKET --wait-status TIMEOUT STATUS...\n"
	      "       qmp --get PATH [DEFAULT] < JSON\n", stderr);
	exit(1);
}

static double parse_secs(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v <= 0)
		die(1, "bad number of seconds: %s", s);
	return v;
}

int main(int argc, char **argv)
{
	struct conn c = { .fd = -1 };
	const char *sock;
	int i = 1;

	signal(SIGPIPE, SIG_IGN);
	while (i < argc && argv[i][0] == '-' && argv[i][1] != '-') {
		if (!strcmp(argv[i], "-v")) {
			verbose = 1;
			i++;
		} else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			timeout_s = parse_secs(argv[i + 1]);
			i += 2;
		} else {
			usage();
		}
	}
	if (i < argc && !strcmp(argv[i], "--get"))
		return get_mode(argc - i - 1, argv + i + 1);
	if (argc - i < 2)
		usage();
	sock = argv[i++];

	if (!strcmp(argv[i], "--wait-qmp")) {
		double deadline = now() + timeout_s;

		while (conn_handshake(&c, sock)) {
			if (now() >= deadline)
				die(EXIT_TIMEOUT, "%s: no QMP after %gs: %s",
				    sock, timeout_s, strerror(errno));
			nap_ms(50);
		}
		conn_close(&c);
		return 0;
	}

	if (conn_handshake(&c, sock))
		die(errno == ETIMEDOUT ? EXIT_TIMEOUT : 1, "%s: %s", sock,
		    strerror(errno));

	if (!strcmp(argv[i], "--wait-migrate") ||
	    !strcmp(argv[i], "--wait-status")) {
		int mig = !strcmp(argv[i], "--wait-migrate");
		static char *completed[] = { "completed" };
		char **want = completed;
		int nwant = 1;
		double limit;

		if (argc - i < 2 || (!mig && argc - i < 3))
			usage();
		limit = parse_secs(argv[i + 1]);
		if (argc - i > 2) {
			want = argv + i + 2;
			nwant = argc - i - 2;
		}
		return wait_status(&c, mig ? "{\"execute\":\"query-migrate\"}" :
					     "{\"execute\":\"query-status\"}",
				   limit, want, nwant, mig);
	}
	return run_commands(&c, argv + i, argc - i);
}
