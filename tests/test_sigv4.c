/* sigv4: AWS's published Signature Version 4 vectors (the aws-sig-v4-test-suite's get-vanilla,
 * post-vanilla, get-vanilla-query-order-key-case, post-sts-header-before; the documented
 * signing key of the IAM example), header canonicalization, the twice-encoded canonical URI of
 * a Bedrock model id, and the refusals.
 */
#include "test.h"
#include "router/providers/sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_AUTH                                                                                 \
	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "        \
	"SignedHeaders=host;x-amz-date, Signature="
#define STS_TOKEN                                                                                  \
	"AQoDYXdzEPT//////////"                                                                    \
	"wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8Y"  \
	"UuwthAx7mSEI/qkPpKPi/"                                                                    \
	"kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8" \
	"YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"                                     \
	"scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

static const char *const suite_headers[] = {"Host:example.amazonaws.com",
					    "X-Amz-Date:20150830T123600Z", NULL};

static struct sigv4_request suite(const char *method, const char *query, const char *const *headers)
{
	struct sigv4_request r = {.method = method,
				  .path = "/",
				  .query = query,
				  .headers = headers,
				  .body = "",
				  .body_len = 0,
				  .amz_date = "20150830T123600Z",
				  .region = "us-east-1",
				  .service = "service",
				  .access_key_id = "AKIDEXAMPLE",
				  .secret_access_key = SUITE_SECRET};
	return r;
}

static void assert_signed(const struct sigv4_request *r, const char *want)
{
	char *auth = NULL;

	assert_int_equal(sigv4_sign(r, &auth, NULL, NULL), 0);
	assert_string_equal(auth, want);
	free(auth);
}

static void signing_key_matches_aws_documented_example(void **state)
{
	static const char want[] =
		"c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9";
	unsigned char key[32];
	char hex[65];
	size_t i;

	(void)state;
	sigv4_signing_key(SUITE_SECRET, "20150830", "us-east-1", "iam", key);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	assert_string_equal(hex, want);
}

static void get_vanilla(void **state)
{
	struct sigv4_request r = suite("GET", "", suite_headers);
	char *auth, *creq, *sts;

	(void)state;
	assert_int_equal(sigv4_sign(&r, &auth, &creq, &sts), 0);
	assert_string_equal(creq,
			    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
			    "\nhost;x-amz-date\n"
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
				 "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b"
				 "6e1c25292927e63");
	assert_string_equal(auth, SUITE_AUTH "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8"
					     "aae1d763fbf31");
	free(auth);
	free(creq);
	free(sts);
}

static void post_vanilla(void **state)
{
	struct sigv4_request r = suite("POST", "", suite_headers);

	(void)state;
	assert_signed(&r, SUITE_AUTH "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efb"
				     "e5d6b");
}

static void get_vanilla_query_order_key_case(void **state)
{
	struct sigv4_request r = suite("GET", "Param1=value1&Param2=value2", suite_headers);

	(void)state;
	assert_signed(&r, SUITE_AUTH "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cd"
				     "f2500");
}

static void post_sts_header_before_signs_the_token(void **state)
{
	static const char *const h[] = {"Host:example.amazonaws.com", "X-Amz-Date:20150830T123600Z",
					"X-Amz-Security-Token:" STS_TOKEN, NULL};
	struct sigv4_request r = suite("POST", "", h);
	char *auth, *sts;

	(void)state;
	assert_int_equal(sigv4_sign(&r, &auth, NULL, &sts), 0);
	assert_non_null(
		strstr(sts, "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"));
	assert_string_equal(auth,
			    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
			    "service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-"
			    "security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbe"
			    "bba041836c64533a82be05ead");
	free(auth);
	free(sts);
}

/* Header order, name case and spacing do not change the signature (the suite's
 * get-header-value-trim and post-header-key-case rules). */
static void headers_are_canonicalized(void **state)
{
	static const char *const messy[] = {"x-amz-date:   20150830T123600Z  ",
					    "HOST:  example.amazonaws.com", NULL};
	struct sigv4_request r = suite("GET", "", messy);

	(void)state;
	assert_signed(&r, SUITE_AUTH "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763"
				     "fbf31");
}

