"""torch's tensor-math functions: einsum, tensordot, cdist, meshgrid, broadcast_tensors,
broadcast_shapes, searchsorted, bucketize, kron, equal, histc, cartesian_prod, block_diag.

The differentiable ones either build on Tensor ops (kron, meshgrid, block_diag, ...) or have
their own backward (einsum, cdist) written with the array module of the data (numpy on the
CPU, cupy on a GPU). searchsorted, bucketize, histc and equal carry no gradient (as torch).
"""

from __future__ import annotations

import math
import string
import warnings
from functools import partial
from typing import Any

import numpy as np

from . import _cpu, ops
from ._cpu import IndexRangeError
from .tensor import (
    _TORCH_TYPE_NAMES,
    Tensor,
    _kernel_dtype_error,
    _MatmulDtypeError,
    _result_dtype,
    _ShapeError,
    cat,
    get_array_module,
    is_cuda_array,
    stack,
    where,
)

__all__ = [
    "einsum",
    "tensordot",
    "cdist",
    "meshgrid",
    "broadcast_tensors",
    "broadcast_shapes",
    "searchsorted",
    "bucketize",
    "kron",
    "equal",
    "histc",
    "cartesian_prod",
    "block_diag",
]

_LETTERS = string.ascii_lowercase + string.ascii_uppercase  # torch's sublist ints 0..51


class _DtypeError(RuntimeError, TypeError):
    """An operand of a dtype the op does not take, or operands of different dtypes: torch's
    RuntimeError; a TypeError too."""


def _tensor(x: Any, fn: str, name: str) -> Tensor:
    """x as a Tensor (a numpy / cupy array is wrapped without a copy); anything else is a
    TypeError naming fn and the argument."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or is_cuda_array(x):
        return Tensor(x)
    raise TypeError(f"{fn}: {name}: expected a Tensor, got {type(x).__name__}")


def _same_device(ts: list[Tensor], fn: str) -> None:
    devs = {is_cuda_array(t.data) for t in ts}
    if len(devs) > 1:
        raise RuntimeError(f"{fn}: expected all tensors on the same device, got cpu and cuda")


def _varargs(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """torch's `f(a, b)` or `f([a, b])` forms of a function of several tensors."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return tuple(args[0])
    return args


# ---- einsum ----------------------------------------------------------------------------


