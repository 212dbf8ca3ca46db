/* Fuzz target: the packet parser. The first byte picks the link type,
 * the rest is the frame. */
#include "fuzz.h"
#include "netshare/parse.h"

static const int linktypes[] = {
	NS_LINK_ETHERNET, NS_LINK_RAW,	 NS_LINK_NULL,	     NS_LINK_LOOP,
	NS_LINK_LINUX_SLL, NS_LINK_LINUX_SLL2, NS_LINK_IPV4, NS_LINK_IPV6,
	NS_LINK_PPP,	   NS_LINK_C_HDLC,     NS_LINK_RAW_LINKTYPE, 147,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int lt = linktypes[data[0] % (sizeof(linktypes) / sizeof(*linktypes))];
	struct ns_pkt_record r;
	enum ns_parse_status s =
		ns_parse_packet(data + 1, size - 1, size - 1, lt, &r);
	if (s == NS_PARSE_OK && r.ip_version != 4 && r.ip_version != 6)
		__builtin_trap(); /* OK always names the IP version */
	return 0;
}
