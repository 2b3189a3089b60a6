"""Fixtures of the training tests (the helpers live in train_helpers.py)."""

from train_helpers import corpus, one_batch, shared_cache, tagger_dir, vqgan_dir  # noqa: F401
