/* Tests of netcheck: every refused range at its edges (first and last address refused, the
 * neighbours outside allowed), cloud metadata before link-local, IPv4 embedded in IPv6
 * (mapped, compatible, NAT64, 6to4), literals with brackets, socket addresses, and the
 * machine's own addresses from getifaddrs.
 */
#include "test.h"
#include "net/netcheck.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

struct want {
	const char *addr;
	enum netcheck_class cls;
};

static void check_all(const struct want *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		enum netcheck_class c = NETCHECK_PUBLIC;

		if (!netcheck_literal(w[i].addr, &c))
			fail_msg("%s is not taken for a literal", w[i].addr);
		if (c != w[i].cls)
			fail_msg("%s: got %s, want %s", w[i].addr, netcheck_class_text(c),
				 netcheck_class_text(w[i].cls));
	}
}

static void ipv4_ranges_at_their_edges(void **state)
{
	static const struct want w[] = {
		{"0.0.0.0", NETCHECK_THIS_NETWORK},	{"0.255.255.255", NETCHECK_THIS_NETWORK},
		{"1.0.0.0", NETCHECK_PUBLIC},		{"9.255.255.255", NETCHECK_PUBLIC},
		{"10.0.0.0", NETCHECK_PRIVATE},		{"10.0.0.1", NETCHECK_PRIVATE},
		{"10.255.255.255", NETCHECK_PRIVATE},	{"11.0.0.0", NETCHECK_PUBLIC},
		{"100.63.255.255", NETCHECK_PUBLIC},	{"100.64.0.0", NETCHECK_CGNAT},
		{"100.127.255.255", NETCHECK_CGNAT},	{"100.128.0.0", NETCHECK_PUBLIC},
		{"126.255.255.255", NETCHECK_PUBLIC},	{"127.0.0.0", NETCHECK_LOOPBACK},
		{"127.0.0.1", NETCHECK_LOOPBACK},	{"127.255.255.255", NETCHECK_LOOPBACK},
		{"128.0.0.0", NETCHECK_PUBLIC},		{"169.253.255.255", NETCHECK_PUBLIC},
		{"169.254.0.0", NETCHECK_LINK_LOCAL},	{"169.254.169.253", NETCHECK_LINK_LOCAL},
		{"169.254.169.254", NETCHECK_METADATA}, {"169.254.169.255", NETCHECK_LINK_LOCAL},
		{"169.254.170.2", NETCHECK_METADATA},	{"169.254.255.255", NETCHECK_LINK_LOCAL},
		{"169.255.0.0", NETCHECK_PUBLIC},	{"172.15.255.255", NETCHECK_PUBLIC},
		{"172.16.0.0", NETCHECK_PRIVATE},	{"172.31.255.255", NETCHECK_PRIVATE},
		{"172.32.0.0", NETCHECK_PUBLIC},	{"192.0.0.0", NETCHECK_RESERVED},
		{"192.0.0.192", NETCHECK_METADATA},	{"192.0.1.255", NETCHECK_PUBLIC},
		{"192.0.2.1", NETCHECK_RESERVED},	{"192.88.99.1", NETCHECK_RESERVED},
		{"192.167.255.255", NETCHECK_PUBLIC},	{"192.168.0.0", NETCHECK_PRIVATE},
		{"192.168.255.255", NETCHECK_PRIVATE},	{"192.169.0.0", NETCHECK_PUBLIC},
		{"198.17.255.255", NETCHECK_PUBLIC},	{"198.18.0.0", NETCHECK_RESERVED},
		{"198.19.255.255", NETCHECK_RESERVED},	{"198.20.0.0", NETCHECK_PUBLIC},
		{"198.51.100.7", NETCHECK_RESERVED},	{"203.0.113.7", NETCHECK_RESERVED},
		{"100.100.100.200", NETCHECK_METADATA}, {"168.63.129.16", NETCHECK_METADATA},
		{"168.63.129.17", NETCHECK_PUBLIC},	{"223.255.255.255", NETCHECK_PUBLIC},
		{"224.0.0.0", NETCHECK_MULTICAST},	{"239.255.255.255", NETCHECK_MULTICAST},
		{"240.0.0.0", NETCHECK_RESERVED},	{"255.255.255.255", NETCHECK_RESERVED},
		{"8.8.8.8", NETCHECK_PUBLIC},		{"93.184.216.34", NETCHECK_PUBLIC},
	};

	check_all(w, sizeof(w) / sizeof(w[0]));
}

static void ipv6_ranges_at_their_edges(void **state)
{
	static const struct want w[] = {
		{"::", NETCHECK_THIS_NETWORK},
		{"::1", NETCHECK_LOOPBACK},
		{"::2", NETCHECK_RESERVED},
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETCHECK_RESERVED},
		{"fc00::", NETCHECK_PRIVATE},
		{"fd12:3456::1", NETCHECK_PRIVATE},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETCHECK_PRIVATE},
		{"fd00:ec2::254", NETCHECK_METADATA},
		{"fd00:ec2::253", NETCHECK_PRIVATE},
		{"fe00::", NETCHECK_RESERVED},
		{"fe80::", NETCHECK_LINK_LOCAL},
		{"fe80::1", NETCHECK_LINK_LOCAL},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETCHECK_LINK_LOCAL},
		{"fec0::1", NETCHECK_PRIVATE},
		{"ff02::1", NETCHECK_MULTICAST},
		{"ff00::", NETCHECK_MULTICAST},
		{"2001:db8::1", NETCHECK_RESERVED},
		{"2001::1", NETCHECK_RESERVED},
		{"2001:200::1", NETCHECK_PUBLIC},
		{"100::1", NETCHECK_RESERVED},
		{"64:ff9b:1::1", NETCHECK_PRIVATE},
		{"1fff:ffff::", NETCHECK_RESERVED},
		{"2000::", NETCHECK_PUBLIC},
		{"2606:4700:4700::1111", NETCHECK_PUBLIC},
		{"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETCHECK_PUBLIC},
		{"4000::", NETCHECK_RESERVED},
	};

	check_all(w, sizeof(w) / sizeof(w[0]));
}

