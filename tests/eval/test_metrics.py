"""Metric definitions: each test pins a value that a wrong implementation would not give."""

import math

import numpy as np
import pytest
import torch

from vividsound.errors import InputError
from vividsound.eval import metrics as M


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- PSNR

def test_psnr_identical_is_the_cap(rng):
    x = rng.normal(-4, 2, size=(3, 80, 50))
    assert M.psnr(x, x.copy()) == M.PSNR_CAP_DB == 100.0
    assert np.all(M.psnr_per_item(torch.from_numpy(x), torch.from_numpy(x)) == 100.0)
    assert M.psnr(x, x, cap_db=60.0) == 60.0


def test_psnr_known_value_and_normalisation():
    r = np.full((1, 4, 5), 0.5)
    # un-normalised: error 0.1 everywhere -> MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    assert M.psnr(r + 0.1, r, normalize=False) == pytest.approx(20.0)
    # SpecVQGAN scale: ln-mel 0 (mel 1) is 0 dB -> (0 - 20 + 100) / 100 = 0.8; the floor ln(1e-5) -> 0
    n = M.normalize_log_mel(np.array([0.0, math.log(1e-5), 10.0]))
    assert n == pytest.approx([0.8, 0.0, 1.0])
    # a 1 dB-equivalent change in ln-mel (ln(10)/20) moves the normalised value by 0.01 -> 40 dB
    g = np.zeros((1, 4, 5))
    assert M.psnr(g + math.log(10) / 20, g) == pytest.approx(40.0)


def test_psnr_rejects_shape_mismatch():
    with pytest.raises(InputError, match="differs"):
        M.psnr(np.zeros((1, 4, 5)), np.zeros((1, 4, 6)))


# ---------------------------------------------------------------- Fréchet distance

def test_fd_of_a_set_with_itself_is_zero(rng):
    x = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    assert M.frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-10)


def test_fd_of_a_set_with_itself_is_zero_for_a_decaying_spectrum(rng):
    # Embeddings' covariance spectra decay over many orders of magnitude. Clipping the eigenvalues of
    # S^1/2 S S^1/2 (= S^2) at a threshold relative to the largest drops every eigenvalue w of S below
    # ~1e-6 of the largest from the trace term while Tr(S) keeps it: FD(a, a) came out at ~1e-4 here.
    x = rng.normal(size=(2000, 128)) * np.exp(-np.arange(128) / 3.0) * 10.0
    trace = float(np.trace(np.cov(x, rowvar=False)))
    assert M.frechet_distance_features(x, x) < 1e-10 * trace


def test_fd_matches_closed_form_for_non_commuting_2x2(rng):
    # For a 2x2 matrix with positive eigenvalues, Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)).
    for _ in range(5):
        a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        sa, sb = a @ a.T + 0.1 * np.eye(2), b @ b.T + 0.1 * np.eye(2)
        mu = rng.normal(size=2)
        m = sa @ sb
        tr_sqrt = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
        want = float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt)
        got = M.frechet_distance(M.FeatureStats(mu, sa, 10), M.FeatureStats(np.zeros(2), sb, 10))
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_fd_is_symmetric_and_positive(rng):
    x = rng.normal(size=(300, 8))
    y = rng.normal(loc=0.5, scale=2.0, size=(250, 8)) @ rng.normal(size=(8, 8))
    a, b = M.frechet_distance_features(x, y), M.frechet_distance_features(y, x)
    assert a > 1.0
    assert a == pytest.approx(b, rel=1e-10)


def test_fd_matches_closed_form_for_diagonal_gaussians():
    sa = M.FeatureStats(mu=np.array([0.0, 1.0]), sigma=np.diag([4.0, 1.0]), n=10)
    sb = M.FeatureStats(mu=np.array([1.0, 1.0]), sigma=np.diag([1.0, 9.0]), n=10)
    # sum_d (mu diff)^2 + (sqrt(v1) - sqrt(v2))^2 = 1 + (2-1)^2 + 0 + (1-3)^2 = 6
    assert M.frechet_distance(sa, sb) == pytest.approx(6.0, rel=1e-12)


def test_fd_near_singular_covariance(rng):
    x = rng.normal(size=(5, 40))  # N < D: rank-deficient covariance
    assert M.frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)
    shift = np.full(40, 0.5)
    assert M.frechet_distance_features(x, x + shift) == pytest.approx(40 * 0.25, rel=1e-8)


# ---------------------------------------------------------------- KL divergences

def test_bernoulli_kl_zero_for_equal_and_known_value(rng):
    p = rng.uniform(0.01, 0.99, size=(6, 10))
    assert M.mmkl(p, p) == pytest.approx(0.0, abs=1e-12)
    # KL(Bern(.5) || Bern(.25)) = .5 ln 2 + .5 ln(2/3) = .5 ln(4/3)
    assert M.bernoulli_kl(0.5, 0.25) == pytest.approx(0.5 * math.log(4 / 3))
    q = np.clip(p + 0.05, 0, 1)
    assert M.mmkl(p, q) > 0


def test_mmkl_direction_and_sample_broadcast(rng):
    ref = rng.uniform(0.05, 0.95, size=(4, 3))
    gen = rng.uniform(0.05, 0.95, size=(4, 2, 3))
    manual = np.mean([M.bernoulli_kl(ref[i], gen[i, s]).mean() for i in range(4) for s in range(2)])
    assert M.mmkl(ref, gen) == pytest.approx(manual)
    # KL(ref || gen), not KL(gen || ref)
    assert M.mmkl([[0.9]], [[0.5]]) == pytest.approx(0.9 * math.log(1.8) + 0.1 * math.log(0.2))


