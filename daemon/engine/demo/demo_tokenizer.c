/* The demo tokenizer (demo_tokenizer.h): BPE training on a built-in English text and the
 * tokenizer.json that HF `tokenizers` and our tokenizer.c load. Pre-tokenization of the
 * training text follows BLOOM's Split regex for ASCII (an optional space plus a run of
 * characters that are neither whitespace nor one of ( | ) . , ! ?; every gap between matches
 * is its own piece); the text is ASCII, so the regex's non-ASCII punctuation never occurs. */
#include "demo_tokenizer.h"
#include "common/errors.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char hs_demo_english_text[] =
    "The old lighthouse keeper climbed the stairs every evening before the sun went down. He "
    "carried a small lamp, a notebook and a tin of tea, and he counted the steps out loud "
    "because his father had done the same thing for forty years. At the top he wiped the salt "
    "from the glass, checked the oil, and wrote the weather into the notebook in a careful "
    "hand. Ships passed far out on the water, and sometimes a fishing boat came close enough "
    "that he could hear the men calling to one another across the waves.\n"
    "In the spring the village below held a market in the square. Farmers brought cheese, "
    "bread, apples and honey, and children ran between the stalls with paper kites. The baker "
    "always made more rolls than anyone could eat, and at the end of the day she gave the "
    "rest to the school. People talked about the rain, the price of flour, and the new road "
    "that was going to be built through the valley.\n"
    "A river ran through the middle of the town. In summer it was slow and green, and people "
    "sat on the bank to read or to watch the ducks. In winter it rose quickly after a storm, "
    "and the water carried branches and stones down from the hills. The bridge had been "
    "rebuilt three times, each time a little higher than before, and the oldest families "
    "still remembered the year the water reached the church door.\n"
    "Learning a new language takes patience. You begin with simple words for food, family and "
    "the days of the week, and then one morning you notice that you understood a whole "
    "sentence on the radio without thinking about it. Good teachers know that mistakes are "
    "part of the work. They ask questions, listen to the answers, and give each student time "
    "to find the right word.\n"
    "The museum on the hill had a room full of clocks. Some were made of brass and glass, "
    "others of dark wood with painted faces, and one was so large that two people could stand "
    "inside its case. Every hour the room filled with the sound of bells and small hammers, "
    "never quite at the same moment, so that noon lasted almost a minute.\n"
    "When the train was late, the passengers waited on the platform and shared what they had. "
    "A woman offered oranges from her bag, a student played a quiet song on a guitar, and an "
    "old man told stories about the mountains where he had worked as a young engineer. By the "
    "time the train arrived, nobody was in a hurry any more.\n"
    "Scientists who study the ocean often spend weeks at sea. They measure the temperature of "
    "the water, collect samples from the bottom, and follow the paths of whales and small "
    "fish. The data they bring back helps us understand how the climate changes and how life "
    "in the deep water depends on the light at the surface.\n"
    "The garden behind the house was never finished. Every year the family planned a new bed "
    "of flowers, a path of flat stones or a bench under the pear tree, and every year the "
    "summer went by too quickly. Still, the roses grew, the beans climbed the fence, and the "
    "cat slept in the warm soil between the rows of lettuce as if the whole garden had been "
    "made for her.\n"
    "A good map tells you more than the way from one town to the next. It shows where the "
    "land rises and falls, where the forests end and the fields begin, and which roads are "
    "open in winter. Old maps also show what people believed: sea monsters in the empty "
    "corners, islands that were never there, and rivers drawn from stories rather than from "
    "travel.\n";

#define N_SPECIAL 4
#define N_BYTES 256

static const char *const special_tokens[N_SPECIAL] = {"<unk>", "<s>", "</s>", "<pad>"};

/* BLOOM's Split pattern (docs/model-families.md "tokenizer"), as it appears in tokenizer.json. */
static const char bloom_split_regex[] = " ?[^(\\s|[.,!?…。，、।۔،])]+";

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_word_char(unsigned char c)
{
    return !is_space(c) && !strchr("(|).,!?", c);
}

/* A distinct piece of the training text with its count; syms = current symbols (token ids
 * counted from 0 = byte 0, without the special-token offset). */
typedef struct piece {
    int *syms;
    int n;
    int count;
    char *text;
    size_t len;
} piece;

