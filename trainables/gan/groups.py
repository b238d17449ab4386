"""Groups: one interface for per-class stacks and the conditional GAN.

Every GAN kind of a study is a *group*: a generator and a discriminator that map a batch shaped
(groups, b, ...) to (groups, b, ...).

- `conditional`: one label-conditioned GAN (groups = 1), `LabelledGroup`.
- `per-class`: K unconditional GANs, one per class (Abadi section 3), either `VmapGroup` (the K
  parameter sets stacked into ordinary nn.Parameters of one module and run with torch.func.vmap over
  functional_call: one big kernel per layer instead of K small ones) or `LoopGroup` (an nn.ModuleList
  run one member after the other). Both give each member exactly the gradients it would get alone.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state


class VmapGroup(nn.Module):
    """K copies of one architecture run as one module with torch.func.vmap (per-class GANs).

    The stacked parameters are ordinary nn.Parameters of shape (K, ...) registered on this
    module, so optimizers, state_dict and DDP (via prepare_model) see plain parameters. The
    template module that functional_call runs lives on the meta device and is deliberately not a
    submodule: its parameters are placeholders only.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        params, buffers = stack_module_state(members)
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        for name, value in params.items():
            self.register_parameter(self._flat(name), nn.Parameter(value))
        for name, value in buffers.items():
            self.register_buffer(self._flat(name), value)
        self.out_dim = getattr(members[0], "out_dim", None)
        self.groups = len(members)
        object.__setattr__(self, "_template", copy.deepcopy(members[0]).to("meta"))

    @staticmethod
    def _flat(name: str) -> str:
        return name.replace(".", "__")  # parameter names may not contain dots

    def train(self, mode: bool = True) -> VmapGroup:
        super().train(mode)
        self._template.train(mode)  # not a submodule, so forward train/eval by hand (dropout)
        return self

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        params = {name: getattr(self, self._flat(name)) for name in self.param_names}
        buffers = {name: getattr(self, self._flat(name)) for name in self.buffer_names}

        def one(p, b, xi):
            return functional_call(self._template, (p, b), (xi,))

        # randomness="different": each member draws its own dropout masks, as it would alone.
        return torch.vmap(one, randomness="different")(params, buffers, x)


class LoopGroup(nn.Module):
    """K copies of one architecture run one after the other (the per-class fallback path)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.out_dim = getattr(members[0], "out_dim", None)
        self.groups = len(members)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([member(x[k]) for k, member in enumerate(self.members)])


class LabelledGroup(nn.Module):
    """One label-conditioned model seen as a group of 1: (1, b, ...) in, (1, b, ...) out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.out_dim = getattr(model, "out_dim", None)
        self.groups = 1

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x[0], labels[0]).unsqueeze(0)


GROUP_CLASSES: dict[str, type[nn.Module]] = {"vmap": VmapGroup, "loop": LoopGroup}
