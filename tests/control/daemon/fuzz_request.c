/* Fuzz target: one request buffer through the daemon's handler on a
 * fresh state. The reply must be a JSON object with a boolean "ok" and,
 * when false, an error code and message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl d;
	struct ctl_config cfg;
	ctl_config_default(&cfg);
	/* nothing outside: no dataplane, no files, no models */
	strcpy(cfg.dataplane_prefix, "ns-fuzz-none");
	strcpy(cfg.dataplane_bin, "/nonexistent/netshare-dataplane");
	cfg.learner_status[0] = 0;
	cfg.models_dir[0] = 0;
	ctl_init(&d, &cfg, NULL);
	char *reply = ctl_handle(&d, (const char *)data, size);
	if (!reply)
		abort();
	cJSON *r = cJSON_Parse(reply);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
	if (!cJSON_IsBool(ok))
		abort();
	if (cJSON_IsFalse(ok)) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
		if (!cJSON_IsString(
		        cJSON_GetObjectItemCaseSensitive(e, "code")) ||
		    !cJSON_IsString(
		        cJSON_GetObjectItemCaseSensitive(e, "message")))
			abort();
	}
	cJSON_Delete(r);
	free(reply);
	ctl_free(&d);
	return 0;
}
