/* Bad-input reporting: messages with file, item and field, per-reason
 * counters, and strict mode. */
#include "netshare/diag.h"

#include <stdarg.h>
#include <string.h>

void
ns_diag_init(struct ns_diag *d, const char *path, const char *unit)
{
	memset(d, 0, sizeof(*d));
	d->path = path ? path : "(memory)";
	d->unit = unit ? unit : "item";
	d->max_messages = NS_DIAG_DEFAULT_MESSAGES;
}

static void
count(struct ns_diag *d, const char *reason)
{
	d->total++;
	for (unsigned i = 0; i < d->n_reasons; i++) {
		if (strcmp(d->reason[i], reason) == 0) {
			d->count[i]++;
			return;
		}
	}
	if (d->n_reasons < NS_DIAG_MAX_REASONS) {
		d->reason[d->n_reasons] = reason;
		d->count[d->n_reasons++] = 1;
	} else {
		d->count[NS_DIAG_MAX_REASONS - 1]++; /* lump the rest */
	}
}

static void
vsay(struct ns_diag *d, const char *prefix, const char *fmt, va_list ap)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%s", prefix);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	if (!d->first[0])
		memcpy(d->first, msg, sizeof(d->first));
	if (d->quiet)
		return;
	FILE *f = d->out ? d->out : stderr;
	if (d->printed < d->max_messages || d->strict) {
		fprintf(f, "%s\n", msg);
	} else if (d->printed == d->max_messages) {
		fprintf(f, "%s: further messages suppressed; see the "
			   "counters\n", d->path);
	}
	d->printed++;
}

void
ns_diag_note(struct ns_diag *d, const char *reason)
{
	count(d, reason);
}

int
ns_diag_reject(struct ns_diag *d, const char *reason, uint64_t item,
	       const char *fmt, ...)
{
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "%s: %s %llu: ", d->path, d->unit,
		 (unsigned long long)item);
	count(d, reason);
	va_list ap;
	va_start(ap, fmt);
	vsay(d, prefix, fmt, ap);
	va_end(ap);
	if (d->strict) {
		d->failed = 1;
		return -1;
	}
	return 0;
}

void
ns_diag_error(struct ns_diag *d, const char *reason, int fatal,
	      const char *fmt, ...)
{
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "%s: ", d->path);
	count(d, reason);
	va_list ap;
	va_start(ap, fmt);
	vsay(d, prefix, fmt, ap);
	va_end(ap);
	if (fatal || d->strict)
		d->failed = 1;
}

void
ns_diag_say(struct ns_diag *d, const char *fmt, ...)
{
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "%s: ", d->path);
	va_list ap;
	va_start(ap, fmt);
	vsay(d, prefix, fmt, ap);
	va_end(ap);
}

uint64_t
ns_diag_count(const struct ns_diag *d, const char *reason)
{
	for (unsigned i = 0; i < d->n_reasons; i++)
		if (strcmp(d->reason[i], reason) == 0)
			return d->count[i];
	return 0;
}

void
ns_diag_summary(const struct ns_diag *d, FILE *f)
{
	if (!d->total)
		return;
	fprintf(f, "%s: skipped:", d->path);
	for (unsigned i = 0; i < d->n_reasons; i++)
		fprintf(f, "%s %llu %s", i ? "," : "",
			(unsigned long long)d->count[i], d->reason[i]);
	fputc('\n', f);
}

void
ns_diag_json(const struct ns_diag *d, FILE *f)
{
	fputc('{', f);
	for (unsigned i = 0; i < d->n_reasons; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", d->reason[i],
			(unsigned long long)d->count[i]);
	fputc('}', f);
}
