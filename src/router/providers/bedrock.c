/* bedrock: placeholder while the dialect is written; every call is refused before it is sent. */
#include "router/providers/provider.h"

#include <errno.h>
#include <stdio.h>

static int build(const struct config_model *m, enum provider_route route, cJSON *req, bool stream,
		 struct provider_request *out, char *err, size_t err_len)
{
	snprintf(err, err_len, "the bedrock dialect is not available in this build");
	return -ENOTSUP;
}

const struct provider_ops provider_bedrock = {.name = "bedrock", .build = build};
