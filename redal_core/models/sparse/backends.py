"""Backend interface, the offset-order calibration shared by all backends, and the backend registry.

A backend supplies three convolutions on a ``SparseTensor`` -- submanifold 3x3x3, strided 2x2x2 (stride 2)
and transposed 2x2x2 (stride 2, onto the finer level's own coordinates) -- each taking a weight of shape
``(K, C_in, C_out)`` in the canonical offset order of ``kernel_map``. Weights live in the model's own
Parameters; a backend only permutes / re-lays them out at call time, so a state_dict is the same whatever
backend computed it.

A backend implements ``_subm3 / _down2 / _up2`` with weights in its *native* offset order; the public
methods translate the canonical order through permutations measured once per backend instance by
``calibrate_offsets``: a probe convolution with one-hot weights over a one-voxel neighbourhood whose inputs
are labelled by their canonical offset index. This is how the spconv, MinkowskiEngine and torchsparse
orders are matched to ours without trusting documentation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ...registry import Registry
from .kernel_map import STRIDE2_OFFSETS, SUBM3_OFFSETS
from .tensor import SparseTensor

BACKENDS: Registry[type[Backend]] = Registry("sparse backend")

#: Pip / build hints shown when a backend is asked for explicitly but cannot be imported.
INSTALL_HINTS = {
    "torch": "built in",
    "spconv": "pip install spconv (CPU) or spconv-cu120 / spconv-cu121 / ... (CUDA 12.x), see redal-kit[spconv]",
    "minkowski": (
        "apt-get install libopenblas-dev && pip install minkowskiengine==0.5.4 --no-build-isolation "
        '"--config-settings=--global-option=--blas=openblas" (builds from source, ~7 minutes on CPU)'
    ),
    "torchsparse": "torchsparse >= 2.0 is not on PyPI: build it from https://github.com/mit-han-lab/torchsparse (CUDA)",
}


class BackendUnavailable(ImportError):
    """Raised when a backend's library cannot be imported; the message says how to install it."""


