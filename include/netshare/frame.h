/* Frames from packet records: the (ptr, len) core of the replay. It has
 * no DPDK dependency: netshare-replay builds into mbufs with it, its
 * --write-pcap mode into a plain buffer, the tests and the fuzz target
 * into arrays.
 *
 * A record becomes Ethernet (802.1Q-tagged when the record has a VLAN),
 * IPv4 or IPv6, then the L4 header of its protocol, then a fill up to
 * the IP length:
 *
 * - IPv4: IHL 5, the record's TOS, total length, id, flags (DF/MF and
 *   the reserved bit) and fragment offset, TTL, protocol, addresses,
 *   and a valid header checksum.
 * - IPv6: the record's traffic class, hop limit, next header and
 *   addresses, flow label 0. A fragment (NS_PKT_FRAGMENT, or MF or an
 *   offset in ip_frag) carries a fragment header with the record's
 *   offset, M flag and 32-bit id. No other extension header is written;
 *   a record whose next header names one (hop-by-hop, routing, AH, ...)
 *   gets that header, empty, with "no next header" (59) after it, and is
 *   counted (NS_FRAME_V6_EXT).
 * - L4, on everything but later fragments (offset > 0): TCP (20 bytes:
 *   ports, the record's flags, seq 1, ack 1 when ACK is set, window
 *   65535), UDP and UDP-Lite (8; UDP-Lite covers its header only), SCTP
 *   (12, CRC32c), ICMP and ICMPv6 (8: type = src_port, code = dst_port;
 *   the error types carry the start of an offending datagram, an IP
 *   header addressed back to the sender with protocol 253, so that
 *   dissectors find a valid inner header), IGMP (8: a general query,
 *   v2 form). Checksums are valid: TCP, UDP, UDP-Lite and
 *   ICMPv6 over their pseudo-header, ICMP and IGMP over the message. A
 *   first fragment's checksum covers the fragment, the only part of the
 *   datagram a record describes.
 * - MLD and neighbour discovery messages (ICMPv6 130-137, 143) get
 *   their fixed fields (addresses from the record) and, where the
 *   length allows, one option (ND: a nonce of any multiple of 8 bytes)
 *   or record (MLDv2: its aux data) reaching to the end; IGMP from 12
 *   bytes on is a v3 query whose sources fill the rest.
 * - The fill: the byte at frame offset o is (o & 0xFF) wherever no
 *   header is written, so a frame's content is a function of its record
 *   alone and checksums over the fill come from a closed form.
 *
 * An IP length too small for those headers is raised to their size
 * (NS_FRAME_RAISED); one that would make the frame longer than
 * NS_FRAME_MAX is lowered (NS_FRAME_CLAMPED). Ethernet frames shorter
 * than 60 bytes are not padded (a NIC pads them). */
#ifndef NETSHARE_FRAME_H
#define NETSHARE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "netshare/records.h"

#define NS_FRAME_MAX 65535u       /* longest frame: a pcap snaplen */
#define NS_FRAME_HDR_MAX 128u     /* headers lie within this prefix */
#define NS_FRAME_INNER_PROTO 253u /* of the datagram inside ICMP errors */

/* What the builder changed (ns_frame_info.adjust). */
enum {
	NS_FRAME_RAISED = 1u << 0,  /* IP length raised to the headers' */
	NS_FRAME_CLAMPED = 1u << 1, /* IP length lowered to fit */
	NS_FRAME_V6_EXT = 1u << 2,  /* IPv6 next header is an ext. header */
};

struct ns_frame_opts {
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	int vlan; /* tag records that have NS_PKT_HAS_VLAN */
};

/* 02:00:00:00:00:02 <- 02:00:00:00:00:01, VLAN tags kept. */
void ns_frame_opts_default(struct ns_frame_opts *o);

/* Where everything lies in a frame. Offsets are from the frame start. */
struct ns_frame_info {
	uint32_t len;      /* frame bytes */
	uint32_t ip_len;   /* IP length as built */
	uint16_t l3_off;   /* IP header */
	uint16_t l4_off;   /* L4 header (== fill_off when there is none) */
	uint16_t fill_off; /* first byte of the fill */
	uint8_t l4_proto;  /* protocol of the L4 header (or empty IPv6
	                    * extension header) written; 0 when none */
	uint8_t adjust;    /* NS_FRAME_* */
};

/* Lay the frame out without writing it. Returns 0, or -1 when the
 * record cannot become a frame (ip_version is neither 4 nor 6). */
int ns_frame_layout(const struct ns_pkt_record *r,
                    const struct ns_frame_opts *o, struct ns_frame_info *fi);

/* Build the whole frame into buf[0..cap). Returns its length, or 0 when
 * the record cannot become a frame or cap is too small; nothing is
 * written at or beyond cap. fi may be NULL. */
size_t ns_frame_build(const struct ns_pkt_record *r,
                      const struct ns_frame_opts *o, uint8_t *buf, size_t cap,
                      struct ns_frame_info *fi);

/* The fast path for buffers that already hold the fill (the mbufs of
 * netshare-replay's pools are filled once): writes the first
 * NS_FRAME_HDR_MAX bytes only, fill and headers, and computes the
 * checksums from the fill's closed form. buf must hold the fill at
 * every offset from NS_FRAME_HDR_MAX to the frame's end, and cap must
 * be at least NS_FRAME_HDR_MAX and the frame's length. Returns the
 * length, or 0 as above. */
size_t ns_frame_build_hdr(const struct ns_pkt_record *r,
                          const struct ns_frame_opts *o, uint8_t *buf,
                          size_t cap, struct ns_frame_info *fi);

/* Write the fill for frame offsets [off, off + len) into buf. */
void ns_frame_fill(uint8_t *buf, size_t off, size_t len);

/* The fill byte at frame offset off. */
static inline uint8_t
ns_frame_fill_byte(size_t off)
{
	return (uint8_t)off;
}

/* Internet checksum pieces: the 32-bit one's complement partial sum of
 * n bytes (big-endian words, an odd last byte padded with zero), and
 * the folded, complemented 16-bit result. */
uint32_t ns_csum_add(uint32_t sum, const uint8_t *p, size_t n);
uint16_t ns_csum_finish(uint32_t sum);

/* CRC32c (Castagnoli, as SCTP uses it) of n bytes, continuing crc. */
uint32_t ns_crc32c(uint32_t crc, const uint8_t *p, size_t n);

#endif
