/* netaddr: addresses, networks and Host values (see netaddr.h).
 *
 * inet_pton does the parsing of each family; this file only maps IPv4 into ::ffff:0:0/96 and
 * compares prefixes. Rejected: getaddrinfo (it would resolve names, and every value here must
 * already be an address) and keeping IPv4 and IPv6 apart (a dual-stack socket reports IPv4
 * clients in the mapped form, and a network written as 10.42.0.0/16 must still match them).
 */
#include "core/netaddr.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static const unsigned char v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void from_v4(const void *a4, struct netaddr *out)
{
	memcpy(out->b, v4_prefix, sizeof(v4_prefix));
	memcpy(out->b + 12, a4, 4);
}

int netaddr_parse(const char *s, struct netaddr *out)
{
	char tmp[NETADDR_TEXT_MAX + 2];
	size_t n = strlen(s);
	unsigned char a4[4];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, a4) == 1) {
		from_v4(a4, out);
		return 0;
	}
	return inet_pton(AF_INET6, tmp, out->b) == 1 ? 0 : -EINVAL;
}

int netaddr_parse_net(const char *s, struct netaddr_net *out)
{
	char addr[NETADDR_TEXT_MAX + 2];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int64_t bits;
	unsigned max;

	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (netaddr_parse(addr, &out->a) < 0 || addr[0] == '[')
		return -EINVAL;
	max = netaddr_is_v4(&out->a) && !strchr(addr, ':') ? 32 : 128;
	if (!slash)
		bits = max;
	else if (!isdigit((unsigned char)slash[1]) || parse_i64(slash + 1, 0, max, &bits) < 0)
		return -EINVAL;
	out->bits = (unsigned)bits + (128 - max);
	for (unsigned i = out->bits; i < 128; i++)
		if (out->a.b[i / 8] & (0x80u >> (i % 8)))
			return -EINVAL;
	return 0;
}

int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	if (sa->sa_family == AF_INET) {
		from_v4(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, out);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out->b, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

bool netaddr_in(const struct netaddr *a, const struct netaddr_net *n)
{
	unsigned full = n->bits / 8, rest = n->bits % 8;

	if (memcmp(a->b, n->a.b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a->b[full] ^ n->a.b[full]) & (0xffu << (8 - rest))) == 0;
}

bool netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

bool netaddr_is_v4(const struct netaddr *a)
{
	return memcmp(a->b, v4_prefix, sizeof(v4_prefix)) == 0;
}

bool netaddr_loopback(const struct netaddr *a)
{
	static const unsigned char v6_loopback[16] = {[15] = 1};

	if (netaddr_is_v4(a))
		return a->b[12] == 127;
	return memcmp(a->b, v6_loopback, sizeof(v6_loopback)) == 0;
}

void netaddr_format(const struct netaddr *a, char *out, size_t len)
{
	char tmp[NETADDR_TEXT_MAX];
	const char *ok = netaddr_is_v4(a) ? inet_ntop(AF_INET, a->b + 12, tmp, sizeof(tmp))
					  : inet_ntop(AF_INET6, a->b, tmp, sizeof(tmp));

	snprintf(out, len, "%s", ok ? tmp : "?");
}

bool netaddr_host_part(const char *host, char *out, size_t len)
{
	const char *end;
	size_t n;

	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			return false;
		host++;
	} else {
		end = strchr(host, ':');
		if (!end)
			end = host + strlen(host);
		else if (strchr(end + 1, ':'))
			return false; /* a bare IPv6 address is not a Host value */
	}
	n = (size_t)(end - host);
	if (n == 0 || n >= len)
		return false;
	memcpy(out, host, n);
	out[n] = '\0';
	return true;
}

bool netaddr_host_loopback(const char *h)
{
	struct netaddr a;

	if (strcasecmp(h, "localhost") == 0)
		return true;
	return netaddr_parse(h, &a) == 0 && netaddr_loopback(&a);
}
