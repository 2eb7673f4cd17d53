/* Shared includes for the cmocka unit tests. */
#ifndef HERMETIC_TEST_H
#define HERMETIC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#endif