def _terms(text: str, what: str) -> list[str]:
    """One term's subscripts as tokens: letters and '...' (at most one ellipsis)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == ".":
            if text[i : i + 3] != "...":
                raise _ShapeError(
                    f"einsum(): found '.' for {what} that is not part of any ellipsis"
                )
            if "..." in out:
                raise _ShapeError(f"einsum(): found more than one ellipsis for {what}")
            out.append("...")
            i += 3
            continue
        if c not in _LETTERS:
            raise _ShapeError(
                f"einsum(): invalid subscript {c!r} given in the equation string, subscripts "
                "must be in [a-zA-Z]"
            )
        out.append(c)
        i += 1
    return out


def _parse(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str, dict[str, int]]:
    """(each operand's subscripts, the output's, each letter's size) with every ellipsis
    written out as letters the equation does not use, and the implicit output made explicit.
    """
    eq = "".join(equation.split())
    lhs, arrow, rhs = eq.partition("->")
    if "->" in rhs or "-" in lhs or ">" in lhs:
        raise _ShapeError("einsum(): invalid equation: expected at most one '->'")
    parts = lhs.split(",")
    if len(parts) > len(shapes):
        raise _ShapeError("einsum(): fewer operands were provided than specified in the equation")
    if len(parts) < len(shapes):
        raise _ShapeError("einsum(): more operands were provided than specified in the equation")
    toks = [_terms(p, f"operand {i}") for i, p in enumerate(parts)]
    used = {c for t in toks for c in t} | set(rhs)
    free = [c for c in _LETTERS if c not in used]
    n_ell = 0
    for i, (t, shape) in enumerate(zip(toks, shapes)):
        n = len(t) - ("..." in t)
        if "..." in t and n > len(shape) or "..." not in t and n != len(shape):
            raise _ShapeError(
                f"einsum(): the number of subscripts in the equation ({n}) does not match the "
                f"number of dimensions ({len(shape)}) for operand {i}"
                + ("" if "..." in t else " and no ellipsis was given")
            )
        if "..." in t:
            n_ell = max(n_ell, len(shape) - n)
    if n_ell > len(free):
        raise _ShapeError("einsum(): too many dimensions: at most 52 subscripts are supported")
    ell = free[:n_ell]
    subs: list[str] = []
    sizes: dict[str, int] = {}
    for i, (t, shape) in enumerate(zip(toks, shapes)):
        letters: list[str] = []
        for tok in t:
            if tok == "...":
                k = len(shape) - (len(t) - 1)
                letters.extend(ell[n_ell - k :])
            else:
                letters.append(tok)
        seen: dict[str, int] = {}
        for c, n in zip(letters, shape):
            if c in seen and seen[c] != n:
                raise _ShapeError(
                    f"einsum(): subscript {c} is repeated for operand {i} but the sizes don't "
                    f"match, {n} != {seen[c]}"
                )
            seen[c] = n
            cur = sizes.get(c)
            if cur is None or cur == 1:
                sizes[c] = n
            elif n not in (1, cur):
                raise _ShapeError(
                    f"einsum(): subscript {c} has size {n} for operand {i} which does not "
                    f"broadcast with previously seen size {cur}"
                )
        subs.append("".join(letters))
    if arrow:
        out: list[str] = []
        for tok in _terms(rhs, "the output"):
            if tok == "...":
                out.extend(ell)
            elif tok in out:
                raise _ShapeError(f"einsum(): output subscript {tok} appears more than once")
            elif tok not in sizes:
                raise _ShapeError(
                    f"einsum(): output subscript {tok} does not appear in the equation for any "
                    "input operand"
                )
            else:
                out.append(tok)
        return subs, "".join(out), sizes
    counts: dict[str, int] = {}
    for t in toks:
        for c in t:
            counts[c] = counts.get(c, 0) + 1
    once = sorted(c for c, k in counts.items() if k == 1 and c != "...")
    return subs, "".join(ell) + "".join(once), sizes


def _sublist_equation(args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """torch's sublist form einsum(op0, [0, 1], op1, [1, 2], [0, 2]) as (equation, ops)."""

    def sub(lst: Any) -> str:
        if not isinstance(lst, (list, tuple)):
            raise TypeError(f"einsum(): expected a list of subscripts, got {type(lst).__name__}")
        out = []
        for s in lst:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < 52:
                out.append(_LETTERS[s])
            else:
                raise ValueError(
                    f"einsum(): subscript in subscript list is not within [0, 52): {s!r}"
                )
        return "".join(out)

    ops = args[0::2]
    lists = args[1::2]
    out = None
    if len(args) % 2 == 1:
        ops, out = args[0:-1:2], args[-1]
        if isinstance(out, Tensor):
            raise ValueError("einsum(): each operand needs its subscripts list")
    eq = ",".join(sub(s) for s in lists)
    if out is not None:
        eq += "->" + sub(out)
    return eq, tuple(ops)


def _einsum2(eq: str, a: Any, b: Any, xp: Any) -> Any:
    """xp.einsum(eq, a, b) ("ab,bc->ac" form, explicit output) as one batched matmul when it
    is a contraction of some size (numpy's einsum runs its own loops, no BLAS): letters of
    one operand alone that the output lacks are summed first; the others are batch (both
    operands and the output), contracted (both operands) or kept from one operand. Repeated
    letters within an operand (diagonals) and small products stay with einsum."""
    lhs, so = eq.split("->")
    sa, sb = lhs.split(",")
    if len(set(sa)) < len(sa) or len(set(sb)) < len(sb) or a.dtype.kind not in "fiu":
        return xp.einsum(eq, a, b)
    size = dict(zip(sa, a.shape)) | dict(zip(sb, b.shape))
    batch = [c for c in so if c in sa and c in sb]
    ka = [c for c in so if c in sa and c not in sb]
    kb = [c for c in so if c in sb and c not in sa]
    con = [c for c in sa if c in sb and c not in so]
    m, n, k = (math.prod(size[c] for c in cs) for cs in (ka, kb, con))
    if k < 4 or m * n < 16:
        return xp.einsum(eq, a, b)
    drop = tuple(i for i, c in enumerate(sa) if c not in sb and c not in so)
    if drop:
        a, sa = a.sum(axis=drop, dtype=a.dtype), "".join(c for c in sa if c in sb or c in so)
    drop = tuple(i for i, c in enumerate(sb) if c not in sa and c not in so)
    if drop:
        b, sb = b.sum(axis=drop, dtype=b.dtype), "".join(c for c in sb if c in sa or c in so)
    p = math.prod(size[c] for c in batch)
    at = a.transpose([sa.index(c) for c in batch + ka + con]).reshape(p, m, k)
    bt = b.transpose([sb.index(c) for c in batch + con + kb]).reshape(p, k, n)
    order = batch + ka + kb
    r = xp.matmul(at, bt).reshape([size[c] for c in order])
    return xp.ascontiguousarray(r.transpose([order.index(c) for c in so]))


_NO_BMM = ("bool", "uint16", "uint32", "uint64")  # torch's CPU bmm has no kernel for these


def _int_einsum(subs: list[str], out_sub: str, arrays: list[Any], xp: Any) -> Any:
    """einsum of bool / int arrays (of one dtype, shapes unbroadcast) on torch's path, so its
    dtype, its wrap-around in narrow ints and its errors come out as torch's. torch contracts
    left to right (no opt_einsum path then); in each pair it first sums the contracted
    letters that no later operand holds with a size other than 1 out of the one operand that
    has them (a sum: int64), multiplies when no letter is left to contract (promoting) and
    otherwise takes a bmm, which needs one dtype (and has no bool or wide unsigned kernel).
    One operand: its diagonals, summed over its contracted letters (int64) if it has any."""
    wide = np.dtype(np.int64)
    con = {c for sub in subs for c in sub if c not in out_sub}
    ops: list[tuple[Any, str]] = []  # each operand: its diagonals, size-1 dims dropped
    for sub, a in zip(subs, arrays):
        uniq = "".join(dict.fromkeys(sub))
        a = xp.einsum(f"{sub}->{uniq}", a) if uniq != sub else a
        ones = tuple(k for k, n in enumerate(a.shape) if n == 1)
        ops.append((a.squeeze(ones), "".join(c for k, c in enumerate(uniq) if k not in ones)))
    if len(ops) == 1:
        a, sub = ops[0]
        if con:
            a = a.sum(axis=tuple(k for k, c in enumerate(sub) if c in con), dtype=wide)
            ops[0] = (a, "".join(c for c in sub if c not in con))
    count = {c: sum(c in sub for _, sub in ops) for c in con}
    while len(ops) > 1:
        (a, sa), (b, sb) = ops[0], ops[1]
        both = []
        for c in sorted(con):
            if c in sa and c in sb:
                count[c] -= 1
                if count[c] == 1:
                    both.append(c)
                    count[c] = 0
            elif count[c] == 1 and (c in sa or c in sb):
                count[c] = 0
                if c in sa:
                    a, sa = a.sum(axis=sa.index(c), dtype=wide), sa.replace(c, "")
                else:
                    b, sb = b.sum(axis=sb.index(c), dtype=wide), sb.replace(c, "")
        sr = "".join(dict.fromkeys(c for c in sa + sb if c not in both))
        if both and (a.size == 0 or b.size == 0):
            # torch's bmm of an empty operand returns zeros before any dtype check, in the
            # dtype of its output: the right operand's (a bool 3x0 @ 0x2 is 3x2 False)
            shape = [a.shape[sa.index(c)] if c in sa else b.shape[sb.index(c)] for c in sr]
            ops[:2] = [(xp.zeros(shape, b.dtype), sr)]
            continue
        if both:  # its kernel is picked by the left operand's dtype, then the dtypes checked
            if a.dtype.name in _NO_BMM:
                raise _kernel_dtype_error("einsum", "bmm", a.dtype, "use a float dtype")
            if a.dtype != b.dtype:
                raise _MatmulDtypeError(
                    f"einsum(): expected scalar type {_TORCH_TYPE_NAMES[a.dtype.name]} but "
                    f"found {_TORCH_TYPE_NAMES[b.dtype.name]} (torch's bmm of an operand it "
                    "summed, int64, with one it did not)"
                )
        rdt = np.promote_types(a.dtype, b.dtype)
        eq = f"{sa},{sb}->{sr}"
        ops[:2] = [(_einsum2(eq, a.astype(rdt, copy=False), b.astype(rdt, copy=False), xp), sr)]
    a, sub = ops[0]
    a = xp.asarray(a)
    shape = [a.shape[sub.index(c)] if c in sub else 1 for c in out_sub]
    a = a.transpose([sub.index(c) for c in out_sub if c in sub])
    return xp.ascontiguousarray(a).reshape(shape)


def einsum(*args: Any) -> Tensor:
    """Sum of products over the subscripts of an Einstein-notation equation, as torch.einsum:
    einsum("ij,jk->ik", a, b), einsum("ij,jk", [a, b]) or the sublist form einsum(a, [0, 1],
    b, [1, 2]). Ellipses broadcast, size-1 dims broadcast against the same letter, repeated
    letters in one operand take its diagonal. Differentiable in every operand: the gradient of
    an operand is the einsum of the output gradient with the other operands, scattered onto
    the diagonal where its letters repeat. Bool / int operands take torch's own route
    (_int_einsum), so the result's dtype (int64 where torch sums a letter out: "ij->",
    "ii->"; the operands' where it only multiplies and contracts pairs: "i,i->" stays int32),
    its wrap-around in narrow ints and its errors (a bool contraction) are torch's."""
    if len(args) < 2:
        raise ValueError(
            "einsum(): must specify the equation string and at least one operand, or at least "
            "one operand and its subscripts list"
        )
    if isinstance(args[0], str):
        equation, ops = args[0], _varargs(args[1:])
    elif isinstance(args[0], Tensor) or isinstance(args[0], np.ndarray) or is_cuda_array(args[0]):
        equation, ops = _sublist_equation(args)
    else:
        raise TypeError(
            f"einsum(): argument 'equation' (position 1) must be str, not {type(args[0]).__name__}"
        )
    ts = [_tensor(o, "einsum", f"operands[{i}]") for i, o in enumerate(ops)]
    if not ts:
        raise ValueError("einsum(): must specify at least one operand")
    _same_device(ts, "einsum")
    dt = ts[0].data.dtype
    for i, t in enumerate(ts):
        if t.data.dtype != dt:
            raise _MatmulDtypeError(
                f"einsum(): operands have different dtypes ({dt} for operand 0, "
                f"{t.data.dtype} for operand {i}): expected one dtype, as torch"
            )
    subs, out_sub, sizes = _parse(equation, [t.shape for t in ts])
    xp = get_array_module(ts[0].data)
    targets = [tuple(sizes[c] for c in s) for s in subs]
    arrays = [
        t.data if t.shape == tgt else xp.broadcast_to(t.data, tgt) for t, tgt in zip(ts, targets)
    ]

    def _einsum(eq: str, *ops_: Any) -> Any:
        if len(ops_) > 2:  # a contraction order that avoids huge intermediates
            return xp.einsum(eq, *ops_, optimize=True)
        if len(ops_) == 2:
            return _einsum2(eq, ops_[0], ops_[1], xp)
        return xp.einsum(eq, *ops_)

    if dt.kind in "biu":  # torch's path: its dtype (int64 where it sums), its errors
        out = _int_einsum(subs, out_sub, [t.data for t in ts], xp)
    else:
        out = _einsum(",".join(subs) + "->" + out_sub, *arrays)
    out = xp.asarray(out)  # a 0-d result comes back as a scalar
    if any(xp.may_share_memory(out, a) for a in arrays):  # a (read-only) view of an operand
        out = out.copy()

    def _backward(g: Any) -> None:
        for k, t in enumerate(ts):
            if t.requires_grad:
                t._accumulate(_operand_grad(k, g))

    def _operand_grad(k: int, g: Any) -> Any:
        sub = subs[k]
        uniq = "".join(dict.fromkeys(sub))
        others = [out_sub] + [s for j, s in enumerate(subs) if j != k]
        avail = set("".join(others))
        keep = "".join(c for c in uniq if c in avail)
        ops_ = [g] + [a for j, a in enumerate(arrays) if j != k]
        gk = _einsum(",".join(others) + "->" + keep, *ops_)
        full = tuple(sizes[c] for c in uniq)
        if keep != uniq:  # letters summed in operand k alone: the gradient is constant there
            gk = xp.broadcast_to(gk.reshape([sizes[c] if c in avail else 1 for c in uniq]), full)
        if uniq == sub:
            return gk
        return _onto_diagonal(sub, targets[k], gk)

    def _dbackward(g: Tensor) -> tuple[Any, ...]:
        # each operand's gradient as an einsum of g and the other operands (differentiable,
        # so every order); where a letter repeats within an operand, placed onto its diagonal
        # by a linear node (whose adjoint reads the diagonal back)
        res: list[Any] = []
        for k, t in enumerate(ts):
            if not t.requires_grad:
                res.append(None)
                continue
            sub = subs[k]
            uniq = "".join(dict.fromkeys(sub))
            others = [out_sub] + [s for j, s in enumerate(subs) if j != k]
            avail = set("".join(others))
            keep = "".join(c for c in uniq if c in avail)
            rest = [u for j, u in enumerate(ts) if j != k]
            gk = einsum(",".join(others) + "->" + keep, g, *rest)
            if keep != uniq:
                gk = gk.reshape(*[sizes[c] if c in avail else 1 for c in uniq])
                gk = gk.expand(*[sizes[c] for c in uniq])
            if uniq != sub:
                from ._functional_dgrad import linear_map  # noqa: PLC0415

                gk = linear_map(
                    gk,
                    partial(_onto_diagonal, sub, targets[k]),
                    partial(_read_diagonal, sub),
                    "einsum_diagonal",
                )
            res.append(gk)
        return tuple(res)

    return Tensor._make(out, tuple(ts), _backward, "einsum", dbackward=_dbackward)


# ---- tensordot -----------------------------------------------------------------------


def _dim_list(v: Any, nd: int, which: str) -> list[int]:
    if not isinstance(v, (list, tuple)) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in v
    ):
        raise TypeError(f"tensordot: dims: expected two lists of ints, got {which} = {v!r}")
    out = []
    for d in v:
        if not -nd <= d < max(nd, 1):
            raise IndexError(
                f"tensordot: dims: dimension out of range (expected to be in range of "
                f"[{-nd}, {nd - 1}], but got {d})"
            )
        out.append(int(d) % nd if nd else 0)
    return out


