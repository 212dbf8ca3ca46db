/* Bad-input reporting for every reader: a clear message naming the file,
 * the item (line or packet number) and the field, a counter per reason,
 * and --strict to make the first one fatal. */
#ifndef NETSHARE_DIAG_H
#define NETSHARE_DIAG_H

#include <stdint.h>
#include <stdio.h>

#define NS_DIAG_MAX_REASONS 24
#define NS_DIAG_DEFAULT_MESSAGES 10

struct ns_diag {
	const char *path;	/* file named in messages */
	const char *unit;	/* "line" or "packet" */
	int strict;		/* first rejection is fatal */
	unsigned max_messages;	/* printed before going quiet */
	unsigned printed;
	FILE *out;		/* NULL: stderr; messages off if quiet */
	int quiet;
	int failed;		/* a strict rejection or a fatal error */
	uint64_t total;		/* all rejections */
	unsigned n_reasons;
	const char *reason[NS_DIAG_MAX_REASONS]; /* static strings */
	uint64_t count[NS_DIAG_MAX_REASONS];
	char first[256];	/* the first message, for tests and JSON */
};

/* Start a report for one file; unit is "line" or "packet". */
void ns_diag_init(struct ns_diag *d, const char *path, const char *unit);

/* Reject item number `item` (1-based) for `reason` (a static string such
 * as "bad_field"). Returns -1 when strict (the caller stops), else 0. */
int ns_diag_reject(struct ns_diag *d, const char *reason, uint64_t item,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Count an item skipped for an ordinary reason (ARP beside IP, say):
 * no message, never fatal. */
void ns_diag_note(struct ns_diag *d, const char *reason);

/* A fatal error that is not about one item (open failed, cut short).
 * Always counted under `reason`; sets d->failed when fatal is set. */
void ns_diag_error(struct ns_diag *d, const char *reason, int fatal,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A message about the whole file that counts nothing (the items it
 * concerns are counted one by one). */
void ns_diag_say(struct ns_diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Count of rejections for reason, 0 if none. */
uint64_t ns_diag_count(const struct ns_diag *d, const char *reason);

/* "skipped: 3 bad_field, 1 not_ip" on one line to f, if anything was. */
void ns_diag_summary(const struct ns_diag *d, FILE *f);

/* {"bad_field":3,"not_ip":1} */
void ns_diag_json(const struct ns_diag *d, FILE *f);

#endif