static void ipv4_inside_ipv6_gets_the_ipv4_class(void **state)
{
	static const struct want w[] = {
		{"::ffff:127.0.0.1", NETCHECK_LOOPBACK},
		{"::ffff:7f00:1", NETCHECK_LOOPBACK},
		{"::ffff:10.0.0.1", NETCHECK_PRIVATE},
		{"::ffff:169.254.169.254", NETCHECK_METADATA},
		{"::ffff:172.16.0.1", NETCHECK_PRIVATE},
		{"::ffff:100.64.0.1", NETCHECK_CGNAT},
		{"::ffff:0.0.0.0", NETCHECK_THIS_NETWORK},
		{"::ffff:8.8.8.8", NETCHECK_PUBLIC},
		{"::127.0.0.1", NETCHECK_LOOPBACK},
		{"::10.1.2.3", NETCHECK_PRIVATE},
		{"64:ff9b::127.0.0.1", NETCHECK_LOOPBACK},
		{"64:ff9b::a9fe:a9fe", NETCHECK_METADATA},
		{"64:ff9b::8.8.8.8", NETCHECK_PUBLIC},
		{"2002:7f00:1::", NETCHECK_LOOPBACK},
		{"2002:c0a8:101::1", NETCHECK_PRIVATE},
		{"2002:808:808::1", NETCHECK_PUBLIC},
	};

	check_all(w, sizeof(w) / sizeof(w[0]));
}

static void literals_with_brackets_and_host_names(void **state)
{
	enum netcheck_class c = NETCHECK_PUBLIC;

	assert_true(netcheck_literal("[::1]", &c));
	assert_int_equal(c, NETCHECK_LOOPBACK);
	assert_true(netcheck_literal("[::ffff:127.0.0.1]", &c));
	assert_int_equal(c, NETCHECK_LOOPBACK);
	c = NETCHECK_PUBLIC;
	assert_false(netcheck_literal("localhost", &c));
	assert_false(netcheck_literal("example.com", &c));
	assert_false(netcheck_literal("[]", &c));
	assert_false(netcheck_literal("", &c));
	assert_false(netcheck_literal("[not an address]", &c));
	assert_int_equal(c, NETCHECK_PUBLIC);
}

static void socket_addresses_and_their_text(void **state)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	struct sockaddr other = {.sa_family = AF_UNIX};
	char s[64];

	inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
	assert_int_equal(netcheck_sockaddr((struct sockaddr *)&in, sizeof(in)), NETCHECK_METADATA);
	netcheck_sockaddr_str((struct sockaddr *)&in, sizeof(in), s, sizeof(s));
	assert_string_equal(s, "169.254.169.254");
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	assert_int_equal(netcheck_sockaddr((struct sockaddr *)&in6, sizeof(in6)),
			 NETCHECK_LOOPBACK);
	netcheck_sockaddr_str((struct sockaddr *)&in6, sizeof(in6), s, sizeof(s));
	assert_string_equal(s, "::ffff:127.0.0.1");
	/* A short length or another family is never taken for public. */
	assert_int_equal(netcheck_sockaddr((struct sockaddr *)&in6, 8), NETCHECK_RESERVED);
	assert_int_equal(netcheck_sockaddr(&other, sizeof(other)), NETCHECK_RESERVED);
	assert_int_equal(netcheck_sockaddr(NULL, 0), NETCHECK_RESERVED);
	netcheck_sockaddr_str(&other, sizeof(other), s, sizeof(s));
	assert_string_equal(s, "?");
	assert_string_equal(netcheck_class_text(NETCHECK_LOOPBACK), "a loopback address");
}

/* Every address of every interface is own (IPv4 also in its mapped IPv6 form); an address
 * of no interface is not. */
static void interface_addresses_are_own(void **state)
{
	struct ifaddrs *list = NULL, *i;
	unsigned char mapped[16] = {[10] = 0xff, [11] = 0xff};
	size_t n = 0;

	(void)state;
	netcheck_own_reset();
	assert_int_equal(getifaddrs(&list), 0);
	for (i = list; i; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;

		if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
			continue;
		assert_true(netcheck_own_sockaddr(sa, sa->sa_family == AF_INET
							      ? sizeof(struct sockaddr_in)
							      : sizeof(struct sockaddr_in6)));
		if (sa->sa_family == AF_INET) {
			memcpy(mapped + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
			assert_true(netcheck_own(AF_INET6, mapped));
		}
		n++;
	}
	freeifaddrs(list);
	assert_true(n > 0);
	assert_true(netcheck_own(AF_INET, (const unsigned char[4]){127, 0, 0, 1}));
	/* 203.0.113.77 (TEST-NET-3) is on no interface of a test machine. */
	assert_false(netcheck_own(AF_INET, (const unsigned char[4]){203, 0, 113, 77}));
	assert_string_equal(netcheck_class_text(NETCHECK_OWN), "an address of this machine");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_ranges_at_their_edges),
		cmocka_unit_test(ipv6_ranges_at_their_edges),
		cmocka_unit_test(ipv4_inside_ipv6_gets_the_ipv4_class),
		cmocka_unit_test(literals_with_brackets_and_host_names),
		cmocka_unit_test(socket_addresses_and_their_text),
		cmocka_unit_test(interface_addresses_are_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
