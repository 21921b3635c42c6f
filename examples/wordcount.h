/*  examples/wordcount.h: the job of the distributed demo, shared by the
    demo program (examples/wordcount_cluster.c, which also checks the
    result in one process) and the module its nodes run
    (examples/modules/wordcount.c).

    A job is a "document": WC_WORDS words of English text, made from a
    seed (standing in for reading one file of a corpus: the same seed
    always gives the same text), tokenized and counted. The answer is how
    many times each of the WC_VOCAB words occurs, and the total.
*/
#ifndef WORDCOUNT_H_INCLUDED
#define WORDCOUNT_H_INCLUDED

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WC_VOCAB 64
#define WC_WORDS 400000 /* words per document */

static const char *const wc_vocab[WC_VOCAB] = {
    "the",    "of",     "and",   "to",     "in",      "a",      "is",
    "that",   "for",    "it",    "as",     "was",     "with",   "be",
    "by",     "on",     "not",   "he",     "this",    "are",    "or",
    "his",    "from",   "at",    "which",  "but",     "have",   "an",
    "had",    "they",   "you",   "were",   "their",   "one",    "all",
    "we",     "can",    "her",   "has",    "there",   "been",   "if",
    "more",   "when",   "will",  "would",  "who",     "so",     "no",
    "actor",  "message","worker","node",   "process", "thread", "queue",
    "reply",  "ask",    "tell",  "crash",  "restart", "supervisor", "pool",
    "troupe"};

typedef struct {
    uint32_t count[WC_VOCAB];
    uint64_t total;
} wc_counts;

/*  xorshift64*: the documents' randomness (the same everywhere). */
static inline uint64_t
wc_rand (uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/*  Writes document `seed` into buf (cap bytes, at least WC_WORDS * 12);
    returns its length. Word frequencies fall off as in real text (a
    word's index is the minimum of two uniform draws, favouring the
    first words of the list). */
static inline size_t
wc_document (uint64_t seed, char *buf, size_t cap)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    size_t n = 0;
    for (int i = 0; i < WC_WORDS; i++) {
        uint64_t r = wc_rand (&s);
        unsigned a = (unsigned) (r % WC_VOCAB), b = (unsigned) ((r >> 32) % WC_VOCAB);
        const char *w = wc_vocab[a < b ? a : b];
        size_t l = strlen (w);
        if (n + l + 2 > cap)
            break;
        if (i && r % 17 == 0) { /* a sentence ends */
            buf[n++] = '.';
        }
        if (i)
            buf[n++] = ' ';
        memcpy (buf + n, w, l);
        n += l;
    }
    return n;
}

/*  Tokenizes text (words of letters, anything else separates them) and
    adds each vocabulary word it finds to *c. */
static inline void
wc_count (const char *text, size_t len, wc_counts *c)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && !(text[i] >= 'a' && text[i] <= 'z'))
            i++;
        size_t start = i;
        while (i < len && text[i] >= 'a' && text[i] <= 'z')
            i++;
        size_t l = i - start;
        if (!l)
            continue;
        c->total++;
        for (int k = 0; k < WC_VOCAB; k++) /* (a real tokenizer's lookup) */
            if (wc_vocab[k][0] == text[start] && strlen (wc_vocab[k]) == l
                && memcmp (wc_vocab[k], text + start, l) == 0) {
                c->count[k]++;
                break;
            }
    }
}

/*  The whole job for one seed. buf: WC_WORDS * 12 bytes of scratch. */
static inline void
wc_job (uint64_t seed, char *buf, wc_counts *c)
{
    memset (c, 0, sizeof *c);
    size_t n = wc_document (seed, buf, (size_t) WC_WORDS * 12);
    wc_count (buf, n, c);
}

#endif
