"""The server's side of SCAFFOLD (Karimireddy et al., 2020): the global control variates (DESIGN §9).

The server keeps one control tensor per floating-point tensor of the model, zero at the start
(as NVFlare's ``Scaffold`` workflow does). It sends them with each task; each site sends back
how its own controls changed (``FLScaffold.scaffold_meta()``), and the server adds the
sample-weighted mean of those changes to its controls. The changes are folded in as they
arrive, one at a time (``WeightedAccumulator``), like the model updates. The persistor saves the
controls with the global model each round, so a resumed job continues with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nvflare_fdd.aggregation import WeightedAccumulator
from nvflare_fdd.persistors.builder import check_against_spec, spec_of


class ScaffoldControls:
    """The global controls and this round's running mean of the sites' control changes.

    Args:
        model: the global model's tensors (numpy or torch); its floating-point ones get a control each.
        saved: controls saved by an earlier run of the job (a resume), which replace the zeros.

    Raises:
        ValueError: ``saved`` has a tensor the model has not, or of another shape or dtype.
    """

    def __init__(self, model: Mapping[str, Any], saved: Mapping[str, np.ndarray] | None = None):
        arrays = {key: np.asarray(value) for key, value in model.items()}
        self.controls: dict[str, np.ndarray] = {
            key: np.zeros_like(value) for key, value in arrays.items() if np.issubdtype(value.dtype, np.floating)
        }
        self.spec = spec_of(self.controls)
        if saved:
            check_against_spec(saved, self.spec, "the saved SCAFFOLD controls")
            self.controls.update({key: np.array(value) for key, value in saved.items()})
        self._changes: WeightedAccumulator | None = None

    def begin_round(self) -> None:
        self._changes = WeightedAccumulator()

    def add(self, changes: Any, num_samples: int, site: str) -> None:
        """Fold one site's control changes into the round's mean.

        Raises:
            ValueError: the site sent none, or a tensor that is not one of the controls (named).
            AggregationError: its sample count cannot weigh them.
        """
        if not isinstance(changes, Mapping) or not changes:
            raise ValueError(f"site {site} sent no SCAFFOLD control differences with its update")
        check_against_spec(changes, self.spec, f"site {site}'s SCAFFOLD control differences")
        if self._changes is None:
            raise RuntimeError("ScaffoldControls.add() before begin_round()")
        self._changes.add(changes, num_samples, source=site)

    def end_round(self) -> None:
        """Add the round's weighted mean change to the global controls."""
        changes, self._changes = self._changes, None
        if changes is None or not changes.sources:
            return
        for key, mean in changes.result().items():
            self.controls[key] = self.controls[key] + mean.numpy().astype(self.controls[key].dtype, copy=False)

    def task_meta(self) -> dict[str, np.ndarray]:
        """What goes with each task: the global controls."""
        return self.controls
