/* In-memory traces and the readers and writers of every trace format the
 * tools accept. Each reader has a (ptr, len) core that the file functions
 * wrap and the fuzz targets call. */
#ifndef NETSHARE_TRACE_H
#define NETSHARE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "netshare/diag.h"
#include "netshare/records.h"

/* Class labels of flow records ("background", "Malicious", ...). */
#define NS_LABEL_MAX 256
#define NS_LABEL_LEN 64
struct ns_label_table {
	unsigned n;
	char name[NS_LABEL_MAX][NS_LABEL_LEN];
};

/* Index of name, added if new; NS_LABEL_NONE when the table is full. */
uint16_t ns_label_intern(struct ns_label_table *t, const char *name,
			 size_t len);

struct ns_pkt_trace {
	struct ns_pkt_record *v;
	size_t n, cap;
};

struct ns_flow_trace {
	struct ns_flow_record *v;
	size_t n, cap;
	struct ns_label_table labels;
};

/* Append; return 0 or -1 on allocation failure. */
int ns_pkt_trace_push(struct ns_pkt_trace *t, const struct ns_pkt_record *r);
/* Room for extra more records without reallocating. */
int ns_pkt_trace_reserve(struct ns_pkt_trace *t, size_t extra);
int ns_flow_trace_push(struct ns_flow_trace *t,
		       const struct ns_flow_record *r);
void ns_pkt_trace_free(struct ns_pkt_trace *t);
void ns_flow_trace_free(struct ns_flow_trace *t);
void ns_pkt_trace_sort(struct ns_pkt_trace *t);	  /* by ts_ns, stable */
void ns_flow_trace_sort(struct ns_flow_trace *t); /* by first_ns, stable */

/* Trace file formats. */
enum ns_format {
	NS_FMT_UNKNOWN = 0,
	NS_FMT_PCAP,		/* pcap or pcapng (read); pcap (write) */
	NS_FMT_NETSHARE_FLOW,	/* srcip,dstip,srcport,dstport,proto,ts,td,
				   pkt,byt,type */
	NS_FMT_NETSHARE_PKT,	/* srcip,dstip,srcport,dstport,proto,time,
				   pkt_len,version,ihl,tos,id,flag,off,ttl,
				   chksum */
	NS_FMT_NFDUMP_CSV,	/* nfdump -o csv */
	NS_FMT_ZEEK_CONN,	/* Zeek conn.log, IoT-23 labelled variant */
	NS_FMT_ARGUS,		/* Argus binetflow, comma or tab */
	NS_FMT_COUNT
};

/* "pcap", "netshare-flow", "netshare-pkt", "nfdump", "zeek", "argus" */
const char *ns_format_name(enum ns_format f);
enum ns_format ns_format_from_name(const char *name);

/* Does the format hold packets (1) or flows (0)? */
int ns_format_is_packets(enum ns_format f);

/* Guess from the file's first bytes (magic numbers, CSV header line),
 * then from the extension. NS_FMT_UNKNOWN when neither tells. */
enum ns_format ns_format_detect(const char *path);

/* The format a CSV or log header announces, from the first line of
 * buf[0..len) (no NUL needed). NS_FMT_UNKNOWN when it tells nothing. */
enum ns_format ns_format_from_text(const char *buf, size_t len);

/* Counts a pcap read reports beside the IP records it keeps. */
struct ns_pcap_stats {
	uint64_t frames;	/* every frame read */
	uint64_t frame_bytes;	/* sum of original frame lengths */
	uint64_t ip_packets;	/* frames that gave an IP record */
	int linktype;		/* of the first interface */
	int cut_short;		/* the file ended inside a record */
	long cut_offset;	/* byte offset of the broken record */
};

/* pcap/pcapng, µs or ns, through libpcap. Frames that are not usable IP
 * are counted in diag under the parser's status names. A file cut short
 * keeps the packets before the cut, reports the byte offset and returns
 * 0 unless diag->strict. Returns -1 when the file cannot be read. */
int ns_read_pcap(const char *path, struct ns_pkt_trace *out,
		 struct ns_pcap_stats *st, struct ns_diag *diag);
