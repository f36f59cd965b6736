"""torch.distributions.Distribution: the base class (shapes, validation, sample via rsample)."""

from __future__ import annotations

import warnings
from typing import Any

import deltagrad.distributions.constraints as constraints

from ..tensor import Tensor, no_grad
from .utils import lazy_property

__all__ = ["Distribution"]


def _size(shape: Any, name: str = "sample_shape") -> tuple[int, ...]:
    """A shape argument as a tuple of ints (torch.Size's role)."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        raise TypeError(f"{name}: expected a tuple / list of ints (a torch.Size), got int {shape}")
    try:
        out = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{name}: expected a tuple / list of ints, got {type(shape).__name__}"
        ) from None
    for n in out:
        if isinstance(n, bool) or not hasattr(n, "__index__"):
            raise TypeError(f"{name}: expected ints, got {type(n).__name__} in {out}")
        if int(n) < 0:
            raise ValueError(f"{name}: sizes must be non-negative, got {out}")
    return tuple(int(n) for n in out)


class Distribution:
    """The abstract base class of probability distributions, as torch's.

    batch_shape: the shape over which parameters are batched; event_shape: the shape of one
    sample. validate_args (default: Distribution's class default, True) checks the parameters
    against arg_constraints here and values against support in log_prob / cdf / icdf."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off by default (as python -O does in torch)."""
        if value not in [True, False]:
            raise ValueError
        Distribution._validate_args = value

    def __init__(
        self,
        batch_shape: Any = (),
        event_shape: Any = (),
        validate_args: bool | None = None,
    ) -> None:
        self._batch_shape = _size(batch_shape, "batch_shape")
        self._event_shape = _size(event_shape, "event_shape")
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
                warnings.warn(
                    f"{self.__class__} does not define `arg_constraints`. "
                    + "Please set `arg_constraints = {}` or initialize the distribution "
                    + "with `validate_args=False` to turn off validation.",
                    stacklevel=2,
                )
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue  # cannot be checked
                if param not in self.__dict__ and isinstance(
                    getattr(type(self), param), lazy_property
                ):
                    continue  # lazily-constructed arguments are not checked
                value = getattr(self, param)
                valid = constraint.check(value)
                if not bool(valid.all()):
                    raise ValueError(
                        f"Expected parameter {param} "
                        f"({type(value).__name__} of shape {tuple(value.shape)}) "
                        f"of distribution {self!r} "
                        f"to satisfy the constraint {constraint!r}, "
                        f"but found invalid values:\n{value}"
                    )
        super().__init__()

    # The generic expand(): the parameter attributes it broadcasts (views) to the new batch
    # shape, each keeping its _expand_event_dims[name] (default 0) rightmost dims (Categorical's
    # K, a covariance's (n, n)). A lazy_property parameter (probs / logits) is expanded only
    # where it was given or already computed. _expand_attrs are copied unchanged. A class that
    # defines _expand_params owns the generic expand; a subclass with its own __init__ restates
    # _expand_params (or overrides expand) to say the copy is enough for it, as torch requires.
    _expand_params: tuple[str, ...] = ()
    _expand_event_dims: dict[str, int] = {}
    _expand_attrs: tuple[str, ...] = ()

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        """A new distribution with its parameters expanded (views) to batch_shape."""
        new = self._get_checked_instance(self._expand_owner(), _instance)
        batch_shape = _size(batch_shape, "batch_shape")
        self._expand_params_into(new, batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _expand_owner(self) -> type:
        """The nearest class in the MRO that states _expand_params (NotImplementedError when
        only Distribution does: no generic expand for that family)."""
        owner = next(c for c in type(self).__mro__ if "_expand_params" in c.__dict__)
        if owner is Distribution:
            raise NotImplementedError
        return owner

    def _expand_params_into(self, new: Any, batch_shape: tuple[int, ...]) -> None:
        """Set new's parameters to self's, expanded to batch_shape (see _expand_params); a
        parameter that is itself a Distribution (StudentT's chi2) is expand()ed."""
        param = self.__dict__.get("_param")
        for name in self._expand_params:
            lazy = isinstance(getattr(type(self), name, None), lazy_property)
            if lazy and name not in self.__dict__:
                continue
            value = getattr(self, name)
            if isinstance(value, Distribution):
                setattr(new, name, value.expand(batch_shape))
                continue
            k = self._expand_event_dims.get(name, 0)
            expanded = value.expand(*batch_shape, *value.shape[value.dim() - k :])
            setattr(new, name, expanded)
            if param is not None and value is param:
                new._param = expanded
        for name in self._expand_attrs:
            setattr(new, name, getattr(self, name))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        raise NotImplementedError

    @property
    def support(self) -> constraints.Constraint | None:
        raise NotImplementedError

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """sample_shape draws (without gradient) of shape sample_shape + batch + event."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """A reparameterized sample: gradients flow back to the parameters."""
        raise NotImplementedError

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _extended_shape(self, sample_shape: Any = ()) -> tuple[int, ...]:
        return _size(sample_shape) + self._batch_shape + self._event_shape

    def _validate_sample(self, value: Any) -> None:
        """Raise ValueError unless value's rightmost dims fit batch + event shape and it lies in
        the support (torch's messages)."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        shape = tuple(value.shape)
        event_dim_start = len(shape) - len(self._event_shape)
        if shape[event_dim_start:] != self._event_shape:
            raise ValueError(
                "The right-most size of value must match event_shape: "
                f"{shape} vs {self._event_shape}."
            )
        expected_shape = self._batch_shape + self._event_shape
        for i, j in zip(reversed(shape), reversed(expected_shape)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(
                    "Value is not broadcastable with batch_shape+event_shape: "
                    f"{shape} vs {expected_shape}."
                )
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(
                f"{self.__class__} does not define `support` to enable "
                + "sample validation. Please initialize the distribution with "
                + "`validate_args=False` to turn off validation.",
                stacklevel=2,
            )
            return
        valid = support.check(value)
        if not bool(valid.all()):
            raise ValueError(
                "Expected value argument "
                f"({type(value).__name__} of shape {shape}) "
                f"to be within the support ({support!r}) "
                f"of the distribution {self!r}, "
                f"but found invalid values:\n{value}"
            )

    def _get_checked_instance(self, cls: type, _instance: Any = None) -> Any:
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                "__init__ method must also define a custom .expand() method."
            )
        return self.__new__(type(self)) if _instance is None else _instance

    def __repr__(self) -> str:
        param_names = [k for k in self.arg_constraints if k in self.__dict__]
        args_string = ", ".join(
            [
                f"{p}: "
                f"{self.__dict__[p] if self.__dict__[p].numel() == 1 else self.__dict__[p].shape}"
                for p in param_names
            ]
        )
        return self.__class__.__name__ + "(" + args_string + ")"
