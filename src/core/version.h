/* version: hermetic's version and git revision, and the versions of the libraries actually
 * linked (asked from each library at run time, not from build-time headers). */
#ifndef HERMETIC_VERSION_H
#define HERMETIC_VERSION_H

#include <stdio.h>

const char *version_string(void);   /* "0.1.0" */
const char *version_revision(void); /* git describe at build time, or "unknown" */
void version_print(FILE *out);

#endif
