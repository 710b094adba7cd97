"""Scale-out on Dask: score a Dask array with a compiled model on every worker of a cluster
(:func:`predict`), and run the compression searches' independent evaluations there
(``compress.fit(..., client=)``, ``compress.sensitivity(..., client=)``).

Needs ``dask[distributed]``: ``pip install 'frugalnn[dask]'``. The same code runs on the
threaded scheduler, on a laptop's ``distributed.LocalCluster`` and on a real cluster
(``Client("scheduler-address")``).
"""
try:
    import dask  # noqa: F401
    import dask.array  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("frugalnn.dask needs Dask: pip install 'frugalnn[dask]' (dask[distributed])") from e

from .predict import predict
from .sweep import map_shared

__all__ = ["map_shared", "predict"]
