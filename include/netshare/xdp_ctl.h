/* XDP front filter of the AF_XDP capture path: the layout of its maps
 * (shared with dataplane/xdp/ns_xdp_filter.bpf.c) and a small control
 * library that finds the program attached to an interface, sets its
 * sampling rate and reads its counters.
 *
 * The BPF program is compiled with clang -target bpf, which defines
 * __bpf__: it sees only the map layout below, not the library API. */
#ifndef NETSHARE_XDP_CTL_H
#define NETSHARE_XDP_CTL_H

/* Map names as the kernel stores them (at most 15 characters). The
 * XSKMAP must be called "xsks_map": DPDK's net_af_xdp PMD looks it up by
 * that name in an xdp_prog= object and puts the socket of each queue at
 * the key of the queue's index. */
#define NS_XDP_PROG_NAME "ns_xdp_filter"
#define NS_XDP_XSKS_MAP "xsks_map"
#define NS_XDP_CONFIG_MAP "ns_config"
#define NS_XDP_COUNTERS_MAP "ns_counters"
#define NS_XDP_MAX_QUEUES 64

/* Keys of the config array (__u32 values). */
enum ns_xdp_config_key {
	NS_XDP_CFG_SAMPLE_N = 0, /* keep 1 in N IP frames; 0 or 1: all */
	NS_XDP_CFG_MAX
};

/* Keys of the per-CPU counter array (__u64 values). Every frame the
 * program sees lands in exactly one of the last five:
 * seen = drop_non_ip + drop_malformed + drop_sampled + redirected + passed.
 */
enum ns_xdp_counter {
	NS_XDP_CNT_SEEN = 0,
	NS_XDP_CNT_DROP_NON_IP,    /* complete L2 header, not IPv4/IPv6 */
	NS_XDP_CNT_DROP_MALFORMED, /* cut inside Ethernet/VLAN/IP header,
	                            * or IP version != EtherType's */
	NS_XDP_CNT_DROP_SAMPLED,   /* IP, not chosen by 1-in-N sampling */
	NS_XDP_CNT_REDIRECTED,     /* IP, kept, to the queue's AF_XDP socket */
	NS_XDP_CNT_PASSED,         /* IP, kept, no socket on the queue: to the
	                            * kernel stack */
	NS_XDP_CNT_MAX
};

#ifndef __bpf__

#include <stddef.h>
#include <stdint.h>

/* Counter names in enum order ("seen", "drop_non_ip", ...). */
extern const char *const ns_xdp_counter_names[NS_XDP_CNT_MAX];

enum ns_xdp_mode {
	NS_XDP_MODE_ANY = 0, /* the kernel's choice: native if the driver
	                      * has it, else generic (what the PMD does) */
	NS_XDP_MODE_GENERIC, /* XDP_FLAGS_SKB_MODE */
	NS_XDP_MODE_NATIVE,  /* XDP_FLAGS_DRV_MODE */
};

/* "any", "generic", "native"; ns_xdp_mode_parse returns -1 for others. */
const char *ns_xdp_mode_name(enum ns_xdp_mode m);
int ns_xdp_mode_parse(const char *s, enum ns_xdp_mode *m);

struct ns_xdp_stats {
	uint64_t c[NS_XDP_CNT_MAX]; /* summed over all possible CPUs */
};

/* A handle on the filter attached to one interface: the program's and
 * its two control maps' file descriptors. */
struct ns_xdp {
	char ifname[16];
	int ifindex;
	enum ns_xdp_mode mode; /* where the program found is attached */
	uint32_t prog_id;
	char prog_name[16];
	int prog_fd;
	int config_fd;
	int counters_fd;
	int ncpus;
};

/* Every function returns 0 or a negative errno value, and on error
 * writes a one-line reason (interface missing, no program attached, map
 * missing or of the wrong shape, ...) into err[errlen] when err is not
 * NULL. */

/* Which XDP program ifname has (native first, then generic), whatever
 * program it is: -ENOENT if none. */
int ns_xdp_query(const char *ifname, uint32_t *prog_id, enum ns_xdp_mode *mode,
                 char *err, size_t errlen);

/* Find the XDP program attached to ifname (native first, then generic)
 * and its config and counter maps, looked up by name through the
 * program's map ids. */
int ns_xdp_open(struct ns_xdp *x, const char *ifname, char *err,
                size_t errlen);
void ns_xdp_close(struct ns_xdp *x);

/* 1-in-N sampling of IP frames: n >= 1 (1 keeps every frame). */
int ns_xdp_set_sample(struct ns_xdp *x, uint32_t n, char *err, size_t errlen);
/* The value the program uses (a stored 0 reads as 1). */
int ns_xdp_get_sample(struct ns_xdp *x, uint32_t *n, char *err, size_t errlen);
/* The per-CPU counters, summed. */
int ns_xdp_read_stats(struct ns_xdp *x, struct ns_xdp_stats *s, char *err,
                      size_t errlen);

/* Load the first program of a BPF object file (as net_af_xdp does with
 * xdp_prog=) and attach it to ifname in the given mode; fails if a
 * program is already attached in that mode. The attachment keeps the
 * program and its maps alive after the caller exits. */
int ns_xdp_attach(const char *ifname, const char *obj_path,
                  enum ns_xdp_mode mode, char *err, size_t errlen);
/* Detach whatever XDP program (generic and/or native) ifname has;
 * -ENOENT if none. */
int ns_xdp_detach(const char *ifname, char *err, size_t errlen);

#endif /* !__bpf__ */

#endif
