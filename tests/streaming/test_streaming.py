"""The chunk protocol of streamed models: what a producer serves, what a receiver accepts, and the streamed average.

``pump`` drives a source and a sink the way NVFlare's ``download_object`` does (ask with the state, consume the
chunk, send the state back); the simulator tests run the same classes over NVFlare's real download service.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from nvflare_fdd import streaming
from nvflare_fdd.aggregation import AggregationError, WeightedAccumulator
from nvflare_fdd.errors import StreamError


def pump(source, sink) -> None:
    state = None
    while True:
        rc, data, state = source.produce(state, "server.job")
        if rc == "eof":
            sink.download_completed("ref")
            return
        if rc == "error":
            sink.download_failed("ref", "producer error")
            return
        state = sink.consume("ref", state, data)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 64)  # many chunks per tensor, and tensors of one partial chunk


def model(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "layer.weight": rng.standard_normal((7, 9)).astype(np.float32),
        "layer.bias": rng.standard_normal(5).astype(np.float16),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "bn.num_batches_tracked": np.array(seed + 3, dtype=np.int64),
        "mask": rng.random(13) > 0.5,
    }


def test_arrays_stream_into_a_safetensors_file_user_code_can_read(tmp_path):
    arrays = model(1)
    path = tmp_path / "global.safetensors"
    sink = streaming.FileSink(path, streaming.layout_of(arrays))
    pump(streaming.ArraysSource(arrays), sink)
    assert sink.complete
    loaded = load_file(str(path))
    assert set(loaded) == set(arrays)
    for key, value in arrays.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        assert np.array_equal(loaded[key], value)


def test_a_streamed_update_averages_to_the_same_bits_as_a_whole_one(tmp_path):
    previous = {key: torch.as_tensor(value) for key, value in model(0).items()}
    updates = [(model(1), 3), (model(2), 5), (model(3), 0)]
    whole = WeightedAccumulator()
    for index, (params, weight) in enumerate(updates):
        whole.add(params, weight, source=f"site-{index}")
    expected = whole.result(previous=previous)

    streamed = WeightedAccumulator()
    for index, (params, weight) in enumerate(updates):
        path = tmp_path / f"update-{index}.safetensors"
        save_file(params, str(path))
        layout, offsets = streaming.read_layout(path)
        update = streamed.begin(layout, weight, source=f"site-{index}")
        sink = streaming.AccumulatorSink(layout, update.add_chunk)
        source = streaming.FileSource(path, layout, offsets)
        pump(source, sink)
        assert sink.complete
        update.finish()
        source.transaction_done("T1", "finished")  # NVFlare's call once the server has it all
        assert not path.exists()  # the source removes its file
    result = streamed.result(previous=previous)
    assert set(result) == set(expected)
    for key in expected:
        assert result[key].dtype == expected[key].dtype
        assert torch.equal(result[key], expected[key]), key


def test_a_stream_that_breaks_off_leaves_no_result():
    accumulator = WeightedAccumulator()
    arrays = model(1)
    accumulator.add(arrays, 2, source="site-1")
    layout = streaming.layout_of(arrays)
    update = accumulator.begin(layout, 4, source="site-2")
    update.add_chunk(0, 0, torch.ones(10))  # part of the first tensor, then the stream stops
    with pytest.raises(AggregationError, match="layer.weight arrived with 10 of its 63 values"):
        update.finish()
    with pytest.raises(AggregationError, match="cannot be completed"):
        accumulator.result()


def test_begin_refuses_a_shape_other_updates_did_not_have():
    accumulator = WeightedAccumulator()
    accumulator.add({"w": np.zeros((2, 2), np.float32)}, 1)
    with pytest.raises(AggregationError, match="shape"):
        accumulator.begin([streaming.TensorInfo("w", np.dtype("float32"), (4,))], 1, source="site-2")


class _Lying(streaming.ArraysSource):
    """A sender that misplaces, oversizes or adds chunks."""

    def __init__(self, arrays, how):
        super().__init__(arrays)
        self.how = how

    def produce(self, state, requester):
        rc, data, new_state = super().produce(state, requester)
        if rc == "ok" and self.how == "skip":
            new_state = {"t": new_state["t"], "b": new_state["b"] + 4}
        if rc == "ok" and self.how == "long":
            data = data + b"\0\0\0\0"
        if rc == "eof" and self.how == "more":
            return "ok", b"\0" * 8, {"t": 99, "b": 0}
        return rc, data, new_state


@pytest.mark.parametrize("how, message", [("skip", "position"), ("long", "wrong size"), ("more", "more than")])
def test_a_receiver_refuses_chunks_other_than_the_next_one(tmp_path, how, message):
    arrays = {"w": np.arange(40, dtype=np.float32)}
    sink = streaming.FileSink(tmp_path / "global.safetensors", streaming.layout_of(arrays))
    with pytest.raises(StreamError, match=message):
        pump(_Lying(arrays, how), sink)


def test_a_stream_that_ends_early_is_not_complete(tmp_path):
    arrays = {"a": np.ones(40, np.float32), "b": np.ones(3, np.float32)}
    announced = [*streaming.layout_of(arrays), streaming.TensorInfo("c", np.dtype("float32"), (2,))]
    sink = streaming.FileSink(tmp_path / "global.safetensors", announced)
    with pytest.raises(StreamError, match="'c' was complete"):
        pump(streaming.ArraysSource(arrays), sink)
    assert not sink.complete


@pytest.mark.parametrize("state", [{"t": -1, "b": 0}, {"t": 0, "b": True}, {"t": 0, "b": 2}, {"t": "0", "b": 0}])
def test_a_producer_refuses_a_bad_position(state):
    rc, data, _ = streaming.ArraysSource({"w": np.ones(40, np.float32)}).produce(state, "server.job")
    assert (rc, data) == ("error", None)


def test_read_arrays_reads_what_safetensors_wrote(tmp_path):
    arrays = model(6)
    path = tmp_path / "initial.safetensors"
    save_file(arrays, str(path))
    loaded = streaming.read_arrays(path)
    assert set(loaded) == set(arrays)
    for key, value in arrays.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value), key
    path.write_bytes(path.read_bytes()[:-3])  # cut inside the last tensor
    with pytest.raises(StreamError, match="out of bounds"):
        streaming.read_arrays(path)


def test_an_update_is_served_to_the_server_alone(tmp_path):
    path = tmp_path / "update.safetensors"
    save_file({"w": np.ones(4, np.float32)}, str(path))
    layout, offsets = streaming.read_layout(path)
    source = streaming.FileSource(path, layout, offsets, receivers=["server.job1"])
    assert source.produce(None, "site_b.job1") == ("error", None, {})  # another site that learnt the download's id
    rc, data, _ = source.produce(None, "server.job1")
    assert rc == "ok" and data == np.ones(4, np.float32).tobytes()


def _craft(path, header: dict, data: bytes = b"", length: int | None = None):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)
    return path


@pytest.mark.parametrize(
    "header, data, length, message",
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, None, "out of bounds"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, b"\0" * 16, None, "malformed"),
        ({"w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "malformed"),
        ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "malformed"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "v": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, None, "share bytes"),
        ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, 1 << 40, "length"),
        ([1, 2], b"", None, "not an object"),
    ],
)
def test_read_layout_refuses_a_crafted_file(tmp_path, header, data, length, message):
    with pytest.raises(StreamError, match=message):
        streaming.read_layout(_craft(tmp_path / "update.safetensors", header, data, length))


def test_read_layout_reads_what_safetensors_wrote_and_nothing_else(tmp_path):
    arrays = model(4)
    path = tmp_path / "update.safetensors"
    save_file(arrays, str(path), metadata={"note": "user text stays in the file"})
    layout, offsets = streaming.read_layout(path)
    assert {info.key: (info.dtype, info.shape) for info in layout} == {
        key: (value.dtype, value.shape) for key, value in arrays.items()
    }
    raw = path.read_bytes()
    for info, offset in zip(layout, offsets):
        assert raw[offset : offset + info.nbytes] == np.ascontiguousarray(arrays[info.key]).tobytes()


@pytest.mark.parametrize(
    "ref, message",
    [
        ("a string", "not a mapping"),
        ({"fqcn": "", "ref": "r", "tensors": []}, "no sender"),
        ({"fqcn": "site-1.job", "ref": "r", "tensors": "w"}, "no tensor list"),
        ({"fqcn": "site-1.job", "ref": "r", "tensors": [["w", "object", [1]]]}, "malformed"),
        ({"fqcn": "site-1.job", "ref": "r", "tensors": [["w", "float32", [1]], ["w", "float32", [1]]]}, "twice"),
    ],
)
def test_a_malformed_reference_is_refused(ref, message):
    with pytest.raises(StreamError, match=message):
        streaming.reference(ref, "update")


def test_a_reference_survives_its_round_trip():
    layout = streaming.layout_of(model(5))
    fqcn, ref_id, back = streaming.reference(streaming.reference_meta("site-1.job", "R1", layout), "update")
    assert (fqcn, ref_id, back) == ("site-1.job", "R1", layout)
