/* Open-addressing hash maps for the tokenizer (vocabulary, merge table, per-call word cache):
 * linear probing, power-of-two capacity, load <= 1/2, keys copied into one arena. Written here
 * because none of the project's libraries offers a C hash map. */
#include "tokenizer_internal.h"
#include <stdlib.h>
#include <string.h>

struct hs_tok_strmap_slot {
    uint64_t hash;       /* 0 = empty (hashes are forced non-zero) */
    size_t off;          /* key offset in the arena */
    uint32_t len;
    int32_t value;
};

struct hs_tok_pair_slot {
    uint64_t key;        /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank, merged;
};

uint64_t hs_tok_hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h ? h : 1;
}

static size_t cap_for(size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2 + 2)
        cap *= 2;
    return cap;
}

int hs_tok_strmap_init(hs_tok_strmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = cap_for(expected);
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots ? 0 : -1;
}

void hs_tok_strmap_free(hs_tok_strmap *m)
{
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static int strmap_grow(hs_tok_strmap *m)
{
    size_t ncap = m->cap * 2;
    struct hs_tok_strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].hash)
            continue;
        size_t j = m->slots[i].hash & (ncap - 1);
        while (ns[j].hash)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int hs_tok_strmap_put(hs_tok_strmap *m, const char *key, size_t len, int32_t value)
{
    if (len > UINT32_MAX)
        return -1;
    if ((m->count + 1) * 2 > m->cap && strmap_grow(m) != 0)
        return -1;
    uint64_t h = hs_tok_hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        struct hs_tok_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(m->arena + s->off, key, len) == 0) {
            s->value = value;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (m->arena_len + len > m->arena_cap) {
        size_t ncap = m->arena_cap ? m->arena_cap : 4096;
        while (ncap < m->arena_len + len)
            ncap *= 2;
        char *na = realloc(m->arena, ncap);
        if (!na)
            return -1;
        m->arena = na;
        m->arena_cap = ncap;
    }
    if (len)
        memcpy(m->arena + m->arena_len, key, len);
    m->slots[j].hash = h;
    m->slots[j].off = m->arena_len;
    m->slots[j].len = (uint32_t)len;
    m->slots[j].value = value;
    m->arena_len += len;
    m->count++;
    return 0;
}

int hs_tok_strmap_get(const hs_tok_strmap *m, const char *key, size_t len, int32_t *value)
{
    if (!m->slots)
        return 0;
    uint64_t h = hs_tok_hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        const struct hs_tok_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(m->arena + s->off, key, len) == 0) {
            *value = s->value;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

static uint64_t pair_key(int32_t left, int32_t right)
{
    return (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
}

/* Both ids must reach the low bits: a full 64-bit finalizer (MurmurHash3's fmix64). */
static size_t pair_slot(uint64_t key, size_t cap)
{
    uint64_t h = key;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

int hs_tok_pairmap_init(hs_tok_pairmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = cap_for(expected);
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots ? 0 : -1;
}

void hs_tok_pairmap_free(hs_tok_pairmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int hs_tok_pairmap_put(hs_tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t ncap = m->cap * 2;
        struct hs_tok_pair_slot *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].key)
                continue;
            size_t j = pair_slot(m->slots[i].key, ncap);
            while (ns[j].key)
                j = (j + 1) & (ncap - 1);
            ns[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    uint64_t key = pair_key(left, right);
    size_t j = pair_slot(key, m->cap);
    while (m->slots[j].key && m->slots[j].key != key)
        j = (j + 1) & (m->cap - 1);
    if (!m->slots[j].key)
        m->count++;
    m->slots[j].key = key;
    m->slots[j].rank = rank;
    m->slots[j].merged = merged;
    return 0;
}

int hs_tok_pairmap_get(const hs_tok_pairmap *m, int32_t left, int32_t right, int32_t *rank,
                       int32_t *merged)
{
    if (!m->slots)
        return 0;
    uint64_t key = pair_key(left, right);
    size_t j = pair_slot(key, m->cap);
    while (m->slots[j].key) {
        if (m->slots[j].key == key) {
            *rank = m->slots[j].rank;
            *merged = m->slots[j].merged;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}
