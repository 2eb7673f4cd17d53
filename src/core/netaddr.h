/* netaddr: IP addresses and networks as plain values, and the host part of a Host header.
 *
 * An address is held in its 16-byte IPv6 form, an IPv4 address as ::ffff:a.b.c.d, so one
 * comparison serves both families and an IPv4 client of a dual-stack socket matches an IPv4
 * network. Pure functions over text and bytes: used by config checks (ui.trusted_proxies), the
 * /metrics Host check (net/daemon.c), apiguard and the cockpit's login limit.
 */
#ifndef HERMETIC_NETADDR_H
#define HERMETIC_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

#define NETADDR_TEXT_MAX 46  /* INET6_ADDRSTRLEN */
#define NETADDR_HOST_MAX 255 /* a DNS name; longer Host values are refused */

struct netaddr {
	unsigned char b[16];
};

/* A network: the addresses whose first bits bits (of the 128-bit form) equal a's. */
struct netaddr_net {
	struct netaddr a;
	unsigned bits;
};

/* An address ("10.0.0.7", "::1", "[::1]"; no port, no zone) into out. 0 or -EINVAL. */
int netaddr_parse(const char *s, struct netaddr *out);
/* A network ("10.42.0.0/16", "fd00::/8") or a single address (a /32 or /128) into out. Bits
 * past the prefix must be zero (10.42.0.1/16 is refused: it reads as a mistake). 0 or
 * -EINVAL. */
int netaddr_parse_net(const char *s, struct netaddr_net *out);
/* The address of an AF_INET or AF_INET6 socket address. 0 or -EAFNOSUPPORT. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);
bool netaddr_in(const struct netaddr *a, const struct netaddr_net *n);
bool netaddr_equal(const struct netaddr *a, const struct netaddr *b);
bool netaddr_is_v4(const struct netaddr *a);
/* 127.0.0.0/8 or ::1. */
bool netaddr_loopback(const struct netaddr *a);
/* a as text ("10.0.0.7", "fd00::1") into out (NETADDR_TEXT_MAX bytes suffice). */
void netaddr_format(const struct netaddr *a, char *out, size_t len);

/* The host of a Host header value ("name:port", "[v6]:port", "name") into out, without
 * brackets. False when it does not parse or does not fit. */
bool netaddr_host_part(const char *host, char *out, size_t len);
/* Whether a host (as netaddr_host_part gives it) is loopback: localhost, 127.0.0.0/8, ::1. */
bool netaddr_host_loopback(const char *h);

#endif