def tensordot(a: Any, b: Any, dims: Any = 2) -> Tensor:
    """Sum of a * b over the dims `dims` pairs, as torch.tensordot: dims an int d (a's last d
    dims with b's first d), or ([a's dims], [b's dims]) / a 2-row integer Tensor. The result's
    dims are a's free dims, then b's. Differentiable (an einsum)."""
    a = _tensor(a, "tensordot", "a")
    b = _tensor(b, "tensordot", "b")
    na, nb = a.data.ndim, b.data.ndim
    if isinstance(dims, Tensor):
        dims = dims.data.tolist()
        if isinstance(dims, int):
            pass
        elif len(dims) != 2:
            raise _ShapeError("tensordot: dims: a Tensor of dims must be 0-d or have 2 rows")
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        d = int(dims)
        if d < 0:
            raise _ShapeError(f"tensordot expects dims >= 0, but got dims={d}")
        if d > min(na, nb):
            raise _ShapeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={d}")
        da, db = list(range(na - d, na)), list(range(d))
    elif isinstance(dims, (list, tuple)) and len(dims) == 2:
        da = _dim_list(dims[0], na, "dims[0]")
        db = _dim_list(dims[1], nb, "dims[1]")
    else:
        raise _ShapeError(
            "tensordot expects dims to be int or tuple[list[int], list[int]] or "
            f"list[list[int]] containing two lists, but got dims={dims!r}"
        )
    if len(da) != len(db):
        raise _ShapeError("tensordot: both dimension lists should have same length")
    for lst in (da, db):
        for d in lst:
            if lst.count(d) > 1:
                raise _ShapeError(f"tensordot: dim {d} appears multiple times in the list of dims")
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise _ShapeError(
                f"tensordot: contracted dimensions need to match, but first has size "
                f"{a.shape[x]} in dim {x} and second has size {b.shape[y]} in dim {y}"
            )
    if a.data.dtype != b.data.dtype:
        raise _MatmulDtypeError(
            f"tensordot: both inputs should have same dtype, got {a.dtype} and {b.dtype}"
        )
    if a.data.dtype.name in _NO_BMM:  # torch's matrix product, even for dims=0
        raise _kernel_dtype_error("tensordot", "addmm_impl_cpu_", a.data.dtype)
    if na + nb - len(da) > len(_LETTERS):
        raise _ShapeError("tensordot: at most 52 dimensions in all are supported")
    la = list(_LETTERS[:na])
    lb = list(_LETTERS[na : na + nb])
    for x, y in zip(da, db):
        lb[y] = la[x]
    out = [c for i, c in enumerate(la) if i not in da] + [
        c for i, c in enumerate(lb) if i not in db
    ]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)


