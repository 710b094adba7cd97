"""Demand prediction for the pool: the EMA against hand computation, and the sizing policy of
Pool.step() (grow ahead, trim with hysteresis, periodic demand, budget) checked on the pool's
own OS counters."""
import gc

import numpy as np
import pytest

from frugalnn import _core
from frugalnn.memory import EMA, Pool, PoolStep

KiB = 1 << 10
MiB = 1 << 20


@pytest.fixture(autouse=True)
def no_os_memory_leaks():
    gc.collect()
    before = _core._live_os_regions()
    yield
    gc.collect()
    assert _core._live_os_regions() <= before


def run_step(pool: Pool, demand: list[int]) -> PoolStep:
    """One step: allocate arrays of these byte sizes, touch them, free them, then step()."""
    arrays = [pool.empty(n, np.uint8) for n in demand]
    for i in range(len(arrays)):
        arrays[i][::4096] = 1
    del arrays
    return pool.step()


# ---------------------------------------------------------------------------------- EMA


def test_ema_matches_hand_computation():
    ema = EMA(alpha=0.3)
    assert ema.predicted == 0.0 and ema.count == 0
    assert ema.update(100) == 100.0  # M̂_0 = M_0
    assert ema.update(200) == pytest.approx(0.3 * 200 + 0.7 * 100)  # 130
    assert ema.update(0) == pytest.approx(0.7 * 130)  # 91
    assert ema.update(1000) == pytest.approx(0.3 * 1000 + 0.7 * 91)  # 363.7
    assert ema.predicted == pytest.approx(363.7) and ema.count == 4
    ema.reset()
    assert ema.update(7) == 7.0


def test_ema_alpha_one_follows_demand_exactly():
    ema = EMA(1.0)
    assert [ema.update(v) for v in (5, 9, 2)] == [5.0, 9.0, 2.0]


def test_ema_long_sequence_against_closed_form():
    rng = np.random.default_rng(0)
    demands = rng.integers(0, 10**6, 50)
    ema, alpha = EMA(0.25), 0.25
    for d in demands:
        ema.update(int(d))
    # M̂_T = (1-a)^T M_0 + sum_{t=1..T} a (1-a)^(T-t) M_t
    T = len(demands) - 1
    expected = (1 - alpha) ** T * demands[0] + sum(alpha * (1 - alpha) ** (T - t) * demands[t]
                                                    for t in range(1, T + 1))
    assert ema.predicted == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("alpha, exc", [(0, ValueError), (1.5, ValueError), (-0.1, ValueError),
                                        (float("nan"), ValueError), ("0.3", TypeError),
                                        (True, TypeError)])
def test_ema_bad_alpha(alpha, exc):
    with pytest.raises(exc, match="alpha"):
        EMA(alpha)


@pytest.mark.parametrize("value, exc", [(-1, ValueError), (float("inf"), ValueError), ("5", TypeError)])
def test_ema_bad_demand(value, exc):
    with pytest.raises(exc, match="demand_bytes"):
        EMA().update(value)


def test_pool_rejects_bad_predictor_and_policy():
    with pytest.raises(TypeError, match="update"):
        Pool(predictor=object())
    with pytest.raises(ValueError, match="headroom"):
        Pool(predictor=EMA(), headroom=0.5)
    with pytest.raises(ValueError, match="patience"):
        Pool(predictor=EMA(), patience=0)


# ------------------------------------------------------------------------- Pool.step()


def test_step_measures_peak_demand_and_exposes_prediction():
    pool = Pool(predictor=EMA(0.5))
    assert pool.predicted_bytes == 0 and isinstance(pool.predictor, EMA)
    s = run_step(pool, [100 * KiB, 200 * KiB])
    assert s.demand_bytes == 300 * KiB  # both alive at once; 64-byte multiples already
    assert pool.predicted_bytes == 300 * KiB
    s = run_step(pool, [100 * KiB])
    assert s.demand_bytes == 100 * KiB
    assert pool.predicted_bytes == 200 * KiB  # 0.5 * 100 + 0.5 * 300


def test_step_without_predictor_only_measures():
    pool = Pool()
    assert pool.predicted_bytes is None and pool.predictor is None
    s = run_step(pool, [64 * KiB])
    assert s.demand_bytes == 64 * KiB and s.action == "keep"
    assert pool.stats().peak_bytes_in_use == 0  # restarted


