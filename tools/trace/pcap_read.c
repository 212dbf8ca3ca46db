/* pcap and pcapng ingest at nanosecond precision. Classic pcap files are
 * read straight from a memory map (pcap_mem.c); pcapng and anything else
 * goes through libpcap. Both paths share the per-frame step. */
#include "netshare/parse.h"
#include "netshare/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap_mem.h"

#define NS_PER_SEC 1000000000ull
#define LINKTYPE_RAW 101 /* libpcap reports it as DLT_RAW */

/* Start a read: counters zeroed, the link type checked once. */
static void
begin(struct ns_pcap_stats *st, struct ns_diag *diag, int linktype)
{
	memset(st, 0, sizeof(*st));
	st->linktype = linktype;
	if (!ns_linktype_supported(linktype)) {
		const char *name = pcap_datalink_val_to_name(linktype);
		ns_diag_say(diag, "link type %d (%s) is not supported; frames "
				  "are counted but not parsed",
			    linktype, name ? name : "?");
	}
}

/* One frame: count it, parse it, keep its record. Returns -1 to stop
 * (strict rejection or no memory). */
static int
frame(struct ns_pcap_stats *st, struct ns_diag *diag,
      struct ns_pkt_trace *out, const uint8_t *data, uint32_t caplen,
      uint32_t wirelen, uint64_t sec, uint64_t frac_ns)
{
	uint64_t n = ++st->frames;
	st->frame_bytes += wirelen;
	if (frac_ns >= NS_PER_SEC)
		return ns_diag_reject(diag, "bad_timestamp", n,
				      "fraction %llu ns is not below one "
				      "second",
				      (unsigned long long)frac_ns);
	if (!ns_linktype_supported(st->linktype)) {
		ns_diag_note(diag, "unsupported_linktype");
		if (diag->strict) {
			diag->failed = 1;
			return -1;
		}
		return 0;
	}
	struct ns_pkt_record rec;
	enum ns_parse_status s =
		ns_parse_packet(data, caplen, wirelen, st->linktype, &rec);
	if (s == NS_PARSE_NOT_IP) {
		ns_diag_note(diag, ns_parse_status_name(s));
		return 0;
	}
	if (s != NS_PARSE_OK)
		return ns_diag_reject(diag, ns_parse_status_name(s), n,
				      "%s (caplen %u, len %u)",
				      s == NS_PARSE_TRUNCATED
					      ? "capture ends inside the link "
						"or IP header"
					      : "impossible header values",
				      caplen, wirelen);
	rec.ts_ns = sec * NS_PER_SEC + frac_ns;
	if (ns_pkt_trace_push(out, &rec)) {
		ns_diag_error(diag, "out_of_memory", 1,
			      "out of memory after %llu packets",
			      (unsigned long long)n);
		return -1;
	}
	st->ip_packets++;
	return 0;
}

static void
cut_short(struct ns_pcap_stats *st, struct ns_diag *diag, long offset,
	  const char *why)
{
	st->cut_short = 1;
	st->cut_offset = offset;
	ns_diag_error(diag, "cut_short", diag->strict,
		      "file cut short at byte offset %ld after %llu packets: "
		      "%s",
		      offset, (unsigned long long)st->frames, why);
}

/* The memory-mapped classic pcap path. */
static int
read_classic(struct ns_pcap_cursor *c, struct ns_pkt_trace *out,
	     struct ns_pcap_stats *st, struct ns_diag *diag)
{
	int lt = c->linktype == LINKTYPE_RAW ? NS_LINK_RAW : c->linktype;
	begin(st, diag, lt);
	struct ns_pcap_frame f;
	enum ns_pcap_next r;
	while ((r = ns_pcap_cursor_next(c, &f)) == NS_PCAP_FRAME)
		if (frame(st, diag, out, f.data, f.caplen, f.wirelen, f.sec,
			  f.frac_ns))
			return -1;
	if (r == NS_PCAP_CUT)
		cut_short(st, diag, (long)f.offset,
			  "the last record is incomplete");
	else if (r == NS_PCAP_BAD)
		ns_diag_error(diag, "read_error", diag->strict,
			      "record at byte offset %ld has an impossible "
			      "capture length; stopped after %llu packets",
			      (long)f.offset, (unsigned long long)st->frames);
	return diag->failed ? -1 : 0;
}

