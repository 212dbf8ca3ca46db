// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* NetShare's XDP front filter for the AF_XDP capture path.
 *
 * Loaded by DPDK's net_af_xdp PMD through its xdp_prog=PATH devarg (or by
 * netshare-xdp --attach). For every frame:
 *   1. parse Ethernet and up to two VLAN tags (802.1Q 0x8100 or 802.1ad
 *      0x88a8), all reads checked against data_end;
 *   2. drop anything whose EtherType after the tags is not IPv4/IPv6
 *      (ARP, LLDP, 802.3 length frames, a third tag, ...) and frames cut
 *      inside those headers or inside the minimal IP header;
 *   3. keep 1 in N IP frames at random (N from ns_config, default 1);
 *   4. redirect kept frames to the AF_XDP socket of the receive queue
 *      (xsks_map[rx_queue_index]); with no socket bound there they go on
 *      to the kernel stack (XDP_PASS).
 * Per-CPU counters record which way each frame went. The map layout is in
 * include/netshare/xdp_ctl.h, shared with the control library. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "netshare/xdp_ctl.h"

/* The PMD finds this map by its name and stores the socket of queue q
 * (start_queue + i) at key q. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, NS_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NS_XDP_CFG_MAX);
	__type(key, __u32);
	__type(value, __u32);
} ns_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NS_XDP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ns_counters SEC(".maps");

/* 802.1Q/802.1ad tag after the MAC addresses (not in the uapi headers). */
struct ns_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

#define NS_MAX_VLAN_TAGS 2

static __always_inline void
count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&ns_counters, &key);

	if (v)
		*v += 1; /* per-CPU slot, XDP runs with migration off */
}

static __always_inline int
is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/* NS_XDP_CNT_MAX when the frame is IPv4/IPv6, else the drop counter. */
static __always_inline __u32
classify(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	void *l3;
	__be16 proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return NS_XDP_CNT_DROP_MALFORMED;
	proto = eth->h_proto;
	l3 = eth + 1;

#pragma unroll
	for (i = 0; i < NS_MAX_VLAN_TAGS; i++) {
		struct ns_vlan_hdr *vh = l3;

		if (!is_vlan(proto))
			break;
		if ((void *)(vh + 1) > data_end)
			return NS_XDP_CNT_DROP_MALFORMED;
		proto = vh->encap_proto;
		l3 = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end)
			return NS_XDP_CNT_DROP_MALFORMED;
		if (ip->version != 4 || ip->ihl < 5)
			return NS_XDP_CNT_DROP_MALFORMED;
		return NS_XDP_CNT_MAX;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return NS_XDP_CNT_DROP_MALFORMED;
		if (ip6->version != 6)
			return NS_XDP_CNT_DROP_MALFORMED;
		return NS_XDP_CNT_MAX;
	}
	/* Not IP, including a third VLAN tag. */
	return NS_XDP_CNT_DROP_NON_IP;
}

static __always_inline __u32
sample_n(void)
{
	__u32 key = NS_XDP_CFG_SAMPLE_N;
	__u32 *n = bpf_map_lookup_elem(&ns_config, &key);

	return n && *n > 1 ? *n : 1;
}

SEC("xdp")
int
ns_xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 verdict, n;
	long act;

	count(NS_XDP_CNT_SEEN);

	verdict = classify(data, data_end);
	if (verdict != NS_XDP_CNT_MAX) {
		count(verdict);
		return XDP_DROP;
	}

	n = sample_n();
	if (n > 1 && bpf_get_prandom_u32() % n != 0) {
		count(NS_XDP_CNT_DROP_SAMPLED);
		return XDP_DROP;
	}

	/* The low bits of flags are the action when the queue has no
	 * socket in the map. */
	act = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	count(act == XDP_REDIRECT ? NS_XDP_CNT_REDIRECTED : NS_XDP_CNT_PASSED);
	return (int)act;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
