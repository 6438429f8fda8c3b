/* Unit tests for the template language (src/hooks/template.c) against an in-memory catalog. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/mem.h"
#include "hooks/template.h"

static struct catalog *cat;

static void put(const char *stack, const char *svc, int idx, const char *addr, int port, bool healthy,
		const char *tags)
{
	struct catalog_port ports[2] = {
		{.target = 3000, .published = port, .name = "http"},
		{.target = 9000, .published = port + 1000, .name = "admin"},
	};
	char *tagv[4], *copy = xstrdup(tags ? tags : ""), *save = NULL;
	int ntags = 0;
	for (char *t = strtok_r(copy, ",", &save); t && ntags < 4; t = strtok_r(NULL, ",", &save))
		tagv[ntags++] = t;
	char node[16];
	snprintf(node, sizeof(node), "n%d", idx);
	struct catalog_endpoint ep = {
		.stack = (char *)stack,
		.service = (char *)svc,
		.index = idx,
		.node = node,
		.addr = (char *)addr,
		.port = port,
		.ports = ports,
		.nports = strcmp(svc, "app") == 0 ? 2 : 1,
		.tags = tagv,
		.ntags = ntags,
		.healthy = healthy,
		.health = healthy ? "healthy" : "unhealthy",
	};
	cr_assert(catalog_put(cat, &ep));
	free(copy);
}

static void setup(void)
{
	cat = catalog_new();
	put("shop", "app", 1, "10.0.0.1", 31001, true, "primary,v2");
	put("shop", "app", 2, "10.0.0.2", 31002, true, NULL);
	put("shop", "app", 3, "10.0.0.3", 31003, false, NULL);
	put("shop", "mongo", 1, "10.0.1.1", 27017, true, NULL);
	put("shop", "mongo", 2, "10.0.1.2", 27018, false, NULL);
	put("shop", "mongo", 3, "10.0.1.3", 27019, true, NULL);
	put("shop", "redis", 1, "10.0.2.1", 6379, true, "replica");
	put("shop", "redis", 2, "10.0.2.2", 6380, true, "primary");
	put("other", "web", 1, "fd00::1", 8080, true, NULL);
	const char *svcs[] = {"app", "mongo", "redis", "empty"};
	catalog_declare(cat, "shop", svcs, 4);
}

static void teardown(void)
{
	catalog_free(cat);
}

TestSuite(template, .init = setup, .fini = teardown, .timeout = 10);

static char *const test_env[] = {"DOMAIN=example.com", "EMPTY=", "PORT=80", NULL};

static struct template_ctx ctx_default(void)
{
	return (struct template_ctx){.catalog = cat, .stack = "shop", .service = "proxy", .env = test_env};
}

/* Renders <text>, failing the test on any error; heap result. */
static char *render_ctx(const char *text, const struct template_ctx *ctx)
{
	struct template *t;
	char *err = NULL;
	struct buf b = {0};

	if (template_parse("t.tmpl", text, strlen(text), &t, &err) < 0)
		cr_assert_fail("parse failed: %s", err);
	if (template_render(t, ctx, &b, &err) < 0)
		cr_assert_fail("render failed: %s", err);
	template_free(t);
	char *s = xstrndup(b.data ? buf_ptr(&b) : "", b.data);
	buf_free(&b);
	return s;
}

static char *render(const char *text)
{
	struct template_ctx c = ctx_default();
	return render_ctx(text, &c);
}

#define expect_render(text, want)                                                   \
	do {                                                                        \
		char *got_ = render(text);                                          \
		cr_expect_str_eq(got_, want, "template %s", text);                  \
		free(got_);                                                         \
	} while (0)

/* The parse error of <text>; fails if it parses. */
static char *parse_error(const char *text)
{
	struct template *t = NULL;
	char *err = NULL;

	if (template_parse("t.tmpl", text, strlen(text), &t, &err) == 0) {
		template_free(t);
		cr_assert_fail("parsed, expected an error: %s", text);
	}
	cr_assert_null(t);
	cr_assert_not_null(err);
	return err;
}

#define expect_error(text, pos, what)                                                                \
	do {                                                                                         \
		char *e_ = parse_error(text);                                                        \
		cr_expect(strncmp(e_, "t.tmpl:" pos ": ", strlen("t.tmpl:" pos ": ")) == 0 &&        \
				  strstr(e_, what) != NULL,                                          \
			  "template %s: wanted %s ...%s..., got %s", text, pos, what, e_);           \
		free(e_);                                                                    \
	} while (0)

