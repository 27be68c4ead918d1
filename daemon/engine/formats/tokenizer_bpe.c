/* The BPE merge loop for one pre-tokenized piece, as HF tokenizers' word.rs does it: one symbol
 * per byte (its ByteLevel char's id; unknown chars become unk, fused when fuse_unk, or are
 * dropped when there is no unk token), then a min-heap of candidate merges ordered by (rank,
 * position): pop the lowest, skip it when stale, merge, push the new neighbour pairs. With
 * ignore_merges, a piece that is itself a vocabulary entry is emitted whole. */
#include "tokenizer_internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct hs_tok_symbol {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t len;        /* 0 once merged into its left neighbour */
} hs_tok_symbol;

typedef struct hs_tok_merge {
    int32_t rank, pos, merged;
} hs_tok_merge;

int hs_tok_ids_push(hs_tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 256;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v)
            return -1;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

void hs_tok_bpe_scratch_free(hs_tok_bpe_scratch *s)
{
    free(s->sym);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

static int merge_less(const hs_tok_merge *a, const hs_tok_merge *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(hs_tok_merge *h, size_t *n, hs_tok_merge m)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!merge_less(&m, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = m;
}

static hs_tok_merge heap_pop(hs_tok_merge *h, size_t *n)
{
    hs_tok_merge top = h[0];
    hs_tok_merge last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        const hs_tok_merge *bv = &last;
        if (l < *n && merge_less(&h[l], bv))
            best = l, bv = &h[l];
        if (r < *n && merge_less(&h[r], bv))
            best = r;
        if (best == i)
            break;
        h[i] = h[best];
        i = best;
    }
    if (*n)
        h[i] = last;
    return top;
}

/* With ignore_merges: the id of the whole piece when the vocabulary holds it, else -1 (or -2
 * when out of memory). */
static int32_t whole_piece_id(const hs_tokenizer *tok, const char *piece, size_t len)
{
    char stackbuf[512];
    char *mapped = 2 * len <= sizeof stackbuf ? stackbuf : malloc(2 * len);
    if (!mapped)
        return -2;
    size_t mlen = hs_tok_byte_level_encode(piece, len, mapped);
    int32_t id;
    int found = hs_tok_strmap_get(&tok->vocab, mapped, mlen, &id);
    if (mapped != stackbuf)
        free(mapped);
    return found ? id : -1;
}

/* Grows the scratch arrays for a piece of len bytes: one symbol per byte, and a heap of the
 * initial pairs plus two pushes per merge (worst case). */
static int reserve_scratch(hs_tok_bpe_scratch *s, size_t len)
{
    if (len > s->sym_cap) {
        size_t cap = len < 64 ? 64 : len;
        hs_tok_symbol *sym = realloc(s->sym, cap * sizeof *sym);
        if (!sym)
            return -1;
        s->sym = sym;
        s->sym_cap = cap;
    }
    size_t need = 3 * len + 4;
    if (need > s->heap_cap) {
        hs_tok_merge *h = realloc(s->heap, need * sizeof *h);
        if (!h)
            return -1;
        s->heap = h;
        s->heap_cap = need;
    }
    return 0;
}

/* The initial symbols, one per byte; unknown bytes become unk (fused when fuse_unk) or are
 * dropped when there is no unk token, as HF. Returns the symbol count. */
static int32_t initial_symbols(const hs_tokenizer *tok, const char *piece, size_t len,
                               hs_tok_symbol *sym)
{
    int32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t id = tok->byte_id[(uint8_t)piece[i]];
        if (id < 0) {
            if (tok->unk_id < 0)
                continue;
            if (tok->fuse_unk && n > 0 && sym[n - 1].id == tok->unk_id) {
                sym[n - 1].len++;
                continue;
            }
            id = tok->unk_id;
        }
        sym[n] = (hs_tok_symbol){.id = id, .prev = n - 1, .next = -1, .len = 1};
        if (n > 0)
            sym[n - 1].next = n;
        n++;
    }
    return n;
}

/* Pushes the merge of the pair starting at symbol left, if the table has one. */
static void push_pair(const hs_tokenizer *tok, const hs_tok_symbol *sym, int32_t left,
                      hs_tok_merge *heap, size_t *hn)
{
    int32_t rank, merged;
    if (hs_tok_pairmap_get(&tok->merges, sym[left].id, sym[sym[left].next].id, &rank, &merged))
        heap_push(heap, hn, (hs_tok_merge){.rank = rank, .pos = left, .merged = merged});
}

/* Applies merges lowest (rank, position) first until none is left. */
static void merge_symbols(const hs_tokenizer *tok, hs_tok_symbol *sym, int32_t n, hs_tok_merge *heap)
{
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        push_pair(tok, sym, i, heap, &hn);
    while (hn) {
        hs_tok_merge top = heap_pop(heap, &hn);
        hs_tok_symbol *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next < 0)
            continue;
        int32_t next_pos = cur->next;
        hs_tok_symbol right = sym[next_pos];
        int32_t rank, merged;
        if (!hs_tok_pairmap_get(&tok->merges, cur->id, right.id, &rank, &merged) ||
            merged != top.merged)
            continue; /* stale entry */
        cur->id = top.merged;
        cur->len += right.len;
        cur->next = right.next;
        sym[next_pos].len = 0;
        if (right.next >= 0)
            sym[right.next].prev = top.pos;
        if (cur->prev >= 0)
            push_pair(tok, sym, cur->prev, heap, &hn);
        if (cur->next >= 0)
            push_pair(tok, sym, top.pos, heap, &hn);
    }
}

int hs_tok_bpe_piece(const hs_tokenizer *tok, const char *piece, size_t len, hs_tok_bpe_scratch *s,
                     hs_tok_ids *out)
{
    if (len == 0)
        return 0;
    if (tok->ignore_merges) {
        int32_t id = whole_piece_id(tok, piece, len);
        if (id == -2)
            return -1;
        if (id >= 0)
            return hs_tok_ids_push(out, id);
    }
    if (len == 1 && tok->byte_id[(uint8_t)piece[0]] >= 0)
        return hs_tok_ids_push(out, tok->byte_id[(uint8_t)piece[0]]);
    if (reserve_scratch(s, len) != 0)
        return -1;
    int32_t n = initial_symbols(tok, piece, len, s->sym);
    merge_symbols(tok, s->sym, n, s->heap);
    for (int32_t i = 0; i < n; i++)
        if (s->sym[i].len && hs_tok_ids_push(out, s->sym[i].id) != 0)
            return -1;
    return 0;
}
