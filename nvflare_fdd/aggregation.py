"""Sample-weighted FedAvg as pure, streaming maths.

``WeightedAccumulator`` takes one site update at a time and folds it into a
single running mean, so the server holds the global model, one accumulator and
the update being added, whatever the number of sites.

- The weight of an update is its training-sample count. A missing, negative or
  non-integer count is refused (never silently 1.0), and so is a total of 0.
- Partial state dicts (a model that sends only its trainable weights) are fine:
  each key is averaged over the sites that sent it; keys no site sent keep the
  previous global value.
- Floating-point tensors are kept as the weighted mean of the updates so far and
  moved towards each new one in place (``mean.lerp_(update, w / total)``): one pass
  over memory per update and none at the end, as accurate as a weighted sum divided
  by the total. They are accumulated in their own dtype (float16/bfloat16 in
  float32). For a fixed arrival order the result is bit-for-bit reproducible.
- An update can also arrive in chunks (``begin()``, then ``StreamedUpdate.add_chunk`` for
  each, then ``finish()``): each chunk is folded into its slice of the running mean as it
  comes, with the same arithmetic, so the result is the same bits as ``add()``'s and no
  whole update is held. A stream that breaks off leaves the accumulator half-updated:
  it is then marked broken and refuses to give a result.
- Integer and boolean tensors (BatchNorm's ``num_batches_tracked``) are counts or
  flags, not weights: they are not averaged, they take the value sent by the
  heaviest site (the first of equals in arrival order).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from nvflare_fdd.errors import AggregationError


@dataclass
class _Slot:
    value: torch.Tensor
    weight: int
    is_float: bool


class TensorLike(Protocol):
    """What a streamed update announces of a tensor before its values come (``streaming.TensorInfo``)."""

    key: str
    shape: tuple[int, ...]
    dtype: Any


class WeightedAccumulator:
    """Streams site updates into one sample-weighted mean.

    Example::

        acc = WeightedAccumulator()
        for params, num_samples in updates:
            acc.add(params, num_samples, source="site-1")
        new_global = acc.result(previous=global_params)
    """

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self.total_weight = 0
        self.sources: list[str] = []
        self.broken: str | None = None

    def add(self, params: Mapping[str, torch.Tensor], num_samples: int, source: str = "update") -> None:
        """Fold one update into the running mean.

        Args:
            params: the site's (possibly partial) state dict; tensors or numpy arrays.
            num_samples: the number of training samples behind it, the update's weight.
            source: who sent it, for error messages.

        Raises:
            AggregationError: the weight is not a whole number ≥ 0, or a tensor does
                not match the shape of the same key in an earlier update.
        """
        weight = _check_weight(num_samples, source)
        for key, value in params.items():
            tensor = torch.as_tensor(value)
            slot = self._slots.get(key)
            if slot is None:
                self._slots[key] = self._first(tensor, weight)
                continue
            if tensor.shape != slot.value.shape:
                raise AggregationError(
                    f"{source}: {key} has shape {tuple(tensor.shape)}, earlier updates had {tuple(slot.value.shape)}"
                )
            if slot.is_float:
                if weight:
                    slot.weight += weight
                    slot.value.lerp_(tensor.to(slot.value.dtype), weight / slot.weight)  # running mean, in place
            elif weight > slot.weight:
                slot.value = tensor.clone()
                slot.weight = weight
        self.total_weight += weight
        self.sources.append(source)

    def result(self, previous: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The weighted mean; keys no update carried are taken from ``previous``.

        Float results are cast back to the dtype of ``previous`` (or of the updates).
        The accumulator is consumed: its buffers become the result.

        Raises:
            AggregationError: no updates, or their total weight is 0.
        """
        if self.broken is not None:
            raise AggregationError(self.broken)
        if not self.sources:
            raise AggregationError("no site updates to average")
        if self.total_weight == 0:
            raise AggregationError(
                f"the total training-sample count of {', '.join(self.sources)} is 0; "
                "no site trained on any data, so there is nothing to average"
            )
        averaged: dict[str, torch.Tensor] = dict(previous or {})
        for key, slot in self._slots.items():
            if not slot.is_float:
                averaged[key] = slot.value
                continue
            if slot.weight == 0:  # only zero-weight sites sent this key: keep what we had
                if key not in averaged:
                    averaged[key] = slot.value.zero_()  # keep the shape; no site trained on it
                continue
            mean = slot.value
            target = averaged[key].dtype if key in averaged else slot.value.dtype
            averaged[key] = mean.to(target) if mean.dtype != target else mean
        self._slots.clear()
        return averaged

    def begin(self, layout: Sequence[TensorLike], num_samples: int, source: str = "update") -> StreamedUpdate:
        """Start folding in an update that arrives in chunks; ``layout`` lists its tensors in the order they come.

        Raises:
            AggregationError: as ``add()``, before any value arrives.
        """
        weight = _check_weight(num_samples, source)
        for info in layout:
            slot = self._slots.get(info.key)
            if slot is not None and tuple(info.shape) != tuple(slot.value.shape):
                raise AggregationError(
                    f"{source}: {info.key} has shape {tuple(info.shape)}, earlier updates had {tuple(slot.value.shape)}"
                )
        return StreamedUpdate(self, layout, weight, source)

    @staticmethod
    def _first(tensor: torch.Tensor, weight: int) -> _Slot:
        accumulate = _accumulated_as(tensor.dtype)
        if accumulate != tensor.dtype:
            return _Slot(tensor.to(dtype=accumulate, copy=True), weight, True)
        return _Slot(tensor.clone(), weight, tensor.is_floating_point())  # the mean of one update is itself


