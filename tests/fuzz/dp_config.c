/* Fuzz target: the dataplane's JSON config. Any input is either refused
 * with a message that names the input, leaving the config as it was, or
 * gives a config within every documented bound whose printed form loads
 * back to the same ports and sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_config.h"
#include "fuzz.h"

static void
check_bounds(const struct dp_config *c)
{
	if (c->n_ports < 1 || c->n_ports > NS_DP_MAX_PORTS ||
	    c->burst < 1 || c->burst > 64 || c->sample_one_in < 1 ||
	    c->mbufs < 2 * c->rx_desc || c->meter.max_flows < 16)
		__builtin_trap();
	unsigned queues = 0;
	for (unsigned i = 0; i < c->n_ports; i++) {
		const struct dp_port_cfg *p = &c->port[i];
		if (!p->name[0] || p->queues < 1 ||
		    strnlen(p->name, sizeof(p->name)) == sizeof(p->name) ||
		    strnlen(p->devargs, sizeof(p->devargs)) ==
			    sizeof(p->devargs))
			__builtin_trap();
		queues += p->queues;
	}
	if (queues > NS_DP_MAX_QUEUES)
		__builtin_trap();
}

static void
check_round_trip(const struct dp_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	dp_config_print(c, f);
	fclose(f);
	struct dp_config back;
	dp_config_default(&back);
	char err[512];
	/* names or devargs with quotes print as they are: not JSON */
	int plain = 1;
	for (unsigned i = 0; i < c->n_ports; i++)
		plain &= !strpbrk(c->port[i].name, "\"\\") &&
			 !strpbrk(c->port[i].devargs, "\"\\");
	for (unsigned i = 0; plain && i < c->n_ports; i++)
		for (const char *s = c->port[i].name; *s; s++)
			plain &= (unsigned char)*s >= 0x20;
	for (unsigned i = 0; plain && i < c->n_ports; i++)
		for (const char *s = c->port[i].devargs; *s; s++)
			plain &= (unsigned char)*s >= 0x20;
	if (plain) {
		if (dp_config_parse(text, len, "printed", &back, err,
				    sizeof(err)) != 0)
			__builtin_trap();
		if (back.n_ports != c->n_ports ||
		    back.pkt_ring_size != c->pkt_ring_size ||
		    back.mbufs != c->mbufs ||
		    back.meter.max_flows != c->meter.max_flows ||
		    memcmp(back.port, c->port,
			   c->n_ports * sizeof(c->port[0])) != 0)
			__builtin_trap();
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_config c, before;
	dp_config_default(&c);
	before = c;
	char err[512] = "";
	if (dp_config_parse((const char *)data, size, "fuzz.json", &c, err,
			    sizeof(err)) != 0) {
		if (strncmp(err, "fuzz.json: ", 11) != 0 ||
		    memcmp(&c, &before, sizeof(c)) != 0)
			__builtin_trap(); /* named, and nothing applied */
		return 0;
	}
	check_bounds(&c);
	check_round_trip(&c);
	return 0;
}
