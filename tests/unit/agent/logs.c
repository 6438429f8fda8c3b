/* Unit tests for reading instance logs (src/agent/logs.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/logs.h"

static char path[64];

static void setup(void)
{
	strcpy(path, "/tmp/berth-logs-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
}

static void teardown(void)
{
	unlink(path);
}

static void append(const char *text)
{
	FILE *f = fopen(path, "a");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

TestSuite(logs, .init = setup, .fini = teardown, .timeout = 10);

Test(logs, parse_record)
{
	char t[40];
	bool err, partial;
	const char *text;
	size_t n;
	const char rec[] = "2026-12-01T08:30:00.123456789Z stderr P hello world";

	cr_assert_eq(logs_parse_record(rec, strlen(rec), t, sizeof(t), &err, &partial, &text, &n), 0);
	cr_assert_str_eq(t, "2026-12-01T08:30:00.123456789Z");
	cr_assert(err && partial);
	cr_assert_eq(n, 11);
	cr_assert(memcmp(text, "hello world", 11) == 0);
	/* An empty line is "F" with nothing after it. */
	cr_assert_eq(logs_parse_record("2026-12-01T08:30:00Z stdout F", 29, t, sizeof(t), &err, &partial, &text, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(logs_parse_record("junk", 4, t, sizeof(t), &err, &partial, &text, &n), -1);
	cr_assert_eq(logs_parse_record("t stdin F x", 11, t, sizeof(t), &err, &partial, &text, &n), -1);
	cr_assert_eq(logs_parse_record("t stdout X x", 12, t, sizeof(t), &err, &partial, &text, &n), -1);
}

Test(logs, tail_since_and_partials)
{
	struct log_reader r;
	struct log_line *l;
	int n;

	append("2026-12-01T08:00:01.000000000Z stdout F one\n"
	       "2026-12-01T08:00:02.000000000Z stdout P tw\n"
	       "2026-12-01T08:00:02.000000000Z stdout F o\n"
	       "2026-12-01T08:00:03.000000000Z stderr F three\n"
	       "2026-12-01T08:00:04.000000000Z stdout F four\n");
	log_reader_init(&r, path, 7);
	cr_assert_eq(logs_read(&r, -1, "", &l, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(l[1].text, "two", "P records are joined with their F");
	cr_assert(l[2].stderr_);
	cr_assert_eq(l[3].src, 7);
	logs_lines_free(l, n);
	log_reader_free(&r);

	log_reader_init(&r, path, 0);
	cr_assert_eq(logs_read(&r, 2, "", &l, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(l[0].text, "three");
	cr_assert_str_eq(l[1].text, "four");
	logs_lines_free(l, n);
	log_reader_free(&r);

	log_reader_init(&r, path, 0);
	cr_assert_eq(logs_read(&r, -1, "2026-12-01T08:00:03", &l, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(l[0].text, "three");
	logs_lines_free(l, n);
	log_reader_free(&r);
}

static int seen;
static char last[64];

static void on_line(const struct log_line *l, void *arg)
{
	seen++;
	snprintf(last, sizeof(last), "%s", l->text);
}

Test(logs, follow_waits_for_whole_records)
{
	struct log_reader r;

	log_reader_init(&r, path, 0);
	cr_assert_eq(log_reader_poll(&r, 0, on_line, NULL, NULL), 0);
	append("2026-12-01T08:00:01.000000000Z stdout F a\n2026-12-01T08:00:01.000000000Z stdout F b");
	cr_assert_eq(log_reader_poll(&r, 0, on_line, NULL, NULL), 1, "a record without its newline waits");
	cr_assert_str_eq(last, "a");
	append("c\n2026-12-01T08:00:02.000000000Z stdout P x");
	cr_assert_eq(log_reader_poll(&r, 0, on_line, NULL, NULL), 1);
	cr_assert_str_eq(last, "bc");
	append("\n2026-12-01T08:00:02.000000000Z stdout F y\n");
	cr_assert_eq(log_reader_poll(&r, 0, on_line, NULL, NULL), 1);
	cr_assert_str_eq(last, "xy");
	/* The file replaced (new inode): read again from its start. */
	unlink(path);
	append("2026-12-01T08:00:09.000000000Z stdout F fresh\n");
	cr_assert_eq(log_reader_poll(&r, 0, on_line, NULL, NULL), 1);
	cr_assert_str_eq(last, "fresh");
	cr_assert_eq(seen, 4);
	log_reader_free(&r);
}
