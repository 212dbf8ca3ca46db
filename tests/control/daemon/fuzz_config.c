/* Fuzz target: the config loader. A document either loads whole into a
 * config that passes the cross-field checks and prints back to a
 * document that loads to the same config, or fails leaving *c alone
 * with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_config c, before, again;
	struct ctl_err e = {0};
	ctl_config_default(&c);
	before = c;
	if (ctl_config_parse(&c, (const char *)data, size, "fuzz", &e)) {
		if (memcmp(&c, &before, sizeof(c)) || !e.code || !e.msg[0])
			abort(); /* half-applied, or no message */
		return 0;
	}
	if (ctl_config_check(&c, &e))
		abort();
	cJSON *j = ctl_config_json(&c);
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	ctl_config_default(&again);
	if (!text ||
	    ctl_config_parse(&again, text, strlen(text), "print", &e) ||
	    memcmp(&c, &again, sizeof(c)))
		abort(); /* the printer and the loader disagree */
	free(text);
	return 0;
}
