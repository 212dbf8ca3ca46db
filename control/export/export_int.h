/* Shared by the encoders in control/export/; not part of the API. */
#ifndef NS_EXPORT_INT_H
#define NS_EXPORT_INT_H

#include "netshare/export.h"
#include "wire.h"

#define NS_NS_PER_MS 1000000ull

/* NetFlow's port convention, shared by every version: ICMP and ICMPv6
 * flows carry type * 256 + code as the destination port and 0 as the
 * source port (the record holds type and code, or 0 and type * 256 +
 * code when it came from a NetFlow trace). */
uint16_t ns_wire_sport(const struct ns_flow_record *r);
uint16_t ns_wire_dport(const struct ns_flow_record *r);

/* v5/v9 send times as ms since the exporter's boot (sysUptime). A record
 * fits when its first and last ms and the header time hdr_ms all lie in
 * [boot, boot + 2^32). */
int ns_uptime_fits(uint64_t boot_ms, uint64_t first_ms, uint64_t last_ms,
                   uint64_t hdr_ms);

/* May r go into a packet stamped hdr_ms that holds `held` flows already?
 * 0 yes (the first record of a packet may move boot: counted in
 * ex->st.uptime_rebases after the first choice), -1 no: end the packet,
 * 1 never: no boot fits it (counted in ex->st.skipped_time). */
int ns_uptime_admit(struct ns_export *ex, const struct ns_flow_record *r,
                    uint64_t hdr_ms, unsigned held);

/* The encoders behind ns_export_encode (cap already cut to the MTU). */
size_t ns_v5_encode(struct ns_export *ex, uint8_t *buf, size_t cap,
                    const struct ns_flow_record *r, size_t n, size_t *consumed,
                    uint64_t now_ms);
size_t ns_sets_encode(struct ns_export *ex, uint8_t *buf, size_t cap,
                      const struct ns_flow_record *r, size_t n,
                      size_t *consumed, uint64_t now_ms, uint64_t mono_ms);

/* Template, options template and options data sets at the cursor; each
 * returns the records it wrote (v9 counts them in its header). */
unsigned ns_put_template_set(struct ns_cur *c, const struct ns_export *ex);
unsigned ns_put_options_template_set(struct ns_cur *c,
                                     const struct ns_export *ex);
unsigned ns_put_options_data_set(struct ns_cur *c, const struct ns_export *ex);

/* Close the set that starts at set_start: pad it to 4 octets and write
 * its length. */
void ns_set_close(struct ns_cur *c, size_t set_start);

#endif