int ns_read_pcap_mem(const uint8_t *buf, size_t len,
		     struct ns_pkt_trace *out, struct ns_pcap_stats *st,
		     struct ns_diag *diag);
/* Classic pcap files are read from a memory map by our own reader; this
 * reads any file through libpcap only (tests compare the two). */
int ns_read_pcap_libpcap(const char *path, struct ns_pkt_trace *out,
			 struct ns_pcap_stats *st, struct ns_diag *diag);

/* Streaming pcap/pcapng reads in bursts, as a NIC queue delivers them:
 * classic pcap from a memory map, the rest through libpcap (libpcap_only
 * forces libpcap for every file). Counters go to *st and diag as above. */
#define NS_PCAP_BURST 32
struct ns_pcap_reader;
struct ns_pcap_reader *ns_pcap_open(const char *path, int libpcap_only,
				    struct ns_pcap_stats *st,
				    struct ns_diag *diag);
struct ns_pcap_reader *ns_pcap_open_mem(const uint8_t *buf, size_t len,
					struct ns_pcap_stats *st,
					struct ns_diag *diag);
/* Up to max IP records in file order; 0 at the end of the file, -1 when
 * reading must stop (strict rejection). A cut or a read error ends the
 * stream as above. */
long ns_pcap_read_burst(struct ns_pcap_reader *rd, struct ns_pkt_record *out,
			size_t max);
void ns_pcap_close(struct ns_pcap_reader *rd);

/* Flow CSVs (NetShare, nfdump, Zeek, Argus). fmt NS_FMT_UNKNOWN sniffs the
 * header. Returns 0, or -1 on a fatal error or a strict rejection. */
int ns_read_flows_mem(const char *buf, size_t len, enum ns_format fmt,
		      struct ns_flow_trace *out, struct ns_diag *diag);
int ns_read_flows(const char *path, enum ns_format fmt,
		  struct ns_flow_trace *out, struct ns_diag *diag);

/* NetShare packet CSV. */
int ns_read_pkt_csv_mem(const char *buf, size_t len, struct ns_pkt_trace *out,
			struct ns_diag *diag);
int ns_read_pkt_csv(const char *path, struct ns_pkt_trace *out,
		    struct ns_diag *diag);

/* Writers. Return 0 or -1 with errno set; files are written to a
 * temporary name and renamed into place. */
int ns_write_flow_csv(const char *path, const struct ns_flow_trace *t);
int ns_write_pkt_csv(const char *path, const struct ns_pkt_trace *t);
/* Ethernet frames rebuilt from the records: headers only (caplen), with
 * the original length set from ip_len. */
int ns_write_pcap(const char *path, const struct ns_pkt_trace *t);

/* Stream writers behind the file writers. */
int ns_fprint_flow_csv(FILE *f, const struct ns_flow_trace *t);
int ns_fprint_pkt_csv(FILE *f, const struct ns_pkt_trace *t);

/* Atomic writes: ns_atomic_open gives a stream (a.f) on a temporary
 * file beside path; ns_atomic_close(ok) flushes it, fsyncs it, makes it
 * 0644 and renames it over path, or removes it when !ok or anything
 * failed. A caller that closed a.f itself sets it to NULL first. Both
 * return 0, or -1 with errno set. */
struct ns_atomic {
	FILE *f;
	char *tmp;
	const char *path;
};
int ns_atomic_open(struct ns_atomic *a, const char *path);
int ns_atomic_close(struct ns_atomic *a, int ok);
int ns_write_file_atomic(const char *path, const void *buf, size_t len);

/* Read a whole file into memory (NUL-terminated); NULL on error. */
char *ns_slurp(const char *path, size_t *len);

/* "10.0.0.1" / "2001:db8::1" from a record address. */
void ns_addr_str(const uint8_t addr[16], int ip_version, char *buf,
		 size_t len);

/* Protocol number from a name ("TCP", "udp", "ICMP", "GRE", ...) or a
 * decimal number; -1 when neither. */
int ns_proto_from_str(const char *s, size_t len);

/* "TCP", "UDP", ... or NULL for numbers without a common name. */
const char *ns_proto_name(int proto);

#endif
