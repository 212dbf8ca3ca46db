/* Fuzz target: the checkpoint loader, and the learner config parser on
 * the same bytes. Neither may crash, and a failure must say why. */
#include <string.h>

#include "checkpoint.h"
#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_learner_config cfg;
	struct ns_dg m;
	struct ns_encoder enc;
	char err[256] = "";
	if (ns_ckpt_load_mem(data, size, "fuzz", &cfg, &m, &enc, err,
			     sizeof(err)) == 0) {
		ns_dg_free(&m);
		ns_encoder_free(&enc);
	} else if (!err[0]) {
		__builtin_trap(); /* every failure names its cause */
	}
	ns_learner_config_default(&cfg);
	err[0] = 0;
	if (ns_learner_config_parse(&cfg, (const char *)data, size, "fuzz",
				    err, sizeof(err)) != 0 &&
	    !err[0])
		__builtin_trap();
	return 0;
}
