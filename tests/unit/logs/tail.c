/* Unit tests for sources (src/logs/tail.c): line splitting, CRI joins,
 * multiline, long lines, rotation by rename and by copytruncate, and
 * resuming from a saved position. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logs/logs-int.h"

static char dir[64], path[128];
static struct buf out;
static uint32_t nev;

static void setup(void)
{
	strcpy(dir, "/tmp/berth-tail-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/app.log", dir);
	memset(&out, 0, sizeof(out));
	nev = 0;
}

static void teardown(void)
{
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	buf_free(&out);
}

static void append(const char *p, const char *text, size_t n)
{
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT, 0644);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, n), (ssize_t)n);
	close(fd);
}

static void appends(const char *text)
{
	append(path, text, strlen(text));
}

static struct logs__src *src_new(bool cri, struct logs__input_conf *conf, const struct logs__pos *saved)
{
	struct logs__src *s = calloc(1, sizeof(*s));
	s->path = path;
	s->cri = cri;
	s->conf = conf;
	s->fd = -1;
	s->meta = (struct logs__meta){.host = "h", .stack = "st", .service = "web", .instance = "web.1", .type = "berth"};
	for (int k = 0; k < 2; k++)
		s->join[k].partstart = s->join[k].mlstart = -1;
	logs__src_open(s, saved, &out, &nev);
	return s;
}

static void poll_all(struct logs__src *s)
{
	for (int i = 0; i < 100 && logs__src_poll(s, &out, &nev); i++)
		;
}

/* The messages so far, "|"-joined (streams as "!" for stderr). */
static char *messages(void)
{
	struct buf b = {0};
	char *p = buf_ptr(&out), *end = p + out.data;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		json_t *j = json_loadb(p, (size_t)(nl - p), 0, NULL);
		cr_assert_not_null(j);
		const char *st = json_string_value(json_object_get(j, "stream"));
		if (b.data)
			buf_append(&b, "|", 1);
		if (st && strcmp(st, "stderr") == 0)
			buf_append(&b, "!", 1);
		buf_appends(&b, json_string_value(json_object_get(j, "message")));
		if (json_object_get(j, "tags"))
			buf_appends(&b, "<cut>");
		json_decref(j);
		p = nl + 1;
	}
	buf_append(&b, "", 1);
	buf_reset(&out);
	return b.area;
}

static void expect(const char *want)
{
	char *got = messages();
	cr_assert_str_eq(got, want);
	free(got);
}

static void src_free(struct logs__src *s)
{
	logs__src_close(s);
	free(s);
}

TestSuite(tail, .init = setup, .fini = teardown);

Test(tail, lines_and_partial_lines)
{
	appends("one\ntwo\r\nthr");
	struct logs__src *s = src_new(false, NULL, NULL);
	poll_all(s);
	expect("one|two");
	struct logs__pos p;
	logs__src_pos(s, &p);
	cr_assert_eq(p.off, 9, "the safe position stops before the partial line");
	appends("ee\n");
	poll_all(s);
	expect("three");
	src_free(s);
}

Test(tail, cri_records_joined_per_stream)
{
	appends("2026-12-01T10:00:00.000000001Z stdout P hel\n"
		"2026-12-01T10:00:00.000000002Z stderr F oops\n"
		"2026-12-01T10:00:00.000000003Z stdout F lo\n"
		"not a cri line\n"
		"2026-12-01T10:00:00.000000004Z stdout F \n");
	struct logs__src *s = src_new(true, NULL, NULL);
	poll_all(s);
	expect("!oops|hello|not a cri line|");
	src_free(s);
}

Test(tail, multiline_start_pattern)
{
	struct logs__input_conf c = {0};
	cr_assert_eq(regcomp(&c.ml, "^(INFO|ERROR)", REG_EXTENDED | REG_NOSUB), 0);
	c.has_ml = true;
	appends("INFO a\nERROR b\n\tat x\n\tat y\nINFO c\n");
	struct logs__src *s = src_new(false, &c, NULL);
	poll_all(s);
	expect("INFO a|ERROR b\n\tat x\n\tat y");
	logs__src_flush(s, &out, &nev, false);
	expect("");
	logs__src_flush(s, &out, &nev, true);
	expect("INFO c");
	src_free(s);
	regfree(&c.ml);
}