class StreamedUpdate:
    """One update being folded in chunk by chunk (``WeightedAccumulator.begin``)."""

    def __init__(self, accumulator: WeightedAccumulator, layout: Sequence[TensorLike], weight: int, source: str):
        self._acc, self._weight, self._source = accumulator, weight, source
        self._plans: list[tuple[torch.Tensor | None, str, float]] = []  # (target, "copy" | "lerp" | "skip", factor)
        self._new: dict[str, _Slot] = {}
        self._received = [0] * len(layout)
        self._sizes = [int(torch.Size(info.shape).numel()) for info in layout]
        self._keys = [info.key for info in layout]
        for info in layout:
            slot = accumulator._slots.get(info.key)
            if slot is None:
                accumulate = _accumulated_as(torch.from_numpy(_empty(info.dtype)).dtype)
                new = self._new[info.key] = _Slot(torch.empty(tuple(info.shape), dtype=accumulate), weight,
                                                  accumulate.is_floating_point)  # fmt: skip
                self._plans.append((new.value.view(-1), "copy", 1.0))
            elif slot.is_float:
                self._plans.append((slot.value.view(-1), "lerp", weight / (slot.weight + weight)) if weight
                                   else (None, "skip", 0.0))  # fmt: skip
            else:  # a count or a flag: the heaviest site's value
                self._plans.append((slot.value.view(-1), "copy", 1.0) if weight > slot.weight else (None, "skip", 0.0))

    def add_chunk(self, index: int, start: int, values: Any) -> None:
        """Fold ``values`` (a numpy array or tensor: elements ``start…`` of tensor ``index``) into the mean."""
        target, how, factor = self._plans[index]
        chunk = torch.as_tensor(values)
        end = start + chunk.numel()
        if end > self._sizes[index]:
            self.fail(f"{self._source}: {self._keys[index]} received past its end")
        self._received[index] += chunk.numel()
        if target is None:
            return
        if how == "copy":
            target[start:end].copy_(chunk)
        else:
            target[start:end].lerp_(chunk.to(target.dtype), factor)  # as add(): the running mean, in place

    def finish(self) -> None:
        """Count the update in, once all its values came.

        Raises:
            AggregationError: a tensor did not arrive whole; the accumulator is then broken.
        """
        for key, size, received in zip(self._keys, self._sizes, self._received):
            if received != size:
                self.fail(f"{self._source}: {key} arrived with {received} of its {size} values")
        for key, slot in self._new.items():
            self._acc._slots[key] = slot
        for (_target, how, _factor), key in zip(self._plans, self._keys):
            slot = self._acc._slots[key]
            if key in self._new or how == "skip":
                continue
            if slot.is_float:
                slot.weight += self._weight
            else:
                slot.weight = self._weight
        self._acc.total_weight += self._weight
        self._acc.sources.append(self._source)

    def fail(self, reason: str) -> None:
        """The stream broke off: the running mean holds part of this update, so no result may come of it.

        Raises:
            AggregationError: always, with ``reason``.
        """
        self._acc.broken = f"{reason}; the round's average cannot be completed"
        raise AggregationError(self._acc.broken)


def _accumulated_as(dtype: torch.dtype) -> torch.dtype:
    """The dtype a key's running mean is kept in: half precision in float32, anything else in its own."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _empty(dtype: Any):
    import numpy as np

    return np.empty(0, dtype=dtype)


def weighted_average(
    updates: Iterable[tuple[Mapping[str, torch.Tensor], int]],
    previous: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Sample-weighted mean of ``(params, num_samples)`` pairs (see ``WeightedAccumulator``)."""
    accumulator = WeightedAccumulator()
    for index, (params, num_samples) in enumerate(updates):
        accumulator.add(params, num_samples, source=f"update {index}")
    return accumulator.result(previous)


def _check_weight(num_samples: object, source: str) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral):
        raise AggregationError(
            f"{source}: the training-sample count must be a whole number, got {num_samples!r}; "
            "an update without a count cannot be weighed"
        )
    if num_samples < 0:
        raise AggregationError(f"{source}: the training-sample count is negative ({num_samples})")
    return int(num_samples)
