/* test_map.c - px_map: open addressing with backward-shift deletion. */
#include <stdio.h>
#include <stdlib.h>

#include "../../csrc/px_map.h"
#include "harness.h"

#define NKEYS 10000

typedef struct {
    char key[32];
    int n;
} item_t;

static px_str_t key_of(item_t *it)
{
    return px_cstr(it->key);
}

static item_t *make_items(size_t n)
{
    item_t *items = calloc(n, sizeof(*items));
    ASSERT_NOT_NULL(items);
    for (size_t i = 0; i < n; i++) {
        snprintf(items[i].key, sizeof items[i].key, "key-%zu", i);
        items[i].n = (int)i;
    }
    return items;
}

TEST(map_empty)
{
    px_map_t m = PX_MAP_INIT;
    size_t it = 0;
    ASSERT_NULL(px_map_get(&m, PX_STR("x")));
    ASSERT_NULL(px_map_del(&m, PX_STR("x")));
    ASSERT_NULL(px_map_next(&m, &it));
    px_map_free(&m);
    px_map_free(&m);
    ASSERT_EQ(m.len, 0);
}

TEST(map_put_get_del_many)
{
    item_t *items = make_items(NKEYS);
    px_map_t m = PX_MAP_INIT;
    for (size_t i = 0; i < NKEYS; i++)
        ASSERT_OK(px_map_put(&m, key_of(&items[i]), &items[i]));
    ASSERT_EQ(m.len, NKEYS);
    ASSERT_TRUE(m.cap >= NKEYS && (m.cap & (m.cap - 1)) == 0);
    for (size_t i = 0; i < NKEYS; i++)
        ASSERT_PTR_EQ(px_map_get(&m, key_of(&items[i])), &items[i]);
    ASSERT_NULL(px_map_get(&m, PX_STR("key-10000")));
    ASSERT_NULL(px_map_get(&m, PX_STR("key-")));
    ASSERT_NULL(px_map_get(&m, PX_STR("")));

    /* Delete the even keys: every odd key stays reachable. */
    for (size_t i = 0; i < NKEYS; i += 2)
        ASSERT_PTR_EQ(px_map_del(&m, key_of(&items[i])), &items[i]);
    ASSERT_EQ(m.len, NKEYS / 2);
    for (size_t i = 0; i < NKEYS; i++) {
        void *want = (i % 2) ? &items[i] : NULL;
        ASSERT_PTR_EQ(px_map_get(&m, key_of(&items[i])), want);
    }
    ASSERT_NULL(px_map_del(&m, key_of(&items[0]))); /* already gone */
    ASSERT_EQ(m.len, NKEYS / 2);

    /* Put them back, then delete everything. */
    for (size_t i = 0; i < NKEYS; i += 2)
        ASSERT_OK(px_map_put(&m, key_of(&items[i]), &items[i]));
    ASSERT_EQ(m.len, NKEYS);
    for (size_t i = 0; i < NKEYS; i++)
        ASSERT_PTR_EQ(px_map_del(&m, key_of(&items[i])), &items[i]);
    ASSERT_EQ(m.len, 0);
    for (size_t i = 0; i < NKEYS; i += 97)
        ASSERT_NULL(px_map_get(&m, key_of(&items[i])));
    px_map_free(&m);
    free(items);
}

TEST(map_replace)
{
    int a = 1, b = 2;
    char k1[] = "same", k2[] = "same"; /* equal bytes, different storage */
    px_map_t m = PX_MAP_INIT;
    ASSERT_OK(px_map_put(&m, px_cstr(k1), &a));
    ASSERT_OK(px_map_put(&m, px_cstr(k2), &b));
    ASSERT_EQ(m.len, 1);
    ASSERT_PTR_EQ(px_map_get(&m, PX_STR("same")), &b);
    /* Keys are compared by length too. */
    ASSERT_NULL(px_map_get(&m, PX_STR("sam")));
    ASSERT_NULL(px_map_get(&m, PX_STR("samee")));
    ASSERT_PTR_EQ(px_map_del(&m, PX_STR("same")), &b);
    ASSERT_EQ(m.len, 0);
    px_map_free(&m);
}

/* Deletes keys in a scrambled order from a map that stays small, checking
 * after every deletion that each remaining key is still found: backward
 * shift must never strand an entry behind a hole, including across the
 * wrap-around at the end of the slot array. */
TEST(map_delete_keeps_others)
{
    enum { N = 600 };
    item_t *items = make_items(N);
    size_t order[N];
    for (size_t i = 0; i < N; i++)
        order[i] = i;
    uint32_t seed = 12345;
    for (size_t i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        size_t j = (seed >> 8) % (i + 1);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int round = 0; round < 3; round++) {
        px_map_t m = PX_MAP_INIT;
        size_t n = round == 0 ? N : (size_t)(5 + round * 40);
        for (size_t i = 0; i < n; i++)
            ASSERT_OK(px_map_put(&m, key_of(&items[i]), &items[i]));
        char gone[N] = {0};
        for (size_t d = 0; d < N; d++) {
            size_t k = order[d];
            if (k >= n)
                continue;
            ASSERT_PTR_EQ(px_map_del(&m, key_of(&items[k])), &items[k]);
            gone[k] = 1;
            for (size_t i = 0; i < n; i++)
                ASSERT_PTR_EQ(px_map_get(&m, key_of(&items[i])), gone[i] ? NULL : &items[i]);
        }
        ASSERT_EQ(m.len, 0);
        px_map_free(&m);
    }
    free(items);
}

TEST(map_iterate_each_once)
{
    enum { N = 3000 };
    item_t *items = make_items(N);
    int *seen = calloc(N, sizeof(*seen));
    ASSERT_NOT_NULL(seen);
    px_map_t m = PX_MAP_INIT;
    for (size_t i = 0; i < N; i++)
        ASSERT_OK(px_map_put(&m, key_of(&items[i]), &items[i]));
    for (size_t i = 0; i < N; i += 3)
        ASSERT_NOT_NULL(px_map_del(&m, key_of(&items[i])));
    size_t it = 0, count = 0;
    item_t *v;
    while ((v = px_map_next(&m, &it)) != NULL) {
        ASSERT_TRUE(v >= items && v < items + N);
        seen[v->n]++;
        count++;
    }
    ASSERT_NULL(px_map_next(&m, &it)); /* stays at the end */
    ASSERT_EQ(count, m.len);
    for (size_t i = 0; i < N; i++)
        ASSERT_EQ(seen[i], i % 3 ? 1 : 0);
    px_map_free(&m);
    free(seen);
    free(items);
}

TEST(map_hash)
{
    ASSERT_EQ(px_hash("abc", 3), px_hash("abc", 3));
    ASSERT_NE(px_hash("abc", 3), px_hash("abd", 3));
    ASSERT_NE(px_hash("abc", 3), px_hash("abc\0", 4));
    /* Lengths across the 8-byte block boundary all differ from each other. */
    static const char s[] = "0123456789abcdefghij";
    for (size_t n = 0; n < 20; n++)
        ASSERT_NE(px_hash(s, n), px_hash(s, n + 1));
}