static void inner_spaces_collapse_and_duplicates_join(void **state)
{
	static const char *const h[] = {"Host:h",
					"X-Amz-Date:20150830T123600Z",
					"My-Header2: \"a   b   c\" ",
					"my-header1:v1",
					"My-Header1:v2",
					NULL};
	struct sigv4_request r = suite("GET", "", h);
	char *auth, *creq;

	(void)state;
	assert_int_equal(sigv4_sign(&r, &auth, &creq, NULL), 0);
	assert_non_null(strstr(creq, "\nhost:h\nmy-header1:v1,v2\nmy-header2:\"a b c\"\n"
				     "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-"
				     "amz-date\n"));
	free(auth);
	free(creq);
}

/* A Bedrock model id is sent with ':' as %3A and signed twice-encoded. */
static void bedrock_path_is_signed_double_encoded(void **state)
{
	static const char *const h[] = {"Host:bedrock-runtime.us-east-1.amazonaws.com",
					"X-Amz-Date:20240620T120000Z", NULL};
	struct sigv4_request r = suite("POST", "", h);
	char *id = sigv4_uri_encode("arn:aws:bedrock:us-east-1:1:inference-profile/x-v1:0", false);
	char *auth, *creq;

	(void)state;
	assert_string_equal(id,
			    "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx-v1%3A0");
	r.path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";
	r.amz_date = "20240620T120000Z";
	r.service = "bedrock";
	assert_int_equal(sigv4_sign(&r, &auth, &creq, NULL), 0);
	assert_non_null(strstr(creq, "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/"
				     "converse\n\n"));
	assert_non_null(strstr(auth, "/20240620/us-east-1/bedrock/aws4_request"));
	free(id);
	free(auth);
	free(creq);
}

static void uri_encode_keeps_unreserved_only(void **state)
{
	char *a = sigv4_uri_encode("/a b/~x-_.Z9:@é", true), *b = sigv4_uri_encode("a/b", false);

	(void)state;
	assert_string_equal(a, "/a%20b/~x-_.Z9%3A%40%C3%A9");
	assert_string_equal(b, "a%2Fb");
	free(a);
	free(b);
}

static void amz_date_is_utc_basic_format(void **state)
{
	char d[17];

	(void)state;
	sigv4_amz_date(1440938160, d); /* 2015-08-30T12:36:00Z */
	assert_string_equal(d, "20150830T123600Z");
}

static void bad_inputs_are_refused(void **state)
{
	static const char *const no_host[] = {"X-Amz-Date:20150830T123600Z", NULL};
	static const char *const no_colon[] = {"Host:h", "X-Amz-Date:20150830T123600Z", "junk",
					       NULL};
	const char *many[SIGV4_MAX_HEADERS + 2];
	struct sigv4_request r;
	char *auth = (char *)"untouched";
	size_t i;

	(void)state;
	r = suite("GET", "", no_host);
	assert_int_equal(sigv4_sign(&r, &auth, NULL, NULL), -EINVAL);
	r = suite("GET", "", no_colon);
	assert_int_equal(sigv4_sign(&r, &auth, NULL, NULL), -EINVAL);
	r = suite("GET", "", suite_headers);
	r.amz_date = "2015-08-30";
	assert_int_equal(sigv4_sign(&r, &auth, NULL, NULL), -EINVAL);
	for (i = 0; i < SIGV4_MAX_HEADERS + 1; i++)
		many[i] = i == 0 ? "Host:h" : "X-Amz-Date:20150830T123600Z";
	many[SIGV4_MAX_HEADERS + 1] = NULL;
	r = suite("GET", "", many);
	assert_int_equal(sigv4_sign(&r, &auth, NULL, NULL), -E2BIG);
	assert_string_equal(auth, "untouched");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signing_key_matches_aws_documented_example),
		cmocka_unit_test(get_vanilla),
		cmocka_unit_test(post_vanilla),
		cmocka_unit_test(get_vanilla_query_order_key_case),
		cmocka_unit_test(post_sts_header_before_signs_the_token),
		cmocka_unit_test(headers_are_canonicalized),
		cmocka_unit_test(inner_spaces_collapse_and_duplicates_join),
		cmocka_unit_test(bedrock_path_is_signed_double_encoded),
		cmocka_unit_test(uri_encode_keeps_unreserved_only),
		cmocka_unit_test(amz_date_is_utc_basic_format),
		cmocka_unit_test(bad_inputs_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
