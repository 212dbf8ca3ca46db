/* DPDK port lookups shared by the dataplane and the replay program. */
#ifndef NETSHARE_DP_PORT_H
#define NETSHARE_DP_PORT_H

#include <stdint.h>

/* The port of a device by the device's name (some drivers name their
 * ethdev otherwise: net_ring with nodeaction= names it after the ring).
 * Returns 0 with *id set, or -1 when no port has that device. */
int dp_port_of_device(const char *name, uint16_t *id);

#endif