# ---- cdist ----------------------------------------------------------------------------

_CDIST_MODES = (
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
)


def _diagonal_strides(sub: str, a: Any) -> tuple[int, ...]:
    """The strides of the view of a (letters sub, some repeated) that its distinct letters
    index: the diagonal where a letter repeats."""
    return tuple(sum(st for c2, st in zip(sub, a.strides) if c2 == c) for c in dict.fromkeys(sub))


def _onto_diagonal(sub: str, shape: tuple[int, ...], gk: Any) -> Any:
    """zeros of shape (letters sub) with gk (its distinct letters) written on the diagonal."""
    xp = get_array_module(gk)
    gx = xp.zeros(shape, dtype=gk.dtype)
    view = xp.lib.stride_tricks.as_strided(gx, shape=gk.shape, strides=_diagonal_strides(sub, gx))
    view[...] = gk
    return gx


def _read_diagonal(sub: str, a: Any) -> Any:
    """_onto_diagonal's adjoint: the diagonal of a (letters sub) as a new array."""
    xp = get_array_module(a)
    a = xp.ascontiguousarray(a)
    full = tuple(a.shape[sub.index(c)] for c in dict.fromkeys(sub))
    return xp.lib.stride_tricks.as_strided(a, shape=full, strides=_diagonal_strides(sub, a)).copy()


def cdist(
    x1: Any,
    x2: Any,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """The p-norm distance between each row of x1 (..., P, M) and each of x2 (..., R, M):
    (..., P, R), batch dims broadcast, as torch.cdist. p = 0 counts the differing entries,
    p = inf is the largest |difference|. Gradients follow torch's: 0 where the distance is 0
    (and, for p < 1, where a coordinate's difference is 0).

    compute_mode as torch's: for p = 2, "use_mm_for_euclid_dist" (and the default
    "use_mm_for_euclid_dist_if_necessary" when P > 25 or R > 25) computes
    sqrt(clamp(|x1|^2 + |x2|^2 - 2 x1 x2^T, 0)) with one matrix product, fast but losing digits
    to cancellation for close rows; "donot_use_mm_for_euclid_dist" (and every other p) sums
    over the differences, exact, in blocks that keep each temporary small."""
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    x1 = _tensor(x1, "cdist", "x1")
    x2 = _tensor(x2, "cdist", "x2")
    _same_device([x1, x2], "cdist")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"cdist: p: expected a number, got {type(p).__name__}")
    p = float(p)
    if not p >= 0:
        raise _ShapeError(f"cdist only supports non-negative p values, got p={p}")
    for name, t in (("X1", x1), ("X2", x2)):
        if t.data.dtype.kind != "f":
            raise _DtypeError(f"cdist only supports floating-point dtypes, {name} got: {t.dtype}")
        if t.data.dtype.itemsize < 4:
            raise _kernel_dtype_error("cdist", "cdist", t.data.dtype, "use float32 or float64")
    if x1.data.dtype != x2.data.dtype:
        raise _DtypeError(f"cdist: expected x1 and x2 of one dtype, got {x1.dtype} and {x2.dtype}")
    for name, t in (("X1", x1), ("X2", x2)):
        if t.data.ndim < 2:
            raise _ShapeError(
                f"cdist only supports at least 2D tensors, {name} got: {t.data.ndim}D"
            )
    if x1.shape[-1] != x2.shape[-1]:
        raise _ShapeError(
            f"cdist: X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
            f"X2: {x2.shape[-1]}"
        )
    try:
        batch = tuple(np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]))
    except ValueError:
        raise _ShapeError(
            f"cdist: the batch dims of x1 {x1.shape[:-2]} and x2 {x2.shape[:-2]} do not broadcast"
        ) from None
    mode = _CDIST_MODES.index(compute_mode)
    big = x1.shape[-2] > 25 or x2.shape[-2] > 25
    if p == 2 and x1.data.size and x2.data.size and (mode == 1 or (mode == 0 and big)):
        return _cdist_mm(x1, x2)
    if p == 1 and isinstance(x1.data, np.ndarray) and x1.data.dtype in (np.float32, np.float64):
        return _cdist_p1(x1, x2, batch)
    return _cdist_direct(x1, x2, p, batch)


# the elements of one temporary of cdist's direct route (a block of the distances, or of
# the differences): 256 KB in float32, small enough to stay in cache between passes
_CDIST_BLOCK = 1 << 16


def _sq_norms(a: Any) -> Any:
    """|row|^2 of each row of a (..., n, m): (..., n)."""
    return get_array_module(a).einsum("...i,...i->...", a, a)


def _cdist_mm(x1: Tensor, x2: Tensor) -> Tensor:
    """cdist's p = 2 by matrix products, as torch's "use_mm_for_euclid_dist":
    d = sqrt(clamp(|x1|^2 + |x2|^2 - 2 x1 x2^T, 0)); its gradients
    gx1 = x1 * rowsum(W) - W x2 and gx2 = x2 * colsum(W) - W^T x1, W = G / d (0 where d == 0,
    as torch's other route), also matrix products. Batch dims broadcast inside the products
    (a broadcast operand is read in place)."""
    a, b = x1.data, x2.data
    xp = get_array_module(a)
    dist = ops.matmul(a, b, trans_b=True, alpha=-2.0)  # (*batch, P, R)
    with np.errstate(invalid="ignore", over="ignore"):  # inf inputs: NaN / inf, as torch
        dist += _sq_norms(a)[..., :, None]
        dist += _sq_norms(b)[..., None, :]
        xp.maximum(dist, 0, out=dist)
        xp.sqrt(dist, out=dist)

    def _backward(g: Any) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            w = (g / dist).astype(dist.dtype, copy=False)
        zero = dist == 0
        if zero.any():
            w[zero] = 0
        if x1.requires_grad:
            gx = a * w.sum(axis=-1)[..., None]  # (*batch, P, M)
            x1._accumulate(ops.matmul(w, b, alpha=-1.0, beta=1.0, out=gx))
        if x2.requires_grad:
            gy = b * w.sum(axis=-2)[..., None]  # (*batch, R, M)
            x2._accumulate(ops.matmul(w, a, trans_a=True, alpha=-1.0, beta=1.0, out=gy))

    return Tensor._make(
        dist, (x1, x2), _backward, "cdist", dbackward=partial(_d_cdist_mm, dist, x1, x2)
    )


