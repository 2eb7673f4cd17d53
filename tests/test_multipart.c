/* multipart: the forms clients send (curl's, undici's as the OpenAI Node SDK writes them, a
 * preamble and an epilogue, a quoted boundary), binary file content kept byte for byte through
 * a parse and a re-encode, the model field replaced, and every refusal: not a form, no or a
 * too long boundary, a nameless part, a part with two Content-Disposition headers, no closing
 * boundary, too many parts, headers over the cap.
 */
#include "test.h"
#include "net/multipart.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What undici (Node's fetch, used by the OpenAI Node SDK) writes for a file and a field. */
static const char undici_type[] = "multipart/form-data; boundary=----formdata-undici-0123456789";
static const char undici_form[] =
	"------formdata-undici-0123456789\r\n"
	"Content-Disposition: form-data; name=\"model\"\r\n"
	"\r\n"
	"stt\r\n"
	"------formdata-undici-0123456789\r\n"
	"Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
	"Content-Type: audio/wav\r\n"
	"\r\n"
	"RIFF\0\0\r\n--x\r\nWAVE\r\n"
	"------formdata-undici-0123456789\r\n"
	"Content-Disposition: form-data; name=\"language\"\r\n"
	"\r\n"
	"en\r\n"
	"------formdata-undici-0123456789--\r\n";

static void parse_ok(const char *type, const char *body, size_t len, struct multipart_form *f)
{
	char err[160] = "";
	int rc = multipart_parse(type, body, len, f, err, sizeof(err));

	if (rc != 0)
		fail_msg("parse failed: %s", err);
}

static void undici_form_parses_into_named_parts_pointing_into_the_body(void **state)
{
	struct multipart_form f;
	const struct multipart_part *file, *model;

	parse_ok(undici_type, undici_form, sizeof(undici_form) - 1, &f);
	assert_int_equal(f.n_parts, 3);
	model = multipart_find(&f, "model");
	file = multipart_find(&f, "file");
	assert_non_null(model);
	assert_non_null(file);
	assert_null(model->filename);
	assert_string_equal(file->filename, "a.wav");
	assert_int_equal(model->data_len, 3);
	assert_memory_equal(model->data, "stt", 3);
	/* NULs, a CRLF and a "--" that is not the boundary stay content */
	assert_int_equal(file->data_len, 17);
	assert_memory_equal(file->data, "RIFF\0\0\r\n--x\r\nWAVE", 17);
	assert_true(file->data > undici_form && file->data < undici_form + sizeof(undici_form));
	assert_null(multipart_find(&f, "nope"));
	multipart_form_finish(&f);
}

static void encode_replaces_the_field_and_keeps_every_other_byte(void **state)
{
	struct multipart_form f, g;
	char *type = NULL, *body;
	size_t len;
	const struct multipart_part *file;

	parse_ok(undici_type, undici_form, sizeof(undici_form) - 1, &f);
	body = multipart_encode(&f, "model", "gpt-4o-transcribe", &len, &type);
	assert_non_null(body);
	assert_string_equal(type, undici_type);
	parse_ok(type, body, len, &g);
	assert_int_equal(g.n_parts, 3);
	assert_memory_equal(multipart_find(&g, "model")->data, "gpt-4o-transcribe", 17);
	file = multipart_find(&g, "file");
	assert_int_equal(file->data_len, 17);
	assert_memory_equal(file->data, "RIFF\0\0\r\n--x\r\nWAVE", 17);
	assert_memory_equal(multipart_find(&g, "language")->data, "en", 2);
	/* the same form with the old value is the client's body again */
	multipart_form_finish(&g);
	free(body);
	free(type);
	body = multipart_encode(&f, "model", "stt", &len, &type);
	assert_int_equal(len, sizeof(undici_form) - 1);
	assert_memory_equal(body, undici_form, len);
	free(body);
	free(type);
	multipart_form_finish(&f);
}

static void encode_refuses_a_value_holding_the_boundary(void **state)
{
	struct multipart_form f;
	char *type = NULL;
	size_t len;

	parse_ok(undici_type, undici_form, sizeof(undici_form) - 1, &f);
	assert_null(multipart_encode(&f, "model", "x----formdata-undici-0123456789", &len, &type));
	assert_null(type);
	multipart_form_finish(&f);
}

static void preamble_epilogue_quoted_boundary_and_padding_are_read(void **state)
{
	static const char body[] =
		"this is a preamble\r\n"
		"--a b:c\t \r\n"
		"content-disposition: FORM-DATA; filename=\"x\\\"y.wav\"; name=m\r\n"
		"\r\n"
		"\r\n"
		"--a b:c--\r\n"
		"epilogue";
	struct multipart_form f;
	char *type = NULL, *out;
	size_t len;

	parse_ok("Multipart/Form-Data ; boundary=\"a b:c\"", body, sizeof(body) - 1, &f);
	assert_int_equal(f.n_parts, 1);
	assert_string_equal(f.parts[0].name, "m");
	assert_string_equal(f.parts[0].filename, "x\"y.wav");
	assert_int_equal(f.parts[0].data_len, 0);
	out = multipart_encode(&f, "m", "v", &len, &type);
	assert_string_equal(type, "multipart/form-data; boundary=\"a b:c\"");
	free(out);
	free(type);
	multipart_form_finish(&f);
}

