/* UDP collectors: one unconnected socket per address family, so every
 * packet (templates, options and data alike) leaves from one source
 * address and port, as collectors that key templates and sampling on the
 * exporter's address expect. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netshare/export.h"

#define SNDBUF_BYTES (4 << 20)

void
ns_sender_init(struct ns_sender *s)
{
	memset(s, 0, sizeof(*s));
	s->fd4 = s->fd6 = -1;
}

/* Split "host:port" / "[v6]:port" into host and port strings. */
static int
split_host_port(const char *arg, char *host, size_t hostlen, const char **port,
                char *err, size_t errlen)
{
	const char *colon;
	size_t hl;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "'%s': expected [IPv6]:PORT",
			         arg);
			return -1;
		}
		hl = (size_t)(close - arg - 1);
		colon = close + 1;
		arg++;
	} else {
		colon = strrchr(arg, ':');
		if (!colon) {
			snprintf(err, errlen, "'%s': expected HOST:PORT", arg);
			return -1;
		}
		if (memchr(arg, ':', (size_t)(colon - arg))) {
			snprintf(err, errlen,
			         "'%s': put an IPv6 address in "
			         "brackets, as [2001:db8::1]:2055",
			         arg);
			return -1;
		}
		hl = (size_t)(colon - arg);
	}
	if (hl == 0 || hl >= hostlen) {
		snprintf(err, errlen, "'%s': empty or overlong host", arg);
		return -1;
	}
	memcpy(host, arg, hl);
	host[hl] = '\0';
	*port = colon + 1;
	char *end;
	long p = strtol(*port, &end, 10);
	if (**port == '\0' || *end || p < 1 || p > 65535) {
		snprintf(err, errlen, "'%s': port must be 1..65535", *port);
		return -1;
	}
	return 0;
}

static int
socket_for(struct ns_sender *s, int family, char *err, size_t errlen)
{
	int *fd = family == AF_INET6 ? &s->fd6 : &s->fd4;
	if (*fd >= 0)
		return *fd;
	*fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		snprintf(err, errlen, "UDP socket (%s): %s",
		         family == AF_INET6 ? "IPv6" : "IPv4",
		         strerror(errno));
		return -1;
	}
	int sz = SNDBUF_BYTES;
	setsockopt(*fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	return *fd;
}

int
ns_sender_add(struct ns_sender *s, const char *host_port, char *err,
              size_t errlen)
{
	if (s->n == NS_COLLECTORS_MAX) {
		snprintf(err, errlen, "at most %d collectors",
		         NS_COLLECTORS_MAX);
		return -1;
	}
	char host[256];
	const char *port;
	if (split_host_port(host_port, host, sizeof(host), &port, err,
	                    errlen) != 0)
		return -1;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_DGRAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "'%s': %s", host_port,
		         rc == EAI_SYSTEM ? strerror(errno)
		                          : gai_strerror(rc));
		return -1;
	}
	struct ns_collector *c = &s->c[s->n];
	memset(c, 0, sizeof(*c));
	memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
	c->addr_len = ai->ai_addrlen;
	int family = ai->ai_family;
	freeaddrinfo(ai);
	snprintf(c->name, sizeof(c->name), "%s", host_port);
	if (socket_for(s, family, err, errlen) < 0)
		return -1;
	s->n++;
	return 0;
}

unsigned
ns_sender_send(struct ns_sender *s, const uint8_t *buf, size_t len)
{
	unsigned failed = 0;
	for (unsigned i = 0; i < s->n; i++) {
		struct ns_collector *c = &s->c[i];
		int fd = c->addr.ss_family == AF_INET6 ? s->fd6 : s->fd4;
		ssize_t w;
		do
			w = sendto(fd, buf, len, 0,
			           (const struct sockaddr *)&c->addr,
			           c->addr_len);
		while (w < 0 && errno == EINTR);
		if (w == (ssize_t)len) {
			c->packets++;
		} else {
			c->errors++;
			c->last_errno = w < 0 ? errno : EMSGSIZE;
			failed++;
		}
	}
	return failed;
}

void
ns_sender_close(struct ns_sender *s)
{
	if (s->fd4 >= 0)
		close(s->fd4);
	if (s->fd6 >= 0)
		close(s->fd6);
	s->fd4 = s->fd6 = -1;
}
