/* netcheck: address classification for the SSRF guard.
 *
 * Two tables of {prefix, bits, class}, searched first match wins, so the narrow metadata
 * entries come before the ranges that contain them. IPv6 forms that carry an IPv4 address
 * (mapped, compatible, NAT64, 6to4) are unwrapped and classified as that address, because a
 * dual-stack socket or a translator would deliver them there. Everything outside 2000::/3 is
 * unassigned or special in IPv6, so only global unicast counts as public there.
 *
 * The one question the tables cannot answer is "is this one of my own addresses": a host with
 * a public address on an interface would otherwise fetch its own services (an admin port
 * bound to 0.0.0.0) as "public". netcheck_own() lists the interfaces with getifaddrs (a
 * netlink dump, no file access, so it works inside the sandbox) and keeps the list for
 * NETCHECK_OWN_TTL_MS, so a DHCP renewal or a new interface is seen within seconds.
 *
 * Rejected: asking the resolver or the routing tables for the class: the answer must be the
 * same on every host and testable without a network; and string matching on the host name,
 * which decimal forms (http://2130706433/) and DNS answers walk around.
 */
#include "net/netcheck.h"
#include "core/log.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define OWN_MAX 256 /* addresses remembered; past it every address counts as own */

struct range {
	unsigned char prefix[16];
	unsigned bits;
	enum netcheck_class cls;
};

static const struct range v4_ranges[] = {
	{{169, 254, 169, 254}, 32, NETCHECK_METADATA}, /* AWS, GCP, Azure, OpenStack, ... */
	{{169, 254, 170, 2}, 32, NETCHECK_METADATA},   /* AWS ECS task metadata */
	{{100, 100, 100, 200}, 32, NETCHECK_METADATA}, /* Alibaba Cloud */
	{{168, 63, 129, 16}, 32, NETCHECK_METADATA},   /* Azure wire server (a public address) */
	{{192, 0, 0, 192}, 32, NETCHECK_METADATA},     /* Oracle Cloud */
	{{0}, 8, NETCHECK_THIS_NETWORK},
	{{10}, 8, NETCHECK_PRIVATE},
	{{100, 64}, 10, NETCHECK_CGNAT},
	{{127}, 8, NETCHECK_LOOPBACK},
	{{169, 254}, 16, NETCHECK_LINK_LOCAL},
	{{172, 16}, 12, NETCHECK_PRIVATE},
	{{192, 0, 0}, 24, NETCHECK_RESERVED},	/* IETF protocol assignments */
	{{192, 0, 2}, 24, NETCHECK_RESERVED},	/* TEST-NET-1 */
	{{192, 88, 99}, 24, NETCHECK_RESERVED}, /* 6to4 relay anycast */
	{{192, 168}, 16, NETCHECK_PRIVATE},
	{{198, 18}, 15, NETCHECK_RESERVED}, /* benchmarking */
	{{198, 51, 100}, 24, NETCHECK_RESERVED},
	{{203, 0, 113}, 24, NETCHECK_RESERVED},
	{{224}, 4, NETCHECK_MULTICAST},
	{{240}, 4, NETCHECK_RESERVED}, /* includes 255.255.255.255 */
};

static const struct range v6_ranges[] = {
	{{0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54}, 128, NETCHECK_METADATA}, /* AWS */
	{{[15] = 1}, 128, NETCHECK_LOOPBACK},
	{{0}, 128, NETCHECK_THIS_NETWORK},			/* :: */
	{{0x00, 0x64, 0xff, 0x9b, 0, 1}, 48, NETCHECK_PRIVATE}, /* local-use NAT64 */
	{{0x01}, 64, NETCHECK_RESERVED},			/* 100::/64 discard */
	{{0x20, 0x01, 0x0d, 0xb8}, 32, NETCHECK_RESERVED},	/* documentation */
	{{0x20, 0x01}, 23, NETCHECK_RESERVED}, /* IETF protocol assignments, Teredo */
	{{0xfc}, 7, NETCHECK_PRIVATE},
	{{0xfe, 0x80}, 10, NETCHECK_LINK_LOCAL},
	{{0xfe, 0xc0}, 10, NETCHECK_PRIVATE}, /* deprecated site-local */
	{{0xff}, 8, NETCHECK_MULTICAST},
};

static bool prefix_match(const unsigned char *a, const unsigned char *prefix, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, prefix, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (prefix[full] & mask);
}

static const struct range *lookup(const struct range *r, size_t n, const unsigned char *a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (prefix_match(a, r[i].prefix, r[i].bits))
			return &r[i];
	return NULL;
}

enum netcheck_class netcheck_ipv4(const unsigned char a[4])
{
	const struct range *r = lookup(v4_ranges, ARRAY_LEN(v4_ranges), a);

	return r ? r->cls : NETCHECK_PUBLIC;
}

/* The IPv4 address inside an IPv6 form that carries one, or NULL. */
static const unsigned char *embedded_v4(const unsigned char a[16])
{
	static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
	static const unsigned char compat[12] = {0};
	static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};

	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return a + 12;
	/* ::a.b.c.d, but not :: and ::1 (a[12..14] zero), which have their own entries. */
	if (memcmp(a, compat, 12) == 0 && (a[12] | a[13] | a[14]) != 0)
		return a + 12;
	if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: 2002:AABB:CCDD::/48 */
		return a + 2;
	return NULL;
}

