/* The dataplane config: defaults, a full file, and every kind of bad
 * input refused with the file, the field and the cause, applying
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dp_config.h"

static int
parse(const char *json, struct dp_config *c, char *err)
{
	return dp_config_parse(json, strlen(json), "t.json", c, err, 512);
}

static void
test_defaults_and_full(void **state)
{
	(void)state;
	struct dp_config c;
	dp_config_default(&c);
	assert_int_equal(c.burst, 32);
	assert_int_equal(c.sample_one_in, 1);
	assert_int_equal(c.meter.max_flows, 1u << 20);
	assert_int_equal(c.meter.inactive_timeout_ns, 15000000000ull);
	char err[512];
	assert_int_equal(
		parse("{\"ports\":[{\"name\":\"0000:01:00.0\",\"queues\":4},"
		      "{\"name\":\"net_pcap0\",\"devargs\":\"rx_pcap=a.pcap\","
		      "\"linktype\":\"raw\"}],\"burst\":64,\"sample_one_in\":"
		      "8,\"timestamps\":\"port\",\"active_timeout_s\":60.5,"
		      "\"inactive_timeout_s\":0,\"tcp_end\":false,"
		      "\"flow_table_size\":4096,\"lcores\":[2,3],"
		      "\"_comment\":\"ignored\"}",
		      &c, err),
		0);
	assert_int_equal(c.n_ports, 2);
	assert_string_equal(c.port[0].name, "0000:01:00.0");
	assert_int_equal(c.port[0].queues, 4);
	assert_int_equal(c.port[0].linktype, 1);
	assert_string_equal(c.port[1].devargs, "rx_pcap=a.pcap");
	assert_int_equal(c.port[1].linktype, 12);
	assert_int_equal(c.burst, 64);
	assert_int_equal(c.sample_one_in, 8);
	assert_int_equal(c.port_timestamps, 1);
	assert_int_equal(c.meter.active_timeout_ns, 60500000000ull);
	assert_int_equal(c.meter.inactive_timeout_ns, 0);
	assert_int_equal(c.meter.tcp_end, 0);
	assert_int_equal(c.meter.max_flows, 4096);
	assert_int_equal(c.n_lcores, 2);
	assert_int_equal(c.lcores[1], 3);
}

/* Each bad input: refused, message names file and field, c untouched. */
static void
test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *json, *needle;
	} bad[] = {
		{"{\"ports\":[{\"name\":\"a\"}", "not valid JSON"},
		{"[]", "must be an object"},
		{"{}", "'ports' is missing"},
		{"{\"ports\":[]}", "1 to 16 ports"},
		{"{\"ports\":{}}", "'ports' must be an array"},
		{"{\"ports\":[{\"queues\":2}]}", "needs a name"},
		{"{\"ports\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", "repeats"},
		{"{\"ports\":[{\"name\":\"a\",\"queues\":0}]}", "queues"},
		{"{\"ports\":[{\"name\":\"a\",\"queues\":1.5}]}", "queues"},
		{"{\"ports\":[{\"name\":\"a\",\"linktype\":\"fddi\"}]}",
		 "linktype"},
		{"{\"ports\":[{\"name\":\"a\",\"speed\":1}]}",
		 "unknown field 'speed'"},
		{"{\"ports\":[{\"name\":\"a\"}],\"burst\":65}", "'burst'"},
		{"{\"ports\":[{\"name\":\"a\"}],\"burst\":\"32\"}",
		 "'burst' must be a number"},
		{"{\"ports\":[{\"name\":\"a\"}],\"mbufs\":4095.5}",
		 "whole number"},
		{"{\"ports\":[{\"name\":\"a\"}],\"tcp_end\":1}",
		 "'tcp_end' must be true or false"},
		{"{\"ports\":[{\"name\":\"a\"}],\"timestamps\":\"nic\"}",
		 "'timestamps'"},
		{"{\"ports\":[{\"name\":\"a\"}],\"mbufs\":1023,\"rx_desc\":"
		 "1024}",
		 "at least twice"},
		{"{\"ports\":[{\"name\":\"a\"}],\"sampling\":2}",
		 "unknown field 'sampling'"},
		{"{\"ports\":[{\"name\":\"za\",\"name\":\"e\"}]}",
		 "ports[0] gives 'name' twice"},
		{"{\"ports\":[{\"name\":\"a\"}],\"burst\":8,\"burst\":9}",
		 "'burst' is given twice"},
		{"{\"ports\":[{\"name\":\"a\"}],\"lcores\":[]}",
		 "'lcores'"},
		{"{\"ports\":[{\"name\":\"a\"}],\"lcores\":[1,-1]}",
		 "lcores[1]"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dp_config c, before;
		dp_config_default(&c);
		c.burst = 7; /* a value no input sets */
		before = c;
		char err[512] = "";
		if (parse(bad[i].json, &c, err) != -1 ||
		    strncmp(err, "t.json: ", 8) != 0 ||
		    !strstr(err, bad[i].needle) ||
		    memcmp(&c, &before, sizeof(c)) != 0)
			fail_msg("input %zu (%s): got '%s'", i, bad[i].json,
				 err);
	}
}

static void
test_file_errors(void **state)
{
	(void)state;
	struct dp_config c;
	dp_config_default(&c);
	char err[512];
	assert_int_equal(dp_config_load("/nonexistent/dp.json", &c, err,
					sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/dp.json: cannot open"));
	/* the shipped configs load */
	const char *src = getenv("NS_SOURCE_ROOT");
	if (!src)
		src = ".";
	const char *names[] = {"dataplane-nic.json", "dataplane-pcap.json",
			       "dataplane-veth.json"};
	for (size_t i = 0; i < 3; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/configs/%s", src, names[i]);
		dp_config_default(&c);
		if (dp_config_load(path, &c, err, sizeof(err)) != 0)
			fail_msg("%s", err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_full),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_file_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
