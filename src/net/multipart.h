/* multipart: reading and re-writing multipart/form-data bodies (RFC 7578 over RFC 2046), for
 * the uploads the router forwards (/v1/audio/transcriptions).
 *
 * The parse does not copy the body: each part points into it, so a file part goes out again
 * byte for byte. Everything fed by the network is capped: the number of parts, the size of a
 * part's header block, the boundary's length (RFC 2046: 1..70).
 */
#ifndef HERMETIC_MULTIPART_H
#define HERMETIC_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define MULTIPART_MAX_PARTS	   64
#define MULTIPART_MAX_HEADER_BYTES 8192
#define MULTIPART_MAX_BOUNDARY	   70

struct multipart_part {
	char *name;	  /* the form field's name (malloc'd, unquoted) */
	char *filename;	  /* the file name of a file part (malloc'd), NULL for a plain field */
	const char *head; /* the part's header lines as sent, without the blank line (borrowed) */
	size_t head_len;
	const char *data; /* the content (borrowed from the body; may hold NULs) */
	size_t data_len;
};

/* A parsed form. Fields are read-only for callers; the pointers borrow the parsed body, which
 * must outlive the form. */
struct multipart_form {
	char boundary[MULTIPART_MAX_BOUNDARY + 1];
	struct multipart_part *parts;
	size_t n_parts;
};

/* Parses body (len bytes) sent with content_type ("multipart/form-data; boundary=..."). Returns
 * 0, or -EINVAL with a message for the client in err (not multipart/form-data, no boundary,
 * no closing boundary, a part without a name or with more than one Content-Disposition) or -E2BIG
 * (over a cap). On error the form holds nothing; multipart_form_finish is still allowed. */
int multipart_parse(const char *content_type, const char *body, size_t len,
		    struct multipart_form *out, char *err, size_t err_len);

/* Frees what multipart_parse allocated; accepts a zeroed form. */
void multipart_form_finish(struct multipart_form *f);

/* The first part named name, or NULL. */
const struct multipart_part *multipart_find(const struct multipart_form *f, const char *name);

/* How many parts are named name (files and plain fields alike). */
size_t multipart_count(const struct multipart_form *f, const char *name);

/* The form again, with the same boundary and every part's headers and content as they came,
 * except that the content of the plain fields named field is value. Returns the body
 * (malloc'd, *len bytes) and its Content-Type in *content_type (malloc'd), or NULL when value
 * holds the boundary (the form cannot carry it). */
char *multipart_encode(const struct multipart_form *f, const char *field, const char *value,
		       size_t *len, char **content_type);

#endif
