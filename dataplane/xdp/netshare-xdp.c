/* netshare-xdp: attach, configure and watch the XDP front filter of the
 * AF_XDP capture path (ns_xdp_filter.bpf.o). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netshare/xdp_ctl.h"

static void
usage(FILE *f)
{
	fputs(
	    "usage: netshare-xdp --iface IF [--attach OBJ [--mode MODE]]\n"
	    "                    [--sample N] [--stats [--json]] [--detach]\n"
	    "\n"
	    "Control the NetShare XDP filter on interface IF: it drops\n"
	    "frames that are not IPv4/IPv6 (after up to two VLAN tags),\n"
	    "keeps 1 in N IP frames and redirects them to the AF_XDP\n"
	    "socket of their queue (xsks_map), or to the kernel stack when\n"
	    "the queue has none. DPDK's net_af_xdp loads it itself with\n"
	    "xdp_prog=ns_xdp_filter.bpf.o; --attach is for use without it.\n"
	    "\n"
	    "Options (done in this order):\n"
	    "  -i, --iface IF      the interface (required)\n"
	    "  -a, --attach OBJ    load OBJ's first program and attach it\n"
	    "  -m, --mode MODE     with --attach: generic (skb), native\n"
	    "                      (driver) or any (the kernel's choice,\n"
	    "                      as net_af_xdp does; default)\n"
	    "  -s, --sample N      keep 1 in N IP frames (N >= 1; 1: all)\n"
	    "  -S, --stats         print the sampling rate and the counters\n"
	    "                      (summed over CPUs)\n"
	    "  -j, --json          with --stats: one JSON object\n"
	    "  -d, --detach        detach the XDP program(s) of IF\n"
	    "  -h, --help          this help\n"
	    "\n"
	    "Counters: seen = drop_non_ip + drop_malformed + drop_sampled\n"
	    "+ redirected + passed.\n"
	    "\n"
	    "Exit status: 0 success, 1 failure (the reason on stderr),\n"
	    "2 usage.\n",
	    f);
}

static int
parse_n(const char *arg, uint32_t *n)
{
	char *end;
	unsigned long long v;

	if (!arg || *arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || v < 1 || v > UINT32_MAX)
		return -1;
	*n = (uint32_t)v;
	return 0;
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
print_stats(const struct ns_xdp *x, uint32_t n, const struct ns_xdp_stats *s,
            int json)
{
	int i;

	if (json) {
		printf("{\"iface\": ");
		json_string(x->ifname);
		printf(", \"ifindex\": %d, \"prog_id\": %" PRIu32
		       ", \"prog_name\": ",
		       x->ifindex, x->prog_id);
		json_string(x->prog_name);
		printf(", \"mode\": \"%s\", \"sample_n\": %" PRIu32
		       ", \"counters\": {",
		       ns_xdp_mode_name(x->mode), n);
		for (i = 0; i < NS_XDP_CNT_MAX; i++)
			printf("%s\"%s\": %" PRIu64, i ? ", " : "",
			       ns_xdp_counter_names[i], s->c[i]);
		printf("}}\n");
		return;
	}
	printf("%-15s %s (ifindex %d)\n", "iface", x->ifname, x->ifindex);
	printf("%-15s %s (id %" PRIu32 ", %s)\n", "program", x->prog_name,
	       x->prog_id, ns_xdp_mode_name(x->mode));
	printf("%-15s %" PRIu32 "\n", "sample_n", n);
	for (i = 0; i < NS_XDP_CNT_MAX; i++)
		printf("%-15s %" PRIu64 "\n", ns_xdp_counter_names[i],
		       s->c[i]);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"iface", required_argument, NULL, 'i'},
	    {"attach", required_argument, NULL, 'a'},
	    {"mode", required_argument, NULL, 'm'},
	    {"sample", required_argument, NULL, 's'},
	    {"stats", no_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"detach", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *iface = NULL, *obj = NULL, *mode_arg = NULL;
	enum ns_xdp_mode mode = NS_XDP_MODE_ANY;
	int stats = 0, json = 0, detach = 0, have_sample = 0, c;
	uint32_t sample = 1;
	char err[512];

	while ((c = getopt_long(argc, argv, "i:a:m:s:Sjdh", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'i':
			iface = optarg;
			break;
		case 'a':
			obj = optarg;
			break;
		case 'm':
			mode_arg = optarg;
			if (ns_xdp_mode_parse(optarg, &mode) < 0) {
				fprintf(stderr,
				        "netshare-xdp: --mode: '%s' is "
				        "not generic, native or any\n",
				        optarg);
				return 2;
			}
			break;
		case 's':
			if (parse_n(optarg, &sample) < 0) {
				fprintf(stderr,
				        "netshare-xdp: --sample: '%s' "
				        "is not an integer in [1, %" PRIu32
				        "]\n",
				        optarg, UINT32_MAX);
				return 2;
			}
			have_sample = 1;
			break;
		case 'S':
			stats = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'd':
			detach = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netshare-xdp: unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	if (!iface) {
		fprintf(stderr, "netshare-xdp: --iface is required\n");
		usage(stderr);
		return 2;
	}
	if (!obj && !have_sample && !stats && !detach) {
		fprintf(stderr, "netshare-xdp: nothing to do: give --attach, "
		                "--sample, --stats or --detach\n");
		return 2;
	}
	if (json && !stats) {
		fprintf(stderr, "netshare-xdp: --json goes with --stats\n");
		return 2;
	}
	if (mode_arg && !obj) {
		fprintf(stderr, "netshare-xdp: --mode goes with --attach\n");
		return 2;
	}
	if (obj && detach) {
		fprintf(stderr, "netshare-xdp: --attach and --detach "
		                "together do nothing useful\n");
		return 2;
	}

	if (obj) {
		if (ns_xdp_attach(iface, obj, mode, err, sizeof(err)) < 0) {
			fprintf(stderr, "netshare-xdp: %s\n", err);
			return 1;
		}
		if (!stats) {
			enum ns_xdp_mode m;
			uint32_t id;

			/* With "any" the kernel chose: say what it did. */
			if (ns_xdp_query(iface, &id, &m, err, sizeof(err)) <
			    0) {
				fprintf(stderr,
				        "netshare-xdp: attached, but "
				        "%s\n",
				        err);
				return 1;
			}
			printf("attached %s to %s: program id %" PRIu32
			       ", %s mode\n",
			       obj, iface, id, ns_xdp_mode_name(m));
		}
	}

	if (have_sample || stats) {
		struct ns_xdp x;
		struct ns_xdp_stats s;
		uint32_t n = 1;
		int r;

		if (ns_xdp_open(&x, iface, err, sizeof(err)) < 0) {
			fprintf(stderr, "netshare-xdp: %s\n", err);
			return 1;
		}
		r = have_sample
		        ? ns_xdp_set_sample(&x, sample, err, sizeof(err))
		        : 0;
		if (r == 0 && !stats)
			printf("%s: keeping 1 in %" PRIu32 " IP frames\n",
			       iface, sample);
		if (r == 0 && stats)
			r = ns_xdp_get_sample(&x, &n, err, sizeof(err));
		if (r == 0 && stats)
			r = ns_xdp_read_stats(&x, &s, err, sizeof(err));
		if (r == 0 && stats)
			print_stats(&x, n, &s, json);
		ns_xdp_close(&x);
		if (r < 0) {
			fprintf(stderr, "netshare-xdp: %s\n", err);
			return 1;
		}
	}

	if (detach) {
		if (ns_xdp_detach(iface, err, sizeof(err)) < 0) {
			fprintf(stderr, "netshare-xdp: %s\n", err);
			return 1;
		}
		if (!stats)
			printf("detached the XDP program of %s\n", iface);
	}
	return 0;
}
