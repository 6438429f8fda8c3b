/* Unit tests for the pipeline's configuration checks (src/logs/config.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "logs/logs-int.h"

static void bad(int (*check)(const json_t *, char **, char **, bool *), const char *text, const char *at,
		const char *why_has, bool at_key)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	char *why = NULL, *got = NULL;
	bool k = false;

	cr_assert_not_null(j, "%s", je.text);
	cr_assert_eq(check(j, &why, &got, &k), -1, "accepted: %s", text);
	cr_assert_str_eq(got, at, "%s", text);
	cr_assert(strstr(why, why_has), "\"%s\" has no \"%s\"", why, why_has);
	cr_assert_eq(k, at_key, "%s", text);
	free(why);
	free(got);
	json_decref(j);
}

static void good(int (*check)(const json_t *, char **, char **, bool *), const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	char *why = NULL, *at = NULL;
	bool k;
	cr_assert_eq(check(j, &why, &at, &k), 0, "%s: %s at %s", text, why, at);
	free(at);
	json_decref(j);
}

Test(config, outputs)
{
	good(logs_check_outputs, "[{\"type\":\"stdout\"},{\"type\":\"file\",\"path\":\"/x\",\"max_size\":\"1GiB\",\"keep\":3,"
				 "\"queue\":{\"memory\":\"4MiB\",\"disk\":1048576}}]");
	good(logs_check_outputs, "[{\"type\":\"syslog\",\"address\":\"[::1]:514\",\"protocol\":\"udp\",\"facility\":\"local7\"},"
				 "{\"type\":\"redis\",\"address\":\"localhost:6379\",\"key\":\"k\",\"db\":2},"
				 "{\"type\":\"elasticsearch\",\"url\":\"http://es:9200\",\"user\":\"u\",\"password\":\"p\"}]");
	bad(logs_check_outputs, "{}", "", "a list of outputs", false);
	bad(logs_check_outputs, "[{\"path\":\"/x\"}]", "[0]", "needs a type", false);
	bad(logs_check_outputs, "[{\"type\":\"kafka\"}]", "[0].type", "unknown output type", false);
	bad(logs_check_outputs, "[{\"type\":\"file\"}]", "[0]", "needs a path", false);
	bad(logs_check_outputs, "[{\"type\":\"file\",\"path\":\"/x\",\"colour\":1}]", "[0].colour", "unknown key", true);
	bad(logs_check_outputs, "[{\"type\":\"file\",\"path\":\"/x\",\"max_size\":\"big\"}]", "[0].max_size", "a size",
	    false);
	bad(logs_check_outputs, "[{\"type\":\"syslog\",\"address\":\"h:99999\"}]", "[0].address", "not a port", false);
	bad(logs_check_outputs, "[{\"type\":\"syslog\",\"address\":\"h:1\",\"facility\":\"nope\"}]", "[0].facility",
	    "facility", false);
	bad(logs_check_outputs, "[{\"type\":\"stdout\",\"format\":\"xml\"}]", "[0].format", "human or json", false);
	bad(logs_check_outputs, "[{\"type\":\"elasticsearch\",\"url\":\"es:9200\"}]", "[0].url", "http://", false);
	bad(logs_check_outputs, "[{\"type\":\"stdout\"},{\"type\":\"stdout\"}]", "[1]", "second output named", false);
	bad(logs_check_outputs, "[{\"type\":\"stdout\",\"name\":\"Bad Name\"}]", "[0].name", "lower-case", false);
	bad(logs_check_outputs, "[{\"type\":\"stdout\",\"queue\":{\"memory\":\"0\"}}]", "[0].queue.memory", "a size",
	    false);
	bad(logs_check_outputs, "[{\"type\":\"stdout\",\"queue\":{\"ram\":\"1m\"}}]", "[0].queue.ram", "unknown key", true);
}

Test(config, service_inputs)
{
	good(logs_check_service, "{\"files\":[\"/a/*.log\",{\"path\":\"b.log\",\"json\":\"f\",\"type\":\"t\","
				 "\"multiline\":{\"pattern\":\"^\\\\S\"}}],\"json\":true,\"multiline\":{\"pattern\":\"^x\"}}");
	bad(logs_check_service, "{\"file\":[]}", "file", "unknown key", true);
	bad(logs_check_service, "{\"files\":\"/a.log\"}", "files", "a list", false);
	bad(logs_check_service, "{\"files\":[\"\"]}", "files[0]", "a path", false);
	bad(logs_check_service, "{\"files\":[{\"glob\":\"x\"}]}", "files[0].glob", "unknown key", true);
	bad(logs_check_service, "{\"files\":[{\"path\":\"x\",\"multiline\":{\"pattern\":\"(\"}}]}",
	    "files[0].multiline.pattern", "regular expression", false);
	bad(logs_check_service, "{\"multiline\":{\"negate\":true}}", "multiline.negate", "unknown key", true);
	bad(logs_check_service, "{\"json\":3}", "json", "true, false, or a field name", false);
	bad(logs_check_stack, "{\"outputs\":[{\"type\":\"x\"}]}", "outputs[0].type", "unknown output type", false);
	bad(logs_check_stack, "{\"files\":[]}", "files", "unknown key", true);
}

Test(config, sizes)
{
	uint64_t v;
	cr_assert(logs__size_parse("4096", &v) == 0 && v == 4096);
	cr_assert(logs__size_parse("64MiB", &v) == 0 && v == 64u << 20);
	cr_assert(logs__size_parse("1g", &v) == 0 && v == 1u << 30);
	cr_assert(logs__size_parse("512 KiB", &v) == 0 && v == 512u << 10);
	cr_assert(logs__size_parse("10MB", &v) == 0 && v == 10u << 20);
	cr_assert_eq(logs__size_parse("MiB", &v), -1);
	cr_assert_eq(logs__size_parse("5 parsecs", &v), -1);
	cr_assert_eq(logs__size_parse("99999999999999999999", &v), -1);
	cr_assert_eq(logs__size_parse("99999999999T", &v), -1);
}