Test(template, text_and_root_names)
{
	expect_render("", "");
	expect_render("plain text\nno tags\n", "plain text\nno tags\n");
	expect_render("{{stack}}/{{service}}", "shop/proxy");
	expect_render("{{ stack }}", "shop");
	expect_render("{{&service}}", "proxy");
	expect_render("a{{! a comment }}b", "ab");
	expect_render("a{{!\nmulti\nline}}b", "ab");
	expect_render("{{\"{{\"}}literal{{\"}}\"}}", "{{literal}}");
	expect_render("{{\"q\\\"\\\\\\t\"}}", "q\"\\\t");
	/* No escaping: this renders configuration files. */
	char *const env[] = {"X=<a href=\"&\">", NULL};
	struct template_ctx c = ctx_default();
	c.env = env;
	char *s = render_ctx("{{env \"X\"}}", &c);
	cr_expect_str_eq(s, "<a href=\"&\">");
	free(s);
}

Test(template, literal_braces)
{
	expect_render("upstream app {{{#endpoints \"redis\"}}{{port}} {{/endpoints}}}", "upstream app {6379 6380 }");
	expect_render("{ } }} {", "{ } }} {");
	expect_render("{{stack}}}", "shop}");
}

Test(template, endpoints_default_healthy)
{
	expect_render("{{#endpoints \"app\"}}server {{addr}}:{{port}};{{/endpoints}}",
		      "server 10.0.0.1:31001;server 10.0.0.2:31002;");
	expect_render("{{#endpoints \"app\" healthy}}{{index}} {{/endpoints}}", "1 2 ");
	expect_render("{{#endpoints \"app\" all}}{{index}}={{healthy}}/{{health}} {{/endpoints}}",
		      "1=true/healthy 2=true/healthy 3=false/unhealthy ");
	expect_render("{{#endpoints \"nope\"}}x{{/endpoints}}", "");
}

Test(template, endpoint_fields)
{
	expect_render("{{#endpoints \"app\"}}{{service}} {{stack}} {{node}} {{instance}} [{{tags}}] {{hostport}}\n"
		      "{{/endpoints}}",
		      "app shop n1 app.1 [primary,v2] 10.0.0.1:31001\napp shop n2 app.2 [] 10.0.0.2:31002\n");
	expect_render("{{#endpoints \"web\" stack=\"other\"}}{{addr}} {{hostport}}{{/endpoints}}", "fd00::1 [fd00::1]:8080");
	expect_render("{{#endpoints \"app\" all}}{{@index}}{{#@first}}F{{/@first}}{{#@last}}L{{/@last}} {{/endpoints}}",
		      "0F 1 2L ");
	expect_render("{{#endpoints \"app\"}}{{#tags}}<{{tags}}>{{/tags}}{{^tags}}none{{/tags}} {{/endpoints}}",
		      "<primary,v2> none ");
	expect_render("{{#endpoints \"app\" all}}{{#healthy}}+{{/healthy}}{{^healthy}}-{{/healthy}}{{/endpoints}}", "++-");
	/* Outer names stay visible inside a section. */
	expect_render("{{#endpoints \"redis\"}}{{service}}@{{stack}} for {{/endpoints}}", "redis@shop for redis@shop for ");
}

Test(template, separators)
{
	expect_render("mongodb://{{#endpoints \"mongo\" all}}{{addr}}:{{port}}{{^@last}},{{/@last}}{{/endpoints}}/?replicaSet=rs0",
		      "mongodb://10.0.1.1:27017,10.0.1.2:27018,10.0.1.3:27019/?replicaSet=rs0");
	expect_render("{{#endpoints \"mongo\"}}{{^@first}},{{/@first}}{{addr}}{{/endpoints}}", "10.0.1.1,10.0.1.3");
	expect_render("{{#endpoints \"redis\" tag=\"primary\"}}{{^@last}},{{/@last}}{{/endpoints}}", "");
}

