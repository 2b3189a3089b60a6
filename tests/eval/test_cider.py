"""CIDEr-D against values worked out by hand and against golden values of the coco-caption toolkit."""

import json
import math
from pathlib import Path

import pytest

from vividsound.errors import InputError
from vividsound.eval.cider import cider_d, ngram_counts, tokenize


def test_tokenize_ptb_style():
    assert tokenize("A dog's barking, LOUDLY!") == ["a", "dog", "'s", "barking", "loudly"]
    assert tokenize("Don't stop -- a high-pitched whistle; 3.5 times...") == [
        "do", "n't", "stop", "a", "high-pitched", "whistle", "3.5", "times"]
    assert tokenize("(rain) falls") == ["rain", "falls"]


def test_ngram_counts():
    c = ngram_counts(["a", "b", "a", "b"], n=2)
    assert c[("a",)] == 2 and c[("a", "b")] == 2 and c[("b", "a")] == 1 and len(c) == 4


def test_cider_d_hand_checked_idf_example():
    # Corpus of N = 2 items, one reference each; ref_len = ln 2.
    #   item A: candidate "A dog barks!"  reference "a dog barks"
    #   item B: candidate "A cat purrs."  reference "a cat meows"
    # Document frequencies: "a" is in both reference sets -> idf ln2 - ln2 = 0; every other n-gram has
    # df <= 1 -> idf ln 2 (an n-gram in no reference, like "purrs", gets max(1, 0) = 1 -> ln 2 too).
    # Item A (candidate == reference, tokenisation drops "!" and case):
    #   n=1: vectors (a:0, dog:w, barks:w), clipped cosine = 2w^2 / (sqrt2 w)^2 = 1
    #   n=2: ("a dog", "dog barks") both w -> 1;  n=3: ("a dog barks") -> 1;  n=4: no 4-grams -> 0
    #   length penalty: equal lengths -> 1.  score = 10 * (1 + 1 + 1 + 0) / 4 = 7.5
    # Item B:
    #   n=1: cand (a:0, cat:w, purrs:w), ref (a:0, cat:w, meows:w): dot = w^2, norms sqrt2 w -> 1/2
    #   n=2: cand ("a cat", "cat purrs"), ref ("a cat", "cat meows"): dot w^2 / (2 w^2) = 1/2
    #   n=3: "a cat purrs" vs "a cat meows": 0;  n=4: 0.  score = 10 * (1/2 + 1/2) / 4 = 2.5
    # Corpus: (7.5 + 2.5) / 2 = 5.0. (Without the idf, "a" would count and item B's n=1 term be 2/3.)
    res = cider_d(["A dog barks!", "A cat purrs."], [["a dog barks"], ["a cat meows"]])
    assert res.per_item == pytest.approx([7.5, 2.5])
    assert res.score == pytest.approx(5.0)


def test_cider_d_hand_checked_length_penalty():
    # Item A as above (7.5). Item B: candidate "rain falls softly", reference "rain falls"; all idf ln 2.
    #   n=1: dot 2w^2 / (sqrt3 w * sqrt2 w) = 2 / sqrt6;  n=2: w^2 / (sqrt2 w * w) = 1 / sqrt2;  n=3, 4: 0
    #   lengths (bigram counts, as the toolkit measures them) 2 vs 1 -> penalty exp(-1 / (2 * 6^2)) = e^(-1/72)
    #   score = 10 / 4 * (2/sqrt6 + 1/sqrt2) * e^(-1/72) = 3.75647...
    expected_b = 2.5 * (2 / math.sqrt(6) + 1 / math.sqrt(2)) * math.exp(-1 / 72)
    res = cider_d(["a dog barks", "rain falls softly"], [["a dog barks"], ["rain falls"]])
    assert res.per_item[1] == pytest.approx(expected_b, rel=1e-12)
    assert expected_b == pytest.approx(3.7565, abs=1e-4)
    assert res.score == pytest.approx((7.5 + expected_b) / 2)


def test_cider_d_clipping_and_multiple_references():
    # Repeating a matching word cannot raise the score above the clean candidate's (clipping).
    refs = [["a dog barks", "the dog barks loudly"], ["rain falls on a roof"], ["a bell rings"]]
    clean = cider_d(["a dog barks", "rain falls", "a bell rings"], refs).per_item[0]
    spam = cider_d(["dog dog dog dog barks", "rain falls", "a bell rings"], refs).per_item[0]
    assert spam < clean


def test_cider_d_bad_input():
    with pytest.raises(InputError, match="candidates"):
        cider_d(["a"], [["a"], ["b"]])
    with pytest.raises(InputError, match="non-empty list"):
        cider_d(["a"], [[]])


GOLDEN = Path(__file__).resolve().parent / "golden"


def test_cider_d_matches_coco_caption_toolkit():
    # golden values written once by pycocoevalcap 1.2 (tests/eval/golden/make_golden.py)
    g = json.loads((GOLDEN / "cider_coco.json").read_text())
    mine = cider_d(g["candidates"], g["references"])
    assert mine.score == pytest.approx(g["score"], rel=1e-9)
    assert mine.per_item == pytest.approx(g["per_item"], rel=1e-9, abs=1e-12)


def test_tokenize_matches_ptb_tokenizer_jar():
    # golden tokens written once by pycocoevalcap's Stanford PTB tokenizer jar (make_golden.py)
    g = json.loads((GOLDEN / "ptb_tokenizer.json").read_text())
    for sentence, tokens in zip(g["sentences"], g["tokens"], strict=True):
        assert tokenize(sentence) == tokens
