/* DPDK port lookups shared by the dataplane and the replay program. */
#include "dp_port.h"

#include <string.h>

#include <rte_dev.h>
#include <rte_ethdev.h>

int
dp_port_of_device(const char *name, uint16_t *id)
{
	uint16_t pid;
	RTE_ETH_FOREACH_DEV(pid)
	{
		struct rte_eth_dev_info info;
		if (rte_eth_dev_info_get(pid, &info) == 0 && info.device &&
		    strcmp(rte_dev_name(info.device), name) == 0) {
			*id = pid;
			return 0;
		}
	}
	return -1;
}