Test(template, options)
{
	expect_render("{{#endpoints \"redis\" tag=\"primary\"}}{{addr}}:{{port}}{{/endpoints}}", "10.0.2.2:6380");
	expect_render("{{#endpoints \"redis\" tag=replica}}{{addr}}{{/endpoints}}", "10.0.2.1");
	expect_render("{{#endpoints \"app\" tag=\"primary\" all}}{{index}}{{/endpoints}}", "1");
	expect_render("{{#endpoints \"web\" stack=other}}{{instance}}{{/endpoints}}", "web.1");
	expect_render("{{#endpoints \"web\"}}{{instance}}{{/endpoints}}", "");
	/* port: a name, or a target port, gives its published port. */
	expect_render("{{#endpoints \"app\" port=\"admin\"}}{{port}} {{/endpoints}}", "32001 32002 ");
	expect_render("{{#endpoints \"app\" port=9000}}{{port}} {{/endpoints}}", "32001 32002 ");
	expect_render("{{#endpoints \"app\" port=3000}}{{port}} {{/endpoints}}", "31001 31002 ");
	expect_render("{{#endpoints \"app\" port=\"http\"}}{{hostport}} {{/endpoints}}", "10.0.0.1:31001 10.0.0.2:31002 ");
	/* Endpoints without that port are left out. */
	expect_render("{{#endpoints \"redis\" port=\"admin\"}}{{port}}{{/endpoints}}", "");
	expect_render("{{^endpoints \"redis\" port=\"admin\"}}no admin port{{/endpoints}}", "no admin port");
	/* Options in any order. */
	expect_render("{{#endpoints \"app\" port=9000 all tag=\"v2\" stack=\"shop\"}}{{port}}{{/endpoints}}", "32001");
}

Test(template, inverted)
{
	expect_render("{{#endpoints \"nope\"}}server {{addr}};{{/endpoints}}{{^endpoints \"nope\"}}# none{{/endpoints}}",
		      "# none");
	expect_render("{{^endpoints \"app\"}}# none{{/endpoints}}", "");
	expect_render("{{^endpoints \"app\" tag=\"gone\" all}}# none{{/endpoints}}", "# none");
	expect_render("{{^services stack=\"void\"}}no services{{/services}}", "no services");
	expect_render("{{^env \"NOPE\"}}unset{{/env}}{{^env \"EMPTY\"}} empty{{/env}}{{^env \"PORT\"}}set{{/env}}",
		      "unset empty");
}

Test(template, services)
{
	expect_render("{{#services}}{{name}}:{{healthy}}/{{endpoints}}{{^@last}} {{/@last}}{{/services}}",
		      "app:2/3 empty:0/0 mongo:2/3 redis:2/2");
	expect_render("{{#services stack=\"other\"}}{{stack}}.{{service}}{{/services}}", "other.web");
	/* {{#endpoints}} without a name inside {{#services}} is that service's. */
	expect_render("{{#services}}{{#endpoints}}{{#@first}}{{name}}:{{/@first}} {{port}}{{/endpoints}}{{/services}}",
		      "app: 31001 31002mongo: 27017 27019redis: 6379 6380");
	expect_render("{{#services}}{{#healthy}}{{name}} {{/healthy}}{{/services}}", "app mongo redis ");
	expect_render("{{#services stack=\"other\"}}{{#endpoints all}}{{hostport}}{{/endpoints}}{{/services}}",
		      "[fd00::1]:8080");
	/* Nested lists: the inner item's names shadow the outer one's. */
	expect_render("{{#services stack=\"other\"}}{{#endpoints \"app\" stack=\"shop\"}}{{service}}{{stack}} "
		      "{{/endpoints}}{{/services}}",
		      "appshop appshop ");
}

Test(template, env_and_null_context)
{
	expect_render("{{env \"DOMAIN\"}} {{env \"NOPE\"}}|{{#env \"PORT\"}}:{{env \"PORT\"}}{{/env}}", "example.com |:80");
	struct template_ctx c = {0};
	char *s = render_ctx("[{{stack}}{{service}}{{env \"X\"}}]{{#endpoints \"app\"}}x{{/endpoints}}{{#services}}y{{/services}}",
			     &c);
	cr_expect_str_eq(s, "[]");
	free(s);
	/* No stack: sections see every stack. */
	c.catalog = cat;
	s = render_ctx("{{#endpoints \"web\"}}{{stack}}{{/endpoints}} {{#services}}{{stack}}.{{name}} {{/services}}", &c);
	cr_expect_str_eq(s, "other other.web shop.app shop.empty shop.mongo shop.redis ");
	free(s);
}

