/* Lines, fields and strict parsers for numbers, times and addresses over
 * (pointer, length) views. */
#include "csv_fields.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

void
ns_lines_init(struct ns_lines *c, const char *buf, size_t len)
{
	c->p = buf;
	c->end = buf + len;
	c->no = 0;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		c->p += 3;
}

int
ns_lines_next(struct ns_lines *c, struct ns_field *line)
{
	if (c->p >= c->end)
		return 0;
	const char *e = c->p;
	while (e < c->end && *e != '\n' && *e != '\r')
		e++;
	line->p = c->p;
	line->len = (size_t)(e - c->p);
	line->quoted = 0;
	if (e < c->end && *e == '\r' && e + 1 < c->end && e[1] == '\n')
		e++;
	c->p = e < c->end ? e + 1 : e;
	c->no++;
	return 1;
}

/* End of the quoted field that opens at p (on its '"'), or NULL. */
static const char *
quote_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p != '"')
			continue;
		if (p + 1 < end && p[1] == '"')
			p++;
		else
			return p;
	}
	return NULL;
}

int
ns_split(struct ns_field line, char sep, int quotes, struct ns_field *out,
         int max)
{
	const char *p = line.p, *end = line.p + line.len;
	int n = 0;
	for (;;) {
		struct ns_field f = {p, 0, 0};
		if (quotes && p < end && *p == '"') {
			const char *q = quote_end(p, end);
			if (!q || (q + 1 < end && q[1] != sep))
				return -1;
			f.p = p + 1;
			f.len = (size_t)(q - f.p);
			f.quoted = 1;
			p = q + 1;
		} else {
			const char *q = memchr(p, sep, (size_t)(end - p));
			if (!q)
				q = end;
			f.len = (size_t)(q - p);
			p = q;
		}
		if (n < max)
			out[n] = f;
		if (++n > max || p >= end)
			return n;
		p++; /* past the separator */
	}
}

struct ns_field
ns_trim(struct ns_field f)
{
	while (f.len && (f.p[0] == ' ' || f.p[0] == '\t')) {
		f.p++;
		f.len--;
	}
	while (f.len && (f.p[f.len - 1] == ' ' || f.p[f.len - 1] == '\t'))
		f.len--;
	return f;
}

int
ns_field_is(struct ns_field f, const char *s)
{
	f = ns_trim(f);
	return f.len == strlen(s) && strncasecmp(f.p, s, f.len) == 0;
}

size_t
ns_field_copy(struct ns_field f, char *buf, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < f.len; i++) {
		if (f.quoted && f.p[i] == '"' && i + 1 < f.len &&
		    f.p[i + 1] == '"')
			i++;
		if (n + 1 < size)
			buf[n] = f.p[i];
		n++;
	}
	if (size)
		buf[n < size ? n : size - 1] = '\0';
	return n;
}

