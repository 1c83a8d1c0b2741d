#include "config.h"

#include <stdint.h>

#include "alloc.h"
#include "check-main.h"

START_TEST(test_size_mul)
{
        size_t out = 7;
        ck_assert(size_mul(3, 5, &out));
        ck_assert_uint_eq(out, 15);
        out = 7;
        ck_assert(!size_mul(SIZE_MAX / 2 + 1, 2, &out));
        ck_assert_uint_eq(out, 7); /* untouched on overflow */
}
END_TEST

START_TEST(test_size_add)
{
        size_t out = 1;
        ck_assert(size_add(SIZE_MAX - 1, 1, &out));
        ck_assert_uint_eq(out, SIZE_MAX);
        ck_assert(!size_add(SIZE_MAX, 1, &out));
        ck_assert_uint_eq(out, SIZE_MAX);
}
END_TEST

START_TEST(test_range_ok)
{
        ck_assert(range_ok(0, 4096, 4096));
        ck_assert(!range_ok(1, 4096, 4096));
        ck_assert(!range_ok(UINT64_MAX, 2, UINT64_MAX)); /* wraps */
        ck_assert(range_ok(4096, 0, 4096));
}
END_TEST

START_TEST(test_malloc_array_overflow)
{
        errno = 0;
        ck_assert_ptr_null(malloc_array(SIZE_MAX / 8, 16));
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert_ptr_null(realloc_array(NULL, SIZE_MAX, 2));

        uint32_t *a = malloc_array(16, sizeof(uint32_t));
        ck_assert_ptr_nonnull(a);
        a[15] = 1;
        uint32_t *b = realloc_array(a, 32, sizeof(uint32_t));
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(b[15], 1);
        free(b);

        uint64_t *z = calloc_array(8, sizeof(uint64_t));
        ck_assert_ptr_nonnull(z);
        for (int i = 0; i < 8; i++)
                ck_assert_uint_eq(z[i], 0);
        free(z);
        ck_assert_ptr_null(calloc_array(SIZE_MAX, SIZE_MAX));
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("alloc");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_size_mul);
        tcase_add_test(tc, test_size_add);
        tcase_add_test(tc, test_range_ok);
        tcase_add_test(tc, test_malloc_array_overflow);
        suite_add_tcase(s, tc);
        return s;
}
