#include "config.h"

#include <string.h>

#include "check-main.h"
#include "token.h"

START_TEST(test_base64url_vectors)
{
        /* RFC 4648 §10 vectors, URL-safe alphabet, no padding. */
        static const struct {
                const char *in, *out;
        } v[] = {
                { "", "" },         { "f", "Zg" },         { "fo", "Zm8" },
                { "foo", "Zm9v" },  { "foob", "Zm9vYg" },  { "fooba", "Zm9vYmE" },
                { "foobar", "Zm9vYmFy" },
        };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                char *s = token_base64url(v[i].in, strlen(v[i].in));
                ck_assert_str_eq(s, v[i].out);
                free(s);
        }
        const unsigned char hi[] = { 0xfb, 0xff, 0xbf };
        char *s = token_base64url(hi, 3);
        ck_assert_str_eq(s, "-_-_"); /* '+' and '/' replaced */
        free(s);
}
END_TEST

START_TEST(test_token_new)
{
        char *a = NULL, *b = NULL;
        ck_assert_int_eq(token_new(TOKEN_DEFAULT_BYTES, &a), 0);
        ck_assert_int_eq(token_new(TOKEN_DEFAULT_BYTES, &b), 0);
        ck_assert_uint_eq(strlen(a), 32); /* 24 bytes → 32 chars */
        ck_assert_str_ne(a, b);
        ck_assert(token_is_wellformed(a, 32, 32));
        free(a);
        free(b);

        char *c = (char *)0x1;
        ck_assert_int_eq(token_new(TOKEN_MIN_BYTES - 1, &c), -EINVAL);
        ck_assert_ptr_eq(c, (char *)0x1); /* untouched on error */
        ck_assert_int_eq(token_new(257, &c), -EINVAL);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_token_randomness)
{
        /* 4096 tokens of 9 bytes: no duplicates, and every base64 symbol
         * appears (a stuck generator or a bad alphabet would fail). */
        enum { N = 4096 };
        char **t = calloc(N, sizeof(char *));
        int seen[256] = { 0 };
        for (int i = 0; i < N; i++) {
                ck_assert_int_eq(token_new(TOKEN_MIN_BYTES, &t[i]), 0);
                for (const char *p = t[i]; *p; p++)
                        seen[(unsigned char)*p]++;
        }
        qsort(t, N, sizeof(char *), cmp_str);
        for (int i = 1; i < N; i++)
                ck_assert_str_ne(t[i - 1], t[i]);
        int symbols = 0;
        for (int c = 0; c < 256; c++)
                symbols += seen[c] > 0;
        ck_assert_int_eq(symbols, 64);
        for (int i = 0; i < N; i++)
                free(t[i]);
        free(t);
}
END_TEST

START_TEST(test_token_equal)
{
        ck_assert(token_equal("abc", "abc"));
        ck_assert(!token_equal("abc", "abd"));
        ck_assert(!token_equal("abc", "abcd"));
        ck_assert(!token_equal(NULL, "abc"));
        ck_assert(!token_equal("abc", NULL));
}
END_TEST

START_TEST(test_token_hash)
{
        char *h = NULL;
        ck_assert_int_eq(token_hash("abc", &h), 0);
        ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        free(h);
        ck_assert_int_eq(token_hash(NULL, &h), -EINVAL);
}
END_TEST

START_TEST(test_wellformed)
{
        ck_assert(token_is_wellformed("AZaz09-_", 1, 64));
        ck_assert(!token_is_wellformed("abc=", 1, 64));
        ck_assert(!token_is_wellformed("a b", 1, 64));
        ck_assert(!token_is_wellformed("abc", 4, 64));
        ck_assert(!token_is_wellformed("abcdef", 1, 5));
        ck_assert(!token_is_wellformed(NULL, 0, 5));
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("token");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_base64url_vectors);
        tcase_add_test(tc, test_token_new);
        tcase_add_test(tc, test_token_randomness);
        tcase_add_test(tc, test_token_equal);
        tcase_add_test(tc, test_token_hash);
        tcase_add_test(tc, test_wellformed);
        suite_add_tcase(s, tc);
        return s;
}