Test(template, standalone_lines)
{
	/* The nginx upstream of docs/templates.md, byte for byte. */
	expect_render("upstream app {\n"
		      "    least_conn;\n"
		      "    {{#endpoints \"app\"}}\n"
		      "    server {{addr}}:{{port}};\n"
		      "    {{/endpoints}}\n"
		      "    {{^endpoints \"app\"}}\n"
		      "    server 127.0.0.1:9 down; # no healthy app instance\n"
		      "    {{/endpoints}}\n"
		      "}\n",
		      "upstream app {\n"
		      "    least_conn;\n"
		      "    server 10.0.0.1:31001;\n"
		      "    server 10.0.0.2:31002;\n"
		      "}\n");
	expect_render("upstream x {\n"
		      "{{#endpoints \"nope\"}}\n"
		      "  server {{addr}};\n"
		      "{{/endpoints}}\n"
		      "{{^endpoints \"nope\"}}\n"
		      "  server 127.0.0.1:9 down;\n"
		      "{{/endpoints}}\n"
		      "}\n",
		      "upstream x {\n  server 127.0.0.1:9 down;\n}\n");
	/* A comment line and CRLF line ends disappear too, tabs as well. */
	expect_render("a\r\n\t{{! note }}  \r\nb\r\n", "a\r\nb\r\n");
	expect_render("a\n{{!\n  several\n  lines\n}}\nb\n", "a\nb\n");
	/* The last line without a newline. */
	expect_render("a\n{{#endpoints \"nope\"}}\nx\n{{/endpoints}}", "a\n");
	/* At the very start. */
	expect_render("{{#endpoints \"redis\"}}\n{{port}}\n{{/endpoints}}\n", "6379\n6380\n");
	/* Not standalone: two tags on a line, text beside a tag, a variable. */
	expect_render("{{#endpoints \"redis\"}}{{/endpoints}}\nx", "\nx");
	expect_render("  {{#endpoints \"redis\"}} a\n{{/endpoints}}", "   a\n a\n");
	expect_render("x {{! c }}\ny", "x \ny");
	expect_render("  {{stack}}\n", "  shop\n");
	/* Inline sections keep their line. */
	expect_render("s = {{#endpoints \"redis\"}}{{port}}{{^@last}},{{/@last}}{{/endpoints}}\n", "s = 6379,6380\n");
}

Test(template, redis_primary)
{
	expect_render("{{#endpoints \"redis\" tag=\"primary\"}}\n"
		      "{{#@first}}\n"
		      "primary {{addr}} {{port}}\n"
		      "{{/@first}}\n"
		      "{{/endpoints}}\n"
		      "{{^endpoints \"redis\" tag=\"primary\"}}\n"
		      "# no primary yet\n"
		      "{{/endpoints}}\n",
		      "primary 10.0.2.2 6380\n");
}

