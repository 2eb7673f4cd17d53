/* netcheck: classifies an IP address as public or as one of the ranges a fetch on behalf of a
 * model must not reach (loopback, private, link-local, cloud metadata, ...): the SSRF guard of
 * web_fetch. Pure functions, no I/O, except netcheck_own() which asks the kernel for the
 * machine's own addresses.
 */
#ifndef HERMETIC_NETCHECK_H
#define HERMETIC_NETCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum netcheck_class {
	NETCHECK_PUBLIC,
	NETCHECK_LOOPBACK,   /* 127/8, ::1 */
	NETCHECK_PRIVATE,    /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48 */
	NETCHECK_LINK_LOCAL, /* 169.254/16, fe80::/10 */
	NETCHECK_CGNAT,	     /* 100.64/10 */
	NETCHECK_THIS_NETWORK, /* 0/8, :: */
	NETCHECK_MULTICAST,    /* 224/4, ff00::/8 */
	NETCHECK_RESERVED,     /* 240/4, documentation, benchmarking, IETF, non-2000::/3 IPv6 */
	NETCHECK_METADATA,     /* cloud metadata endpoints (169.254.169.254, fd00:ec2::254, ...) */
	NETCHECK_OWN,	       /* an address of one of this machine's interfaces (netcheck_own) */
};

/* Classifies a 4-byte (network order) IPv4 address. */
enum netcheck_class netcheck_ipv4(const unsigned char a[4]);
/* Classifies a 16-byte IPv6 address. Forms that embed an IPv4 address (::ffff:a.b.c.d,
 * ::a.b.c.d, 64:ff9b::/96 NAT64, 2002::/16 6to4) get the class of the embedded address. */
enum netcheck_class netcheck_ipv6(const unsigned char a[16]);
/* AF_INET / AF_INET6 socket addresses; anything else (or a short len) is NETCHECK_RESERVED. */
enum netcheck_class netcheck_sockaddr(const struct sockaddr *sa, size_t len);
/* An IP literal as curl's URL parser leaves it ("10.0.0.1", "[::1]", "::1"). Returns false
 * when s is not an IP literal (a host name): *out is then untouched. */
bool netcheck_literal(const char *s, enum netcheck_class *out);

/* True when the address (AF_INET: 4 bytes, AF_INET6: 16 bytes, network order) belongs to one
 * of this machine's interfaces (getifaddrs, at most NETCHECK_OWN_TTL_MS old). An IPv6 form
 * that carries an IPv4 address is compared as that address. When the interfaces cannot be
 * listed, every address counts as own (refusing is the safe answer). Loop thread only. */
#define NETCHECK_OWN_TTL_MS 5000
bool netcheck_own(int family, const unsigned char *addr);
/* The same for a socket address; false for other families. */
bool netcheck_own_sockaddr(const struct sockaddr *sa, size_t len);
/* Forgets the cached interface list (tests; the next netcheck_own lists them again). */
void netcheck_own_reset(void);

/* "a loopback address", "a private address", ... (for "X is a loopback address"). */
const char *netcheck_class_text(enum netcheck_class c);
/* The address as text ("127.0.0.1", "::ffff:127.0.0.1"); "?" for other families. */
void netcheck_sockaddr_str(const struct sockaddr *sa, size_t len, char *out, size_t out_len);

#endif
