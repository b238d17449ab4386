"""GAN registry: name -> GanArch (generator and discriminator constructors).

Every constructor takes `(alpha, shape=(C, H, W), num_classes=None)`:
- `alpha` scales every hidden channel count (Abadi's width multiplier; floats allowed),
- `num_classes=None` builds an unconditional model (one GAN per class, which the GAN stage may
  batch with torch.func.stack_module_state + vmap), an int builds a label-conditioned model.

Generators: `forward(z, labels=None) -> (B, C, H, W)` in [-1, 1] (tanh), `z` of shape
(B, latent_dim). Discriminators: `forward(x, labels=None) -> (B, out_dim)` logits, where `out_dim`
is 1 (real/fake, for BCE) or 2K for DAGAN (K real classes followed by K fake classes).

Conditioning is one-hot concatenation: the generator appends the one-hot label to z, the
discriminator appends K constant label maps to its input image. It needs no parameters of its
own, so conditional and unconditional models differ only in their first layer's fan-in.

The modules only use standard layers, never modify their inputs in place and draw no random
numbers outside nn.Dropout and DAGAN's input noise, so they can run under torch.func.vmap.
Weights get DCGAN initialisation (normal(0, 0.02)) at construction, from the caller's RNG; build
them inside `trainables.classifier.fit.seeded(seed)` for a reproducible init.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainables.gan.layers import (
    Conditioning,
    Shape,
    check_alpha,
    check_shape,
    dcgan_init_,
    extra_doublings,
    strides,
    tconv,
    tconv_double,
    tconv_same,
    upsampling_plan,
    width,
)
from trainables.terms.choices import CONDITIONAL_ONLY_ARCHS, GAN_ARCHS
from trainables.terms.registry import Registry


@dataclass(frozen=True)
class GanArch:
    """One registry entry: the generator and discriminator constructors of one architecture."""

    name: str
    latent_dim: int
    conditional_only: bool  # True for DAGAN: its discriminator is a 2K-way classifier
    make_generator: Callable[..., nn.Module]
    make_discriminator: Callable[..., nn.Module]


# ---------------------------------------------------------------------------------------------
# abadi


class AbadiGenerator(Conditioning):
    """Abadi section 3.2.3: z(100) -> FC 7x7x128a -> deconv 128a -> deconv 64a (s2) -> deconv C (s2) -> tanh.

    Above 32 pixels a side the start map stays 8x8 and stride-2 deconvolutions of 128a
    filters are added after the first one until the map is H/4 (one for 64, two for 128).
    Leaky ReLU (slope 0.3) after the FC layer and the first two deconvolutions, each preceded by
    BatchNorm. The paper names no normalisation, but its layer list is the Keras/TensorFlow DCGAN
    tutorial's generator, which has BatchNorm there, and without it training fails: measured on 500
    mnist-5k images (conditional, lr 2e-4, batch 64), the discriminator won within 100 steps
    (d_loss 0.002), samples stayed black and GAN-train accuracy was 0.10 after 600 steps; with
    BatchNorm the losses stayed balanced (d 1.4, g 0.7) and GAN-train reached 0.685 (the paper's
    Table 1: 0.65-0.68). The paper does not give a kernel size; 5x5 with 'same' padding is the
    Keras DCGAN choice. The start map is (H/4, W/4): 7x7 for 28x28 as in the paper, 8x8 for 32x32.
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None, latent_dim: int = 100):
        super().__init__(num_classes)
        alpha = check_alpha(alpha, "abadi")
        c, h, w = check_shape(shape, "abadi")
        if h % 4 or w % 4:
            raise ValueError(f"abadi: image sides must be multiples of 4, got {h}x{w}; resize the images")
        self.latent_dim, self.shape = latent_dim, (c, h, w)
        extra = extra_doublings(h // 4, w // 4)   # depth follows resolution: 64 and 128 start at 8x8 too
        self.start = (width(128, alpha), h // 4 >> extra, w // 4 >> extra)
        self.fc = nn.Linear(latent_dim + self.label_dim, self.start[0] * self.start[1] * self.start[2])
        self.fc_norm = nn.BatchNorm1d(self.fc.out_features)
        grow: list[nn.Module] = []
        for _ in range(extra):
            grow += [tconv_double(width(128, alpha), width(128, alpha), 5), nn.BatchNorm2d(width(128, alpha)),
                     nn.LeakyReLU(0.3)]
        self.deconvs = nn.Sequential(
            tconv_same(width(128, alpha), width(128, alpha), 5),
            nn.BatchNorm2d(width(128, alpha)),
            nn.LeakyReLU(0.3),
            *grow,
            tconv_double(width(128, alpha), width(64, alpha), 5),
            nn.BatchNorm2d(width(64, alpha)),
            nn.LeakyReLU(0.3),
            tconv_double(width(64, alpha), c, 5),
            nn.Tanh(),
        )
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = F.leaky_relu(self.fc_norm(self.fc(self._with_label_vector(z, labels))), 0.3)
        return self.deconvs(x.view(-1, *self.start))


class AbadiDiscriminator(Conditioning):
    """Abadi section 3.2.2: conv 32a -> conv 64a, each Leaky ReLU 0.3 + dropout 0.3, FC -> 1.

    Both convolutions are 5x5 stride 2 (the Keras DCGAN discriminator the paper adapts; the paper
    lists filters only), so the FC layer sees (H/4) x (W/4) maps; above 32 pixels a side, further
    stride-2 convolutions (64a) bring the map down to 8x8 (mirroring the generator).
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None):
        super().__init__(num_classes)
        alpha = check_alpha(alpha, "abadi")
        c, h, w = check_shape(shape, "abadi")
        self.out_dim = 1
        self.features = nn.Sequential(
            nn.Conv2d(c + self.label_dim, width(32, alpha), 5, stride=2, padding=2),
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            nn.Conv2d(width(32, alpha), width(64, alpha), 5, stride=2, padding=2),
            nn.LeakyReLU(0.3),
            nn.Dropout(0.3),
            *[layer for _ in range(extra_doublings((h + 3) // 4, (w + 3) // 4)) for layer in (
                nn.Conv2d(width(64, alpha), width(64, alpha), 5, stride=2, padding=2), nn.LeakyReLU(0.3),
                nn.Dropout(0.3))],
            nn.Flatten(),
        )
        extra = extra_doublings((h + 3) // 4, (w + 3) // 4)
        flat = width(64, alpha) * (((h + 3) // 4) >> extra) * (((w + 3) // 4) >> extra)
        self.fc = nn.Linear(flat, self.out_dim)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.features(self._with_label_maps(x, labels)))


# ---------------------------------------------------------------------------------------------
# dcgan


class DcganGenerator(Conditioning):
    """Radford-style DCGAN generator as in Xing section 2.2.2 (Fig. 1).

    z -> transposed conv 4x4 stride 1 from 1x1 to the start map -> 4x4 stride-2 transposed convs
    doubling the map -> C channels, tanh; BatchNorm + ReLU after every layer but the last.
    32x32: 1 -> 4 -> 8 -> 16 -> 32 with 256a/128a/64a/C filters, exactly the paper's four layers
    with BN after the first three. 28x28 cannot be reached by doubling from 4, so the first layer
    uses a 7x7 kernel and two doublings follow: 1 -> 7 -> 14 -> 28 with 128a/64a/C filters (one
    layer fewer, same kernel/stride/BN rules; no cropping or resizing of the output).
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None, latent_dim: int = 100):
        super().__init__(num_classes)
        alpha = check_alpha(alpha, "dcgan")
        c, h, w = check_shape(shape, "dcgan")
        start_h, start_w, doublings = upsampling_plan(h, w, max_doublings=8, arch="dcgan")
        self.latent_dim, self.shape = latent_dim, (c, h, w)
        chans = [width(64 * 2 ** (doublings - 1 - i), alpha) for i in range(doublings)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + self.label_dim, chans[0], (start_h, start_w), bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        layers += [nn.ConvTranspose2d(chans[-1], c, 4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = self._with_label_vector(z, labels)
        return self.net(z[:, :, None, None])


class DcganDiscriminator(Conditioning):
    """Radford-style DCGAN discriminator as in Xing section 2.2.2: the generator mirrored.

    4x4 stride-2 convolutions halving the map (64a, 128a, 256a, ...), LeakyReLU(0.2) everywhere,
    BatchNorm on all but the first; a final convolution with the start map's size gives the
    out_dim logit (32x32: 32 -> 16 -> 8 -> 4 -> 1; 28x28: 28 -> 14 -> 7 -> 1).
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None):
        super().__init__(num_classes)
        alpha = check_alpha(alpha, "dcgan")
        c, h, w = check_shape(shape, "dcgan")
        start_h, start_w, doublings = upsampling_plan(h, w, max_doublings=8, arch="dcgan")
        self.out_dim = 1
        chans = [width(64 * 2**i, alpha) for i in range(doublings)]
        layers: list[nn.Module] = [
            nn.Conv2d(c + self.label_dim, chans[0], 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2),
            ]
        layers += [nn.Conv2d(chans[-1], self.out_dim, (start_h, start_w)), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self._with_label_maps(x, labels))


# ---------------------------------------------------------------------------------------------
# hooda


class HoodaGenerator(Conditioning):
    """Hooda section III.A: FC, then 4 transposed convs (3x3) with 256a/128a/64a/C filters.

    LeakyReLU (slope 0.2) after every layer but the last, tanh at the end; the paper names no
    BatchNorm, so there is none. The FC output is the start map (4x4 for 32x32, 7x7 for 28x28)
    and the last transposed convs double it (three for 32x32, two for 28x28); the others keep
    the size.
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None, latent_dim: int = 100):
        super().__init__(num_classes)
        alpha = check_alpha(alpha, "hooda")
        c, h, w = check_shape(shape, "hooda")
        start_h, start_w, doublings = upsampling_plan(h, w, max_doublings=4, arch="hooda")
        self.latent_dim, self.shape = latent_dim, (c, h, w)
        chans = [width(256, alpha), width(256, alpha), width(128, alpha), width(64, alpha), c]
        self.start = (chans[0], start_h, start_w)
        self.fc = nn.Linear(latent_dim + self.label_dim, chans[0] * start_h * start_w)
        layers: list[nn.Module] = []
        for i, stride in enumerate(strides(4, doublings)):
            layers += [tconv(chans[i], chans[i + 1], 3, stride), nn.LeakyReLU(0.2) if i < 3 else nn.Tanh()]
        self.deconvs = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = F.leaky_relu(self.fc(self._with_label_vector(z, labels)), 0.2)
        return self.deconvs(x.view(-1, *self.start))


class HoodaDiscriminator(Conditioning):
    """Hooda section III.B: a binary real/fake CNN (the paper gives only its role, Fig. 2).

    Mirror of the generator: 3x3 convolutions with 64a/128a/256a filters, stride 2 while the map
    halves cleanly, LeakyReLU(0.2), dropout 0.3, then FC -> 1 logit.
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None):
        super().__init__(num_classes)
        alpha = check_alpha(alpha, "hooda")
        c, h, w = check_shape(shape, "hooda")
        start_h, start_w, doublings = upsampling_plan(h, w, max_doublings=3, arch="hooda")
        self.out_dim = 1
        chans = [c + self.label_dim, width(64, alpha), width(128, alpha), width(256, alpha)]
        layers: list[nn.Module] = []
        for i, stride in enumerate(reversed(strides(3, doublings))):
            layers += [
                nn.Conv2d(chans[i], chans[i + 1], 3, stride=stride, padding=1),
                nn.LeakyReLU(0.2),
                nn.Dropout(0.3),
            ]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Linear(chans[-1] * start_h * start_w, self.out_dim)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.features(self._with_label_maps(x, labels)))


# ---------------------------------------------------------------------------------------------
# dagan


def _require_classes(num_classes: int | None) -> int:
    if num_classes is None:
        raise ValueError(
            "dagan is conditional by construction: use gan.conditioning = \"conditional\" "
            "(it needs num_classes)"
        )
    return num_classes


class DaganGenerator(Conditioning):
    """Zhang & Wu (DAGAN), Table 2, generator: the label is concatenated at every stage.

    [z(100), one-hot] -> FC 512a x start map, ReLU -> [concat K label maps] -> 5x5 transposed
    conv 256a, ReLU -> [concat] -> 128a, ReLU -> [concat] -> C, tanh. For 32x32 the paper's 4x4
    start map is doubled by all three transposed convs; for 28x28 the start map is 7x7 and the
    first transposed conv keeps the size. Above 32 pixels a side one stage (64a, then 32a) is added per
    doubling, so 64x64 and 128x128 also start from 4x4.
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None, latent_dim: int = 100):
        super().__init__(_require_classes(num_classes))
        alpha = check_alpha(alpha, "dagan")
        c, h, w = check_shape(shape, "dagan")
        start_h, start_w, doublings = upsampling_plan(h, w, max_doublings=5, arch="dagan")
        self.latent_dim, self.shape = latent_dim, (c, h, w)
        layers = max(3, doublings)   # 28/32: the paper's three; 64: four, 128: five (depth follows resolution)
        chans = [width(512, alpha), width(256, alpha), width(128, alpha), width(64, alpha), width(32, alpha)]
        chans = [*chans[:layers], c]
        self.start = (chans[0], start_h, start_w)
        self.fc = nn.Linear(latent_dim + self.label_dim, chans[0] * start_h * start_w)
        self.deconvs = nn.ModuleList(
            tconv(chans[i] + self.label_dim, chans[i + 1], 5, stride)
            for i, stride in enumerate(strides(layers, doublings))
        )
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = F.relu(self.fc(self._with_label_vector(z, labels))).view(-1, *self.start)
        last = len(self.deconvs) - 1
        for i, deconv in enumerate(self.deconvs):
            x = deconv(self._with_label_maps(x, labels))
            x = torch.tanh(x) if i == last else F.relu(x)
        return x


class GaussianNoise(nn.Module):
    """Additive N(0, std^2) noise in training mode only (the 'GaussianLayer' of DAGAN Table 2)."""

    def __init__(self, std: float = 0.15):
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training else x


class DaganDiscriminator(Conditioning):
    """Zhang & Wu (DAGAN), Table 2 and eq. (3)-(8), discriminator: a 2K-way classifier.

    Gaussian input noise -> 3x3 convs 96a, 96a, 96a (stride 2), 192a, 192a, 192a (stride 2),
    192a (valid) -> two 1x1 (network-in-network) convs 192a -> global average pooling -> linear
    2K (K real classes, then K fake classes), LeakyReLU(0.2) throughout. It classifies the image
    itself, so `labels` is accepted for interface symmetry but not used.
    """

    def __init__(self, alpha: float, shape: Shape, num_classes: int | None = None):
        super().__init__(_require_classes(num_classes))
        alpha = check_alpha(alpha, "dagan")
        c, _, _ = check_shape(shape, "dagan")
        self.out_dim = 2 * self.label_dim
        a, b = width(96, alpha), width(192, alpha)
        spec = [(c, a, 3, 1, 1), (a, a, 3, 1, 1), (a, a, 3, 2, 1), (a, b, 3, 1, 1), (b, b, 3, 1, 1),
                (b, b, 3, 2, 1), (b, b, 3, 1, 0), (b, b, 1, 1, 0), (b, b, 1, 1, 0)]  # fmt: skip
        layers: list[nn.Module] = [GaussianNoise(0.15)]
        for c_in, c_out, kernel, stride, pad in spec:
            layers += [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(b, self.out_dim)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.features(x))


# The models of every name in trainables.terms.choices.GAN_ARCHS, the names' home (with which are
# conditional only), where a study file's gan.arch is checked without torch.
_MODELS = {
    "abadi": (AbadiGenerator, AbadiDiscriminator),
    "dcgan": (DcganGenerator, DcganDiscriminator),
    "hooda": (HoodaGenerator, HoodaDiscriminator),
    "dagan": (DaganGenerator, DaganDiscriminator),
}
GANS: Registry = Registry("GAN", {
    name: GanArch(name, 100, name in CONDITIONAL_ONLY_ARCHS, *_MODELS[name]) for name in GAN_ARCHS})