/* The libpcap path (pcapng and classic files this reader leaves to
 * libpcap). */
static int
read_libpcap(FILE *fp, struct ns_pkt_trace *out, struct ns_pcap_stats *st,
	     struct ns_diag *diag)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	memset(st, 0, sizeof(*st));
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(
		fp, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!p) {
		fclose(fp);
		ns_diag_error(diag, "unreadable", 1,
			      "not a readable pcap or pcapng file: %s", err);
		return -1;
	}
	begin(st, diag, pcap_datalink(p));
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int rc = pcap_next_ex(p, &h, &data);
		if (rc == PCAP_ERROR_BREAK)
			break;
		if (rc != 1) {
			long at = ftell(fp);
			const char *why = pcap_geterr(p);
			if (strstr(why, "truncated"))
				cut_short(st, diag, at, why);
			else /* e.g. a pcapng interface libpcap refuses */
				ns_diag_error(diag, "read_error", diag->strict,
					      "libpcap stopped reading near "
					      "byte offset %ld after %llu "
					      "packets: %s",
					      at, (unsigned long long)st->frames,
					      why);
			break;
		}
		if (frame(st, diag, out, data, h->caplen, h->len,
			  (uint64_t)h->ts.tv_sec, (uint64_t)h->ts.tv_usec)) {
			pcap_close(p);
			return -1;
		}
	}
	pcap_close(p); /* closes fp */
	return diag->failed ? -1 : 0;
}

int
ns_read_pcap_mem(const uint8_t *buf, size_t len, struct ns_pkt_trace *out,
		 struct ns_pcap_stats *st, struct ns_diag *diag)
{
	memset(st, 0, sizeof(*st));
	if (len == 0) {
		ns_diag_error(diag, "unreadable", 1, "empty input");
		return -1;
	}
	struct ns_pcap_cursor c;
	if (ns_pcap_cursor_init(&c, buf, len) == 0)
		return read_classic(&c, out, st, diag);
	FILE *fp = fmemopen((void *)buf, len, "rb");
	if (!fp) {
		ns_diag_error(diag, "unreadable", 1, "fmemopen: %s",
			      strerror(errno));
		return -1;
	}
	return read_libpcap(fp, out, st, diag);
}

int
ns_read_pcap(const char *path, struct ns_pkt_trace *out,
	     struct ns_pcap_stats *st, struct ns_diag *diag)
{
	memset(st, 0, sizeof(*st));
	int fd = open(path, O_RDONLY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		ns_diag_error(diag, "unreadable", 1, "cannot open: %s",
			      strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (S_ISREG(sb.st_mode) && sb.st_size >= NS_PCAP_FILE_HDR) {
		void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ,
				 MAP_PRIVATE, fd, 0);
		struct ns_pcap_cursor c;
		if (map != MAP_FAILED) {
			madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
			if (ns_pcap_cursor_init(&c, map, (size_t)sb.st_size) ==
			    0) {
				close(fd);
				int rc = read_classic(&c, out, st, diag);
				munmap(map, (size_t)sb.st_size);
				return rc;
			}
			munmap(map, (size_t)sb.st_size);
		}
	}
	FILE *fp = fdopen(fd, "rb");
	if (!fp) {
		ns_diag_error(diag, "unreadable", 1, "cannot open: %s",
			      strerror(errno));
		close(fd);
		return -1;
	}
	return read_libpcap(fp, out, st, diag);
}

int
ns_read_pcap_libpcap(const char *path, struct ns_pkt_trace *out,
		     struct ns_pcap_stats *st, struct ns_diag *diag)
{
	memset(st, 0, sizeof(*st));
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		ns_diag_error(diag, "unreadable", 1, "cannot open: %s",
			      strerror(errno));
		return -1;
	}
	return read_libpcap(fp, out, st, diag);
}
