/* pcap and pcapng ingest at nanosecond precision, in bursts. Classic pcap
 * files are walked by our own cursor (pcap_mem.c) over a window read from
 * the file; pcapng and anything else goes through libpcap. Both paths
 * share the per-frame step. */
#include "netshare/parse.h"
#include "netshare/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap_mem.h"

#define NS_PER_SEC 1000000000ull
#define LINKTYPE_RAW 101 /* libpcap reports it as DLT_RAW */

/* One frame: count it and parse it into *rec. Returns 1 for a record, 0
 * for a frame without one, -1 to stop (strict rejection). */
static int
frame(struct ns_pcap_stats *st, struct ns_diag *diag, const uint8_t *data,
      uint32_t caplen, uint32_t wirelen, uint64_t sec, uint64_t frac_ns,
      struct ns_pkt_record *rec)
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
	enum ns_parse_status s =
		ns_parse_packet(data, caplen, wirelen, st->linktype, rec);
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
	rec->ts_ns = sec * NS_PER_SEC + frac_ns;
	st->ip_packets++;
	return 1;
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

/* Classic pcap is read with read() into a window that the cursor walks;
 * a record that straddles the window's end is moved to its front and the
 * rest read behind it. (A window in cache beats mapping the page cache:
 * on this class of VM every 4 KiB page of a mapping costs a TLB walk.) */
#define WINDOW_READ (256u << 10)
#define WINDOW_CAP (WINDOW_READ + NS_PCAP_REC_HDR + (256u << 10))

struct ns_pcap_reader {
	struct ns_pcap_stats *st;
	struct ns_diag *diag;
	int done;
	/* classic pcap: the cursor over a window of the file (or over the
	 * caller's whole buffer, then fd < 0) */
	struct ns_pcap_cursor c;
	int fd;
	uint8_t *win;
	size_t win_base;	/* file offset of win[0] */
	int eof;		/* nothing more to read into the window */
	/* everything else through libpcap */
	pcap_t *p;
	FILE *fp;
};

/* Start a read: counters zeroed, the link type checked once. */
static void
begin(struct ns_pcap_reader *rd, int linktype)
{
	rd->st->linktype = linktype;
	if (!ns_linktype_supported(linktype)) {
		const char *name = pcap_datalink_val_to_name(linktype);
		ns_diag_say(rd->diag, "link type %d (%s) is not supported; "
				      "frames are counted but not parsed",
			    linktype, name ? name : "?");
	}
}

static struct ns_pcap_reader *
reader_new(struct ns_pcap_stats *st, struct ns_diag *diag)
{
	memset(st, 0, sizeof(*st));
	struct ns_pcap_reader *rd = calloc(1, sizeof(*rd));
	if (!rd) {
		ns_diag_error(diag, "out_of_memory", 1, "out of memory");
		return NULL;
	}
	rd->st = st;
	rd->diag = diag;
	rd->fd = -1;
	return rd;
}

/* Read into the window behind its unread bytes: move those to the front,
 * then one read() of at most WINDOW_READ. Returns bytes read, 0 at the
 * end of the file, -1 on an error (errno). */
static ssize_t
refill(struct ns_pcap_reader *rd)
{
	struct ns_pcap_cursor *c = &rd->c;
	size_t keep = c->len - c->pos;
	memmove(rd->win, rd->win + c->pos, keep);
	rd->win_base += c->pos;
	c->buf = rd->win;
	c->len = keep;
	c->pos = 0;
	size_t room = WINDOW_CAP - keep;
	ssize_t n;
	do
		n = read(rd->fd, rd->win + keep,
			 room < WINDOW_READ ? room : WINDOW_READ);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->len += (size_t)n;
	return n;
}
static void
begin_classic(struct ns_pcap_reader *rd)
{
	int lt = rd->c.linktype == LINKTYPE_RAW ? NS_LINK_RAW
						: rd->c.linktype;
	begin(rd, lt);
}