def test_categorical_kl(rng):
    p = np.array([[9 / 25, 12 / 25, 4 / 25]])
    q = np.full((1, 3), 1 / 3)
    assert M.categorical_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    # sum p ln(p / q) = 0.0853 (the worked example SpecVQGAN gives for its KL)
    assert M.categorical_kl(p, q) == pytest.approx(0.08530, abs=1e-4)
    with pytest.raises(InputError, match="probability"):
        M.categorical_kl(np.array([[0.5, 0.6]]), np.array([[0.5, 0.5]]))


def _torch_kl_div_reference(ref, gen, eps=1e-6):
    """AudioLDM's / audiocraft's code path: kl_div((gen + eps).log(), ref, reduction="sum") / N."""
    r, g = torch.as_tensor(ref, dtype=torch.float64), torch.as_tensor(gen, dtype=torch.float64)
    return float(torch.nn.functional.kl_div((g + eps).log(), r, reduction="sum") / r.shape[0])


def test_published_kl_is_the_toolkits_kl_div(rng):
    logits_r, logits_g = rng.normal(size=(7, 12)), rng.normal(size=(7, 12))
    soft_r, soft_g = torch.softmax(torch.from_numpy(logits_r), 1), torch.softmax(torch.from_numpy(logits_g), 1)
    assert M.published_kl(soft_r, soft_g) == pytest.approx(_torch_kl_div_reference(soft_r, soft_g), rel=1e-12)
    sig_r, sig_g = torch.sigmoid(torch.from_numpy(logits_r)), torch.sigmoid(torch.from_numpy(logits_g))
    assert M.published_kl(sig_r, sig_g) == pytest.approx(_torch_kl_div_reference(sig_r, sig_g), rel=1e-12)
    # on softmax outputs it is the categorical KL; on sigmoid outputs it is not MMKL (the paper's metric)
    assert M.published_kl(soft_r, soft_g) == pytest.approx(M.categorical_kl(soft_r, soft_g), rel=1e-4)
    assert abs(M.published_kl(sig_r, sig_g) - M.mmkl(sig_r, sig_g)) > 0.1
    # S generations per reference: every pair counts once
    gen3 = np.stack([sig_g.numpy(), sig_r.numpy()], axis=1)  # (7, 2, 12)
    both = np.concatenate([sig_g.numpy(), sig_r.numpy()])
    assert M.published_kl(sig_r, gen3) == pytest.approx(
        _torch_kl_div_reference(np.concatenate([sig_r.numpy()] * 2), both), rel=1e-12)
    with pytest.raises(InputError, match="probabilities"):
        M.published_kl([[1.5]], [[0.5]])


def test_non_finite_inputs_are_a_distinct_error():
    with pytest.raises(M.NonFiniteError, match="non-finite"):
        M.frechet_distance_features(np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]), np.zeros((3, 2)))
    assert issubclass(M.NonFiniteError, InputError)


# ---------------------------------------------------------------- Inception score

def test_inception_score_bounds():
    same = np.tile([[0.7, 0.2, 0.1]], (30, 1))
    assert M.inception_score(same, splits=3).mean == pytest.approx(1.0)
    onehot = np.eye(5)[np.arange(50) % 5]
    res = M.inception_score(onehot, splits=2)
    assert res.mean == pytest.approx(5.0, rel=1e-6) and res.splits == 2 and res.std == pytest.approx(0, abs=1e-6)


# ---------------------------------------------------------------- diversity, CLAP, relevance

def test_pairwise_diversity():
    x = np.zeros((2, 3, 4))
    x[:] = [1.0, 2.0, 3.0, 4.0]
    assert M.pairwise_diversity(x, "cosine") == pytest.approx(0.0, abs=1e-12)
    y = np.array([[[0.0, 0.0], [3.0, 4.0]]])  # one prompt, two samples 5 apart
    assert M.pairwise_diversity(y, "l2") == pytest.approx(5.0)
    z = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])  # cos distances 1, 2, 1 -> mean 4/3
    assert M.pairwise_diversity(z, "cosine") == pytest.approx(4 / 3)
    with pytest.raises(InputError, match="at least 2"):
        M.pairwise_diversity(np.zeros((2, 1, 3)))


def test_clap_score():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert M.clap_score(a, a * 3) == pytest.approx(1.0)
    assert M.clap_score(a, -a) == pytest.approx(-1.0)
    assert M.clap_score(a, a[::-1]) == pytest.approx(0.0)


def test_class_relevance():
    probs = np.array([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]])
    # item 0 top-1 = class 0 (hit), asks also for class 2 (miss); item 1 top-1 = class 2 (hit)
    assert M.class_relevance(probs, [[0, 2], [2]], k=1) == pytest.approx(2 / 3)
    assert M.class_relevance(probs, [[0, 2], [2]], k=2) == pytest.approx(1.0)
    with pytest.raises(InputError, match="outside"):
        M.class_relevance(probs, [[5], []], k=1)
    with pytest.raises(InputError, match="k must be in 1..2"):
        M.class_relevance(probs, [[0], [1]], k=3)  # top-3 of 3 classes would always hit