void
ns_field_show(struct ns_field f, char *buf, size_t size)
{
	if (size < 4) {
		if (size)
			buf[0] = '\0';
		return;
	}
	size_t n = 0, i = 0;
	for (; i < f.len && n < size - 4; i++) {
		unsigned char ch = (unsigned char)f.p[i];
		buf[n++] = ch < 0x20 || ch >= 0x7F ? '?' : (char)ch;
	}
	if (i < f.len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

/* Digits of f after an optional sign; *neg tells a '-'. */
static const char *
sign_and_digits(struct ns_field *f, int *neg)
{
	*f = ns_trim(*f);
	*neg = 0;
	if (!f->len)
		return "empty";
	if (f->p[0] == '+' || f->p[0] == '-') {
		*neg = f->p[0] == '-';
		f->p++;
		f->len--;
	}
	if (!f->len)
		return "not a number";
	for (size_t i = 0; i < f->len; i++)
		if (f->p[i] < '0' || f->p[i] > '9')
			return "not a number";
	return NULL;
}

const char *
ns_parse_uint(struct ns_field f, uint64_t max, uint64_t *v)
{
	int neg;
	const char *cause = sign_and_digits(&f, &neg);
	if (cause)
		return cause;
	uint64_t x = 0;
	for (size_t i = 0; i < f.len; i++) {
		unsigned d = (unsigned)(f.p[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return neg ? "negative" : "too large";
		x = x * 10 + d;
	}
	if (neg && x)
		return "negative";
	if (x > max)
		return "too large";
	*v = x;
	return NULL;
}

int
ns_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

const char *
ns_parse_hex(struct ns_field f, uint64_t max, uint64_t *v)
{
	f = ns_trim(f);
	if (f.len < 3 || f.p[0] != '0' || (f.p[1] | 0x20) != 'x')
		return "not a hex number";
	uint64_t x = 0;
	for (size_t i = 2; i < f.len; i++) {
		int d = ns_hex_digit(f.p[i]);
		if (d < 0)
			return "not a hex number";
		if (x >> 60)
			return "too large";
		x = x << 4 | (unsigned)d;
	}
	if (x > max)
		return "too large";
	*v = x;
	return NULL;
}

/* A decimal number read as m * 10^exp, m holding 20 digits at most. */
struct decimal {
	uint64_t m;
	long exp;
	int inexact; /* nonzero digits were dropped or rounded off */
};

/* Round d up by one unit of its last kept digit. */
static void
round_up(struct decimal *d)
{
	if (d->m < UINT64_MAX) {
		d->m++;
	} else {
		d->m = UINT64_MAX / 10 + 1; /* 10^20 / 10: one digit less */
		d->exp++;
	}
}

/* Mantissa digits with an optional '.'; returns the end or NULL. */
static const char *
read_mantissa(const char *p, const char *end, struct decimal *d)
{
	int seen = 0, frac = 0, first_dropped = -1;
	for (; p < end; p++) {
		if (*p == '.' && !frac) {
			frac = 1;
			continue;
		}
		if (*p < '0' || *p > '9')
			break;
		unsigned dig = (unsigned)(*p - '0');
		seen = 1;
		if (first_dropped < 0 && d->m <= (UINT64_MAX - dig) / 10) {
			d->m = d->m * 10 + dig;
			d->exp -= frac;
		} else {
			d->exp += !frac;
			if (first_dropped < 0)
				first_dropped = (int)dig;
			else
				d->inexact |= dig != 0;
		}
	}
	if (first_dropped > 0)
		d->inexact = 1;
	if (first_dropped >= 5)
		round_up(d);
	return seen ? p : NULL;
}

/* "e-12" after the mantissa; returns the end or NULL. */
static const char *
read_exponent(const char *p, const char *end, struct decimal *d)
{
	if (p == end || (*p != 'e' && *p != 'E'))
		return p;
	p++;
	int neg = 0;
	if (p < end && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	if (p == end || *p < '0' || *p > '9')
		return NULL;
	long e = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		if (e < 100000)
			e = e * 10 + (*p - '0');
	d->exp += neg ? -e : e;
	return p;
}

/* d->m * 10^(d->exp + scale), rounded half up; -1 on overflow. */
static int
scale_decimal(struct decimal *d, unsigned scale, uint64_t *v)
{
	long e = d->exp + (long)scale;
	uint64_t m = d->m;
	if (m == 0 || e == 0) {
		*v = m;
		return 0;
	}
	for (; e > 0; e--) {
		if (m > UINT64_MAX / 10)
			return -1;
		m *= 10;
	}
	if (e < -19) {
		d->inexact = 1; /* m < 2 * 10^19: below one half */
		m = 0;
	} else if (e < 0) {
		uint64_t p10 = 1;
		for (; e < 0; e++)
			p10 *= 10;
		uint64_t r = m % p10;
		m /= p10;
		d->inexact |= r != 0;
		if (r >= p10 - r)
			m++;
	}
	*v = m;
	return 0;
}

const char *
ns_parse_fixed(struct ns_field f, unsigned scale, uint64_t max, uint64_t *v,
               int *inexact)
{
	f = ns_trim(f);
	const char *p = f.p, *end = f.p + f.len;
	if (p == end)
		return "empty";
	int neg = 0;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	struct decimal d = {0, 0, 0};
	p = read_mantissa(p, end, &d);
	if (p)
		p = read_exponent(p, end, &d);
	if (!p || p != end)
		return "not a number";
	if (neg && d.m)
		return "negative";
	uint64_t x;
	if (scale_decimal(&d, scale, &x) || x > max)
		return "too large";
	*v = x;
	if (inexact)
		*inexact = d.inexact;
	return NULL;
}

/* Exactly n digits at p into *v; 0 or -1. */
static int
fixed_digits(const char *p, int n, unsigned *v)
{
	unsigned x = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		x = x * 10 + (unsigned)(p[i] - '0');
	}
	*v = x;
	return 0;
}

static int
is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (y >= 1970, the date valid). */
static uint64_t
days_since_epoch(unsigned y, unsigned m, unsigned d)
{
	static const unsigned before[12] = {0,   31,  59,  90,  120, 151,
	                                    181, 212, 243, 273, 304, 334};
	unsigned p = y - 1; /* leap years in [1, y) less those in [1, 1970) */
	uint64_t leaps =
	    p / 4 - p / 100 + p / 400 - (1969 / 4 - 1969 / 100 + 1969 / 400);
	uint64_t days = (uint64_t)(y - 1970) * 365 + leaps + before[m - 1];
	return days + (m > 2 && is_leap(y)) + d - 1;
}

/* ".123456789" after the seconds: ns, cut at 9 digits. */
static const char *
read_fraction(const char *p, const char *end, uint64_t *ns)
{
	*ns = 0;
	if (p == end || *p != '.')
		return p;
	p++;
	int n = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++, n++)
		if (n < 9)
			*ns = *ns * 10 + (uint64_t)(*p - '0');
	if (n == 0)
		return NULL;
	for (int i = n; i < 9; i++)
		*ns *= 10;
	return p;
}

const char *
ns_parse_utc(struct ns_field f, uint64_t *ns)
{
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30,
	                                   31, 31, 30, 31, 30, 31};
	f = ns_trim(f);
	const char *p = f.p, *end = f.p + f.len;
	unsigned y, mo, d, h, mi, s;
	if (f.len < 19 || (p[4] != '-' && p[4] != '/') || p[7] != p[4] ||
	    (p[10] != ' ' && p[10] != 'T') || p[13] != ':' || p[16] != ':' ||
	    fixed_digits(p, 4, &y) || fixed_digits(p + 5, 2, &mo) ||
	    fixed_digits(p + 8, 2, &d) || fixed_digits(p + 11, 2, &h) ||
	    fixed_digits(p + 14, 2, &mi) || fixed_digits(p + 17, 2, &s))
		return "not a date and time (YYYY-MM-DD hh:mm:ss)";
	uint64_t frac;
	p = read_fraction(p + 19, end, &frac);
	if (p && p < end && *p == 'Z')
		p++;
	if (!p || p != end)
		return "not a date and time (YYYY-MM-DD hh:mm:ss)";
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !is_leap(y)) || h > 23 || mi > 59 || s > 59)
		return "impossible date or time";
	if (y < 1970 || y > 2500)
		return "year outside 1970-2500";
	uint64_t secs =
	    days_since_epoch(y, mo, d) * 86400 + h * 3600u + mi * 60u + s;
	*ns = secs * 1000000000u + frac;
	return NULL;
}

const char *
ns_parse_addr(struct ns_field f, uint8_t addr[16], int *ver)
{
	char buf[64];
	f = ns_trim(f);
	memset(addr, 0, 16);
	if (!f.len)
		return "empty";
	if (f.len >= sizeof(buf) || memchr(f.p, '\0', f.len))
		return "not an IP address";
	ns_field_copy(f, buf, sizeof(buf));
	if (strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return "not an IP address";
		*ver = 6;
		return NULL;
	}
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*ver = 4;
		return NULL;
	}
	uint64_t v;
	int inexact = 0;
	if (ns_parse_fixed(f, 0, UINT32_MAX, &v, &inexact) || inexact)
		return "not an IP address";
	ns_addr_from_v4(addr, (uint32_t)v);
	*ver = 4;
	return NULL;
}

int
ns_is_mac(struct ns_field f)
{
	f = ns_trim(f);
	if (f.len != 17)
		return 0;
	for (size_t i = 0; i < 17; i++) {
		if (i % 3 == 2 ? f.p[i] != ':' && f.p[i] != '-'
		               : ns_hex_digit(f.p[i]) < 0)
			return 0;
	}
	return 1;
}
