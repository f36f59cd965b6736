"""dg.nn.utils.parametrizations, as torch.nn.utils.parametrizations: weight_norm,
spectral_norm and orthogonal, built on parametrize.register_parametrization.

orthogonal offers torch's three maps, "matrix_exp", "cayley" and "householder" (the last
through dg.linalg.householder_product), with or without the dynamic trivialization."""

from __future__ import annotations

import math
from enum import Enum, auto
from typing import Any

import numpy as np

from ... import creation
from ... import functional as F
from ...linalg import householder_product
from ...tensor import Tensor, cat, get_array_module, no_grad
from ..conv import _ConvTransposeNd
from ..module import Module
from .parametrize import _size, register_parametrization

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


# ---- helpers shared with the hook-based weight_norm / spectral_norm -------------------------


def _norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """torch.norm_except_dim(v, 2, dim): the 2-norm over every dim but dim, kept as size-1
    dims (shape 1 .. v.shape[dim] .. 1); dim == -1 is torch's "no dim": the norm of all of v,
    a 0-d tensor (what dim=None becomes)."""
    if dim == -1:
        return v.norm()
    d = dim % v.ndim
    axes = tuple(i for i in range(v.ndim) if i != d)
    if not axes:  # a vector and dim 0: each element is its own slice
        return v.abs()
    return v.norm(dim=axes, keepdim=True)


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    """torch._weight_norm(v, g, dim) = v * (g / norm_except_dim(v, 2, dim))."""
    return v * (g / _norm_except_dim(v, dim))


