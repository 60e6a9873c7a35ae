// SPDX-License-Identifier: GPL-2.0
/*
 * migctl: messages, time, JSON fields and the progress line.
 *
 * Errors go to stderr, human-readable lines to stdout unless --json owns
 * it; on a terminal, stderr also carries a progress line that each
 * message first erases.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "migctl.h"

bool tty;

/* ------------------------------------------------------------------ */
/* Messages, time, JSON                                                */
/* ------------------------------------------------------------------ */

int fail(int code, const char *fmt, ...)
{
	va_list ap;

	if (tty)
		fputs("\r\033[K", stderr);
	fputs("migctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* Human-readable lines: on stdout, unless --json owns stdout. */
void say(const char *fmt, ...)
{
	va_list ap;

	if (opt.json)
		return;
	if (tty)
		fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double mib(uint64_t bytes)
{
	return bytes / 1048576.0;
}

void json_str(const char *key, const char *val, bool last)
{
	const char *p;

	printf("  \"%s\": \"", key);
	for (p = val; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	printf("\"%s\n", last ? "" : ",");
}

void json_u64(const char *key, uint64_t val, bool last)
{
	printf("  \"%s\": %" PRIu64 "%s\n", key, val, last ? "" : ",");
}

void json_dbl(const char *key, double val, bool last)
{
	printf("  \"%s\": %.6f%s\n", key, val, last ? "" : ",");
}

void json_bool(const char *key, bool val, bool last)
{
	printf("  \"%s\": %s%s\n", key, val ? "true" : "false",
	       last ? "" : ",");
}

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

void progress_draw(struct mc_progress *pg, bool force)
{
	double t = now(), frac, el;
	char bar[31];
	int i, fill;

	if (!tty || (!force && t - pg->drawn < 0.1))
		return;
	pg->drawn = t;
	if (pg->total)
		frac = (double)pg->bytes / pg->total;
	else if (pg->bytes + pg->pending)
		frac = (double)pg->bytes / (pg->bytes + pg->pending);
	else
		frac = 1;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * 30);
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	bar[30] = '\0';
	el = t - pg->t0;
	fprintf(stderr, "\r\033[K%-7s [%s] %8.1f MiB  %s %-3u %7.1f MiB/s",
		pg->what, bar, mib(pg->bytes), pg->pass ? "pass" : "stop",
		pg->pass, el > 0 ? mib(pg->bytes) / el : 0.0);
}

void progress_done(void)
{
	if (tty)
		fputs("\r\033[K", stderr);
}
