/* netaddr: addresses and networks parsed, matched across families, and Host values split. */
#include "test.h"
#include "core/netaddr.h"

#include <string.h>

static bool in(const char *addr, const char *net)
{
	struct netaddr a;
	struct netaddr_net n;

	assert_int_equal(netaddr_parse(addr, &a), 0);
	assert_int_equal(netaddr_parse_net(net, &n), 0);
	return netaddr_in(&a, &n);
}

static void networks_match_their_addresses_in_both_families(void **state)
{
	assert_true(in("10.42.7.1", "10.42.0.0/16"));
	assert_false(in("10.43.0.1", "10.42.0.0/16"));
	assert_true(in("::ffff:10.42.7.1", "10.42.0.0/16")); /* a dual-stack socket's IPv4 peer */
	assert_true(in("10.0.0.7", "10.0.0.7"));
	assert_false(in("10.0.0.8", "10.0.0.7"));
	assert_true(in("1.2.3.4", "0.0.0.0/0"));
	assert_false(in("::1", "0.0.0.0/0"));
	assert_true(in("fd00::1234", "fd00::/8"));
	assert_false(in("fe80::1", "fd00::/8"));
	assert_true(in("10.42.0.1", "10.42.0.0/23"));
	assert_true(in("10.42.1.255", "10.42.0.0/23"));
	assert_false(in("10.42.2.0", "10.42.0.0/23"));
}

static void malformed_networks_are_refused(void **state)
{
	struct netaddr_net n;
	const char *bad[] = {"",
			     "10.42.0.0/",
			     "10.42.0.0/33",
			     "10.42.0.1/16",
			     "10.42.0.0/+8",
			     "10.42.0.0/-1",
			     "fd00::/129",
			     "[::1]",
			     "example.com",
			     "10.42.0.0/16x",
			     "10.42.0.0 /16",
			     "/8",
			     NULL};

	for (size_t i = 0; bad[i]; i++)
		assert_int_not_equal(netaddr_parse_net(bad[i], &n), 0);
	assert_int_equal(netaddr_parse_net("::/0", &n), 0);
	assert_int_equal(n.bits, 0);
	assert_int_equal(netaddr_parse_net("10.0.0.0/8", &n), 0);
	assert_int_equal(n.bits, 104);
}

static void host_values_split_and_loopback_is_known(void **state)
{
	char h[NETADDR_HOST_MAX + 1], text[NETADDR_TEXT_MAX];
	struct netaddr a;

	assert_true(netaddr_host_part("10.0.0.7:8642", h, sizeof(h)));
	assert_string_equal(h, "10.0.0.7");
	assert_true(netaddr_host_part("[fd00::1]:8642", h, sizeof(h)));
	assert_string_equal(h, "fd00::1");
	assert_true(netaddr_host_part("hermetic", h, sizeof(h)));
	assert_false(netaddr_host_part("fd00::1", h, sizeof(h)));
	assert_false(netaddr_host_part("[fd00::1]x", h, sizeof(h)));
	assert_false(netaddr_host_part(":80", h, sizeof(h)));
	assert_true(netaddr_host_loopback("LocalHost"));
	assert_true(netaddr_host_loopback("127.9.9.9"));
	assert_true(netaddr_host_loopback("::1"));
	assert_false(netaddr_host_loopback("10.0.0.7"));
	assert_false(netaddr_host_loopback("localhost.attacker.example"));
	assert_int_equal(netaddr_parse("::ffff:10.0.0.7", &a), 0);
	netaddr_format(&a, text, sizeof(text));
	assert_string_equal(text, "10.0.0.7");
	assert_int_equal(netaddr_parse("[fd00::1]", &a), 0);
	netaddr_format(&a, text, sizeof(text));
	assert_string_equal(text, "fd00::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(networks_match_their_addresses_in_both_families),
		cmocka_unit_test(malformed_networks_are_refused),
		cmocka_unit_test(host_values_split_and_loopback_is_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
