/* Fuzz target: the privacy accountant's JSON form. No input may crash;
 * a refusal must say why and leave the accountant as it was; what is
 * accepted is valid (orders ascending in range, RDP ≥ 0) and writes back
 * to a document that reads back bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netshare/privacy.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_privacy_acct a, keep, b;
	char err[256] = "";
	ns_privacy_acct_init(&a);
	keep = a;
	if (ns_privacy_acct_parse(&a, (const char *)data, size, err,
	                          sizeof(err)) != 0) {
		if (!err[0] || memcmp(&a, &keep, sizeof(a)))
			__builtin_trap();
		return 0;
	}
	if (a.n_orders == 0 || a.n_orders > NS_PRIVACY_MAX_ORDERS)
		__builtin_trap();
	for (size_t i = 0; i < a.n_orders; i++)
		if (!(a.order[i] > 1 && a.order[i] <= NS_PRIVACY_ORDER_MAX) ||
		    (i && !(a.order[i] > a.order[i - 1])) || !(a.rdp[i] >= 0))
			__builtin_trap();
	char *s = ns_privacy_acct_to_json(&a);
	if (!s)
		return 0;
	if (ns_privacy_acct_parse(&b, s, strlen(s), err, sizeof(err)) != 0 ||
	    b.n_orders != a.n_orders ||
	    memcmp(b.order, a.order, a.n_orders * sizeof(double)) ||
	    memcmp(b.rdp, a.rdp, a.n_orders * sizeof(double)))
		__builtin_trap();
	free(s);
	/* what was read is usable */
	double eps, order;
	if (ns_privacy_acct_epsilon(&a, 1e-5, NS_PRIVACY_BALLE, &eps,
	                            &order) != 0 ||
	    !(eps >= 0))
		__builtin_trap();
	return 0;
}
