"""GAN losses: hinge losses, feature matching and the adaptive generator weight (Esser et al. 2021, eq. 7)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))), halved."""
    return 0.5 * (F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean())


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss against a hinge discriminator: -mean(D(G(z)))."""
    return -fake_logits.float().mean()


def multi_hinge_d_loss(real: Sequence[torch.Tensor], fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of hinge losses over several discriminators' final outputs."""
    return sum(hinge_d_loss(r, f) for r, f in zip(real, fake))


def multi_hinge_g_loss(fake: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum(hinge_g_loss(f) for f in fake)


def feature_matching_loss(real_feats: Sequence[Sequence[torch.Tensor]],
                          fake_feats: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminators' intermediate features of real and generated audio (MelGAN), averaged
    over layers and summed over discriminators; real features are detached."""
    total = 0.0
    for rf, ff in zip(real_feats, fake_feats):
        total = total + sum(F.l1_loss(f.float(), r.detach().float()) for r, f in zip(rf, ff)) / max(1, len(rf))
    return total


def adaptive_weight(nll: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1e4) -> torch.Tensor:
    """||grad nll|| / (||grad g_loss|| + 1e-4) at the decoder's last layer, clamped to [0, max_weight], detached.

    Balances the adversarial term against the reconstruction term whatever their scales.
    """
    g_nll = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    w = g_nll.norm() / (g_adv.norm() + 1e-4)
    return w.clamp(0.0, max_weight).detach()
