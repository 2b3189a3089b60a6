"""Write the golden values the evaluation tests compare with, from the reference toolkits themselves.

Run once, in an environment that has the toolkits (they are not test dependencies):

    pip install pycocoevalcap==1.2 librosa==0.11.0   # and a Java runtime for the PTB tokenizer
    python tests/eval/golden/make_golden.py

It writes ``cider_coco.json`` (pycocoevalcap's CIDEr-D on seeded random captions), ``ptb_tokenizer.json``
(the Stanford PTB tokenizer jar that pycocoevalcap runs) and ``aisfx_librosa.npz`` (the librosa front end
of the aisfx package: its mel filterbank and the log-mel of a test signal). The tests never regenerate
these files; a change of the toolkit or of our code shows up as a failing test.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def cider_inputs() -> tuple[list[str], list[list[str]]]:
    rnd = random.Random(0)
    words = "a dog barks cat meows rain falls loudly softly while the wind blows and car passes by man".split()
    cands = [" ".join(rnd.choices(words, k=rnd.randint(2, 12))) for _ in range(25)]
    refs = [[" ".join(rnd.choices(words, k=rnd.randint(2, 12))) for _ in range(rnd.randint(1, 5))]
            for _ in range(25)]
    return cands, refs


PTB_SENTENCES = ["A dog's barking loudly, then rain falls.", "Don't stop: a high-pitched whistle blows 3.5 times!",
                 'Birds chirp; "wind" blows -- people talk...', "It's a man's voice, speaking",
                 "Water flows & splashes - a car goes by"]


def golden_signal() -> np.ndarray:
    """2 s at 44.1 kHz: a chirp from 50 Hz to 20 kHz plus seeded noise, so every mel band is excited."""
    sr, n = 44100, 88200
    t = np.arange(n) / sr
    chirp = np.sin(2 * np.pi * (50 * t + (20000 - 50) / (2 * 2.0) * t**2))
    noise = np.random.default_rng(0).standard_normal(n) * 0.05
    return (0.3 * chirp + noise).astype(np.float32)


def main() -> None:
    import librosa
    import pycocoevalcap
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    cands, refs = cider_inputs()
    score, per = Cider().compute_score({i: refs[i] for i in range(25)}, {i: [cands[i]] for i in range(25)})
    (HERE / "cider_coco.json").write_text(json.dumps({
        "toolkit": f"pycocoevalcap {getattr(pycocoevalcap, '__version__', '1.2')}, pycocoevalcap.cider.cider.Cider",
        "candidates": cands, "references": refs, "score": float(score), "per_item": [float(x) for x in per]},
        indent=1) + "\n")
    tok = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(PTB_SENTENCES)})
    (HERE / "ptb_tokenizer.json").write_text(json.dumps({
        "toolkit": "pycocoevalcap 1.2, stanford-corenlp-3.4.1 PTBTokenizer (via PTBTokenizer().tokenize)",
        "sentences": PTB_SENTENCES, "tokens": [tok[i][0].split() for i in range(len(PTB_SENTENCES))]},
        indent=1) + "\n")
    y = golden_signal()
    fb = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=96, fmin=0.0, fmax=22050.0, htk=True, norm=1.0)
    s = librosa.feature.melspectrogram(y=y / np.abs(y).max(), sr=44100, n_mels=96, norm=1.0, fmin=0.0,
                                       fmax=22050.0, htk=True, power=2.0, hop_length=1024, win_length=2048)
    np.savez_compressed(HERE / "aisfx_librosa.npz", filterbank=fb.astype(np.float32),
                        mel_power=s.T.astype(np.float64), librosa_version=np.str_(librosa.__version__))


if __name__ == "__main__":
    main()
