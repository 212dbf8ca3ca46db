/* pcap and pcapng ingest through libpcap, at nanosecond precision. */
#include "netshare/parse.h"
#include "netshare/trace.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <string.h>

#define NS_PER_SEC 1000000000ull

/* classic pcap: file header and per-record header sizes */
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16

/* fp is the stream libpcap reads; classic says whether record offsets
 * can be counted (pcap) or only read off the stream at an error
 * (pcapng), which saves a syscall per packet. */
static int
read_all(pcap_t *p, FILE *fp, int classic, struct ns_pkt_trace *out,
	 struct ns_pcap_stats *st, struct ns_diag *diag)
{
	long offset = PCAP_FILE_HDR; /* of the next record (classic) */
	int linktype = pcap_datalink(p);
	st->linktype = linktype;
	if (!ns_linktype_supported(linktype)) {
		/* frames are still counted, but none can give a record */
		ns_diag_say(diag, "link type %d (%s) is not supported; frames "
			      "are counted but not parsed",
			      linktype,
			      pcap_datalink_val_to_name(linktype)
				      ? pcap_datalink_val_to_name(linktype)
				      : "?");
	}
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int rc = pcap_next_ex(p, &h, &data);
		if (rc == PCAP_ERROR_BREAK)
			break;
		if (rc != 1) {
			long at = fp ? ftell(fp) : -1;
			if (!classic || offset > at)
				offset = at;
			const char *why = pcap_geterr(p);
			if (strstr(why, "truncated")) {
				st->cut_short = 1;
				st->cut_offset = offset;
				ns_diag_error(diag, "cut_short", diag->strict,
					      "file cut short at byte offset "
					      "%ld after %llu packets: %s",
					      offset,
					      (unsigned long long)st->frames,
					      why);
			} else {
				/* e.g. a pcapng interface libpcap refuses */
				ns_diag_error(diag, "read_error", diag->strict,
					      "libpcap stopped reading near "
					      "byte offset %ld after %llu "
					      "packets: %s",
					      offset,
					      (unsigned long long)st->frames,
					      why);
			}
			break;
		}
		offset += PCAP_REC_HDR + (long)h->caplen;
		uint64_t n = ++st->frames;
		st->frame_bytes += h->len;
		if ((uint64_t)h->ts.tv_usec >= NS_PER_SEC) {
			if (ns_diag_reject(diag, "bad_timestamp", n,
					   "fraction %lu ns is not below one "
					   "second",
					   (unsigned long)h->ts.tv_usec))
				return -1;
			continue;
		}
		if (!ns_linktype_supported(linktype)) {
			ns_diag_note(diag, "unsupported_linktype");
			if (diag->strict) {
				diag->failed = 1;
				return -1;
			}
			continue;
		}
		struct ns_pkt_record rec;
		enum ns_parse_status s =
			ns_parse_packet(data, h->caplen, h->len, linktype, &rec);
		if (s == NS_PARSE_NOT_IP) {
			ns_diag_note(diag, ns_parse_status_name(s));
			continue;
		}
		if (s != NS_PARSE_OK) {
			if (ns_diag_reject(diag, ns_parse_status_name(s), n,
					   "%s (caplen %u, len %u)",
					   s == NS_PARSE_TRUNCATED
						   ? "capture ends inside the "
						     "link or IP header"
						   : "impossible header values",
					   h->caplen, h->len))
				return -1;
			continue;
		}
		rec.ts_ns = (uint64_t)h->ts.tv_sec * NS_PER_SEC +
			    (uint64_t)h->ts.tv_usec;
		if (ns_pkt_trace_push(out, &rec)) {
			ns_diag_error(diag, "out_of_memory", 1,
				      "out of memory after %llu packets",
				      (unsigned long long)n);
			return -1;
		}
		st->ip_packets++;
	}
	return diag->failed ? -1 : 0;
}

static int
read_fp(FILE *fp, int seekable, struct ns_pkt_trace *out,
	struct ns_pcap_stats *st, struct ns_diag *diag)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	memset(st, 0, sizeof(*st));
	uint8_t magic[4] = {0};
	size_t got = fread(magic, 1, 4, fp);
	int classic = got == 4 && !(magic[0] == 0x0A && magic[1] == 0x0D &&
				    magic[2] == 0x0D && magic[3] == 0x0A);
	rewind(fp);
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(
		fp, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!p) {
		fclose(fp);
		ns_diag_error(diag, "unreadable", 1,
			      "not a readable pcap or pcapng file: %s", err);
		return -1;
	}
	int rc = read_all(p, seekable ? fp : NULL, classic, out, st, diag);
	pcap_close(p); /* closes fp */
	return rc;
}

int
ns_read_pcap(const char *path, struct ns_pkt_trace *out,
	     struct ns_pcap_stats *st, struct ns_diag *diag)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		memset(st, 0, sizeof(*st));
		ns_diag_error(diag, "unreadable", 1, "cannot open: %s",
			      strerror(errno));
		return -1;
	}
	return read_fp(fp, 1, out, st, diag);
}

int
ns_read_pcap_mem(const uint8_t *buf, size_t len, struct ns_pkt_trace *out,
		 struct ns_pcap_stats *st, struct ns_diag *diag)
{
	if (len == 0) {
		memset(st, 0, sizeof(*st));
		ns_diag_error(diag, "unreadable", 1, "empty input");
		return -1;
	}
	FILE *fp = fmemopen((void *)buf, len, "rb");
	if (!fp) {
		memset(st, 0, sizeof(*st));
		ns_diag_error(diag, "unreadable", 1, "fmemopen: %s",
			      strerror(errno));
		return -1;
	}
	return read_fp(fp, 1, out, st, diag);
}
