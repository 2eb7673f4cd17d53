/* version: prints one line for hermetic and one per linked library. */
#include "core/version.h"
#include "config_build.h"
#include "version_git.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <mbedtls/version.h>
#include <sqlite3.h>
#include <yaml.h>

const char *version_string(void)
{
	return HERMETIC_VERSION;
}

const char *version_revision(void)
{
	return HERMETIC_GIT_REV;
}

void version_print(FILE *out)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	char tls[32];

	mbedtls_version_get_string(tls);
	fprintf(out, "hermetic %s (%s)\n", HERMETIC_VERSION, HERMETIC_GIT_REV);
	fprintf(out, "curl %s (%s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS");
	fprintf(out, "mbedtls %s\n", tls);
	fprintf(out, "sqlite %s\n", sqlite3_libversion());
	fprintf(out, "libevent %s\n", event_get_version());
	fprintf(out, "cjson %s\n", cJSON_Version());
	fprintf(out, "libyaml %s\n", yaml_get_version_string());
}