typedef struct trainer {
    piece *pieces;
    int n_pieces, cap_pieces;
    char **tok;        /* [n_tok] raw bytes of each token */
    size_t *tok_len;   /* [n_tok] */
    int n_tok, cap_tok;
    int (*merges)[2];  /* [n_merges] pairs of token ids */
    int n_merges;
} trainer;

static void trainer_free(trainer *t)
{
    for (int i = 0; i < t->n_pieces; i++) {
        free(t->pieces[i].syms);
        free(t->pieces[i].text);
    }
    free(t->pieces);
    for (int i = 0; i < t->n_tok; i++)
        free(t->tok[i]);
    free(t->tok);
    free(t->tok_len);
    free(t->merges);
}

static int add_piece(trainer *t, const char *s, size_t len)
{
    for (int i = 0; i < t->n_pieces; i++)
        if (t->pieces[i].len == len && memcmp(t->pieces[i].text, s, len) == 0) {
            t->pieces[i].count++;
            return 0;
        }
    if (t->n_pieces == t->cap_pieces) {
        int cap = t->cap_pieces ? 2 * t->cap_pieces : 256;
        piece *p = realloc(t->pieces, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        t->pieces = p;
        t->cap_pieces = cap;
    }
    piece *p = &t->pieces[t->n_pieces];
    p->syms = malloc(len * sizeof(int));
    p->text = malloc(len);
    if (!p->syms || !p->text) {
        free(p->syms);
        free(p->text);
        return -1;
    }
    memcpy(p->text, s, len);
    for (size_t i = 0; i < len; i++)
        p->syms[i] = (unsigned char)s[i];
    p->n = (int)len;
    p->len = len;
    p->count = 1;
    t->n_pieces++;
    return 0;
}

/* Splits the text into BLOOM pre-tokenizer pieces (matches and the gaps between them). */
static int split_text(trainer *t, const char *text)
{
    size_t n = strlen(text), i = 0, gap_start = 0;
    while (i < n) {
        const unsigned char *u = (const unsigned char *)text;
        size_t start = i, j = i;
        if (u[j] == ' ' && j + 1 < n && is_word_char(u[j + 1]))
            j++;
        if (is_word_char(u[j])) {
            while (j < n && is_word_char(u[j]))
                j++;
            if (start > gap_start && add_piece(t, text + gap_start, start - gap_start) != 0)
                return -1;
            if (add_piece(t, text + start, j - start) != 0)
                return -1;
            i = gap_start = j;
        } else {
            i++;
        }
    }
    if (n > gap_start && add_piece(t, text + gap_start, n - gap_start) != 0)
        return -1;
    return 0;
}

static int add_token(trainer *t, const char *bytes, size_t len)
{
    if (t->n_tok == t->cap_tok) {
        int cap = t->cap_tok ? 2 * t->cap_tok : 512;
        char **tok = realloc(t->tok, (size_t)cap * sizeof *tok);
        if (!tok)
            return -1;
        t->tok = tok;
        size_t *tl = realloc(t->tok_len, (size_t)cap * sizeof *tl);
        if (!tl)
            return -1;
        t->tok_len = tl;
        t->cap_tok = cap;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, bytes, len);
    t->tok[t->n_tok] = copy;
    t->tok_len[t->n_tok] = len;
    return t->n_tok++;
}

static int find_token(const trainer *t, const char *bytes, size_t len)
{
    for (int i = 0; i < t->n_tok; i++)
        if (t->tok_len[i] == len && memcmp(t->tok[i], bytes, len) == 0)
            return i;
    return -1;
}

/* One merge step: the most frequent adjacent pair (ties: smallest left id, then right id)
 * becomes a token; 0 = merged, 1 = no pair occurs twice, -1 = out of memory. */
static int merge_once(trainer *t, int *counts)
{
    const int n = t->n_tok;
    memset(counts, 0, (size_t)n * n * sizeof(int));
    for (int p = 0; p < t->n_pieces; p++)
        for (int k = 0; k + 1 < t->pieces[p].n; k++)
            counts[t->pieces[p].syms[k] * n + t->pieces[p].syms[k + 1]] += t->pieces[p].count;
    int best = -1, best_count = 1;
    for (int i = 0; i < n * n; i++)
        if (counts[i] > best_count) {
            best_count = counts[i];
            best = i;
        }
    if (best < 0)
        return 1;
    int a = best / n, b = best % n;
    size_t len = t->tok_len[a] + t->tok_len[b];
    char *joined = malloc(len);
    if (!joined)
        return -1;
    memcpy(joined, t->tok[a], t->tok_len[a]);
    memcpy(joined + t->tok_len[a], t->tok[b], t->tok_len[b]);
    int id = find_token(t, joined, len);
    if (id < 0)
        id = add_token(t, joined, len);
    free(joined);
    if (id < 0)
        return -1;
    t->merges[t->n_merges][0] = a;
    t->merges[t->n_merges][1] = b;
    t->n_merges++;
    for (int p = 0; p < t->n_pieces; p++) {
        piece *pc = &t->pieces[p];
        int w = 0;
        for (int k = 0; k < pc->n; k++) {
            if (k + 1 < pc->n && pc->syms[k] == a && pc->syms[k + 1] == b) {
                pc->syms[w++] = id;
                k++;
            } else {
                pc->syms[w++] = pc->syms[k];
            }
        }
        pc->n = w;
    }
    return 0;
}

/* ByteLevel's byte → code point map (docs/model-families.md "tokenizer"). */
static unsigned byte_level_char(unsigned char b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE))
            n++;
    return 0x100 + n;
}

