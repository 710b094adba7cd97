"""The compression searches on a real LocalCluster (2 worker processes, 1 thread each):
compress.fit(client=) and compress.sensitivity(client=) choose and report exactly what the
single-process run does, with the candidates measured on the workers; map_shared's contract."""
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from frugalnn import models  # noqa: E402
from frugalnn.compress import fit, quantize, sensitivity  # noqa: E402
from frugalnn.dask import map_shared  # noqa: E402
from frugalnn.data import load_digits28  # noqa: E402
from frugalnn.graph import Session, compile  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def digits():
    (x, _), (xt, yt) = load_digits28()
    return models.digits_cnn(pretrained=True), x[:96], (xt[:160], yt[:160])


def ran(stream, prefix):
    """(tasks of this key prefix in a task stream, the workers that ran them)."""
    rows = [r for r in stream.data if str(r["key"]).startswith(prefix)]
    return len(rows), {r["worker"] for r in rows}


def footprint(g, batch=1):
    program = compile(g)
    return program.weight_bytes + Session(program, max_batch=batch).memory_report().arena_bytes


@pytest.mark.parametrize("fraction", [2, 6])
def test_fit_on_the_cluster_chooses_as_one_process(client, digits, fraction):
    """Half the bytes: storage alone; a sixth: channels removed too (several widths searched)."""
    g, calib, val = digits
    budget = footprint(g) // fraction
    here = fit(g, budget, calib, val)
    with distributed.get_task_stream(client) as stream:
        there = fit(g, budget, calib, val, client=client)
    count, workers = ran(stream, "_measure")
    assert count > 10 and len(workers) == 2                # the candidates were measured there
    assert there.choices == here.choices and there.width == here.width and there.log == here.log
    assert (there.footprint, there.accuracy) == (here.footprint, here.accuracy)
    assert footprint(there.graph) == there.footprint <= budget


def test_sensitivity_on_the_cluster_reports_as_one_process(client, digits):
    g, calib, (xv, yv) = digits
    q = quantize(g, calib)
    here = sensitivity(q, xv, yv)
    with distributed.get_task_stream(client) as stream:
        there = sensitivity(q, xv, yv, client=client)
    assert ran(stream, "_accuracy_at")[0] == 1 + len(here)   # all float, then one per layer
    assert there == here
    assert [r.layer for r in there] == ["conv1", "conv2", "fc1", "fc2"]


def _scaled(shared, item):
    if item < 0:
        raise ArithmeticError(f"negative item {item}")
    return shared["k"] * item


def test_map_shared_order_errors_and_no_client(client):
    items = list(range(37))
    assert map_shared(client, _scaled, {"k": 3}, items) == [3 * i for i in items]
    assert map_shared(None, _scaled, {"k": 3}, items) == [3 * i for i in items]
    assert map_shared(client, _scaled, {"k": 3}, []) == []
    with pytest.raises(ArithmeticError, match="negative item -2"):
        map_shared(client, _scaled, {"k": 1}, [1, -2, 3])


def test_not_a_client_is_refused(digits):
    g, calib, val = digits
    with pytest.raises(TypeError, match="distributed.Client"):
        fit(g, 10_000, calib, val, client="tcp://127.0.0.1:8786")
    with pytest.raises(TypeError, match="distributed.Client"):
        sensitivity(quantize(g, calib), val[0], val[1], client=object())
    with pytest.raises(TypeError, match="distributed.Client"):
        map_shared(42, _scaled, {}, [1])
