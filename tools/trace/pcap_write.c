/* pcap writer: Ethernet frames rebuilt from header records, headers only
 * (the caplen), with the original length taken from the IP length. */
#include "netshare/trace.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAME_MAX 128

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
csum16(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)~s;
}

/* Build the frame's headers into buf; returns the captured length. */
static size_t
build_headers(const struct ns_pkt_record *r, uint8_t *buf, uint32_t *wirelen)
{
	memset(buf, 0, FRAME_MAX);
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
	memcpy(buf, macs, 12);
	uint8_t *ip = buf + 14;
	size_t ihl;
	uint32_t ip_len = r->ip_len;
	if (r->ip_version == 6) {
		put16(buf + 12, 0x86DD);
		ihl = 40;
		if (ip_len < ihl)
			ip_len = (uint32_t)ihl;
		ip[0] = (uint8_t)(0x60 | r->tos >> 4);
		ip[1] = (uint8_t)(r->tos << 4);
		put16(ip + 4, (uint16_t)(ip_len - 40));
		ip[6] = r->proto;
		ip[7] = r->ttl;
		memcpy(ip + 8, r->src_addr, 16);
		memcpy(ip + 24, r->dst_addr, 16);
	} else {
		put16(buf + 12, 0x0800);
		ihl = 20;
		if (ip_len < ihl)
			ip_len = (uint32_t)ihl;
		ip[0] = 0x45;
		ip[1] = r->tos;
		put16(ip + 2, (uint16_t)(ip_len > 65535 ? 0 : ip_len));
		put16(ip + 4, (uint16_t)r->ip_id);
		put16(ip + 6, r->ip_frag);
		ip[8] = r->ttl;
		ip[9] = r->proto;
		memcpy(ip + 12, r->src_addr, 4);
		memcpy(ip + 16, r->dst_addr, 4);
		put16(ip + 10, csum16(ip, 20));
	}
	size_t len = 14 + ihl;
	uint8_t *l4 = ip + ihl;
	size_t room = ip_len - ihl;
	int later_fragment = (r->ip_frag & NS_FRAG_OFFSET_MASK) != 0;
	size_t l4len = 0;
	if (!later_fragment) {
		switch (r->proto) {
		case 6:
			l4len = 20;
			put16(l4, r->src_port);
			put16(l4 + 2, r->dst_port);
			l4[12] = 0x50;
			l4[13] = r->tcp_flags;
			put16(l4 + 14, 65535);
			break;
		case 17:
		case 132:
		case 136:
			l4len = r->proto == 132 ? 12 : 8;
			put16(l4, r->src_port);
			put16(l4 + 2, r->dst_port);
			if (r->proto == 17)
				put16(l4 + 4, (uint16_t)(room > 65535 ? 0
								      : room));
			break;
		case 1:
		case 58:
			l4len = 8;
			l4[0] = (uint8_t)r->src_port;
			l4[1] = (uint8_t)r->dst_port;
			break;
		}
	}
	if (l4len > room)
		l4len = room;
	len += l4len;
	*wirelen = 14 + ip_len;
	return len;
}

int
ns_write_pcap(const char *path, const struct ns_pkt_trace *t)
{
	struct ns_atomic a;
	if (ns_atomic_open(&a, path))
		return -1;
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(
		DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
	pcap_dumper_t *d = dead ? pcap_dump_fopen(dead, a.f) : NULL;
	if (!d) {
		if (dead)
			pcap_close(dead);
		ns_atomic_close(&a, 0);
		errno = EIO;
		return -1;
	}
	uint8_t frame[FRAME_MAX];
	for (size_t i = 0; i < t->n; i++) {
		const struct ns_pkt_record *r = &t->v[i];
		struct pcap_pkthdr h;
		uint32_t wirelen;
		h.caplen = (bpf_u_int32)build_headers(r, frame, &wirelen);
		h.len = wirelen;
		h.ts.tv_sec = (time_t)(r->ts_ns / 1000000000ull);
		h.ts.tv_usec = (suseconds_t)(r->ts_ns % 1000000000ull);
		pcap_dump((u_char *)d, &h, frame);
	}
	int ok = pcap_dump_flush(d) == 0 && fsync(fileno(a.f)) == 0;
	pcap_dump_close(d); /* closes a.f */
	a.f = NULL;
	pcap_close(dead);
	return ns_atomic_close(&a, ok);
}
