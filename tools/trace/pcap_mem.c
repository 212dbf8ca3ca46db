/* Classic pcap (not pcapng) read straight from memory: the (ptr, len)
 * core behind ns_read_pcap's fast path. It follows libpcap 1.10's rules
 * (byte order and resolution from the magic, a record longer than the
 * file's snapshot length is cut to it, a record over 256 KiB is an error)
 * so both paths give the same packets. */
#include "pcap_mem.h"

#include <string.h>

#define MAGIC_US 0xA1B2C3D4u
#define MAGIC_NS 0xA1B23C4Du
#define MAX_CAPLEN 262144u /* libpcap's largest snapshot for any DLT */

static uint32_t
rd32(const uint8_t *p, int swapped)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return swapped ? __builtin_bswap32(v) : v;
}

int
ns_pcap_cursor_init(struct ns_pcap_cursor *c, const uint8_t *buf, size_t len)
{
	memset(c, 0, sizeof(*c));
	if (len < NS_PCAP_FILE_HDR)
		return -1;
	uint32_t magic;
	memcpy(&magic, buf, 4);
	if (magic == MAGIC_US || magic == MAGIC_NS) {
		c->swapped = 0;
	} else if (__builtin_bswap32(magic) == MAGIC_US ||
		   __builtin_bswap32(magic) == MAGIC_NS) {
		c->swapped = 1;
		magic = __builtin_bswap32(magic);
	} else {
		return -1;
	}
	uint16_t major, minor;
	memcpy(&major, buf + 4, 2);
	memcpy(&minor, buf + 6, 2);
	if (c->swapped) {
		major = __builtin_bswap16(major);
		minor = __builtin_bswap16(minor);
	}
	if (major != 2)
		return -1; /* archaic or unknown: leave it to libpcap */
	/* writers before 2.3 stored len before caplen; 2.3 is ambiguous */
	c->lengths_swapped = minor < 3 ? 2 : minor == 3 ? 1 : 0;
	c->nsec = magic == MAGIC_NS;
	c->snaplen = rd32(buf + 16, c->swapped);
	if (c->snaplen == 0 || c->snaplen > MAX_CAPLEN)
		c->snaplen = MAX_CAPLEN;
	uint32_t lt = rd32(buf + 20, c->swapped);
	c->linktype = (int)(lt & 0x03FFFFFF); /* drop the FCS bits */
	c->buf = buf;
	c->len = len;
	c->pos = NS_PCAP_FILE_HDR;
	return 0;
}

enum ns_pcap_next
ns_pcap_cursor_next(struct ns_pcap_cursor *c, struct ns_pcap_frame *f)
{
	size_t left = c->len - c->pos;
	if (left == 0)
		return NS_PCAP_END;
	f->offset = c->pos;
	if (left < NS_PCAP_REC_HDR)
		return NS_PCAP_CUT;
	const uint8_t *h = c->buf + c->pos;
	uint32_t sec = rd32(h, c->swapped), frac = rd32(h + 4, c->swapped);
	uint32_t caplen = rd32(h + 8, c->swapped);
	uint32_t wirelen = rd32(h + 12, c->swapped);
	if (c->lengths_swapped == 2 ||
	    (c->lengths_swapped == 1 && caplen > wirelen)) {
		uint32_t t = caplen;
		caplen = wirelen;
		wirelen = t;
	}
	if (caplen > MAX_CAPLEN)
		return NS_PCAP_BAD;
	if (caplen > left - NS_PCAP_REC_HDR)
		return NS_PCAP_CUT;
	f->data = h + NS_PCAP_REC_HDR;
	f->caplen = caplen < c->snaplen ? caplen : c->snaplen;
	f->wirelen = wirelen;
	f->sec = sec;
	f->frac_ns = c->nsec ? frac : (uint64_t)frac * 1000u;
	c->pos += NS_PCAP_REC_HDR + (size_t)caplen;
	return NS_PCAP_FRAME;
}
