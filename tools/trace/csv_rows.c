/* A CSV file with a header: columns looked up by name, rows checked for
 * their field count, and field accessors that reject a row with a message
 * naming the line, the field and the value. */
#include "csv_fields.h"

#include <string.h>

void
ns_csv_init(struct ns_csv *c, const char *buf, size_t len,
            const char *const *names, int nwant, struct ns_diag *diag)
{
	ns_lines_init(&c->lines, buf, len);
	c->sep = ',';
	c->quotes = 1;
	c->ncols = -1;
	c->nwant = nwant < NS_CSV_MAX_WANT ? nwant : NS_CSV_MAX_WANT;
	for (int i = 0; i < NS_CSV_MAX_WANT; i++)
		c->idx[i] = -1;
	c->names = names;
	c->unset = NULL;
	c->diag = diag;
	c->skip = NULL;
	c->state = 0;
	c->stop = 0;
	c->n = 0;
}

static char
pick_sep(struct ns_field line)
{
	if (memchr(line.p, '\t', line.len) && !memchr(line.p, ',', line.len))
		return '\t';
	return ',';
}

int
ns_csv_header(struct ns_csv *c, unsigned required, const char *expected)
{
	struct ns_field line;
	do {
		if (!ns_lines_next(&c->lines, &line)) {
			ns_diag_error(c->diag, "missing_header", 1,
			              "no header line; expected %s", expected);
			return -1;
		}
	} while (!ns_trim(line).len);
	c->sep = pick_sep(line);
	int n = ns_split(line, c->sep, c->quotes, c->f, NS_CSV_MAX_COLS);
	if (n < 0 || n > NS_CSV_MAX_COLS) {
		ns_diag_error(c->diag, "bad_header", 1,
		              "line %llu: the header %s; expected %s",
		              (unsigned long long)c->lines.no,
		              n < 0 ? "has unbalanced quotes"
		                    : "has over 256 columns",
		              expected);
		return -1;
	}
	return ns_csv_map(c, c->f, n, required, expected);
}

int
ns_csv_map(struct ns_csv *c, const struct ns_field *hdr, int n,
           unsigned required, const char *expected)
{
	unsigned long long line = (unsigned long long)c->lines.no;
	c->ncols = n;
	for (int w = 0; w < c->nwant; w++) {
		c->idx[w] = -1;
		if (!c->names[w])
			continue;
		for (int i = 0; i < n; i++) {
			if (!ns_field_is(hdr[i], c->names[w]))
				continue;
			if (c->idx[w] >= 0) {
				ns_diag_error(c->diag, "bad_header", 1,
				              "line %llu: column '%s' appears "
				              "twice in the header",
				              line, c->names[w]);
				return -1;
			}
			c->idx[w] = i;
		}
		if (c->idx[w] < 0 && (required >> w & 1)) {
			ns_diag_error(c->diag, "missing_header", 1,
			              "line %llu: no column '%s' in the "
			              "header; expected %s",
			              line, c->names[w], expected);
			return -1;
		}
	}
	return 0;
}

int
ns_csv_reject_row(struct ns_csv *c, struct ns_field line, int n)
{
	char shown[40];
	ns_field_show(line, shown, sizeof(shown));
	int rc;
	if (n < 0)
		rc = ns_diag_reject(c->diag, "bad_row", c->lines.no,
		                    "unbalanced double quotes ('%s')", shown);
	else
		rc = ns_diag_reject(c->diag, "bad_row", c->lines.no,
		                    "%s%d fields where the header has %d "
		                    "('%s')",
		                    n > NS_CSV_MAX_COLS ? "over " : "",
		                    n > NS_CSV_MAX_COLS ? NS_CSV_MAX_COLS : n,
		                    c->ncols, shown);
	if (rc)
		c->stop = 1;
	return rc;
}

int
ns_csv_next(struct ns_csv *c)
{
	struct ns_field line;
	while (ns_lines_next(&c->lines, &line)) {
		if (!ns_trim(line).len || (c->skip && c->skip(c, line)))
			continue;
		int n =
		    ns_split(line, c->sep, c->quotes, c->f, NS_CSV_MAX_COLS);
		c->n = n < 0 ? 0 : n;
		if (n == c->ncols)
			return 1;
		if (ns_csv_reject_row(c, line, n))
			return -1;
	}
	return 0;
}

int
ns_csv_has(const struct ns_csv *c, int col)
{
	return col >= 0 && col < c->nwant && c->idx[col] >= 0;
}

struct ns_field
ns_csv_get(const struct ns_csv *c, int col)
{
	struct ns_field none = {"", 0, 0};
	if (!ns_csv_has(c, col) || c->idx[col] >= c->n)
		return none;
	struct ns_field f = c->f[c->idx[col]];
	return f.quoted ? f : ns_trim(f);
}

int
ns_csv_is_unset(const struct ns_csv *c, int col)
{
	if (!c->unset)
		return 0;
	struct ns_field f = ns_csv_get(c, col);
	size_t n = strlen(c->unset);
	return f.len == n && memcmp(f.p, c->unset, n) == 0;
}

int
ns_csv_bad(struct ns_csv *c, const char *reason, int col, const char *cause)
{
	char shown[40];
	ns_field_show(ns_csv_get(c, col), shown, sizeof(shown));
	const char *name =
	    col >= 0 && col < c->nwant && c->names[col] ? c->names[col] : "?";
	if (ns_diag_reject(c->diag, reason, c->lines.no,
	                   "field '%s': %s ('%s')", name, cause, shown))
		c->stop = 1;
	return -1;
}

int
ns_csv_fixed(struct ns_csv *c, int col, unsigned scale, uint64_t max,
             int unset_zero, uint64_t *v)
{
	if (unset_zero && ns_csv_is_unset(c, col)) {
		*v = 0;
		return 0;
	}
	const char *cause =
	    ns_parse_fixed(ns_csv_get(c, col), scale, max, v, NULL);
	return cause ? ns_csv_bad(c, "bad_field", col, cause) : 0;
}

int
ns_csv_whole(struct ns_csv *c, int col, uint64_t max, int hex, int unset_zero,
             uint64_t *v)
{
	if (unset_zero && ns_csv_is_unset(c, col)) {
		*v = 0;
		return 0;
	}
	struct ns_field f = ns_csv_get(c, col);
	const char *cause;
	int inexact = 0;
	if (hex && f.len > 1 && f.p[0] == '0' && (f.p[1] | 0x20) == 'x')
		cause = ns_parse_hex(f, max, v);
	else
		cause = ns_parse_fixed(f, 0, max, v, &inexact);
	if (!cause && inexact)
		cause = "not a whole number";
	return cause ? ns_csv_bad(c, "bad_field", col, cause) : 0;
}

int
ns_csv_addr(struct ns_csv *c, int col, uint8_t addr[16], int *ver)
{
	const char *cause = ns_parse_addr(ns_csv_get(c, col), addr, ver);
	return cause ? ns_csv_bad(c, "bad_field", col, cause) : 0;
}