Test(tail, long_lines_are_cut)
{
	size_t n = LOGS_MAX_LINE + 100;
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\n';
	append(path, big, LOGS_MAX_LINE);
	append(path, "\n", 1);
	append(path, big, n + 1);
	appends("after\n");
	struct logs__src *s = src_new(false, NULL, NULL);
	poll_all(s);
	char *got = messages();
	cr_assert_eq(strlen(got), 2 * LOGS_MAX_LINE + strlen("|") * 2 + strlen("<cut>") + strlen("after"));
	cr_assert(strstr(got, "<cut>|after"));
	cr_assert(got[LOGS_MAX_LINE] == '|', "exactly 1 MiB passes whole");
	free(got);
	free(big);
	src_free(s);
}

Test(tail, rename_rotation_reads_the_old_file_to_its_end)
{
	appends("a1\na2\n");
	struct logs__src *s = src_new(false, NULL, NULL);
	poll_all(s);
	expect("a1|a2");
	appends("a3\n"); /* not read yet when the file is rotated */
	char old[160];
	snprintf(old, sizeof(old), "%s.1", path);
	cr_assert_eq(rename(path, old), 0);
	poll_all(s);
	expect("a3");
	appends("b1\n");
	poll_all(s);
	expect("b1");
	cr_assert_eq(s->rotations, 1);
	cr_assert_eq(s->nreleased, 1, "the old file is remembered as read");
	src_free(s);
}

Test(tail, copytruncate_reads_the_rest_from_the_copy)
{
	appends("a1 first line long enough\n");
	struct logs__src *s = src_new(false, NULL, NULL);
	poll_all(s);
	expect("a1 first line long enough");
	appends("a2\na3\n");
	/* logrotate copytruncate: copy, truncate, and the writer goes on */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cp %s %s.1 && truncate -s 0 %s", path, path, path);
	cr_assert_eq(system(cmd), 0);
	appends("b1 new content, longer than what was read before\n");
	poll_all(s);
	expect("a2|a3|b1 new content, longer than what was read before");
	cr_assert_eq(s->truncations, 1);
	src_free(s);
}

Test(tail, resume_from_a_saved_position)
{
	appends("a1\na2\n");
	struct logs__src *s = src_new(false, NULL, NULL);
	poll_all(s);
	expect("a1|a2");
	appends("a3\n");
	struct logs__pos p;
	logs__src_pos(s, &p);
	src_free(s);
	/* the same file: resumes */
	s = src_new(false, NULL, &p);
	poll_all(s);
	expect("a3");
	src_free(s);
	/* rotated while we were away: the old file is found and finished */
	char old[160];
	snprintf(old, sizeof(old), "%s.1", path);
	cr_assert_eq(rename(path, old), 0);
	appends("b1\n");
	s = src_new(false, NULL, &p);
	poll_all(s);
	expect("a3|b1");
	src_free(s);
}

Test(tail, a_different_file_under_the_saved_inode_starts_over)
{
	appends("a1\na2\n");
	struct logs__src *s = src_new(false, NULL, NULL);
	poll_all(s);
	expect("a1|a2");
	struct logs__pos p;
	logs__src_pos(s, &p);
	src_free(s);
	p.fp ^= 1; /* as if the inode now held another file */
	unlink(path);
	appends("z1\nz2\n");
	s = src_new(false, NULL, &p);
	poll_all(s);
	expect("z1|z2");
	src_free(s);
}

Test(tail, a_partial_line_whose_end_never_comes_goes_after_a_while)
{
	appends("2026-12-01T10:00:00.000000001Z stdout P Password: \n");
	struct logs__src *s = src_new(true, NULL, NULL);
	poll_all(s);
	logs__src_flush(s, &out, &nev, false);
	expect("");
	struct logs__pos p;
	logs__src_pos(s, &p);
	cr_assert_eq(p.off, 0, "held back while it may still be joined");
	s->join[0].partlast -= LOGS_ML_TIMEOUT_MS; /* as if a second went by */
	logs__src_flush(s, &out, &nev, false);
	expect("Password: ");
	logs__src_pos(s, &p);
	cr_assert_gt(p.off, 0);
	src_free(s);
}
