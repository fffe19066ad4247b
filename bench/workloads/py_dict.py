"""A dict- and str-heavy Python workload for the allocator benchmarks.

Run by bench/run.sh as a real program under each allocator (with PYTHONMALLOC=malloc so
that every Python object goes through malloc rather than pymalloc's own arenas).
It builds an inverted index of a synthetic corpus, counts words and bigrams, formats
and parses records, and rebuilds dictionaries repeatedly. Deterministic; argument:
scale (default 1.0). Prints "RESULT seconds=S" (time inside the script) and a checksum.
"""
import random
import sys
import time


def corpus(rng, documents, words_per_doc, vocabulary):
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 12)))
             for _ in range(vocabulary)]
    for d in range(documents):
        yield d, [words[int(rng.paretovariate(1.2)) % vocabulary] for _ in range(words_per_doc)]


def build_index(docs):
    index = {}
    counts = {}
    bigrams = {}
    for doc_id, words in docs:
        previous = None
        for position, word in enumerate(words):
            index.setdefault(word, []).append((doc_id, position))
            counts[word] = counts.get(word, 0) + 1
            if previous is not None:
                key = previous + " " + word
                bigrams[key] = bigrams.get(key, 0) + 1
            previous = word
    return index, counts, bigrams


def records(counts):
    # Format to text and parse back: many short-lived strings, lists and dicts.
    lines = [f"{word}\t{count}\t{len(word)}\t{word.upper()}" for word, count in counts.items()]
    parsed = []
    for line in lines:
        word, count, length, upper = line.split("\t")
        parsed.append({"word": word, "count": int(count), "len": int(length), "upper": upper})
    return parsed


def churn_dicts(rng, rounds, size):
    total = 0
    for r in range(rounds):
        d = {f"k{r}_{i}": str(i) * (i % 7 + 1) for i in range(size)}
        for key in list(d)[::3]:
            del d[key]
        d.update({f"n{r}_{i}": [i, str(i)] for i in range(size // 2)})
        total += sum(len(v) for v in d.values())
    return total


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = random.Random(12345)
    start = time.perf_counter()
    checksum = 0
    for _ in range(max(1, round(2 * scale))):
        index, counts, bigrams = build_index(corpus(rng, int(1400 * scale) or 1, 200, 20000))
        parsed = records(counts)
        checksum += len(index) + len(bigrams) + sum(r["len"] for r in parsed)
        top = sorted(bigrams.items(), key=lambda kv: (-kv[1], kv[0]))[:100]
        checksum += sum(c for _, c in top)
        del index, counts, bigrams, parsed
    checksum += churn_dicts(rng, int(28 * scale) or 1, 20000)
    elapsed = time.perf_counter() - start
    print(f"py_dict: checksum {checksum}")
    print(f"RESULT seconds={elapsed:.6f}")


if __name__ == "__main__":
    main()