class Backend(ABC):
    """Base class: canonical-order public convolutions over native-order private ones."""

    name: str = "abstract"

    def __init__(self) -> None:
        self._perms: dict[str, torch.Tensor] | None = None

    # -- native-order operations, provided by each backend -------------------------------------------------
    @abstractmethod
    def _subm3(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        """(N, C_out) features at x's voxels; weight (27, C_in, C_out) in native order."""

    @abstractmethod
    def _down2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        """(N_coarse, C_out) features in the row order of ``x.context.level(2 * x.stride)``."""

    @abstractmethod
    def _up2(self, x: SparseTensor, weight: torch.Tensor) -> torch.Tensor:
        """(N_fine, C_out) features in the row order of ``x.context.level(x.stride // 2)``."""

    def native_order(self) -> bool:
        """True when the native offset order is the canonical one (no calibration needed)."""
        return False

    # -- public, canonical-order operations ----------------------------------------------------------------
    def subm3(self, x: SparseTensor, weight: torch.Tensor) -> SparseTensor:
        """Submanifold 3x3x3 convolution. weight : (27, C_in, C_out) -> same voxels, C_out channels."""
        _check_weight(weight, 27, x.feats.shape[1], "submanifold 3x3x3")
        return x.with_feats(self._subm3(x, self._native(weight, "subm3")))

    def down2(self, x: SparseTensor, weight: torch.Tensor) -> SparseTensor:
        """Strided 2x2x2 convolution, stride 2. weight : (8, C_in, C_out) -> voxels at ``2 * x.stride``."""
        _check_weight(weight, 8, x.feats.shape[1], "strided 2x2x2")
        return x.at_stride(2 * x.stride, self._down2(x, self._native(weight, "down2")))

    def up2(self, x: SparseTensor, weight: torch.Tensor) -> SparseTensor:
        """Transposed 2x2x2 convolution, stride 2, onto the voxels of ``x.stride // 2`` (the encoder's)."""
        if x.stride < 2:
            raise ValueError(f"a transposed stride-2 convolution needs an input at stride >= 2, got {x.stride}")
        _check_weight(weight, 8, x.feats.shape[1], "transposed 2x2x2")
        return x.at_stride(x.stride // 2, self._up2(x, self._native(weight, "up2")))

    def _native(self, weight: torch.Tensor, kind: str) -> torch.Tensor:
        if self.native_order():
            return weight
        if self._perms is None:
            self._perms = calibrate_offsets(self)
        return weight.index_select(0, self._perms[kind].to(weight.device))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __reduce__(self):
        # copies / pickles of a model re-create the backend by name (it holds library modules, not state)
        return (get_backend, (self.name,))


def _check_weight(weight: torch.Tensor, volume: int, c_in: int, what: str) -> None:
    if weight.ndim != 3 or weight.shape[0] != volume or weight.shape[1] != c_in:
        raise ValueError(
            f"{what} convolution needs a weight of shape ({volume}, {c_in}, C_out) for {c_in} input channels, "
            f"got {tuple(weight.shape)}"
        )


def calibrate_offsets(backend: Backend, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """For each kind, ``perm`` with ``native_weight = canonical_weight[perm]`` (int64 tensors of length K).

    Probe: every voxel of a 3x3x3 (or 2x2x2) block carries its canonical offset index + 1 as its single
    feature; a one-hot weight (native offset k -> output channel k) makes output channel k read the label of
    the input the backend pairs with native offset k.
    """
    perms = {}
    block3 = torch.tensor([(0, *(c + 1 for c in d)) for d in SUBM3_OFFSETS], dtype=torch.int32, device=device)
    labels3 = torch.arange(1, 28, dtype=torch.float32, device=device)[:, None]
    x = SparseTensor.from_input(coords=block3, feats=labels3, backend=backend)
    out = backend._subm3(x, torch.eye(27, device=device)[:, None, :])
    perms["subm3"] = _read_perm(out[SUBM3_OFFSETS.index((0, 0, 0))], 27, backend, "subm3")

    block2 = torch.tensor([(0, *d) for d in STRIDE2_OFFSETS], dtype=torch.int32, device=device)
    labels2 = torch.arange(1, 9, dtype=torch.float32, device=device)[:, None]
    x = SparseTensor.from_input(coords=block2, feats=labels2, backend=backend)
    out = backend._down2(x, torch.eye(8, device=device)[:, None, :])
    perms["down2"] = _read_perm(out[0], 8, backend, "down2")

    x = SparseTensor.from_input(coords=block2, feats=labels2, backend=backend)
    coarse = x.at_stride(2, torch.ones((1, 1), device=device))
    out = backend._up2(coarse, torch.eye(8, device=device)[:, None, :])  # (8 fine voxels, 8 native offsets)
    fine_label = labels2[:, 0]
    perms["up2"] = _read_perm((out * fine_label[:, None]).sum(dim=0), 8, backend, "up2")
    return perms


def _read_perm(row: torch.Tensor, volume: int, backend: Backend, kind: str) -> torch.Tensor:
    perm = torch.round(row.detach().double()).to(torch.int64).cpu() - 1
    if sorted(perm.tolist()) != list(range(volume)):
        raise RuntimeError(
            f"backend {backend.name!r}: the {kind} probe did not recover a kernel-offset permutation "
            f"(got {perm.tolist()}); its convolution semantics differ from the adapter's"
        )
    return perm


def probe_backend(name: str, device: torch.device | str = "cpu") -> Backend:
    """An instance of backend ``name`` that has loaded AND run its first convolution on ``device``.

    Any exception at import or at the first use (the offset-calibration probe, a real convolution) makes
    the backend unavailable: ``BackendUnavailable`` carries the reason (e.g. torchsparse 2.1 imports only
    where CUDA is compiled in, and its kernel maps need CUDA). The calibration is kept on the instance.
    """
    try:
        backend = BACKENDS.get(name)()
    except BackendUnavailable:
        raise
    except Exception as error:  # an importable but broken library: any failure at all means unavailable
        raise BackendUnavailable(
            f"sparse backend {name!r} failed to load: {type(error).__name__}: {error}".rstrip(": ")
        ) from error
    try:
        perms = calibrate_offsets(backend, device)
    except Exception as error:
        raise BackendUnavailable(
            f"sparse backend {name!r} loaded but its first convolution failed on {device}: "
            f"{type(error).__name__}: {error}".rstrip(": ")
        ) from error
    if not backend.native_order():
        backend._perms = perms
    return backend


def _probe_device(name: str) -> str:
    return "cuda" if name == "torchsparse" and torch.cuda.is_available() else "cpu"


def backend_status() -> dict[str, str | None]:
    """Every registered backend -> None when it loads and convolves here, else the reason it does not.

    Each backend is probed on the device it would run on (torchsparse on CUDA when there is one, the
    others on the CPU); a failure is reported, never raised.
    """
    status: dict[str, str | None] = {}
    for name in BACKENDS.names():
        try:
            probe_backend(name, _probe_device(name))
        except BackendUnavailable as error:
            status[name] = str(error)
        else:
            status[name] = None
    return status


def available_backends() -> list[str]:
    """Names of the backends that load and convolve on this machine (``torch`` always);
    ``backend_status()`` gives the reason for each of the others."""
    return [name for name, reason in backend_status().items() if reason is None]


def get_backend(name: str = "auto") -> Backend:
    """A backend instance by name: ``auto``, ``torch``, ``spconv``, ``minkowski`` or ``torchsparse``.

    ``auto`` picks torchsparse when CUDA is available and torchsparse works, else spconv when it works,
    else the built-in torch backend, moving past any backend that fails to load or to convolve. An explicit
    name that cannot be used raises ``BackendUnavailable`` with the reason (how to install it, or the
    library's own error).
    """
    if isinstance(name, Backend):
        return name
    if name == "auto":
        candidates = (["torchsparse"] if torch.cuda.is_available() else []) + ["spconv"]
        for candidate in candidates:
            try:
                return probe_backend(candidate, _probe_device(candidate))
            except BackendUnavailable:
                continue
        return BACKENDS.get("torch")()
    if not isinstance(name, str) or name not in BACKENDS:
        valid = ", ".join(["auto", *BACKENDS.names()])
        raise ValueError(f"unknown sparse backend {name!r}; valid names: {valid}")
    return probe_backend(name, _probe_device(name))