enum netcheck_class netcheck_ipv6(const unsigned char a[16])
{
	const unsigned char *v4 = embedded_v4(a);
	const struct range *r;

	if (v4)
		return netcheck_ipv4(v4);
	r = lookup(v6_ranges, ARRAY_LEN(v6_ranges), a);
	if (r)
		return r->cls;
	/* Only 2000::/3 is global unicast; the rest is unassigned or special. */
	return (a[0] & 0xe0) == 0x20 ? NETCHECK_PUBLIC : NETCHECK_RESERVED;
}

enum netcheck_class netcheck_sockaddr(const struct sockaddr *sa, size_t len)
{
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return netcheck_ipv4((const unsigned char *)&in->sin_addr);
	}
	if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		return netcheck_ipv6(in6->sin6_addr.s6_addr);
	}
	return NETCHECK_RESERVED;
}

bool netcheck_literal(const char *s, enum netcheck_class *out)
{
	unsigned char a[16];
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(s);

	if (inet_pton(AF_INET, s, a) == 1) {
		*out = netcheck_ipv4(a);
		return true;
	}
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		if (len - 2 >= sizeof(tmp))
			return false;
		memcpy(tmp, s + 1, len - 2);
		tmp[len - 2] = '\0';
		s = tmp;
	}
	if (inet_pton(AF_INET6, s, a) == 1) {
		*out = netcheck_ipv6(a);
		return true;
	}
	return false;
}

/* ---- the machine's own addresses ---- */

struct own_addr {
	int family;
	unsigned char a[16];
};

static struct {
	struct own_addr addrs[OWN_MAX];
	size_t n;
	bool failed; /* getifaddrs failed or the list did not fit: everything counts as own */
	bool warned;
	int64_t at_ms; /* when listed; 0 = never */
} own;

static void own_add(int family, const unsigned char *a)
{
	struct own_addr *o;

	if (own.n == OWN_MAX) {
		own.failed = true;
		return;
	}
	o = &own.addrs[own.n++];
	o->family = family;
	memset(o->a, 0, sizeof(o->a));
	memcpy(o->a, a, family == AF_INET ? 4 : 16);
}

static void own_refresh(void)
{
	struct ifaddrs *list = NULL, *i;

	own.n = 0;
	own.failed = false;
	own.at_ms = now_mono_ms();
	if (getifaddrs(&list) < 0) {
		own.failed = true;
		if (!own.warned)
			log_warn("web_fetch: cannot list this machine's addresses (%m); every "
				 "address is refused until they can be listed");
		own.warned = true;
		return;
	}
	for (i = list; i; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;

		if (sa && sa->sa_family == AF_INET)
			own_add(AF_INET,
				(const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
		else if (sa && sa->sa_family == AF_INET6)
			own_add(AF_INET6, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	}
	freeifaddrs(list);
}

void netcheck_own_reset(void)
{
	own.at_ms = 0;
}

bool netcheck_own(int family, const unsigned char *addr)
{
	const unsigned char *v4 = family == AF_INET6 ? embedded_v4(addr) : NULL;
	size_t i, n;

	if (v4) {
		family = AF_INET;
		addr = v4;
	}
	if (family != AF_INET && family != AF_INET6)
		return false;
	if (own.at_ms == 0 || now_mono_ms() - own.at_ms >= NETCHECK_OWN_TTL_MS)
		own_refresh();
	if (own.failed)
		return true;
	n = family == AF_INET ? 4 : 16;
	for (i = 0; i < own.n; i++)
		if (own.addrs[i].family == family && memcmp(own.addrs[i].a, addr, n) == 0)
			return true;
	return false;
}

bool netcheck_own_sockaddr(const struct sockaddr *sa, size_t len)
{
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return netcheck_own(
			AF_INET,
			(const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return netcheck_own(AF_INET6, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	return false;
}

const char *netcheck_class_text(enum netcheck_class c)
{
	static const char *const text[] = {
		[NETCHECK_PUBLIC] = "a public address",
		[NETCHECK_LOOPBACK] = "a loopback address",
		[NETCHECK_PRIVATE] = "a private address",
		[NETCHECK_LINK_LOCAL] = "a link-local address",
		[NETCHECK_CGNAT] = "a carrier-grade NAT address",
		[NETCHECK_THIS_NETWORK] = "a 'this network' address",
		[NETCHECK_MULTICAST] = "a multicast address",
		[NETCHECK_RESERVED] = "a reserved address",
		[NETCHECK_METADATA] = "a cloud metadata address",
		[NETCHECK_OWN] = "an address of this machine",
	};

	return (size_t)c < ARRAY_LEN(text) ? text[c] : "an unknown address";
}

void netcheck_sockaddr_str(const struct sockaddr *sa, size_t len, char *out, size_t out_len)
{
	const void *addr = NULL;

	if (out_len == 0)
		return;
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!addr || !inet_ntop(sa->sa_family, addr, out, (socklen_t)out_len))
		snprintf(out, out_len, "?");
}
