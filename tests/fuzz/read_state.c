/* Fuzz target: the continuous learner's state.json reader. No input may
 * crash; a refusal names its cause; what is accepted writes back to a
 * document that reads back to the same blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "lrn_state.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lrn_state s;
	char err[512] = "";
	if (lrn_state_parse(&s, (const char *)data, size, "fuzz", err,
			    sizeof(err)) != 0) {
		if (!err[0])
			__builtin_trap();
		return 0;
	}
	for (size_t i = 1; i < s.n_blocks; i++)
		if (!(s.blocks[i].index > s.blocks[i - 1].index))
			__builtin_trap(); /* sorted, no repeats */
	char dir[] = "/tmp/fuzz-state-XXXXXX";
	if (mkdtemp(dir)) {
		struct lrn_state t;
		if (lrn_state_save(&s, dir, err, sizeof(err)) == 0) {
			if (lrn_state_load(&t, dir, err, sizeof(err)) != 0 ||
			    t.n_blocks != s.n_blocks ||
			    t.block_ns != s.block_ns ||
			    t.published != s.published)
				__builtin_trap();
			for (size_t i = 0; i < s.n_blocks; i++)
				if (t.blocks[i].index != s.blocks[i].index ||
				    t.blocks[i].status != s.blocks[i].status)
					__builtin_trap();
			lrn_state_free(&t);
		}
		char p[64];
		snprintf(p, sizeof(p), "%s/state.json", dir);
		unlink(p);
		rmdir(dir);
	}
	lrn_state_free(&s);
	return 0;
}
