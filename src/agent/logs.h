/* Reading instances' log files (the shim's CRI lines) for `berth logs`:
 * the last lines of a file, lines since a time, and following a file as it
 * grows. Partial records (P) are joined with the final one (F) into one
 * line, the way the kubelet reads them. */
#ifndef BERTH_AGENT_LOGS_H
#define BERTH_AGENT_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOGS_MAX_LINE (1024 * 1024) /* a joined line is cut here (the rest is dropped, marked) */

struct log_line {
	char time[40];               /* the CRI timestamp as written */
	bool stderr_;                /* stream: stderr, else stdout */
	char *text;                  /* joined text, NUL-terminated */
	size_t len;
	int src;                     /* which file (the caller's index) */
};

/* Parses one CRI record. Returns 0 with the fields, -1 if malformed. */
int logs_parse_record(const char *p, size_t n, char *time, size_t tcap, bool *is_stderr, bool *partial,
		      const char **text, size_t *tlen);

/* A reader of one log file, from an offset; keeps the partial line it has
 * seen the start of. */
struct log_reader {
	char *path;
	int src;
	off_t offset;                /* bytes consumed */
	ino_t ino;                   /* to notice the file being replaced */
	char *part;                  /* joined text of P records so far */
	size_t partlen;
	char parttime[40];
	bool partstderr;
};

void log_reader_init(struct log_reader *r, const char *path, int src);
void log_reader_free(struct log_reader *r);
/* Reads what was appended since the last call, at most about <max_bytes>
 * of it (0: everything; whole records only, so a record longer than that
 * is still read whole), and hands each complete line to <fn>. Returns the
 * number of lines, or -1 if the file cannot be read (a missing file is 0
 * lines: it may not exist yet). *more (may be NULL) tells whether bytes
 * were left for the next call. */
int log_reader_poll(struct log_reader *r, size_t max_bytes, void (*fn)(const struct log_line *l, void *arg),
		    void *arg, bool *more);
/* Positions a fresh reader near the end of its file so that the last
 * <lines> lines (and a few more) are still ahead: scans backwards, so
 * `logs --tail 100` of a large file reads only its end. */
void log_reader_seek_tail(struct log_reader *r, int lines);

/* Every complete line of <path> (from the start), the last <tail> of them
 * when tail >= 0, only those at or after <since> (RFC 3339, "" = all);
 * *out is an array the caller frees with logs_lines_free(). The reader
 * <r> (may be NULL) is left at the end, ready to follow. */
int logs_read(struct log_reader *r, int tail, const char *since, struct log_line **out, int *n);
void logs_lines_free(struct log_line *l, int n);

/* Compares CRI timestamps (same format and zone): like strcmp. */
int logs_time_cmp(const char *a, const char *b);

#endif
