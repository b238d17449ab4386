"""GAN losses: a registry of (discriminator-on-real, discriminator-on-fake, generator) terms.

Each takes the discriminator's float logits shaped (G, b[, K]) and the labels, and returns the mean
over the group's images. "bce" is the standard non-saturating loss, "hinge" the hinge loss of
Miyato et al. / BigGAN, "2k-class" DAGAN's 2K-way discriminator loss (Zhang & Wu).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class BceLoss:
    """Standard GAN loss with logits (Goodfellow et al. 2014, non-saturating generator loss)."""

    @staticmethod
    def real(logits, labels, num_classes):
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    @staticmethod
    def fake(logits, labels, num_classes):
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))

    @staticmethod
    def generator(logits, labels, num_classes):
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


class TwoKClassLoss:
    """DAGAN (Zhang & Wu, section 3): D classifies real images of class y as y, fakes as K + y;
    G wants its fakes of class y classified as y."""

    @staticmethod
    def real(logits, labels, num_classes):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    @staticmethod
    def fake(logits, labels, num_classes):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1) + num_classes)

    @staticmethod
    def generator(logits, labels, num_classes):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


class HingeLoss:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D pushes real logits above 1 and fake ones
    below -1; G raises D's logits on its fakes."""

    @staticmethod
    def real(logits, labels, num_classes):
        return F.relu(1.0 - logits).mean()

    @staticmethod
    def fake(logits, labels, num_classes):
        return F.relu(1.0 + logits).mean()

    @staticmethod
    def generator(logits, labels, num_classes):
        return -logits.mean()


LOSSES = {"bce": BceLoss, "hinge": HingeLoss, "2k-class": TwoKClassLoss}
# gan.loss names one of trainables.terms.gan_options.CHOSEN_LOSSES (checked there, without torch);
# "2k-class" follows from DAGAN's discriminator, it is not chosen.


def loss_kind(out_dim: int, num_classes: int, chosen: str = "bce") -> str:
    """The loss a discriminator needs: DAGAN's 2K-way output takes its 2K-class loss; any other takes
    the chosen one. Hinge on a 2K-way output is refused by trainables.terms.gan_options.check_loss."""
    return "2k-class" if out_dim == 2 * num_classes else chosen
