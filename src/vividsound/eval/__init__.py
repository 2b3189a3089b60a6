"""Evaluation: metrics as pure functions, CIDEr-D / SPICE, aiSFX features, and the report runner.

Modules (imported on demand; importing this package loads nothing heavy):

- :mod:`vividsound.eval.metrics`: PSNR, Fréchet distance, MMKL, KL, Inception score, diversity,
  CLAP score, class relevance.
- :mod:`vividsound.eval.cider`: CIDEr-D; :mod:`vividsound.eval.spice`: SPICE through Java when available.
- :mod:`vividsound.eval.aisfx`: the pretrained aiSFX sound-effects CNN (Ma & Lerch, ISMIR 2022, CC BY 4.0).
- :mod:`vividsound.eval.interfaces`: what the evaluator needs from generator, tagger, captioner, CLAP.
- :mod:`vividsound.eval.runner`, :mod:`vividsound.eval.report`, :mod:`vividsound.eval.cli`: ``vividsound evaluate``.
"""