static void refuse(const char *type, const char *body, int want, const char *words)
{
	struct multipart_form f;
	char err[160] = "";

	assert_int_equal(multipart_parse(type, body, strlen(body), &f, err, sizeof(err)), want);
	if (!strstr(err, words))
		fail_msg("error \"%s\" lacks \"%s\"", err, words);
	assert_null(f.parts);
	multipart_form_finish(&f);
}

static void malformed_forms_are_refused_with_a_reason(void **state)
{
	char type[200];

	refuse(NULL, "x", -EINVAL, "no Content-Type");
	refuse("application/json", "{}", -EINVAL, "must be multipart/form-data");
	refuse("multipart/form-database; boundary=b", "", -EINVAL, "must be multipart/form-data");
	refuse("multipart/form-data", "", -EINVAL, "boundary");
	snprintf(type, sizeof(type), "multipart/form-data; boundary=%071d", 0);
	refuse(type, "", -EINVAL, "1 to 70");
	refuse("multipart/form-data; boundary=b", "no delimiter", -EINVAL, "no part");
	refuse("multipart/form-data; boundary=b", "--b--\r\n", -EINVAL, "no part");
	refuse("multipart/form-data; boundary=b",
	       "--b\r\nContent-Disposition: form-data; name=\"m\"\r\n\r\nv\r\n--b", -EINVAL,
	       "does not follow");
	refuse("multipart/form-data; boundary=b",
	       "--b\r\nContent-Disposition: form-data; name=\"m\"\r\n\r\nvalue without end",
	       -EINVAL, "closing boundary");
	refuse("multipart/form-data; boundary=b",
	       "--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--", -EINVAL,
	       "lacks Content-Disposition");
	refuse("multipart/form-data; boundary=b",
	       "--b\r\nContent-Disposition: attachment; name=\"m\"\r\n\r\nv\r\n--b--", -EINVAL,
	       "lacks Content-Disposition");
	refuse("multipart/form-data; boundary=b", "--b\r\n\r\nv\r\n--b--", -EINVAL,
	       "lacks Content-Disposition");
	refuse("multipart/form-data; boundary=b", "--bx\r\n", -EINVAL, "no part");
}

static void a_part_with_two_content_dispositions_is_refused(void **state)
{
	/* Starlette reads the last header, this parser read the first: the part was "x" here
	 * and "model" upstream. */
	refuse("multipart/form-data; boundary=b",
	       "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n"
	       "Content-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o\r\n--b--\r\n",
	       -EINVAL, "more than one Content-Disposition");
	refuse("multipart/form-data; boundary=b",
	       "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nstt\r\n"
	       "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
	       "Content-Type: audio/wav\r\ncontent-disposition:form-data; name=\"model\"\r\n\r\n"
	       "RIFF\r\n--b--\r\n",
	       -EINVAL, "more than one Content-Disposition");
	/* an empty second header counts too */
	refuse("multipart/form-data; boundary=b",
	       "--b\r\nContent-Disposition: form-data; name=\"x\"\r\nContent-Disposition:\r\n"
	       "\r\nv\r\n--b--\r\n",
	       -EINVAL, "more than one Content-Disposition");
}

static void count_sees_every_part_of_a_name_files_included(void **state)
{
	static const char form[] =
		"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nstt\r\n"
		"--b\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m\"\r\n\r\n"
		"gpt-4o\r\n"
		"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
		"RIFF\r\n--b--\r\n";
	struct multipart_form f;

	parse_ok("multipart/form-data; boundary=b", form, sizeof(form) - 1, &f);
	assert_int_equal(multipart_count(&f, "model"), 2);
	assert_int_equal(multipart_count(&f, "file"), 1);
	assert_int_equal(multipart_count(&f, "language"), 0);
	multipart_form_finish(&f);
}

static void caps_on_parts_and_header_bytes_hold(void **state)
{
	struct buf b;
	struct multipart_form f;
	char err[160];
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i <= MULTIPART_MAX_PARTS; i++)
		buf_printf(&b, "--b\r\nContent-Disposition: form-data; name=\"f%zu\"\r\n\r\nv\r\n",
			   i);
	buf_puts(&b, "--b--\r\n");
	assert_int_equal(multipart_parse("multipart/form-data; boundary=b", b.data, b.len, &f, err,
					 sizeof(err)),
			 -E2BIG);
	assert_non_null(strstr(err, "more than 64 parts"));
	buf_reset(&b);
	buf_puts(&b, "--b\r\nContent-Disposition: form-data; name=\"m\"\r\nX-Pad: ");
	for (i = 0; i < MULTIPART_MAX_HEADER_BYTES; i++)
		buf_puts(&b, "p");
	buf_puts(&b, "\r\n\r\nv\r\n--b--\r\n");
	assert_int_equal(multipart_parse("multipart/form-data; boundary=b", b.data, b.len, &f, err,
					 sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "too long"));
	buf_finish(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(undici_form_parses_into_named_parts_pointing_into_the_body),
		cmocka_unit_test(encode_replaces_the_field_and_keeps_every_other_byte),
		cmocka_unit_test(encode_refuses_a_value_holding_the_boundary),
		cmocka_unit_test(preamble_epilogue_quoted_boundary_and_padding_are_read),
		cmocka_unit_test(malformed_forms_are_refused_with_a_reason),
		cmocka_unit_test(caps_on_parts_and_header_bytes_hold),
		cmocka_unit_test(a_part_with_two_content_dispositions_is_refused),
		cmocka_unit_test(count_sees_every_part_of_a_name_files_included),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
