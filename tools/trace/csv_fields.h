/* Private to tools/trace: lines, fields and strict number parsers over
 * (pointer, length) views, for the CSV and log readers. Nothing here reads
 * past the end of its input or needs it NUL-terminated. */
#ifndef NS_TRACE_CSV_FIELDS_H
#define NS_TRACE_CSV_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "netshare/diag.h"
#include "netshare/records.h"

#define NS_CSV_MAX_COLS 256 /* columns a header may have */
#define NS_CSV_MAX_WANT 16  /* columns a reader looks up by name */

/* A view into the input: may hold any byte, NULs included. */
struct ns_field {
	const char *p;
	size_t len;
	int quoted; /* was in double quotes: "" inside stands for " */
};

/* Walks a buffer line by line; LF, CRLF and lone CR end a line. */
struct ns_lines {
	const char *p, *end;
	uint64_t no; /* number of the line last returned, 1-based */
};

/* Start at buf, past a UTF-8 byte order mark. */
void ns_lines_init(struct ns_lines *c, const char *buf, size_t len);

/* The next line without its end; 0 when the input is used up. */
int ns_lines_next(struct ns_lines *c, struct ns_field *line);

/* Split line at sep into out[0..max-1]. With quotes, a field that starts
 * with '"' runs to the matching '"'. Returns how many fields the line has
 * (can exceed max), or -1 for unbalanced quotes. */
int ns_split(struct ns_field line, char sep, int quotes, struct ns_field *out,
             int max);

/* f without leading and trailing blanks (space, tab). */
struct ns_field ns_trim(struct ns_field f);

/* Does f (trimmed) equal s, ignoring case? */
int ns_field_is(struct ns_field f, const char *s);

/* Copy f's value with "" unescaped and a NUL added, cut to fit size.
 * Returns the full length of the value, as snprintf does. */
size_t ns_field_copy(struct ns_field f, char *buf, size_t size);

/* A printable excerpt of f for messages: '?' for control and non-ASCII
 * bytes, "..." when cut. */
void ns_field_show(struct ns_field f, char *buf, size_t size);

/* The parsers return NULL on success, else a short cause for a message
 * ("not a number", "negative", "too large", ...). */

/* Value of a hex digit, -1 for other characters. */
int ns_hex_digit(char c);

/* A decimal integer no larger than max. */
const char *ns_parse_uint(struct ns_field f, uint64_t max, uint64_t *v);

/* "0x" and hex digits, no larger than max. */
const char *ns_parse_hex(struct ns_field f, uint64_t max, uint64_t *v);

/* A non-negative decimal number (fraction and exponent allowed) times
 * 10^scale, rounded half up to an integer no larger than max; exact for
 * every decimal input. *inexact (if not NULL) tells that it rounded. */
const char *ns_parse_fixed(struct ns_field f, unsigned scale, uint64_t max,
                           uint64_t *v, int *inexact);

/* "YYYY-MM-DD hh:mm:ss[.fraction]" ('/' also separates the date, 'T' the
 * time) in UTC, to ns since the Unix epoch. */
const char *ns_parse_utc(struct ns_field f, uint64_t *ns);

/* An IPv4 address as a uint32 or a dotted quad, or IPv6 text. Sets *ver
 * to 4 or 6. */
const char *ns_parse_addr(struct ns_field f, uint8_t addr[16], int *ver);

/* Does f look like an Ethernet MAC address (aa:bb:cc:dd:ee:ff)? */
int ns_is_mac(struct ns_field f);

/* csv_rows.c: a CSV file with a header line, its columns looked up by
 * name, read one row at a time. */
struct ns_csv {
	struct ns_lines lines;
	char sep;
	int quotes; /* '"' quotes fields */
	int ncols;  /* columns in the header, -1: none */
	int nwant;
	int idx[NS_CSV_MAX_WANT]; /* column of each wanted name or -1 */
	const char *const *names; /* the wanted names, for messages */
	const char *unset;        /* "no value" text, or NULL */
	struct ns_diag *diag;
	/* Lines to pass over silently (a trailer); NULL: none. */
	int (*skip)(struct ns_csv *c, struct ns_field line);
	int state; /* for skip's own use */
	int stop;  /* strict rejection: stop reading */
	int n;     /* fields in the current row */
	struct ns_field f[NS_CSV_MAX_COLS];
};

/* Start reading buf; nwant names are looked up in the header. */
void ns_csv_init(struct ns_csv *c, const char *buf, size_t len,
                 const char *const *names, int nwant, struct ns_diag *diag);

/* Read the header (the first line that is not blank), pick the separator
 * (tab when it has tabs and no commas, else comma) and look the names up.
 * A missing name whose bit is set in `required` is a fatal
 * "missing_header" error naming `expected`. Returns 0 or -1. */
int ns_csv_header(struct ns_csv *c, unsigned required, const char *expected);

/* Look up names in header fields hdr[0..n-1] into idx; a name found twice
 * is a fatal error. Returns 0 or -1. */
int ns_csv_map(struct ns_csv *c, const struct ns_field *hdr, int n,
               unsigned required, const char *expected);

/* Next row with as many fields as the header: 1, or 0 at the end, or -1
 * after a strict rejection. Blank lines are skipped; rows with another
 * field count or broken quotes are rejected as "bad_row". */
int ns_csv_next(struct ns_csv *c);

/* Reject line as a row with n fields (-1: broken quotes) when the
 * header has c->ncols; 0, or -1 when strict. */
int ns_csv_reject_row(struct ns_csv *c, struct ns_field line, int n);

/* Row field accessors. Each rejects the row through diag, naming the
 * line, the field and the value, and returns -1 on a bad value. */

/* The value of wanted column col: trimmed, without its quotes; empty when
 * the header lacks it. */
struct ns_field ns_csv_get(const struct ns_csv *c, int col);
int ns_csv_has(const struct ns_csv *c, int col);
int ns_csv_is_unset(const struct ns_csv *c, int col);

/* Reject the row for reason; always returns -1. */
int ns_csv_bad(struct ns_csv *c, const char *reason, int col,
               const char *cause);

/* A number (see ns_parse_fixed) rounded at scale; with unset_zero the
 * "no value" text reads as 0. */
int ns_csv_fixed(struct ns_csv *c, int col, unsigned scale, uint64_t max,
                 int unset_zero, uint64_t *v);

/* A whole number (decimal, "80.0" allowed; hex if allowed). */
int ns_csv_whole(struct ns_csv *c, int col, uint64_t max, int hex,
                 int unset_zero, uint64_t *v);

int ns_csv_addr(struct ns_csv *c, int col, uint8_t addr[16], int *ver);

/* IPv4 header checksum over the fields a record keeps (no options);
 * in pkt_csv.c. */
uint16_t ns_ipv4_csum(const struct ns_pkt_record *r);

#endif
