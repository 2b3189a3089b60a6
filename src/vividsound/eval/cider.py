"""CIDEr-D (Vedantam, Zitnick & Parikh, CVPR 2015), as the coco-caption toolkit scores captions.

Our own implementation of the published definition, written to give the same numbers as the
reference toolkit (``pycocoevalcap``), which tests use as an optional cross-check:

1. Tokenise each caption like coco-caption's PTB tokenizer: lower-case, split off punctuation and
   clitics (``dog's`` -> ``dog 's``, ``don't`` -> ``do n't``), then drop punctuation tokens.
2. Count n-grams, n = 1..4.
3. Document frequency ``df(g)``: the number of corpus items whose reference set contains g; the idf of
   g is ``ln(N_items) - ln(max(1, df(g)))`` (an n-gram seen in no reference gets the full idf).
4. For each n, the tf-idf vectors of candidate and one reference are compared by a *clipped* cosine:
   ``sum_g min(c_g, r_g) * r_g / (|c| |r|)`` (0 when either vector is empty), times a Gaussian length
   penalty ``exp(-(l_c - l_r)^2 / (2 sigma^2))``, sigma = 6. Like the toolkit, the length l is the
   number of bigrams of the sentence (words - 1), which gives the same difference as word counts for
   non-empty sentences.
5. The item score is the mean over n, averaged over the item's references, times 10; the corpus score is
   the mean of the item scores.

One deliberate difference: coco-caption lower-cases *before* its punctuation filter, so its bracket
tokens (``-lrb-``, ``-rrb-``) survive; we drop brackets like the other punctuation. Captions without
brackets tokenise identically (checked against the toolkit's PTB tokenizer in the tests).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from vividsound.errors import InputError

__all__ = ["tokenize", "ngram_counts", "CiderResult", "cider_d"]

# Tokens coco-caption removes after PTB tokenisation (brackets appear as -LRB- etc. there).
PUNCTUATION_TOKENS = frozenset(
    ["''", "'", "``", "`", "-lrb-", "-rrb-", "-lcb-", "-rcb-", ".", "?", "!", ",", ":", "-", "--", "...",
     ";", "(", ")", "[", "]", "{", "}", '"']
)

# A word (letters/digits, with inner hyphens, dots or apostrophes as in "high-pitched", "3.5", "o'clock"),
# a clitic, or any other single non-space character.
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:[-.'][a-z0-9]+)*|n't|'(?:s|re|ve|ll|d|m)\b|\.\.\.|--|\S")
_CLITIC_RE = re.compile(r"([a-z0-9])(n't|'s|'re|'ve|'ll|'d|'m)\b")


def tokenize(text: str) -> list[str]:
    """PTB-style tokens of a caption, lower-cased, without punctuation tokens.

    Example: ``"A dog's barking, loudly!"`` -> ``["a", "dog", "'s", "barking", "loudly"]``.
    """
    if not isinstance(text, str):
        raise InputError(f"caption must be a string, got {type(text).__name__}")
    t = text.lower().replace("\u2019", "'").replace('"', " ")
    t = _CLITIC_RE.sub(r"\1 \2", t)
    return [tok for tok in _TOKEN_RE.findall(t) if tok not in PUNCTUATION_TOKENS]


def ngram_counts(tokens: Sequence[str], n: int = 4) -> Counter:
    """Counts of all n-grams (as tuples) of orders 1..n."""
    c: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            c[tuple(tokens[i : i + k])] += 1
    return c


@dataclass(frozen=True)
class CiderResult:
    """CIDEr-D of a corpus: the mean score and one score per item (in input order)."""

    score: float
    per_item: list[float]


def _vector(counts: Counter, df: Counter, log_n: float, n: int) -> tuple[list[dict], list[float], int]:
    """tf-idf vectors per order, their norms, and the toolkit's length (bigram count)."""
    vec: list[dict] = [dict() for _ in range(n)]
    norm = [0.0] * n
    length = 0
    for gram, tf in counts.items():
        k = len(gram) - 1
        w = float(tf) * (log_n - math.log(max(1.0, float(df.get(gram, 0)))))
        vec[k][gram] = w
        norm[k] += w * w
        if k == 1:
            length += tf
    return vec, [math.sqrt(x) for x in norm], length


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], *, n: int = 4,
            sigma: float = 6.0) -> CiderResult:
    """CIDEr-D of candidate captions against reference captions, the idf taken from the references.

    Args:
        candidates: one caption per item (length N).
        references: for each item, one or more reference captions (length N).
        n: the largest n-gram order (4 in the metric's definition).
        sigma: the standard deviation of the Gaussian length penalty (6 in CIDEr-D).

    Returns:
        :class:`CiderResult` with the corpus mean and the N item scores (each in [0, 10 * ...]; a
        candidate equal to its single reference scores 10 when it has at least n words).
    """
    if len(candidates) != len(references):
        raise InputError(f"got {len(candidates)} candidates for {len(references)} reference sets")
    if not candidates:
        raise InputError("cider_d needs at least one item")
    cand_counts = [ngram_counts(tokenize(c), n) for c in candidates]
    ref_counts: list[list[Counter]] = []
    for i, refs in enumerate(references):
        if isinstance(refs, str) or not refs:
            raise InputError(f"references[{i}] must be a non-empty list of captions")
        ref_counts.append([ngram_counts(tokenize(r), n) for r in refs])

    df: Counter = Counter()
    for refs in ref_counts:
        df.update(set(g for rc in refs for g in rc))
    log_n = math.log(float(len(ref_counts)))

    per_item: list[float] = []
    for cc, refs in zip(cand_counts, ref_counts):
        vc, nc, lc = _vector(cc, df, log_n, n)
        total = [0.0] * n
        for rc in refs:
            vr, nr, lr = _vector(rc, df, log_n, n)
            penalty = math.exp(-((lc - lr) ** 2) / (2.0 * sigma**2))
            for k in range(n):
                dot = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vc[k].items())
                if nc[k] != 0 and nr[k] != 0:
                    dot /= nc[k] * nr[k]
                total[k] += dot * penalty
        per_item.append(10.0 * (sum(total) / n) / len(refs))
    return CiderResult(score=sum(per_item) / len(per_item), per_item=per_item)