def _d_cdist_mm(dist: Any, x1: Tensor, x2: Tensor, g: Tensor) -> tuple[Any, ...]:
    """_cdist_mm's gradients as Tensor ops of x1, x2 and g (its double backward), with the
    distance rewritten from the same matrix product; where it is 0 the weight is a constant 0
    (as in _d_cdist)."""
    r = (
        (x1 * x1).sum(-1, keepdim=True)
        + (x2 * x2).sum(-1).unsqueeze(-2)
        - 2.0 * (x1 @ x2.transpose(-1, -2))
    )
    zero = Tensor((dist == 0) | (r.data <= 0))
    w = where(zero, 0.0, g / where(zero, 1.0, r).sqrt())
    return (
        x1 * w.sum(-1, keepdim=True) - w @ x2 if x1.requires_grad else None,
        x2 * w.sum(-2).unsqueeze(-1) - w.transpose(-1, -2) @ x1 if x2.requires_grad else None,
    )


def _pow_(x: Any, e: float) -> Any:
    """x ** e for x >= 0 (x overwritten; the result may be a new array), by products and
    square roots where e allows: numpy's power is many times slower than multiply and sqrt."""
    xp = get_array_module(x)
    if e == 1:
        return x
    if e == 2:
        return xp.multiply(x, x, out=x)
    if e == 3:
        t = x * x
        return xp.multiply(x, t, out=x)
    if e in (0.5, 1.5, -0.5, -1.5):
        r = xp.sqrt(x)
        if e == 0.5:
            return r
        if e == -0.5:
            return xp.divide(1, r, out=r)
        x *= r
        return x if e == 1.5 else xp.divide(1, x, out=x)
    if e == -1:
        return xp.divide(1, x, out=x)
    return xp.power(x, e, out=x)


def _cdist_terms(diff: Any, p: float) -> Any:
    """Each coordinate's term of the p-distance from its difference (in place where it can):
    diff != 0 (p = 0), diff^2 (p = 2), |diff| (p = 1, inf), |diff|^p."""
    xp = get_array_module(diff)
    if p == 0:
        return diff != 0
    if p == 2:
        return xp.multiply(diff, diff, out=diff)
    xp.abs(diff, out=diff)
    if p == 1 or p == float("inf"):
        return diff
    return _pow_(diff, p)


def _cdist_finish(acc: Any, p: float) -> Any:
    """The distances from the sums (the maxima for p = inf) of _cdist_terms, in place."""
    xp = get_array_module(acc)
    if p == 2:
        xp.sqrt(acc, out=acc)
    elif p == 3:
        xp.cbrt(acc, out=acc)
    elif p not in (0.0, 1.0, float("inf")):
        acc = _pow_(acc, 1.0 / p)
    return acc


def _cdist_scale(g: Any, d: Any, p: float) -> Any:
    """The factor of the incoming gradient g common to a row pair's coordinates: g (p = 1,
    inf), g / d (p = 2), g / d^(p-1); 0 where the distance d is 0 (torch's)."""
    xp = get_array_module(d)
    if p == 1 or p == float("inf"):
        return xp.ascontiguousarray(g)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = g / (d if p == 2 else _pow_(d.copy(), p - 1))
    zero = d == 0
    if zero.any():
        s[zero] = 0
    return s.astype(d.dtype, copy=False)


def _cdist_dir(diff: Any, d: Any, nd: Any, p: float) -> Any:
    """d dist / d x1 over the common factor _cdist_scale, per coordinate, from the
    differences diff (overwritten), the distances d and -d (nd) broadcasting against diff,
    as torch's backward: sign(diff) |diff|^(p-1) -- diff for p = 2, sign(diff) for p = 1,
    sign(diff) on the coordinates where |diff| is the distance for p = inf, 0 where diff is
    0 for p < 2. The signs come from comparisons (numpy's sign is slow)."""
    xp = get_array_module(diff)
    if p == 2:
        return diff
    if p == 1 or p == float("inf"):
        nan = xp.isnan(diff)  # the comparisons make NaN 0; torch's sign keeps it
        lo = diff < 0 if p == 1 else diff == nd
        if p == 1:
            xp.greater(diff, 0, out=diff)
        else:
            xp.equal(diff, d, out=diff)
        diff -= lo
        if nan.any():
            diff[nan] = xp.nan
        return diff
    mag = xp.abs(diff)
    if p < 2:
        mag += diff == 0  # |diff|^(p-2) finite there, and diff * it 0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        diff *= _pow_(mag, p - 2)
    return diff