/* fp is owned by the reader from here on, even on failure. */
static struct ns_pcap_reader *
open_libpcap(struct ns_pcap_reader *rd, FILE *fp)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	rd->p = pcap_fopen_offline_with_tstamp_precision(
		fp, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!rd->p) {
		fclose(fp);
		ns_diag_error(rd->diag, "unreadable", 1,
			      "not a readable pcap or pcapng file: %s", err);
		free(rd);
		return NULL;
	}
	rd->fp = fp; /* pcap_close closes it */
	begin(rd, pcap_datalink(rd->p));
	return rd;
}

struct ns_pcap_reader *
ns_pcap_open_mem(const uint8_t *buf, size_t len, struct ns_pcap_stats *st,
		 struct ns_diag *diag)
{
	struct ns_pcap_reader *rd = reader_new(st, diag);
	if (!rd)
		return NULL;
	if (len == 0) {
		ns_diag_error(diag, "unreadable", 1, "empty input");
		free(rd);
		return NULL;
	}
	if (ns_pcap_cursor_init(&rd->c, buf, len) == 0) {
		rd->eof = 1; /* the whole file is in buf */
		begin_classic(rd);
		return rd;
	}
	FILE *fp = fmemopen((void *)buf, len, "rb");
	if (!fp) {
		ns_diag_error(diag, "unreadable", 1, "fmemopen: %s",
			      strerror(errno));
		free(rd);
		return NULL;
	}
	return open_libpcap(rd, fp);
}

struct ns_pcap_reader *
ns_pcap_open(const char *path, int libpcap_only, struct ns_pcap_stats *st,
	     struct ns_diag *diag)
{
	struct ns_pcap_reader *rd = reader_new(st, diag);
	if (!rd)
		return NULL;
	int fd = open(path, O_RDONLY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		ns_diag_error(diag, "unreadable", 1, "cannot open: %s",
			      strerror(errno));
		if (fd >= 0)
			close(fd);
		free(rd);
		return NULL;
	}
	if (!libpcap_only && S_ISREG(sb.st_mode)) {
		rd->win = malloc(WINDOW_CAP);
		ssize_t n = rd->win ? read(fd, rd->win, WINDOW_READ) : -1;
		if (n > 0 && ns_pcap_cursor_init(&rd->c, rd->win,
						 (size_t)n) == 0) {
			rd->fd = fd;
			begin_classic(rd);
			return rd;
		}
		free(rd->win);
		rd->win = NULL;
		if (lseek(fd, 0, SEEK_SET) != 0) {
			ns_diag_error(diag, "unreadable", 1, "cannot seek: %s",
				      strerror(errno));
			close(fd);
			free(rd);
			return NULL;
		}
	}
	FILE *fp = fdopen(fd, "rb");
	if (!fp) {
		ns_diag_error(diag, "unreadable", 1, "cannot open: %s",
			      strerror(errno));
		close(fd);
		free(rd);
		return NULL;
	}
	return open_libpcap(rd, fp);
}

static long
burst_classic(struct ns_pcap_reader *rd, struct ns_pkt_record *out,
	      size_t max)
{
	size_t n = 0;
	struct ns_pcap_frame f;
	enum ns_pcap_next r = NS_PCAP_END;
	while (n < max) {
		r = ns_pcap_cursor_next(&rd->c, &f);
		if (r == NS_PCAP_FRAME) {
			int k = frame(rd->st, rd->diag, f.data, f.caplen,
				      f.wirelen, f.sec, f.frac_ns, &out[n]);
			if (k < 0)
				return -1;
			n += (size_t)k;
			continue;
		}
		if (r == NS_PCAP_BAD || rd->eof)
			break;
		/* the window ends here or inside a record: read on */
		ssize_t got = refill(rd);
		if (got < 0) {
			ns_diag_error(rd->diag, "read_error", rd->diag->strict,
				      "read failed near byte offset %zu "
				      "after %llu packets: %s",
				      rd->win_base,
				      (unsigned long long)rd->st->frames,
				      strerror(errno));
			rd->done = 1;
			return rd->diag->failed ? -1 : (long)n;
		}
		if (got == 0)
			rd->eof = 1;
	}
	if (n == max)
		return (long)n;
	rd->done = 1;
	long at = (long)(rd->win_base + f.offset);
	if (r == NS_PCAP_CUT)
		cut_short(rd->st, rd->diag, at,
			  "the last record is incomplete");
	else if (r == NS_PCAP_BAD)
		ns_diag_error(rd->diag, "read_error", rd->diag->strict,
			      "record at byte offset %ld has an impossible "
			      "capture length; stopped after %llu packets",
			      at, (unsigned long long)rd->st->frames);
	return rd->diag->failed ? -1 : (long)n;
}