/* The token's bytes mapped to ByteLevel characters, UTF-8 encoded (malloc'd). */
static char *byte_level_string(const char *bytes, size_t len)
{
    char *out = malloc(2 * len + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned cp = byte_level_char((unsigned char)bytes[i]);
        if (cp < 0x80) {
            *w++ = (char)cp;
        } else {
            *w++ = (char)(0xC0 | (cp >> 6));
            *w++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *w = '\0';
    return out;
}

static cJSON *pipeline_object(const char *type, bool add_prefix_space, bool trim_offsets)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "type", type) ||
        !cJSON_AddBoolToObject(o, "add_prefix_space", add_prefix_space) ||
        !cJSON_AddBoolToObject(o, "trim_offsets", trim_offsets) ||
        !cJSON_AddBoolToObject(o, "use_regex", false)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *tokenizer_json(const trainer *t)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = cJSON_AddStringToObject(root, "version", "1.0") &&
              cJSON_AddNullToObject(root, "truncation") && cJSON_AddNullToObject(root, "padding");
    cJSON *added = ok ? cJSON_AddArrayToObject(root, "added_tokens") : NULL;
    for (int i = 0; added && i < N_SPECIAL; i++) {
        cJSON *a = cJSON_CreateObject();
        if (!a) {
            ok = false;
            break;
        }
        cJSON_AddItemToArray(added, a);
        ok = ok && cJSON_AddNumberToObject(a, "id", i) &&
             cJSON_AddStringToObject(a, "content", special_tokens[i]) &&
             cJSON_AddBoolToObject(a, "single_word", false) &&
             cJSON_AddBoolToObject(a, "lstrip", false) && cJSON_AddBoolToObject(a, "rstrip", false) &&
             cJSON_AddBoolToObject(a, "normalized", false) && cJSON_AddBoolToObject(a, "special", true);
    }
    ok = ok && added && cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = ok ? cJSON_AddObjectToObject(root, "pre_tokenizer") : NULL;
    cJSON *list = pre && cJSON_AddStringToObject(pre, "type", "Sequence")
                      ? cJSON_AddArrayToObject(pre, "pretokenizers")
                      : NULL;
    if (list) {
        cJSON *split = cJSON_CreateObject();
        cJSON *pattern = split ? cJSON_AddObjectToObject(split, "pattern") : NULL;
        ok = split && pattern && cJSON_AddStringToObject(split, "type", "Split") &&
             cJSON_AddStringToObject(pattern, "Regex", bloom_split_regex) &&
             cJSON_AddStringToObject(split, "behavior", "Isolated") &&
             cJSON_AddBoolToObject(split, "invert", false);
        if (split)
            cJSON_AddItemToArray(list, split);
        cJSON *bl = pipeline_object("ByteLevel", false, true);
        ok = ok && bl;
        if (bl)
            cJSON_AddItemToArray(list, bl);
    } else {
        ok = false;
    }
    cJSON *post = ok ? pipeline_object("ByteLevel", true, false) : NULL;
    cJSON *dec = ok ? pipeline_object("ByteLevel", true, true) : NULL;
    ok = ok && post && dec;
    if (post)
        cJSON_AddItemToObject(root, "post_processor", post);
    if (dec)
        cJSON_AddItemToObject(root, "decoder", dec);
    cJSON *model = ok ? cJSON_AddObjectToObject(root, "model") : NULL;
    ok = ok && model && cJSON_AddStringToObject(model, "type", "BPE") &&
         cJSON_AddNullToObject(model, "dropout") && cJSON_AddNullToObject(model, "unk_token") &&
         cJSON_AddNullToObject(model, "continuing_subword_prefix") &&
         cJSON_AddNullToObject(model, "end_of_word_suffix") &&
         cJSON_AddBoolToObject(model, "fuse_unk", false) &&
         cJSON_AddBoolToObject(model, "byte_fallback", false) &&
         cJSON_AddBoolToObject(model, "ignore_merges", false);
    cJSON *vocab = ok ? cJSON_AddObjectToObject(model, "vocab") : NULL;
    for (int i = 0; vocab && ok && i < N_SPECIAL; i++)
        ok = cJSON_AddNumberToObject(vocab, special_tokens[i], i) != NULL;
    for (int i = 0; vocab && ok && i < t->n_tok; i++) {
        char *s = byte_level_string(t->tok[i], t->tok_len[i]);
        ok = s && cJSON_AddNumberToObject(vocab, s, N_SPECIAL + i);
        free(s);
    }
    cJSON *merges = ok && vocab ? cJSON_AddArrayToObject(model, "merges") : NULL;
    for (int i = 0; merges && ok && i < t->n_merges; i++) {
        char *a = byte_level_string(t->tok[t->merges[i][0]], t->tok_len[t->merges[i][0]]);
        char *b = byte_level_string(t->tok[t->merges[i][1]], t->tok_len[t->merges[i][1]]);
        char *line = a && b ? malloc(strlen(a) + strlen(b) + 2) : NULL;
        if (line) {
            strcpy(line, a);
            strcat(line, " ");
            strcat(line, b);
            cJSON *s = cJSON_CreateString(line);
            ok = s != NULL;
            if (s)
                cJSON_AddItemToArray(merges, s);
        } else {
            ok = false;
        }
        free(a);
        free(b);
        free(line);
    }
    if (!ok || !merges) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

char *hs_demo_tokenizer_json(int vocab_size, int *n_ids, char *err, size_t errlen)
{
    if (vocab_size < N_SPECIAL + N_BYTES) {
        hs_errf(err, errlen, "demo tokenizer: vocab_size %d is below the %d special and byte "
                             "tokens", vocab_size, N_SPECIAL + N_BYTES);
        return NULL;
    }
    trainer t = {0};
    int *counts = NULL;
    char *text = NULL;
    const int max_tok = vocab_size - N_SPECIAL;
    t.merges = malloc((size_t)4 * max_tok * sizeof *t.merges);
    counts = malloc((size_t)max_tok * max_tok * sizeof(int));
    bool ok = t.merges && counts && split_text(&t, hs_demo_english_text) == 0;
    for (int b = 0; ok && b < N_BYTES; b++) {
        char c = (char)b;
        ok = add_token(&t, &c, 1) == b;
    }
    /* Merges that re-create an existing token string add no id; cap them all the same. */
    while (ok && t.n_tok < max_tok && t.n_merges < 4 * max_tok) {
        int rc = merge_once(&t, counts);
        if (rc < 0)
            ok = false;
        if (rc != 0)
            break;
    }
    if (ok) {
        cJSON *root = tokenizer_json(&t);
        text = root ? cJSON_PrintUnformatted(root) : NULL;
        cJSON_Delete(root);
        ok = text != NULL;
    }
    if (ok)
        *n_ids = N_SPECIAL + t.n_tok;
    else
        hs_errf(err, errlen, "demo tokenizer: out of memory while training the BPE");
    free(counts);
    trainer_free(&t);
    return text;
}
