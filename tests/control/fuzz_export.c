/* Fuzz target: the v5 / v9 / IPFIX encoders with any configuration, any
 * caller buffer size and any flow records (raw bytes, so IP versions,
 * times and counters take every value). Each packet is walked by an
 * independent checker: within the buffer and the MTU, set lengths that
 * add up, v9 counts and every version's sequence numbers right, every
 * record consumed once.
 *
 * Input: 24 octets of settings (see struct settings), then records of
 * sizeof(struct ns_flow_record) octets each. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netshare/export.h"

#define CHECK(x)                                                              \
	do {                                                                  \
		if (!(x))                                                     \
			__builtin_trap();                                     \
	} while (0)

static uint64_t
be(const uint8_t *p, unsigned len)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v = v << 8 | p[i];
	return v;
}

/* What the checker knows of the stream so far. */
struct stream {
	int version;
	unsigned rec_len[3]; /* data record octets of templates 256..258 */
	uint64_t seq;        /* expected next sequence number */
	int flows_only;
	uint64_t flows; /* flow records seen */
};

/* Template records of one set; returns how many. */
static unsigned
walk_templates(struct stream *s, const uint8_t *p, size_t len, int options)
{
	unsigned n = 0;
	size_t off = 0;
	while (len - off >= 4) {
		unsigned id = (unsigned)be(p + off, 2), fields, scope = 0;
		if (!options) {
			fields = (unsigned)be(p + off + 2, 2);
			off += 4;
		} else {
			CHECK(len - off >= 6);
			if (s->version == 10) {
				fields = (unsigned)be(p + off + 2, 2);
				scope = (unsigned)be(p + off + 4, 2);
			} else {
				scope = (unsigned)be(p + off + 2, 2) / 4;
				fields =
				    scope + (unsigned)be(p + off + 4, 2) / 4;
			}
			off += 6;
			CHECK(scope >= 1 && scope <= fields);
		}
		CHECK(id >= 256 && id <= 258);
		CHECK(fields >= 1 && off + 4 * fields <= len);
		unsigned rl = 0;
		for (unsigned i = 0; i < fields; i++, off += 4)
			rl += (unsigned)be(p + off + 2, 2);
		s->rec_len[id - 256] = rl;
		n++;
	}
	CHECK(len - off < 4);
	return n;
}

/* One v9 / IPFIX packet. */
static void
walk_sets(struct stream *s, const uint8_t *buf, size_t len)
{
	int ipfix = s->version == 10;
	size_t off = ipfix ? 16 : 20;
	CHECK(len >= off);
	CHECK(be(buf, 2) == (unsigned)s->version);
	if (ipfix)
		CHECK(be(buf + 2, 2) == len);
	uint32_t seq = (uint32_t)be(buf + (ipfix ? 8 : 12), 4);
	CHECK(seq == (uint32_t)s->seq);
	unsigned records = 0, flows = 0, options = 0;
	while (off < len) {
		CHECK(len - off >= 4);
		unsigned id = (unsigned)be(buf + off, 2);
		size_t slen = (size_t)be(buf + off + 2, 2);
		CHECK(slen >= 4 && slen % 4 == 0 && off + slen <= len);
		const uint8_t *body = buf + off + 4;
		if (id == (ipfix ? 2u : 0u) || id == (ipfix ? 3u : 1u)) {
			records += walk_templates(s, body, slen - 4,
			                          id == (ipfix ? 3u : 1u));
		} else {
			CHECK(id >= 256 && id <= 258);
			unsigned rl = s->rec_len[id - 256];
			CHECK(rl > 0); /* its template came first */
			size_t n = (slen - 4) / rl;
			CHECK(n >= 1 && (slen - 4) % rl < 4);
			records += (unsigned)n;
			if (id == 258)
				options += (unsigned)n;
			else
				flows += (unsigned)n;
		}
		off += slen;
	}
	if (!ipfix) {
		CHECK(be(buf + 2, 2) == records);
		s->seq++;
	} else {
		s->seq += flows + (s->flows_only ? 0 : options);
	}
	s->flows += flows;
}

static void
walk_v5(struct stream *s, const uint8_t *buf, size_t len)
{
	CHECK(len >= 24 && be(buf, 2) == 5);
	unsigned count = (unsigned)be(buf + 2, 2);
	CHECK(count >= 1 && count <= 30 && len == 24 + 48u * count);
	CHECK(be(buf + 16, 4) == (uint32_t)s->seq);
	s->seq += count;
	s->flows += count;
}

/* Settings from the first 24 input octets. */
static void
configure(const uint8_t *d, struct ns_export_config *c, size_t *cap,
          uint64_t *now_ms)
{
	static const int versions[] = {5, 9, 10};
	ns_export_config_default(c, versions[d[0] % 3]);
	c->mtu = NS_EXPORT_MTU_MIN +
	         (unsigned)(be(d + 1, 2) %
	                    (NS_EXPORT_MTU_MAX - NS_EXPORT_MTU_MIN + 1));
	c->template_packets = d[3];
	c->template_ms = d[4] % 4 ? d[4] * 10u : 0;
	if (c->template_ms == 0 && c->template_packets == 0)
		c->template_packets = 1;
	c->ipfix_seq_flows_only = d[5] & 1;
	c->sampling_interval =
	    1 + (uint32_t)(be(d + 6, 2) % (c->version == 5 ? 0x3FFF : 65535));
	c->domain_id =
	    (uint32_t)be(d + 8, 4) & (c->version == 5 ? 0xFFFF : 0xFFFFFFFF);
	size_t cut = (size_t)be(d + 12, 2);
	*cap = cut > c->mtu ? c->mtu : c->mtu - cut;
	*now_ms = be(d + 14, 8) >> (d[22] % 64);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 24)
		return 0;
	struct ns_export_config c;
	size_t cap;
	uint64_t now_ms;
	configure(data, &c, &cap, &now_ms);
	struct ns_export ex;
	CHECK(ns_export_init(&ex, &c) == 0);

	size_t n = (size - 24) / sizeof(struct ns_flow_record);
	struct ns_flow_record *r = malloc(n ? n * sizeof(*r) : 1);
	uint8_t *buf = malloc(cap ? cap : 1); /* exact: ASan sees overruns */
	if (!r || !buf)
		goto out;
	memcpy(r, data + 24, n * sizeof(*r));

	struct stream s = {.version = c.version,
	                   .flows_only = c.ipfix_seq_flows_only};
	size_t at = 0;
	uint64_t mono = 0;
	while (at < n) {
		size_t used = 0;
		size_t len = ns_export_encode(&ex, buf, cap, r + at, n - at,
		                              &used, now_ms, mono);
		CHECK(len <= cap && len <= c.mtu && used <= n - at);
		if (len == 0 && used == 0)
			break; /* cap holds no header and record */
		if (len) {
			if (c.version == 5)
				walk_v5(&s, buf, len);
			else
				walk_sets(&s, buf, len);
		}
		at += used;
		now_ms += data[23];
		mono += data[23] * 7u;
	}
	const struct ns_export_stats *st = &ex.st;
	CHECK(st->records == s.flows);
	if (at == n)
		CHECK(st->records + st->skipped_v6 + st->skipped_bad +
		          st->skipped_time ==
		      n);
out:
	free(buf);
	free(r);
	return 0;
}
