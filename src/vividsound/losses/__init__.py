"""Losses: GAN (hinge, feature matching, adaptive weight), perceptual (tagger features), spectral."""
