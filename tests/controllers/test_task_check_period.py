"""The controllers' ``task_check_period`` reaches the NVFlare communicator that checks their tasks."""

import pytest
from nvflare.apis.impl.wf_comm_server import WFCommServer

from nvflare_fdd.controllers.fedavg import FddFedAvg
from nvflare_fdd.stats.collector import FddStatsCollector


@pytest.mark.parametrize("make", [lambda p: FddFedAvg(task_check_period=p), lambda p: FddStatsCollector(task_check_period=p)],
                         ids=["FddFedAvg", "FddStatsCollector"])  # fmt: skip
@pytest.mark.parametrize("period", [0.05, 0.3])
def test_the_communicator_checks_tasks_at_the_controllers_period(make, period):
    communicator = WFCommServer()  # as NVFlare's server config builds it: default period 0.2 s
    controller = make(period)

    controller.set_communicator(communicator)

    assert communicator.controller is controller
    assert communicator._task_check_period == period