def _check_weight_norm_dim(fn: str, v: Any, dim: Any) -> int:
    if dim is None:
        return -1
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{fn}: dim: expected an int or None, got {type(dim).__name__}")
    nd = max(v.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(
            f"{fn}: dim: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
            f"but got {dim})"
        )
    return int(dim)


def _normalized(a: Any, eps: float) -> Any:
    """F.normalize(a, dim=0, eps=eps) of a 1-D array: a / max(||a||, eps)."""
    xp = get_array_module(a)
    return a / xp.maximum(xp.sqrt(xp.dot(a, a)), eps)


def _is_convtranspose(module: Module) -> bool:
    """ConvTranspose1d / 2d / 3d (their weights' output channels are dim 1)."""
    return isinstance(module, _ConvTransposeNd)


def _get_weight(module: Module, name: str) -> Tensor:
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    return weight


# ---- weight_norm ------------------------------------------------------------------------------


class _WeightNorm(Module):
    """weight = g * v / ||v|| (the norm over every dim but dim; dim -1: over all of v)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalization of module.<name>, as torch: original0 = g (the norms, shape 1
    except along dim; dim=None: one norm, 0-d), original1 = v (the direction), weight = g * v
    / ||v||. A state dict of the hook-based weight_norm ("<name>_g", "<name>_v") loads into
    it. Returns module."""
    weight = _get_weight(module, name)
    dim = _check_weight_norm_dim("weight_norm", weight, dim)
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(
        mod: Module,
        state_dict: Any,
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            original0 = state_dict.pop(g_key)
            original1 = state_dict.pop(v_key)
            state_dict[f"{prefix}parametrizations.{name}.original0"] = original0
            state_dict[f"{prefix}parametrizations.{name}.original1"] = original1

    module.register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


# ---- spectral_norm ----------------------------------------------------------------------------


class _SpectralNorm(Module):
    """weight / sigma, sigma = u . (W v) the largest singular value of the weight as a matrix
    (dim first, the rest flattened), estimated by power iteration: u and v (buffers _u, _v)
    take n_power_iterations steps at each read in training mode (15 at construction) and are
    frozen in eval mode. A 1-D weight is simply normalized."""

    def __init__(
        self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            u, v = _normal(h, weight), _normal(w, weight)
            self.register_buffer("_u", Tensor(_normalized(u, eps)))
            self.register_buffer("_v", Tensor(_normalized(v, eps)))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.reshape(weight.shape[0], -1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        """u = normalize(W v), then v = normalize(W^T u), n times; u and v are updated in
        place (their identity kept), outside the graph."""
        with no_grad():
            w = weight_mat.data
            u, v = self._u.data, self._v.data
            for _ in range(n_power_iterations):
                u = _normalized(w @ v, self.eps)
                v = _normalized(w.T @ u, self.eps)
            self._u.copy_(Tensor(u))
            self._v.copy_(Tensor(v))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u = self._u.detach().clone()  # copies: a later step does not touch this graph
        v = self._v.detach().clone()
        sigma = u.dot(weight_mat.matmul(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def _normal(n: int, like: Tensor) -> Any:
    """n standard normal draws (deltagrad's generator) as an array of like's dtype/device."""
    return creation.randn(n, dtype=like.dtype, device=like.device).data


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Spectral normalization of module.<name>, as torch: weight / sigma, sigma estimated by
    power iteration (module.parametrizations.<name>[0]._u / _v, updated at each read in
    training mode only). dim (the output dim): default 1 for ConvTranspose, else 0."""
    weight = _get_weight(module, name)
    if dim is None:
        dim = 1 if _is_convtranspose(module) else 0
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ---- orthogonal -------------------------------------------------------------------------------


def _expm_array(a: Any) -> Any:
    """exp of a batch of square float matrices (..., n, n): scaling and squaring with a
    Taylor series (the scaled norm is <= 1/2, so 20 terms reach float64's precision)."""
    xp = get_array_module(a)
    n = a.shape[-1]
    norm = float(xp.abs(a).sum(axis=-2).max()) if a.size else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    a = a / (2.0**s)
    eye = xp.broadcast_to(xp.eye(n, dtype=a.dtype), a.shape)
    result = eye.copy()
    term = eye
    for k in range(1, 21):
        term = (term @ a) / k
        result = result + term
    for _ in range(s):
        result = result @ result
    return result


def _matrix_exp(a: Tensor) -> Tensor:
    """torch.matrix_exp with its gradient: grad_A is the upper-right block of
    exp([[A^T, G], [0, A^T]]) (the Frechet derivative at A^T applied to G)."""
    xp = get_array_module(a.data)
    out = _expm_array(a.data)

    def _backward(g: Any) -> None:
        at = xp.swapaxes(a.data, -1, -2)
        n = at.shape[-1]
        big = xp.zeros((*at.shape[:-2], 2 * n, 2 * n), dtype=at.dtype)
        big[..., :n, :n] = at
        big[..., n:, n:] = at
        big[..., :n, n:] = g
        a._accumulate(_expm_array(big)[..., :n, n:])

    return Tensor._make(out, (a,), _backward, "matrix_exp", saves=(a,))


def _solve(m: Tensor, b: Tensor) -> Tensor:
    """torch.linalg.solve(M, B) for square B with its gradient: grad_B = M^-T G,
    grad_M = -grad_B X^T."""
    xp = get_array_module(m.data)
    x = xp.linalg.solve(m.data, b.data)

    def _backward(g: Any) -> None:
        gb = xp.linalg.solve(xp.swapaxes(m.data, -1, -2), g)
        if b.requires_grad:
            b._accumulate(gb)
        if m.requires_grad:
            m._accumulate(-(gb @ xp.swapaxes(x, -1, -2)))

    return Tensor._make(x, (m, b), _backward, "linalg_solve", saves=(m,))


def _is_orthogonal(q: Any) -> bool:
    xp = get_array_module(q)
    n, k = q.shape[-2], q.shape[-1]
    eps = 10.0 * n * float(np.finfo(q.dtype).eps)
    qtq = xp.swapaxes(q, -1, -2) @ q
    eye = xp.eye(k, dtype=q.dtype)
    return bool(xp.all(xp.abs(qtq - eye) <= eps + 1e-5 * xp.abs(eye)))


def _make_orthogonal(a: Any) -> Any:
    """The Q of A = QR (A tall), with diag(R) made non-negative (Q's columns flipped)."""
    xp = get_array_module(a)
    q, r = xp.linalg.qr(a)
    signs = xp.sign(xp.diagonal(r, axis1=-2, axis2=-1))
    return q * signs[..., None, :]


def _householder(x: Tensor) -> Tensor:
    """torch's householder map of a tall X (..., n, k): the reflectors below X's diagonal
    (tau = 2 / (1 + |v|^2) makes each an exact reflection), times X's diagonal truncated to
    an int (the signs; outside the graph, as torch's .int() cast: no gradient reaches it)."""
    a = x.tril(-1)
    tau = 2.0 / ((a * a).sum(dim=-2) + 1.0)
    q = householder_product(a, tau)
    xp = get_array_module(x.data)
    signs = xp.trunc(xp.diagonal(x.data, axis1=-2, axis2=-1)).astype(x.dtype)
    return q * Tensor(xp.ascontiguousarray(signs[..., None, :]))


def _householder_inverse(q: Any) -> Any:
    """torch's right_inverse of the householder map without trivialization: geqrf of Q (Q^T
    for a wide matrix) -- LAPACK's reflectors below the diagonal -- with R's diagonal replaced
    by its signs (flipped where LAPACK made no reflection, tau == 0). On the host: numpy's
    qr(mode="raw") is LAPACK's geqrf, as torch's."""
    xp = get_array_module(q)
    host = q.get() if xp is not np else q
    transpose = host.shape[-2] < host.shape[-1]
    if transpose:
        host = np.swapaxes(host, -1, -2)
    if host.size:
        h, tau = np.linalg.qr(host, mode="raw")  # h is geqrf's result, transposed
        a = np.array(np.swapaxes(h, -1, -2))
    else:
        a, tau = np.array(host), np.zeros((*host.shape[:-2], host.shape[-1]), host.dtype)
    idx = np.arange(min(a.shape[-2:]))
    diag = np.sign(a[..., idx, idx])
    a[..., idx, idx] = np.where(tau == 0.0, -diag, diag)
    if transpose:
        a = np.swapaxes(a, -1, -2)
    return xp.ascontiguousarray(xp.asarray(a, dtype=q.dtype))


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    """Q = map(skew(tril(X))) [:, :k] (matrix_exp, cayley) or the product of the Householder
    reflections stored below X's diagonal, times the signs on it (householder); times the
    buffer base (use_trivialization); transposed for a wide matrix."""

    base: Tensor

    def __init__(
        self, weight: Tensor, orthogonal_map: _OrthMaps, *, use_trivialization: bool = True
    ) -> None:
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map == _OrthMaps.householder:
            q = _householder(x)
        else:
            x = x.tril()
            if n != k:
                zeros = creation.zeros(*x.shape[:-2], n, n - k, dtype=x.dtype, device=x.device)
                x = cat([x, zeros], dim=-1)
            a = x - x.mT
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                q = _matrix_exp(a)
            else:  # cayley: (I - A/2)^-1 (I + A/2)
                eye = creation.eye(n, dtype=a.dtype, device=a.device)
                q = _solve(eye - a * 0.5, eye + a * 0.5)
            if n != k:
                q = q[..., :k]
        if hasattr(self, "base"):
            q = self.base.matmul(q)
        if transposed:
            q = q.mT
        return q

    def right_inverse(self, q: Tensor) -> Tensor:
        if q.shape != self.shape:
            raise ValueError(
                f"Expected a matrix or batch of matrices of shape {_size(self.shape)}"
                f". Got a tensor of shape {_size(q.shape)}."
            )
        if not hasattr(self, "base"):
            if self.orthogonal_map != _OrthMaps.householder:
                raise NotImplementedError(
                    "It is not possible to assign to the matrix exponential "
                    "or the Cayley parametrizations when use_trivialization=False."
                )
            return Tensor(_householder_inverse(q.data))
        with no_grad():
            arr = q.data
            xp = get_array_module(arr)
            n, k = arr.shape[-2], arr.shape[-1]
            if n < k:
                arr = xp.swapaxes(arr, -1, -2)
                n, k = k, n
            if n == k:
                base = arr.copy() if _is_orthogonal(arr) else _make_orthogonal(arr)
            else:  # complete Q into a full n x n orthogonal matrix
                extra = _normal(int(np.prod(arr.shape[:-2], dtype=np.int64)) * n * (n - k), q)
                extra = extra.reshape(*arr.shape[:-2], n, n - k)
                base = _make_orthogonal(xp.concatenate([arr, extra], axis=-1))
            self.base = Tensor(xp.ascontiguousarray(base))
            neg_id = xp.zeros(q.shape, dtype=q.dtype)
            idx = xp.arange(min(q.shape[-2:]))
            neg_id[..., idx, idx] = -1.0
            return Tensor(neg_id)


def orthogonal(
    module: Module,
    name: str = "weight",
    orthogonal_map: str | None = None,
    *,
    use_trivialization: bool = True,
) -> Module:
    """Make module.<name> (a matrix or a batch of matrices) orthogonal, as torch: orthonormal
    columns (rows for a wide matrix), Q = exp(A) ("matrix_exp") or the Cayley map of the
    skew-symmetric A built from the original, or a product of Householder reflections
    ("householder"). use_trivialization=True (default): the initial value is the weight
    (orthogonalized by QR if it is not orthogonal) kept in the buffer
    module.parametrizations.<name>[0].base. orthogonal_map default: "matrix_exp" for a square
    matrix, "householder" otherwise."""
    weight = _get_weight(module, name)
    if weight.ndim < 2:
        raise ValueError(
            f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions."
        )
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    orth_enum = (
        _OrthMaps.__members__.get(orthogonal_map) if isinstance(orthogonal_map, str) else None
    )
    if orth_enum is None:
        raise ValueError(
            'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
            f"Got: {orthogonal_map}"
        )
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    register_parametrization(module, name, orth, unsafe=True)
    return module
