"""A round's saving steps: the best model is the one sent this round, never a missing one, and never held for it."""

import numpy as np
import pytest

from nvflare_fdd.controllers.fedavg import FddFedAvg
from nvflare_fdd.persistors.model_persistor import BEST, LAST, START

PARAMS = {"linear.weight": np.ones((1, 3), np.float32)}


class _Persistor:
    """The persistor's saving side, recording what it is asked to save."""

    def __init__(self, last_saved: bool, start_saved: bool = True):
        self.last_saved = last_saved
        self.start_saved = start_saved
        self.saved: list[tuple[str, object]] = []

    def keep_start_as_best(self, fl_ctx) -> bool:
        if self.start_saved:
            self.saved.append((BEST, "renamed from " + START))
        return self.start_saved

    def discard_start(self, fl_ctx) -> None:
        self.saved.append((START, "removed"))

    def keep_last_as_best(self, fl_ctx) -> bool:
        if self.last_saved:
            self.saved.append((BEST, "linked"))
        return self.last_saved

    def save_weights(self, params, fl_ctx, stem=LAST):
        self.saved.append((stem, params))

    def save_controls(self, controls, fl_ctx):
        self.saved.append(("controls", controls))


def _controller(persistor: _Persistor) -> FddFedAvg:
    controller = FddFedAvg(num_rounds=3)
    controller._persistor = persistor
    return controller


def test_a_best_round_links_the_last_saved_model_as_the_best():
    persistor = _Persistor(last_saved=True)

    _controller(persistor)._persist(2, False, True, PARAMS, None, None)

    assert persistor.saved == [(BEST, "linked"), (LAST, PARAMS)]


def test_the_first_round_of_a_run_renames_its_start_model_to_the_best_or_removes_it():
    persistor = _Persistor(last_saved=False)
    _controller(persistor)._persist(1, True, True, PARAMS, None, None)
    assert persistor.saved == [(BEST, "renamed from " + START), (LAST, PARAMS)]

    persistor = _Persistor(last_saved=False)
    _controller(persistor)._persist(1, True, False, PARAMS, None, None)
    assert persistor.saved == [(START, "removed"), (LAST, PARAMS)]

    with pytest.raises(FileNotFoundError, match="the run's start model"):
        _controller(_Persistor(last_saved=False, start_saved=False))._persist(1, True, True, PARAMS, None, None)


def test_a_best_round_whose_last_saved_model_is_gone_fails_to_save_instead_of_saving_nothing_as_the_best():
    persistor = _Persistor(last_saved=False)

    with pytest.raises(FileNotFoundError, match="round 1's global model"):
        _controller(persistor)._persist(2, False, True, PARAMS, None, None)

    assert all(params is not None for _, params in persistor.saved)
