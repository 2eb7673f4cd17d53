/* ui_assets: the cockpit's files (ui/ in the source tree), gzip-compressed at build time by
 * scripts/embed-assets.py into the generated ui_assets.c. Read-only data; ui.c serves it. */
#ifndef HERMETIC_UI_ASSETS_H
#define HERMETIC_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *path;	  /* "/ui/" (index.html), "/ui/app.js", ... */
	const char *content_type; /* of the uncompressed file */
	const unsigned char *gz;  /* gzip bytes, served with Content-Encoding: gzip */
	size_t gz_len;
	size_t raw_len;	  /* before compression */
	const char *etag; /* strong: "\"<32 hex digits of the SHA-256 of gz>\"" */
};

extern const struct ui_asset ui_assets[];
extern const size_t ui_n_assets;
extern const size_t ui_assets_gz_bytes; /* the sum of gz_len */

#endif