Test(template, parse_errors)
{
	expect_error("{{", "1:1", "unclosed tag: expected }}");
	expect_error("ab\n  {{stack", "2:3", "unclosed tag");
	expect_error("{{stack\n}}", "1:1", "unclosed tag: expected }} on the same line");
	expect_error("x{{! no end", "1:2", "unclosed comment: expected }}");
	expect_error("{{}}", "1:1", "empty tag: expected a name");
	expect_error("{{adr}}", "1:3", "unknown name \"adr\": expected one of stack, service");
	expect_error("{{#endpoints \"a\"}}{{adr}}{{/endpoints}}", "1:21", "expected one of stack, service, addr, port");
	expect_error("line1\n{{addr}}", "2:3", "\"addr\" is only defined inside {{#endpoints}}");
	expect_error("{{@last}}", "1:3", "\"@last\" is only defined inside {{#endpoints}} or {{#services}}");
	expect_error("{{endpoints}}", "1:3", "endpoints is a section here");
	expect_error("{{#endpoints}}{{/endpoints}}", "1:13", "expected the service's name in quotes");
	expect_error("{{#endpoints web}}{{/endpoints}}", "1:14", "expected the service's name in quotes");
	expect_error("{{#endpoints \"\"}}{{/endpoints}}", "1:14", "expected a service name");
	expect_error("{{#endpoints \"a\" helthy}}{{/endpoints}}", "1:18",
		     "unknown option \"helthy\" of {{#endpoints}}: expected healthy, all, tag=, stack= or port=");
	expect_error("{{#endpoints \"a\" all healthy}}{{/endpoints}}", "1:22", "healthy and all: only one");
	expect_error("{{#endpoints \"a\" tag}}{{/endpoints}}", "1:18", "expected = after tag");
	expect_error("{{#endpoints \"a\" tag=}}{{/endpoints}}", "1:21", "expected a value after tag=");
	expect_error("{{#endpoints \"a\" tag=x tag=y}}{{/endpoints}}", "1:24", "tag= given twice");
	expect_error("{{#endpoints \"a\" port=0}}{{/endpoints}}", "1:23", "expected a port number 1..65535");
	expect_error("{{#endpoints \"a\" port=70000}}{{/endpoints}}", "1:23", "expected a port number 1..65535");
	expect_error("{{#endpoints \"a\" \"b\"}}{{/endpoints}}", "1:18", "expected an option of {{#endpoints}}");
	expect_error("{{#services tag=x}}{{/services}}", "1:13", "unknown option \"tag\" of {{#services}}: expected stack=");
	expect_error("{{#endpoints \"a\"}}", "1:1", "{{#endpoints}} is never closed: expected {{/endpoints}}");
	expect_error("a\n  {{^services}}\n{{#@last}}", "3:4", "is only defined inside");
	expect_error("a\n  {{^services}}\nx", "2:3", "{{^services}} is never closed");
	expect_error("{{/endpoints}}", "1:1", "{{/endpoints}} closes nothing");
	expect_error("{{#services}}\n{{/endpoints}}", "2:1",
		     "{{/endpoints}} does not close {{#services}} opened at 1:1: expected {{/services}}");
	expect_error("{{#services}}{{/services x}}", "1:26", "unexpected x after {{/services: expected }}");
	expect_error("{{/}}", "1:1", "expected the name of the section to close");
	expect_error("{{#}}", "1:1", "expected a section name after {{#");
	expect_error("{{#\"x\"}}{{/x}}", "1:4", "expected a section name");
	expect_error("{{stack service}}", "1:9", "unexpected service after the name: expected }}");
	expect_error("{{env}}", "1:3", "expected the variable's name in quotes after env");
	expect_error("{{env NAME}}", "1:7", "expected the variable's name in quotes after env");
	expect_error("{{env \"X\" y}}", "1:11", "after env \"NAME\": expected }}");
	expect_error("{{\"abc}}", "1:3", "unterminated string");
	expect_error("{{\"a\\qb\"}}", "1:5", "unknown escape");
	expect_error("{{ % }}", "1:4", "unexpected '%' in a tag");
	expect_error("{{>partial}}", "1:1", "partials ({{>name}}) are not supported");
	expect_error("{{=<% %>=}}", "1:1", "changing the delimiters is not supported");
	expect_error("{{#endpoints \"a\" stack=\"x\" stack=y}}{{/endpoints}}", "1:28", "stack= given twice");
	expect_error("{{#endpoints \"a\" port=a port=1}}{{/endpoints}}", "1:25", "port= given twice");
	expect_error("{{#endpoints \"a\" = }}{{/endpoints}}", "1:18", "expected an option of {{#endpoints}}");
	expect_error("{{#\"lit\" }}", "1:4", "expected a section name after {{#");
	/* A string shown in a message is escaped: messages are one line. */
	expect_error("{{#endpoints \"a\" \"b\\nc\\\"\\\\\"}}", "1:18", "got \"b\\nc\\\"\\\\\"");
}

Test(template, nul_byte_and_position_after_comment)
{
	struct template *t = NULL;
	char *err = NULL;
	const char text[] = "ab\0cd";

	cr_assert_eq(template_parse("t.tmpl", text, sizeof(text) - 1, &t, &err), -1);
	cr_expect_str_eq(err, "t.tmpl:1:3: a NUL byte: templates are text");
	free(err);
	/* Lines inside a multi-line comment are counted. */
	expect_error("{{! one\ntwo\n}} {{nope}}", "3:6", "unknown name");
	expect_error("{{! one\ntwo }}\n{{nope}}", "3:3", "unknown name");
}

