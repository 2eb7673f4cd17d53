/* tg_media: what is taken from a message at receipt (the largest photo size under the cap, the
 * smallest when none fits, voice/audio/document fields kept, a sticker or a text taken as no
 * file), and the retention pass (older than media.retention_days, then oldest first down to
 * media.max_total_bytes, never a file younger than an hour, never a symlink's target). */
#include "test.h"
#include "core/config.h"
#include "core/util.h"
#include "telegram/tg_media.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct config cfg;

static cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	assert_non_null(j);
	return j;
}

static void photo_takes_the_largest_size_under_the_cap(void **state)
{
	cJSON *msg = parse("{\"photo\":[{\"file_id\":\"s\",\"file_size\":100,\"width\":90},"
			   "{\"file_id\":\"m\",\"file_size\":5000,\"width\":320},"
			   "{\"file_id\":\"l\",\"file_size\":90000,\"width\":1280}],"
			   "\"caption\":\"look\"}");
	const char *kind = NULL;
	char *media;
	cJSON *j;

	cfg.telegram.max_image_bytes = 10000;
	media = tg_media_pick(msg, &cfg, &kind);
	assert_string_equal(kind, "photo");
	j = parse(media);
	assert_string_equal(cJSON_GetObjectItem(j, "file_id")->valuestring, "m");
	assert_string_equal(cJSON_GetObjectItem(j, "kind")->valuestring, "photo");
	cJSON_Delete(j);
	free(media);
	/* None fits: the smallest is taken, for the job to refuse over max_image_bytes. */
	cfg.telegram.max_image_bytes = 50;
	media = tg_media_pick(msg, &cfg, &kind);
	j = parse(media);
	assert_string_equal(cJSON_GetObjectItem(j, "file_id")->valuestring, "s");
	cJSON_Delete(j);
	free(media);
	cJSON_Delete(msg);
}

static void voice_and_documents_keep_their_fields_and_others_take_no_file(void **state)
{
	cJSON *voice = parse("{\"voice\":{\"file_id\":\"v\",\"file_unique_id\":\"u\","
			     "\"duration\":42,\"mime_type\":\"audio/ogg\",\"file_size\":1234}}");
	cJSON *doc = parse("{\"document\":{\"file_id\":\"d\",\"file_name\":\"a b.csv\","
			   "\"mime_type\":\"text/csv\"},\"caption\":\"sum\"}");
	cJSON *sticker = parse("{\"sticker\":{\"file_id\":\"x\"}}");
	cJSON *text = parse("{\"text\":\"hi\"}");
	const char *kind = NULL;
	char *media = tg_media_pick(voice, &cfg, &kind);
	cJSON *j = parse(media);

	assert_string_equal(kind, "voice");
	assert_int_equal(cJSON_GetObjectItem(j, "duration")->valueint, 42);
	assert_int_equal(cJSON_GetObjectItem(j, "file_size")->valueint, 1234);
	assert_string_equal(cJSON_GetObjectItem(j, "mime_type")->valuestring, "audio/ogg");
	cJSON_Delete(j);
	free(media);
	media = tg_media_pick(doc, &cfg, &kind);
	j = parse(media);
	assert_string_equal(kind, "document");
	assert_string_equal(cJSON_GetObjectItem(j, "file_name")->valuestring, "a b.csv");
	cJSON_Delete(j);
	free(media);
	assert_null(tg_media_pick(sticker, &cfg, &kind));
	assert_string_equal(kind, "sticker");
	assert_null(tg_media_pick(text, &cfg, &kind));
	assert_string_equal(kind, "text");
	cJSON_Delete(voice);
	cJSON_Delete(doc);
	cJSON_Delete(sticker);
	cJSON_Delete(text);
}

static void put(const char *dir, const char *name, size_t size, double age_s)
{
	char *p = xasprintf("%s/media/%s", dir, name);
	FILE *f = fopen(p, "w");
	struct timeval tv[2];

	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	fclose(f);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= (time_t)age_s;
	tv[1] = tv[0];
	assert_int_equal(utimes(p, tv), 0);
	free(p);
}

static bool there(const char *dir, const char *name)
{
	char *p = xasprintf("%s/media/%s", dir, name);
	bool ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

static void prune_takes_old_files_then_oldest_down_to_the_cap(void **state)
{
	char dir[] = "/tmp/hermetic-test-tg-media-XXXXXX";
	char *media, *cmd, *link;

	assert_non_null(mkdtemp(dir));
	media = xasprintf("%s/media", dir);
	assert_int_equal(mkdir(media, 0700), 0);
	put(dir, "old.ogg", 100, 40 * 86400.0);
	put(dir, "a.jpg", 1000, 3 * 86400.0);
	put(dir, "b.jpg", 1000, 2 * 86400.0);
	put(dir, "young.jpg", 5000, 60.0); /* over the cap alone, but younger than an hour */
	link = xasprintf("%s/link.jpg", media);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	cfg.home = dir;
	cfg.media.retention_days = 30;
	cfg.media.max_total_bytes = 6500;
	/* old.ogg by age; then a.jpg (oldest) brings 7000 to 6000; b.jpg and young.jpg stay. */
	assert_int_equal(tg_media_prune(&cfg, now_wall_ms()), 2);
	assert_false(there(dir, "old.ogg"));
	assert_false(there(dir, "a.jpg"));
	assert_true(there(dir, "b.jpg"));
	assert_true(there(dir, "young.jpg"));
	assert_int_equal(access("/etc/hostname", F_OK), 0);
	/* Nothing configured: nothing goes. */
	cfg.media.retention_days = 0;
	cfg.media.max_total_bytes = 0;
	assert_int_equal(tg_media_prune(&cfg, now_wall_ms()), 0);
	cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(link);
	free(media);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(photo_takes_the_largest_size_under_the_cap),
		cmocka_unit_test(voice_and_documents_keep_their_fields_and_others_take_no_file),
		cmocka_unit_test(prune_takes_old_files_then_oldest_down_to_the_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
