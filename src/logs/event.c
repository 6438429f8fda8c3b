/* One line to one JSON event with Logstash's field names. Written by hand,
 * not with jansson: this runs once per line and is most of the pipeline's
 * CPU, so it appends straight into the chunk with no tree in between. */
#include "logs/logs-int.h"

#include <string.h>
#include <time.h>

#include "core/mem.h"

/* 1: copy as is; 0: needs an escape or is not ASCII. */
static const unsigned char plain[256] = {
	['\x20'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
	['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, [':'] = 1, [';'] = 1,
	['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
	['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,
	['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
	['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1, [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
	['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1,
	['|'] = 1, ['}'] = 1, ['~'] = 1,
};

/* Length of the valid UTF-8 sequence at <p> (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];

	if (c < 0xC2 || c > 0xF4)
		return 0;
	if (c < 0xE0)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F))
			return 0;
		return 3;
	}
	if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
		return 0;
	if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
		return 0;
	return 4;
}

void logs__json_str(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	/* Worst case: every byte becomes "\u00XX" (6) or U+FFFD (3). */
	buf_reserve(out, 6 * n + 2);
	char *w = buf_tail(out);
	*w++ = '"';
	while (p < end) {
		const unsigned char *run = p;
		while (p < end && plain[*p])
			p++;
		memcpy(w, run, (size_t)(p - run));
		w += p - run;
		if (p == end)
			break;
		unsigned c = *p;
		if (c >= 0x80) {
			size_t k = utf8_len(p, (size_t)(end - p));
			if (k) {
				memcpy(w, p, k);
				w += k;
				p += k;
			} else {
				memcpy(w, "\xEF\xBF\xBD", 3); /* U+FFFD, one per bad byte */
				w += 3;
				p++;
			}
			continue;
		}
		*w++ = '\\';
		switch (c) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '\n': *w++ = 'n'; break;
		case '\r': *w++ = 'r'; break;
		case '\t': *w++ = 't'; break;
		case '\b': *w++ = 'b'; break;
		case '\f': *w++ = 'f'; break;
		default:
			*w++ = 'u';
			*w++ = '0';
			*w++ = '0';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 15];
		}
		p++;
	}
	*w++ = '"';
	out->data = (size_t)(w - buf_ptr(out));
}

static void put_key(struct buf *out, const char *key, const char *val)
{
	buf_appends(out, ",\"");
	buf_appends(out, key);
	buf_appends(out, "\":");
	logs__json_str(out, val, strlen(val));
}

static bool reserved(const char *k)
{
	static const char *const names[] = {"@timestamp", "@version", "host", "stack", "service", "instance",
					    "stream", "path", "message", "type", "tags", NULL};
	for (int i = 0; names[i]; i++)
		if (strcmp(k, names[i]) == 0)
			return true;
	return false;
}

/* A message that is a JSON object, as fields: at the top (berth's own
 * fields win), or all under <target>. Anything else is left as text. */
static void put_json_fields(struct buf *out, const struct logs__meta *m, const char *msg, size_t len)
{
	size_t i = 0;
	while (i < len && (msg[i] == ' ' || msg[i] == '\t'))
		i++;
	if (i == len || msg[i] != '{')
		return;
	json_t *o = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	if (m->json == 2) {
		char *t = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (t) {
			buf_appends(out, ",\"");
			buf_appends(out, m->json_target);
			buf_appends(out, "\":");
			buf_appends(out, t);
			free(t);
		}
		json_decref(o);
		return;
	}
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		if (reserved(k))
			continue;
		char *t = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
		if (!t)
			continue;
		buf_appends(out, ",");
		logs__json_str(out, k, strlen(k));
		buf_appends(out, ":");
		buf_appends(out, t);
		free(t);
	}
	json_decref(o);
}

void logs__event_encode(struct buf *out, const struct logs__meta *m, const char *ts, const char *stream,
			const char *path, const char *msg, size_t len, bool truncated)
{
	buf_appends(out, "{\"@timestamp\":\"");
	buf_appends(out, ts);
	buf_appends(out, "\",\"@version\":\"1\"");
	put_key(out, "host", m->host);
	put_key(out, "stack", m->stack);
	put_key(out, "service", m->service);
	put_key(out, "instance", m->instance);
	if (stream)
		put_key(out, "stream", stream);
	else
		put_key(out, "path", path);
	buf_appends(out, ",\"message\":");
	logs__json_str(out, msg, len);
	put_key(out, "type", m->type);
	if (truncated)
		buf_appends(out, ",\"tags\":[\"truncated\"]");
	if (m->json)
		put_json_fields(out, m, msg, len);
	buf_appends(out, "}\n");
}

void logs__now_ts(char ts[32])
{
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t k = strftime(ts, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + k, 32 - k, ".%03ldZ", now.tv_nsec / 1000000);
}

void logs__cri_ts(const char *cri, size_t n, char ts[32])
{
	/* The shim writes "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ": keep the
	 * milliseconds. Another shape (a CRI file from elsewhere) is taken as
	 * it is when it fits, else replaced by the time it was read. Either
	 * way it goes into JSON unescaped: only time characters pass. */
	bool ok = n > 0 && n < 40;
	for (size_t i = 0; ok && i < n; i++)
		ok = (cri[i] >= '0' && cri[i] <= '9') || (cri[i] >= 'A' && cri[i] <= 'Z') || cri[i] == ':' ||
		     cri[i] == '.' || cri[i] == '-' || cri[i] == '+';
	if (ok && n >= 24 && cri[19] == '.' && cri[n - 1] == 'Z') {
		memcpy(ts, cri, 23);
		ts[23] = 'Z';
		ts[24] = '\0';
	} else if (ok && n < 32) {
		memcpy(ts, cri, n);
		ts[n] = '\0';
	} else {
		logs__now_ts(ts);
	}
}