static long
burst_libpcap(struct ns_pcap_reader *rd, struct ns_pkt_record *out,
	      size_t max)
{
	size_t n = 0;
	while (n < max) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int rc = pcap_next_ex(rd->p, &h, &data);
		if (rc == PCAP_ERROR_BREAK) {
			rd->done = 1;
			break;
		}
		if (rc != 1) {
			long at = ftell(rd->fp);
			const char *why = pcap_geterr(rd->p);
			if (strstr(why, "truncated"))
				cut_short(rd->st, rd->diag, at, why);
			else /* e.g. a pcapng interface libpcap refuses */
				ns_diag_error(rd->diag, "read_error",
					      rd->diag->strict,
					      "libpcap stopped reading near "
					      "byte offset %ld after %llu "
					      "packets: %s",
					      at,
					      (unsigned long long)rd->st->frames,
					      why);
			rd->done = 1;
			break;
		}
		int k = frame(rd->st, rd->diag, data, h->caplen, h->len,
			      (uint64_t)h->ts.tv_sec, (uint64_t)h->ts.tv_usec,
			      &out[n]);
		if (k < 0)
			return -1;
		n += (size_t)k;
	}
	return rd->diag->failed ? -1 : (long)n;
}

long
ns_pcap_read_burst(struct ns_pcap_reader *rd, struct ns_pkt_record *out,
		   size_t max)
{
	if (rd->done)
		return rd->diag->failed ? -1 : 0;
	long n = rd->p ? burst_libpcap(rd, out, max)
		       : burst_classic(rd, out, max);
	if (n < 0)
		rd->done = 1;
	return n;
}

void
ns_pcap_close(struct ns_pcap_reader *rd)
{
	if (!rd)
		return;
	if (rd->p)
		pcap_close(rd->p); /* closes fp */
	if (rd->fd >= 0)
		close(rd->fd);
	free(rd->win);
	free(rd);
}

/* Whole file into out. */
static int
read_all(struct ns_pcap_reader *rd, struct ns_pkt_trace *out)
{
	if (!rd)
		return -1;
	struct ns_diag *diag = rd->diag;
	long n;
	for (;;) {
		if (ns_pkt_trace_reserve(out, NS_PCAP_BURST) != 0)
			goto oom;
		n = ns_pcap_read_burst(rd, out->v + out->n, NS_PCAP_BURST);
		if (n <= 0)
			break;
		out->n += (size_t)n;
	}
	ns_pcap_close(rd);
	return n < 0 || diag->failed ? -1 : 0;
oom:
	ns_diag_error(diag, "out_of_memory", 1,
		      "out of memory after %llu packets",
		      (unsigned long long)rd->st->frames);
	ns_pcap_close(rd);
	return -1;
}

int
ns_read_pcap_mem(const uint8_t *buf, size_t len, struct ns_pkt_trace *out,
		 struct ns_pcap_stats *st, struct ns_diag *diag)
{
	return read_all(ns_pcap_open_mem(buf, len, st, diag), out);
}

int
ns_read_pcap(const char *path, struct ns_pkt_trace *out,
	     struct ns_pcap_stats *st, struct ns_diag *diag)
{
	return read_all(ns_pcap_open(path, 0, st, diag), out);
}

int
ns_read_pcap_libpcap(const char *path, struct ns_pkt_trace *out,
		     struct ns_pcap_stats *st, struct ns_diag *diag)
{
	return read_all(ns_pcap_open(path, 1, st, diag), out);
}
