/* Classic pcap records from a buffer (mmap'd file or memory). */
#ifndef NETSHARE_PCAP_MEM_H
#define NETSHARE_PCAP_MEM_H

#include <stddef.h>
#include <stdint.h>

#define NS_PCAP_FILE_HDR 24
#define NS_PCAP_REC_HDR 16

struct ns_pcap_cursor {
	const uint8_t *buf;
	size_t len, pos;
	int swapped, nsec;
	int lengths_swapped;	/* 2: always (< 2.3), 1: if caplen > len */
	uint32_t snaplen;
	int linktype;	/* as stored (LINKTYPE_*), FCS bits dropped */
};

struct ns_pcap_frame {
	const uint8_t *data;
	uint32_t caplen, wirelen;
	uint32_t sec;
	uint64_t frac_ns;	/* may be >= 1e9 in broken files */
	size_t offset;		/* of the record header */
};

enum ns_pcap_next {
	NS_PCAP_FRAME = 1,	/* f filled */
	NS_PCAP_END = 0,	/* clean end of the file */
	NS_PCAP_CUT = -1,	/* the file ends inside a record (f->offset) */
	NS_PCAP_BAD = -2,	/* impossible record length (f->offset) */
};

/* 0 when buf starts with a classic pcap header this reader handles;
 * -1 otherwise (pcapng, other versions: use libpcap). */
int ns_pcap_cursor_init(struct ns_pcap_cursor *c, const uint8_t *buf,
			size_t len);
enum ns_pcap_next ns_pcap_cursor_next(struct ns_pcap_cursor *c,
				      struct ns_pcap_frame *f);

#endif
