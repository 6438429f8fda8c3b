/* Unit tests for event encoding (src/logs/event.c) and the _bulk answer
 * reader of the elasticsearch output. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "logs/logs-int.h"

static struct logs__meta meta = {
	.host = "node1", .stack = "shop", .service = "web", .instance = "web.2", .type = "berth",
};

static json_t *encode(const struct logs__meta *m, const char *msg, size_t len, bool trunc)
{
	struct buf b = {0};
	logs__event_encode(&b, m, "2026-12-01T11:50:31.352Z", "stdout", NULL, msg, len, trunc);
	cr_assert(b.data > 0 && buf_ptr(&b)[b.data - 1] == '\n', "one JSON line");
	json_error_t je;
	json_t *j = json_loadb(buf_ptr(&b), b.data - 1, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	cr_assert_not_null(j, "not JSON: %s: %.*s", je.text, (int)b.data, buf_ptr(&b));
	buf_free(&b);
	return j;
}

static const char *str(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

Test(event, fields_in_logstash_names)
{
	json_t *j = encode(&meta, "GET /cart 200", 13, false);
	cr_assert_str_eq(str(j, "@timestamp"), "2026-12-01T11:50:31.352Z");
	cr_assert_str_eq(str(j, "@version"), "1");
	cr_assert_str_eq(str(j, "host"), "node1");
	cr_assert_str_eq(str(j, "stack"), "shop");
	cr_assert_str_eq(str(j, "service"), "web");
	cr_assert_str_eq(str(j, "instance"), "web.2");
	cr_assert_str_eq(str(j, "stream"), "stdout");
	cr_assert_null(json_object_get(j, "path"));
	cr_assert_str_eq(str(j, "message"), "GET /cart 200");
	cr_assert_str_eq(str(j, "type"), "berth");
	cr_assert_null(json_object_get(j, "tags"));
	json_decref(j);
}

Test(event, escapes_and_control_characters)
{
	const char msg[] = "a\"b\\c\td\x01\x1f\x7f end";
	json_t *j = encode(&meta, msg, sizeof(msg) - 1, false);
	cr_assert_str_eq(str(j, "message"), msg);
	json_decref(j);
}

Test(event, invalid_utf8_becomes_replacement_characters)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"\xff", "\xef\xbf\xbd"},
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  /* a surrogate */
		{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
		{"ab\xe2\x82", "ab\xef\xbf\xbd\xef\xbf\xbd"},               /* cut short at the end */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = encode(&meta, cases[i].in, strlen(cases[i].in), false);
		cr_assert_str_eq(str(j, "message"), cases[i].out, "case %zu", i);
		json_decref(j);
	}
	json_t *j = encode(&meta, "a\0b", 3, false);
	cr_assert_eq(json_string_length(json_object_get(j, "message")), 3, "a NUL is kept, escaped");
	json_decref(j);
}

Test(event, truncated_tag)
{
	json_t *j = encode(&meta, "x", 1, true);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "tags"), 0)), "truncated");
	json_decref(j);
}

Test(event, json_messages_as_fields)
{
	struct logs__meta m = meta;
	m.json = 1;
	const char *msg = "{\"level\":\"warn\",\"n\":3,\"host\":\"spoof\",\"nested\":{\"a\":[1,2]}}";
	json_t *j = encode(&m, msg, strlen(msg), false);
	cr_assert_str_eq(str(j, "level"), "warn");
	cr_assert_eq(json_integer_value(json_object_get(j, "n")), 3);
	cr_assert_str_eq(str(j, "host"), "node1", "berth's own fields win");
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(json_object_get(j, "nested"), "a"), 1)), 2);
	cr_assert_str_eq(str(j, "message"), msg, "the message stays");
	json_decref(j);

	m.json = 2;
	m.json_target = "fields";
	j = encode(&m, msg, strlen(msg), false);
	cr_assert_str_eq(str(json_object_get(j, "fields"), "host"), "spoof");
	cr_assert_null(json_object_get(j, "level"));
	json_decref(j);

	m.json = 1;
	j = encode(&m, "not json {", 10, false);
	cr_assert_eq(json_object_size(j), 9, "a message that is no JSON object adds nothing");
	json_decref(j);
}

Test(event, cri_time_to_milliseconds)
{
	char ts[32];
	logs__cri_ts("2026-12-01T11:50:31.352123456Z", 30, ts);
	cr_assert_str_eq(ts, "2026-12-01T11:50:31.352Z");
	logs__cri_ts("2026-12-01T11:50:31+01:00", 25, ts);
	cr_assert_str_eq(ts, "2026-12-01T11:50:31+01:00", "another valid shape is kept");
	logs__cri_ts("2026-12-01T10:0\xb0:00.000000001Z", 30, ts);
	cr_assert_neq(ts[16], '\xb0', "a byte that is no time character never reaches the JSON");
	logs__cri_ts("bad\"time", 8, ts);
	cr_assert_eq(strlen(ts), 24, "not a time: the time it was read");
}

Test(bulk, verdicts_per_item)
{
	unsigned char v[3];
	char *why = NULL;
	const char *ok = "{\"took\":1,\"errors\":false,\"items\":[]}";
	cr_assert_eq(logs_es_bulk_verdicts(ok, strlen(ok), 3, v, &why), 0);
	cr_assert(v[0] == 0 && v[1] == 0 && v[2] == 0);
	const char *mixed = "{\"errors\":true,\"items\":[{\"index\":{\"status\":201}},"
			    "{\"index\":{\"status\":429,\"error\":{\"type\":\"es_rejected_execution_exception\",\"reason\":\"busy\"}}},"
			    "{\"create\":{\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\"}}}]}";
	cr_assert_eq(logs_es_bulk_verdicts(mixed, strlen(mixed), 3, v, &why), 0);
	cr_assert(v[0] == 0 && v[1] == 1 && v[2] == 2);
	cr_assert_str_eq(why, "status 429 es_rejected_execution_exception: busy");
	free(why);
	const char *short_ = "{\"errors\":true,\"items\":[{\"index\":{\"status\":201}}]}";
	cr_assert_eq(logs_es_bulk_verdicts(short_, strlen(short_), 3, v, &why), -1, "items must match the batch");
	cr_assert_eq(logs_es_bulk_verdicts("<html>", 6, 3, v, &why), -1);
}
