/* Unit tests of surgery data handling: chunking with the ragged tail dropped, a corpus
 * shorter than one chunk, epoch orders (in order / seeded shuffle) and micro-batch assembly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/surgery/surgery_data.h"

static void test_chunks_drop_ragged_tail(void **state)
{
    (void)state;
    int32_t ids[23];
    for (int i = 0; i < 23; i++)
        ids[i] = 100 + i;
    hs_surgery_corpus c;
    char err[256];
    assert_int_equal(hs_surgery_corpus_from_ids(ids, 23, 5, "corpus \"x\"", &c, err, sizeof err), 0);
    assert_int_equal(c.n_chunks, 4); /* 23 // 5; the last 3 tokens are dropped */
    assert_int_equal(c.chunk_len, 5);
    for (int k = 0; k < 4; k++)
        for (int t = 0; t < 5; t++)
            assert_int_equal(c.tokens[k * 5 + t], 100 + 5 * k + t);
    hs_surgery_corpus_free(&c);
}

static void test_short_corpus_is_an_error_naming_it(void **state)
{
    (void)state;
    int32_t ids[4] = {1, 2, 3, 4};
    hs_surgery_corpus c;
    char err[256] = "";
    assert_int_equal(hs_surgery_corpus_from_ids(ids, 4, 5, "corpus \"tiny.txt\"", &c, err,
                                                sizeof err), -1);
    assert_non_null(strstr(err, "corpus \"tiny.txt\""));
    assert_non_null(strstr(err, "shorter than one chunk"));
}

static void test_epoch_orders(void **state)
{
    (void)state;
    enum { N = 50 };
    int a[N], b[N], again[N], other[N];
    hs_surgery_epoch_order(7, 0, false, N, a);
    for (int i = 0; i < N; i++)
        assert_int_equal(a[i], i);
    hs_surgery_epoch_order(7, 0, true, N, a);
    hs_surgery_epoch_order(7, 0, true, N, again);
    hs_surgery_epoch_order(7, 1, true, N, b);
    hs_surgery_epoch_order(8, 0, true, N, other);
    assert_memory_equal(a, again, sizeof a); /* same seed and epoch: same order */
    int seen[N] = {0}, moved = 0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1); /* a permutation */
    assert_true(moved > N / 2);
    assert_true(memcmp(a, b, sizeof a) != 0);     /* epochs differ */
    assert_true(memcmp(a, other, sizeof a) != 0); /* seeds differ */
}

static void test_micro_batches(void **state)
{
    (void)state;
    int32_t ids[30];
    for (int i = 0; i < 30; i++)
        ids[i] = i;
    hs_surgery_corpus c;
    char err[256];
    assert_int_equal(hs_surgery_corpus_from_ids(ids, 30, 3, "corpus", &c, err, sizeof err), 0);
    assert_int_equal(c.n_chunks, 10);
    int order[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    int32_t batch[4 * 3];
    assert_int_equal(hs_surgery_gather_micro_batch(&c, order, 0, 4, batch), 4);
    assert_int_equal(batch[0], 27); /* chunk 9 */
    assert_int_equal(batch[3], 24); /* chunk 8 */
    assert_int_equal(hs_surgery_gather_micro_batch(&c, order, 2, 4, batch), 2); /* the tail */
    assert_int_equal(batch[0], 3);  /* chunk 1 */
    assert_int_equal(batch[3], 0);  /* chunk 0 */
    assert_int_equal(batch[5], 2);
    hs_surgery_corpus_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_drop_ragged_tail),
        cmocka_unit_test(test_short_corpus_is_an_error_naming_it),
        cmocka_unit_test(test_epoch_orders),
        cmocka_unit_test(test_micro_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
