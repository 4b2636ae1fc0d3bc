"""A round's saving steps: the best model is the one sent this round, never a missing one."""

import numpy as np
import pytest

from nvflare_fdd.controllers.fedavg import FddFedAvg
from nvflare_fdd.persistors.model_persistor import BEST, LAST

PARAMS = {"linear.weight": np.ones((1, 3), np.float32)}


class _Persistor:
    """The persistor's saving side, recording what it is asked to save."""

    def __init__(self, last_saved: bool):
        self.last_saved = last_saved
        self.saved: list[tuple[str, object]] = []

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

    _controller(persistor)._persist(2, None, True, PARAMS, None, None)

    assert persistor.saved == [(BEST, "linked"), (LAST, PARAMS)]


def test_a_best_round_whose_last_saved_model_is_gone_fails_to_save_instead_of_saving_nothing_as_the_best():
    persistor = _Persistor(last_saved=False)

    with pytest.raises(FileNotFoundError, match="round 1's global model"):
        _controller(persistor)._persist(2, None, True, PARAMS, None, None)

    assert all(params is not None for _, params in persistor.saved)