def test_spike_then_low_demand_ends_in_a_trim():
    pool = Pool(predictor=EMA())
    low, spike = [MiB], [16 * MiB]
    for _ in range(5):
        run_step(pool, low)
    run_step(pool, spike)
    held_after_spike = pool.stats().reserved_bytes
    assert held_after_spike > 16 * MiB
    actions = [run_step(pool, low).action for _ in range(30)]
    assert "trim" in actions
    s = pool.stats()
    assert s.os_frees >= 1
    assert s.reserved_bytes < 3 * MiB < held_after_spike  # resident bytes fell back near demand
    # ... and it stays put afterwards: no more OS traffic for a steady demand.
    os_before = (s.os_allocations, s.os_frees)
    for _ in range(30):
        run_step(pool, low)
    s = pool.stats()
    assert (s.os_allocations, s.os_frees) == os_before


def test_without_predictor_the_spike_stays_resident():
    pool = Pool()
    for _ in range(5):
        run_step(pool, [MiB])
    run_step(pool, [16 * MiB])
    for _ in range(30):
        run_step(pool, [MiB])
    assert pool.stats().reserved_bytes > 16 * MiB
    pool.trim()


def periodic(pool: Pool, periods: int = 20, small: int = 9):
    trims = 0
    for _ in range(periods):
        for _ in range(small):
            trims += run_step(pool, [MiB]).action == "trim"
        trims += run_step(pool, [8 * MiB]).action == "trim"
    return trims


def test_periodic_demand_settles_instead_of_trimming_every_period():
    # 9 small steps, 1 big one, 20 times: a validation pass every 10 steps.
    pool = Pool(predictor=EMA())
    trims = periodic(pool)
    s = pool.stats()
    assert trims <= 2, trims
    assert s.os_allocations <= 5 and s.os_frees <= 3, s
    # Steady state: the last ten periods asked the OS for nothing.
    before = (s.os_allocations, s.os_frees)
    assert periodic(pool, periods=10) == 0
    s = pool.stats()
    assert (s.os_allocations, s.os_frees) == before
    assert pool.patience > 9  # it learned the period


def test_eager_trimming_would_remap_every_period():
    """The baseline the hysteresis avoids: trimming whenever the pool holds more than the
    step needed costs one trim and one OS allocation per period."""
    pool = Pool()
    for _ in range(20):
        for _ in range(9):
            run_step(pool, [MiB])
            pool.trim()
        run_step(pool, [8 * MiB])
        pool.trim()
    assert pool.stats().os_allocations >= 20


def test_rising_prediction_reserves_ahead():
    # A ramp of many small requests (128 KiB each, 1 to 16 MiB per step): without a
    # prediction the pool maps 1 MiB regions as each step outgrows the last. With the
    # prediction (alpha 1: the last step; headroom 2) it reserves ahead of the growth.
    pool = Pool(predictor=EMA(1.0), headroom=2.0)
    baseline = Pool()
    reserves, served_by_reservation = 0, 0
    for mib in range(1, 17):
        demand = [128 * KiB] * (8 * mib)
        os_before = pool.stats().os_allocations
        arrays = [pool.empty(n, np.uint8) for n in demand]
        mapped_in_step = pool.stats().os_allocations - os_before
        del arrays
        s = pool.step()
        if reserves and mapped_in_step == 0:
            served_by_reservation += 1  # the previous reservation covered this step's growth
        if s.action == "reserve":
            reserves += 1
            assert s.reserved_ahead_bytes > 0
            assert s.reserved_bytes >= s.target_bytes - 4096  # holds headroom x prediction now
        run_step(baseline, demand)
    assert reserves >= 2
    assert served_by_reservation >= 3
    assert pool.stats().os_allocations < baseline.stats().os_allocations
    pool.trim()
    baseline.trim()


def test_budget_is_honoured_by_reservations_ahead():
    budget = 12 * MiB
    pool = Pool(budget, predictor=EMA(1.0), headroom=2.0)
    for n in (2, 4, 6, 8):
        s = run_step(pool, [n * MiB])
        assert pool.stats().reserved_bytes <= budget
    assert s.target_bytes > budget  # it wanted more than the budget allows...
    assert pool.stats().reserved_bytes <= budget  # ...and stayed inside it
    with pytest.raises(MemoryError):
        pool.empty(20 * MiB, np.uint8)  # requests still hit the budget as before
    for _ in range(20):
        run_step(pool, [MiB])
    assert pool.stats().reserved_bytes <= budget


def test_live_blocks_are_never_released():
    pool = Pool(predictor=EMA(), patience=1)
    keep = pool.empty(4 * MiB, np.uint8)
    keep[...] = 7
    run_step(pool, [16 * MiB])
    for _ in range(5):
        run_step(pool, [KiB])
    assert pool.stats().reserved_bytes >= 4 * MiB
    assert np.all(keep == 7)
    del keep