def _cdist_blocks(n: int, rows: int, cols: int, per_pair: int) -> Any:
    """(batch slice, x1-row slice, x2-row slice) blocks covering (n, rows, cols), each with
    at most _CDIST_BLOCK / per_pair row pairs (at least one)."""
    pairs = max(1, _CDIST_BLOCK // max(per_pair, 1))
    bc = min(cols, pairs)
    br = max(1, min(rows, pairs // bc))
    bn = max(1, min(n, pairs // (bc * br)))
    for n0 in range(0, n, bn):
        for i0 in range(0, rows, br):
            for j0 in range(0, cols, bc):
                yield slice(n0, n0 + bn), slice(i0, i0 + br), slice(j0, j0 + bc)


def _cdist_p1(x1: Tensor, x2: Tensor, batch: tuple[int, ...]) -> Tensor:
    """cdist's p = 1 on numpy float32 / float64 data: the C++ kernels (csrc/cpu/cdist.h) on
    the inputs broadcast to the batch and flattened to (n, rows, M) (a copy only where a batch
    dim broadcasts or the data is not C-contiguous); the backward's row sums of
    g * sign(x1 - x2), torch's sign (0 at 0, NaN at NaN), in the same kernels."""
    P, R, M = x1.shape[-2], x2.shape[-2], x1.shape[-1]
    n = math.prod(batch)
    a = np.ascontiguousarray(np.broadcast_to(x1.data, batch + (P, M)).reshape(n, P, M))
    b = np.ascontiguousarray(np.broadcast_to(x2.data, batch + (R, M)).reshape(n, R, M))
    dist = _cpu.cdist_p1_forward(a, b).reshape(batch + (P, R))

    def _backward(g: Any) -> None:
        gf = np.ascontiguousarray(np.broadcast_to(g, dist.shape), dtype=dist.dtype)
        g1, g2 = _cpu.cdist_p1_backward(
            gf.reshape(n, P, R), a, b, x1.requires_grad, x2.requires_grad
        )
        if g1 is not None:
            x1._accumulate(g1.reshape(batch + (P, M)))
        if g2 is not None:
            x2._accumulate(g2.reshape(batch + (R, M)))

    return Tensor._make(
        dist, (x1, x2), _backward, "cdist", dbackward=partial(_d_cdist, 1.0, dist, x1, x2)
    )


def _cdist_direct(x1: Tensor, x2: Tensor, p: float, batch: tuple[int, ...]) -> Tensor:
    """cdist from the differences (torch's "donot_use_mm_for_euclid_dist" and every p != 2),
    forward and backward in blocks whose temporaries hold at most _CDIST_BLOCK elements,
    never the whole (..., P, R, M) array of differences. Two layouts: with many x2 rows
    ("planes"), one coordinate at a time over a block of (batch, x1 row, x2 row) -- every
    temporary a block of the distances, x2's rows the contiguous inner axis; else the
    differences of a block of row pairs with the coordinates inner."""
    xp = get_array_module(x1.data)
    P, R, M = x1.shape[-2], x2.shape[-2], x1.shape[-1]
    dtype = x1.data.dtype
    n = math.prod(batch)
    a = xp.broadcast_to(x1.data, batch + (P, M)).reshape(n, P, M)  # a copy only if broadcast
    b = xp.broadcast_to(x2.data, batch + (R, M)).reshape(n, R, M)
    dist = xp.zeros((n, P, R), dtype=dtype)
    planes = R >= min(M, 32) and n * P * R >= 4096
    bt = xp.ascontiguousarray(b.transpose(0, 2, 1)) if planes and M else None  # (n, M, R)
    if M and dist.size:
        per_pair = 1 if planes else M
        inf = p == float("inf")
        for sn, si, sj in _cdist_blocks(n, P, R, per_pair):
            if planes:
                ab, bb = a[sn, si], bt[sn, :, sj]
                acc = xp.zeros((ab.shape[0], ab.shape[1], bb.shape[2]), dtype=dtype)
                tmp = xp.empty_like(acc)
                for k in range(M):
                    xp.subtract(ab[:, :, k, None], bb[:, k, None, :], out=tmp)
                    t = _cdist_terms(tmp, p)
                    if inf:
                        xp.maximum(acc, t, out=acc)
                    else:
                        acc += t
            else:
                t = _cdist_terms(a[sn, si, None, :] - b[sn, None, sj], p)
                acc = t.max(axis=-1) if inf else t.sum(axis=-1, dtype=dtype)
            dist[sn, si, sj] = _cdist_finish(acc, p)
    dist = dist.reshape(batch + (P, R))

    def _backward(g: Any) -> None:
        want1, want2 = x1.requires_grad, x2.requires_grad
        gx = xp.zeros((n, P, M), dtype=dtype) if want1 else None
        gy = xp.zeros((n, R, M), dtype=dtype) if want2 else None
        if p != 0 and M and dist.size:
            gf = xp.broadcast_to(g, dist.shape).reshape(n, P, R)
            df = dist.reshape(n, P, R)
            for sn, si, sj in _cdist_blocks(n, P, R, 1 if planes else M):
                d = df[sn, si, sj]
                nd = -d if p == float("inf") else None
                sc = _cdist_scale(gf[sn, si, sj], d, p)
                # p < 2 (but 1): torch's gradient is 0 where a coordinate's difference is 0,
                # even where the scale is not finite (a NaN distance): 0 * NaN would be NaN
                fix0 = p < 2 and p != 1 and not bool(xp.isfinite(sc).all())
                if planes:
                    ab, bb = a[sn, si], bt[sn, :, sj]
                    tmp = xp.empty(d.shape, dtype=dtype)
                    for k in range(M):
                        xp.subtract(ab[:, :, k, None], bb[:, k, None, :], out=tmp)
                        zero = tmp == 0 if fix0 else None
                        w = _cdist_dir(tmp, d, nd, p)
                        if fix0:  # 0 where diff is 0 even against a NaN / inf scale
                            w = w * sc
                            w[zero] = 0
                            if want1:
                                gx[sn, si, k] += w.sum(axis=-1)
                            if want2:
                                gy[sn, sj, k] -= w.sum(axis=-2)
                            continue
                        if want1:
                            gx[sn, si, k] += xp.einsum("nij,nij->ni", w, sc)
                        if want2:
                            gy[sn, sj, k] -= xp.einsum("nij,nij->nj", w, sc)
                else:
                    diff = a[sn, si, None, :] - b[sn, None, sj]
                    zero = diff == 0 if fix0 else None
                    w = _cdist_dir(diff, d[..., None], None if nd is None else nd[..., None], p)
                    w *= sc[..., None]
                    if fix0:
                        w[zero] = 0
                    if want1:
                        gx[sn, si] += w.sum(axis=-2)
                    if want2:
                        gy[sn, sj] -= w.sum(axis=-3)
        if want1:
            x1._accumulate(gx.reshape(batch + (P, M)))
        if want2:
            x2._accumulate(gy.reshape(batch + (R, M)))

    return Tensor._make(
        dist, (x1, x2), _backward, "cdist", dbackward=partial(_d_cdist, p, dist, x1, x2)
    )


def _d_cdist(p: float, dist: Any, x1: Tensor, x2: Tensor, g: Tensor) -> tuple[Any, ...]:
    """cdist's gradients as Tensor ops of x1, x2 and g (its double backward): the same
    weights as its backward, each a differentiable function of the difference. Where the
    distance (or, for p < 2, a coordinate's difference) is 0 the weight is a constant 0, so
    the second derivative there is 0 (torch: NaN, or no double backward at all for p != 2)."""
    xp = get_array_module(dist)
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    sgn = Tensor(xp.sign(diff.data))
    zero = (dist == 0)[..., None]
    with np.errstate(all="ignore"):
        if p == 0:
            w = diff * 0.0
        elif p == 1:
            w = sgn
        elif p == float("inf"):
            ad = xp.abs(diff.data)
            w = Tensor((xp.sign(diff.data) * (ad == dist[..., None])).astype(ad.dtype))
        elif p == 2:
            dd = where(zero, 1.0, (diff * diff).sum(-1, keepdim=True)).sqrt()
            w = where(zero, 0.0, diff / dd)
        else:
            flat = diff.data == 0
            safe = where(flat, 1.0, diff.abs())
            dd = where(zero, 1.0, where(flat, 0.0, safe**p).sum(-1, keepdim=True)) ** (1 / p)
            w = where(flat | zero, 0.0, sgn * (safe / dd) ** (p - 1))
    gw = g.unsqueeze(-1) * w
    return (
        gw.sum(-2) if x1.requires_grad else None,
        -gw.sum(-3) if x2.requires_grad else None,
    )


# ---- meshgrid, broadcasting, products of sets ---------------------------------------


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids of 0-d / 1-d tensors, as torch.meshgrid: output i varies along dim i
    ("ij") or, with indexing="xy", the first two dims swapped (Cartesian). Leaving indexing
    out gives "ij" and torch's UserWarning. Views of the inputs (expand), differentiable."""
    ts_in = _varargs(tensors)
    if indexing is None:
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
            "argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise _ShapeError(
            f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
        )
    if not ts_in:
        raise _ShapeError("meshgrid expects a non-empty TensorList")
    ts = [_tensor(t, "meshgrid", f"tensors[{i}]") for i, t in enumerate(ts_in)]
    _same_device(ts, "meshgrid")
    for i, t in enumerate(ts):
        if t.data.ndim > 1:
            raise _ShapeError(
                f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got shape "
                f"{t.shape} for tensor {i}"
            )
        if t.data.dtype != ts[0].data.dtype:
            raise _DtypeError("meshgrid expects all tensors to have the same dtype")
    n = len(ts)
    pos = list(range(n))
    if indexing == "xy" and n >= 2:
        pos[0], pos[1] = 1, 0
    shape = [0] * n
    for t, d in zip(ts, pos):
        shape[d] = t.data.size
    out = []
    for t, d in zip(ts, pos):
        view = [1] * n
        view[d] = t.data.size
        out.append(t.reshape(view).expand(shape))
    return tuple(out)


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """The shape that shapes (ints or sequences of ints) broadcast to, as
    torch.broadcast_shapes."""
    norm = []
    for s in shapes:
        s = (s,) if isinstance(s, (int, np.integer)) else s
        if not isinstance(s, (list, tuple)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in s
        ):
            raise TypeError(f"broadcast_shapes: expected ints or sequences of ints, got {s!r}")
        if any(n < 0 for n in s):
            raise ValueError("Attempting to broadcast a dimension with negative length!")
        norm.append(tuple(int(n) for n in s))
    try:
        return tuple(np.broadcast_shapes(*norm))
    except ValueError:
        raise _ShapeError(
            f"broadcast_shapes: shapes {', '.join(map(str, norm))} do not broadcast"
        ) from None


def broadcast_tensors(*tensors: Any) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape (views), as
    torch.broadcast_tensors; differentiable."""
    ts = [_tensor(t, "broadcast_tensors", f"tensors[{i}]") for i, t in enumerate(tensors)]
    if not ts:
        return ()
    _same_device(ts, "broadcast_tensors")
    shape = broadcast_shapes(*[t.shape for t in ts])
    return tuple(t.expand(shape) for t in ts)


def cartesian_prod(*tensors: Any) -> Tensor:
    """Every combination of the elements of 1-d tensors, one per row (k tensors: (N, k)), as
    torch.cartesian_prod; one tensor comes back as is. Differentiable."""
    ts = [_tensor(t, "cartesian_prod", f"tensors[{i}]") for i, t in enumerate(tensors)]
    for t in ts:
        if t.data.ndim != 1:
            raise _ShapeError(f"cartesian_prod: Expect a 1D vector, but got shape {t.shape}")
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return stack([g.reshape(-1) for g in grids], dim=1)


def kron(input: Any, other: Any) -> Tensor:  # noqa: A002
    """The Kronecker product, as torch.kron: the fewer-dim operand gets leading size-1 dims
    and out[i * b.shape + j] = a[i] * b[j] along every dim. Differentiable (a product of
    reshaped views); the dtype is the product's (torch's promotion)."""
    a = _tensor(input, "kron", "input")
    b = _tensor(other, "kron", "other")
    nd = max(a.data.ndim, b.data.ndim)
    sa = (1,) * (nd - a.data.ndim) + a.shape
    sb = (1,) * (nd - b.data.ndim) + b.shape
    ra = [n for s in sa for n in (s, 1)]
    rb = [n for s in sb for n in (1, s)]
    prod = a.reshape(ra) * b.reshape(rb)
    return prod.reshape([x * y for x, y in zip(sa, sb)])


def block_diag(*tensors: Any) -> Tensor:
    """The tensors (0-d as 1 x 1, 1-d of n as 1 x n, 2-d) along the diagonal of a zero
    matrix, as torch.block_diag; the dtype is the tensors' common one. Differentiable."""
    ts = [_tensor(t, "block_diag", f"tensors[{i}]") for i, t in enumerate(tensors)]
    if not ts:
        return Tensor(np.zeros((1, 0), np.float32))
    _same_device(ts, "block_diag")
    for i, t in enumerate(ts):
        if t.data.ndim > 2:
            raise _ShapeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} "
                f"has {t.data.ndim} dimensions"
            )
    acc = ts[0].data
    for t in ts[1:]:
        acc = get_array_module(acc).empty(
            (0,) if acc.ndim or t.data.ndim else (), dtype=_result_dtype(acc, t.data)
        )
    dt = acc.dtype
    blocks = [t.reshape(1, -1) if t.data.ndim < 2 else t for t in ts]
    cols = sum(bl.shape[1] for bl in blocks)
    xp = get_array_module(ts[0].data)
    rows = []
    left = 0
    for bl in blocks:
        r, c = bl.shape
        parts = [Tensor(xp.zeros((r, left), dt)), bl, Tensor(xp.zeros((r, cols - left - c), dt))]
        rows.append(cat(parts, dim=1))
        left += c
    out = cat(rows, dim=0)
    return out if out.data.dtype == dt else out.to(dt)


# ---- comparisons and counting (no gradient) ---------------------------------------------


def equal(input: Any, other: Any) -> bool:  # noqa: A002
    """True when the tensors have one shape and equal elements (NaN equals nothing), as
    torch.equal; the dtypes may differ."""
    a = _tensor(input, "equal", "input")
    b = _tensor(other, "equal", "other")
    _same_device([a, b], "equal")
    if a.shape != b.shape:
        return False
    xp = get_array_module(a.data)
    return bool(xp.all(a.data == b.data))


def _search_np(seq: Any, vals: Any, right: bool, sorter: Any) -> Any:
    """_search by np.searchsorted (seq without NaN: then numpy's order, NaN values last, is
    torch's): one call for a 1-d seq, else one per row when the rows hold enough values to
    pay for a Python loop, else None (the vectorised bisection)."""
    side = "right" if right else "left"
    if seq.ndim == 1:
        return np.asarray(np.searchsorted(seq, vals, side, sorter), dtype=np.int64)
    rows = math.prod(seq.shape[:-1])
    if vals.shape[-1] < 64 and rows > 64:
        return None
    s2, v2 = seq.reshape(rows, -1), vals.reshape(rows, -1)
    srt = None if sorter is None else sorter.reshape(rows, -1)
    out = np.empty(v2.shape, np.int64)
    for i in range(rows):
        out[i] = np.searchsorted(s2[i], v2[i], side, None if srt is None else srt[i])
    return out.reshape(vals.shape)


def _search(seq: Any, vals: Any, right: bool, sorter: Any, xp: Any) -> Any:
    """torch's binary search on the last dim of seq for every value (vectorised, so it runs
    on any array module): the first index whose element is >= v (> v when right). A NaN
    compares false to everything, so NaN values land at the end, as in torch."""
    n = seq.shape[-1]
    lo = xp.zeros(vals.shape, dtype=np.int64)
    if n == 0 or vals.size == 0:
        return lo
    if xp is np and not (seq.dtype.kind == "f" and np.isnan(seq).any()):
        out = _search_np(seq, vals, right, sorter)
        if out is not None:
            return out
    hi = xp.full(vals.shape, n, dtype=np.int64)
    for _ in range(n.bit_length() + 1):
        mid = (lo + hi) // 2
        idx = xp.minimum(mid, n - 1)
        if seq.ndim == 1:
            mv = seq[sorter[idx] if sorter is not None else idx]
        else:
            if sorter is not None:
                idx = xp.take_along_axis(sorter, idx, axis=-1)
            mv = xp.take_along_axis(seq, idx, axis=-1)
        go = ~(mv > vals) if right else ~(mv >= vals)
        active = lo < hi
        lo = xp.where(active & go, mid + 1, lo)
        hi = xp.where(active & ~go, mid, hi)
    return lo


def searchsorted(
    sorted_sequence: Any,
    input: Any,  # noqa: A002
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Any = None,
) -> Tensor:
    """The indices at which input's values would go into sorted_sequence's last dim to keep
    it sorted, as torch.searchsorted: the leftmost place (right=False / side="left") or the
    rightmost. sorted_sequence is 1-d, or has input's leading dims; input may be a number
    (a 0-d result). sorter: the indices that sort an unsorted sequence. int64, or int32."""
    fn = "torch.searchsorted()"
    seq = _tensor(sorted_sequence, "searchsorted", "sorted_sequence")
    if side is not None:
        if side not in ("left", "right"):
            raise _ShapeError(f"{fn}: side can only be 'left' or 'right' but got {side}")
        if side == "left" and right:
            raise _ShapeError(
                f"{fn}: side and right can't be set to opposites, got side of left while "
                "right was True"
            )
        right = side == "right"
    xp = get_array_module(seq.data)
    if isinstance(input, (int, float, np.integer, np.floating)) and not isinstance(input, bool):
        if seq.data.ndim != 1:
            raise _ShapeError(
                f"{fn}: input value can be a scalar only when boundaries tensor dimension is "
                f"1, but we got boundaries tensor dim({seq.data.ndim})"
            )
        vals = xp.asarray(input)
    else:
        v = _tensor(input, "searchsorted", "input")
        _same_device([seq, v], "searchsorted")
        vals = v.data
    if seq.data.ndim == 0:
        raise _ShapeError(
            f"{fn}: boundaries tensor should have positive dimension, but got 0 dimension"
        )
    if seq.data.ndim > 1 and (vals.ndim != seq.data.ndim or vals.shape[:-1] != seq.shape[:-1]):
        raise _ShapeError(
            f"{fn}: boundaries tensor should be 1 dimension or the first N-1 dimensions of "
            f"boundaries tensor and input value tensor must match, but we got boundaries "
            f"tensor {list(seq.shape)} and input value tensor {list(vals.shape)}"
        )
    for arr in (seq.data, vals):
        if arr.dtype.kind == "b":
            raise _kernel_dtype_error("searchsorted", "searchsorted_out_cpu", arr.dtype)
    srt = None
    if sorter is not None:
        st = _tensor(sorter, "searchsorted", "sorter")
        if st.data.dtype != np.int64:
            raise _DtypeError(
                f"{fn}: sorter must be a tensor of long dtype but got dtype {st.dtype}"
            )
        if st.shape != seq.shape:
            raise _ShapeError(
                f"{fn}: boundary and sorter must have the same size, but got boundary tensor "
                f"{list(seq.shape)} and got sorter tensor {list(st.shape)}"
            )
        srt = st.data
        if srt.size and (int(srt.min()) < 0 or int(srt.max()) >= seq.shape[-1]):
            raise IndexRangeError(f"{fn}: sorter index out of range")
    out = _search(seq.data, vals, bool(right), srt, xp)
    return Tensor(out.astype(np.int32) if out_int32 else out)


def bucketize(
    input: Any,  # noqa: A002
    boundaries: Any,
    *,
    out_int32: bool = False,
    right: bool = False,
) -> Tensor:
    """The index of the bucket of each element of input given 1-d sorted boundaries, as
    torch.bucketize: boundaries[i-1] < x <= boundaries[i] (right=False), or
    boundaries[i-1] <= x < boundaries[i]."""
    bd = _tensor(boundaries, "bucketize", "boundaries")
    if bd.data.ndim != 1:
        raise _ShapeError(
            f"bucketize: boundaries tensor must be 1 dimension, but got dim({bd.data.ndim})"
        )
    return searchsorted(bd, input, out_int32=out_int32, right=right)


def histc(input: Any, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """A histogram of input's elements in `bins` equal-width bins over [min, max], as
    torch.histc: min == max takes the data's range (widened by 1 each way when that is a
    single value); elements outside the range (and NaN) are ignored, max falls in the last
    bin. Same float dtype as input; no gradient."""
    x = _tensor(input, "histc", "input")
    dt = x.data.dtype
    if dt.kind != "f" or dt.itemsize < 4:
        raise _kernel_dtype_error("histc", "histogram_cpu", dt, "use float32 or float64")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"histc(): argument 'bins' must be int, not {type(bins).__name__}")
    if bins <= 0:
        raise _ShapeError(f"histc: bins must be > 0, but got {bins}")
    for name, v in (("min", min), ("max", max)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"histc(): argument '{name}' must be a number, not {type(v).__name__}")
    xp = get_array_module(x.data)
    data = x.data.reshape(-1)
    lo, hi = dt.type(min), dt.type(max)
    if lo == hi and data.size:
        lo, hi = data.min(), data.max()
    if lo == hi:
        lo, hi = lo - dt.type(1), hi + dt.type(1)
    lo, hi = dt.type(lo), dt.type(hi)
    if lo > hi:
        raise _ShapeError("torch.histc: max must be larger than min")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise _ShapeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    keep = data[(data >= lo) & (data <= hi)]
    # torch's linear bin index, in the input's dtype: trunc((x - min) * bins / (max - min))
    pos = ((keep - lo) * dt.type(bins) / (hi - lo)).astype(np.int64)
    pos = xp.minimum(pos, bins - 1)
    counts = xp.bincount(pos, minlength=bins)
    return Tensor(counts.astype(dt))