Test(template, limits)
{
	struct template *t = NULL;
	char *err = NULL;
	size_t big = TEMPLATE_MAX_SIZE + 1;
	char *text = xmalloc(big);

	memset(text, 'x', big);
	cr_assert_eq(template_parse("big", text, big, &t, &err), -1);
	cr_expect(strstr(err, "big:1:1: template larger than") != NULL, "%s", err);
	free(err);
	free(text);

	/* Depth. */
	struct buf b = {0};
	for (int i = 0; i <= TEMPLATE_MAX_DEPTH; i++)
		buf_appends(&b, "{{#stack}}");
	buf_append(&b, "", 1);
	char *e = parse_error(buf_ptr(&b));
	cr_expect(strstr(e, "t.tmpl:1:321: sections nested deeper than 32") != NULL, "%s", e);
	free(e);
	buf_reset(&b);
	for (int i = 0; i < TEMPLATE_MAX_DEPTH; i++)
		buf_appends(&b, "{{#stack}}");
	buf_appends(&b, "ok");
	for (int i = 0; i < TEMPLATE_MAX_DEPTH; i++)
		buf_appends(&b, "{{/stack}}");
	buf_append(&b, "", 1);
	expect_render(buf_ptr(&b), "ok");
	buf_free(&b);

	/* Output: the error names the tag; the buffer is left as it was. */
	const char *txt = "{{#endpoints \"app\" all}}\n{{#endpoints \"app\" all}}\n{{addr}}:{{port}} {{/endpoints}}\n{{/endpoints}}";
	struct template_ctx c = ctx_default();
	cr_assert_eq(template_parse("out.tmpl", txt, strlen(txt), &t, &err), 0);
	c.max_output = 100;
	buf_appends(&b, "keep");
	cr_assert_eq(template_render(t, &c, &b, &err), -1);
	cr_expect(strstr(err, "out.tmpl:3:") == err && strstr(err, "output larger than 100 bytes"), "%s", err);
	cr_expect_eq(b.data, 4);
	free(err);
	c.max_output = 0;
	cr_assert_eq(template_render(t, &c, &b, &err), 0);
	cr_expect_eq(b.data, 4 + 9 * 15 + 3);
	/* Work: nested loops that print nothing are bounded too. */
	c.max_steps = 20;
	cr_assert_eq(template_render(t, &c, &b, &err), -1);
	cr_expect(strstr(err, "rendering takes more than 20 steps") != NULL, "%s", err);
	free(err);
	buf_free(&b);
	template_free(t);
}

static void collect(void *arg, const char *stack, const char *svc)
{
	buf_appendf(arg, "%s/%s ", stack ? stack : "-", svc ? svc : "*");
}

Test(template, deps)
{
	const char *txt = "{{#endpoints \"app\"}}{{/endpoints}}{{^endpoints \"db\" stack=\"x\"}}{{/endpoints}}"
			  "{{#services stack=\"y\"}}{{#endpoints}}{{/endpoints}}{{/services}}{{#services}}{{/services}}";
	struct template *t;
	char *err;
	struct buf b = {0};

	cr_assert_eq(template_parse("d", txt, strlen(txt), &t, &err), 0);
	template_deps(t, collect, &b);
	buf_append(&b, "", 1);
	cr_expect_str_eq(buf_ptr(&b), "-/app x/db y/* y/* -/* ");
	cr_expect_str_eq(template_name(t), "d");
	buf_free(&b);
	template_free(t);
}

Test(template, parse_file)
{
	char path[] = "/tmp/berth-tmpl-XXXXXX";
	int fd = mkstemp(path);
	struct template *t;
	char *err = NULL;

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "a\n{{#nope}}\n", 12), 12);
	close(fd);
	cr_assert_eq(template_parse_file(path, &t, &err), -1);
	char *want = xasprintf("%s:2:4: unknown name \"nope\"", path);
	cr_expect(strncmp(err, want, strlen(want)) == 0, "%s", err);
	free(want);
	free(err);
	cr_assert_eq(template_parse_file("/nonexistent/x.tmpl", &t, &err), -1);
	cr_expect_str_eq(err, "/nonexistent/x.tmpl: No such file or directory");
	free(err);
	cr_assert_eq(template_parse_file("/tmp", &t, &err), -1);
	cr_expect_str_eq(err, "/tmp: not a regular file");
	free(err);
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, "{{stack}}", 9), 9);
	close(fd);
	cr_assert_eq(template_parse_file(path, &t, &err), 0);
	cr_expect_str_eq(template_name(t), path);
	template_free(t);
	unlink(path);
}
