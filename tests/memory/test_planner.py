"""frugalnn.plan_memory: every plan is valid, optimal where optimality is cheap to know, and
close to optimal elsewhere; bad arguments are rejected.

Every expected number is computed here in plain Python (lower bounds, exact optima, witness
packings), never read back from the planner.
"""
import itertools
import random
import statistics

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import frugalnn
from frugalnn import _core

ALIGNMENTS = [1, 8, 64, 4096]


# --- plain-Python references -------------------------------------------------------------------


def align_up(nbytes, alignment):
    return -(-nbytes // alignment) * alignment


def overlaps_in_time(first, last, i, j):
    return first[i] <= last[j] and first[j] <= last[i]


def ref_lower_bound(sizes, first, last):
    """Largest sum of sizes alive at one step. Whatever is alive at a step t is also alive at
    the latest first step among those tensors, so checking first steps is enough."""
    best = 0
    for t in set(first):
        best = max(best, sum(s for s, f, la in zip(sizes, first, last) if f <= t <= la))
    return best


def conflicts(offsets, sizes, first, last):
    """Pairs of nonzero tensors alive at a common step whose byte ranges intersect."""
    live = [i for i in range(len(sizes)) if sizes[i] > 0]
    bad = []
    for a, i in enumerate(live):
        for j in live[a + 1 :]:
            if (
                overlaps_in_time(first, last, i, j)
                and offsets[i] < offsets[j] + sizes[j]
                and offsets[j] < offsets[i] + sizes[i]
            ):
                bad.append((i, j))
    return bad


def check_plan(plan, sizes, first, last, alignment):
    """Asserts everything a plan promises, against references computed from the inputs."""
    sizes, first, last = [int(v) for v in sizes], [int(v) for v in first], [int(v) for v in last]
    n = len(sizes)
    aligned = [align_up(s, alignment) for s in sizes]
    offsets = [int(o) for o in plan.offsets]

    assert len(plan) == n and len(offsets) == n
    assert plan.offsets.dtype == np.int64 and plan.sizes.dtype == np.int64
    assert [int(s) for s in plan.sizes] == aligned
    assert plan.first.tolist() == first and plan.last.tolist() == last
    assert plan.alignment == alignment
    assert all(o >= 0 and o % alignment == 0 for o in offsets)
    assert conflicts(offsets, aligned, first, last) == []
    assert plan.arena_bytes == max((o + s for o, s in zip(offsets, aligned)), default=0)
    assert plan.lower_bound == ref_lower_bound(aligned, first, last)
    assert plan.naive_bytes == sum(aligned)
    assert plan.lower_bound <= plan.arena_bytes <= plan.naive_bytes
    assert isinstance(plan.strategy, str) and plan.strategy


def exact_optimum(sizes, first, last):
    """Smallest arena over all valid packings, by depth-first search; returns (arena, offsets).

    Why the search is exact: take any optimal packing and let tensors fall, one at a time, to
    the lowest offset free of the tensors they overlap in time, until none can move. The arena
    never grows and the offsets only go down, so this ends in an optimal packing where every
    tensor rests at 0 or on the end of a time-overlapping tensor just below it. List its tensors
    by increasing offset: each one's support comes earlier in that list. The search tries every
    next tensor at every such candidate (0 or the end of an already placed overlapping tensor)
    no lower than the previous offset, so it walks through that list and finds the optimum.
    Pruning only cuts branches that cannot beat the best arena found so far.
    """
    n = len(sizes)
    live = [i for i in range(n) if sizes[i] > 0]
    neighbours = {i: [j for j in live if j != i and overlaps_in_time(first, last, i, j)] for i in live}
    bound = ref_lower_bound(sizes, first, last)
    # Start from the stacked packing (each tensor on top of the previous one): always valid.
    stacked = list(itertools.accumulate(sizes, initial=0))[:-1]
    best = [sum(sizes), [stacked[i] if sizes[i] else 0 for i in range(n)]]
    offset = {}

    def search(todo, floor, arena):
        if arena >= best[0]:
            return
        if not todo:
            best[0], best[1] = arena, [offset.get(i, 0) for i in range(n)]
            return
        # Every remaining tensor lands at `floor` or higher.
        if floor + max(sizes[i] for i in todo) >= best[0]:
            return
        for t in sorted(todo):
            placed = [j for j in neighbours[t] if j in offset]
            for o in sorted({0, *(offset[j] + sizes[j] for j in placed)}):
                if o < floor or any(
                    o < offset[j] + sizes[j] and offset[j] < o + sizes[t] for j in placed
                ):
                    continue
                offset[t] = o
                search(todo - {t}, o, max(arena, o + sizes[t]))
                del offset[t]
                if best[0] == bound:
                    return

    search(frozenset(live), 0, 0)
    return best[0], best[1]


def fits_in(height, sizes, first, last):
    """Whether some packing has arena <= height: tries every integer offset, nothing clever."""
    n = len(sizes)
    if any(s > height for s in sizes):
        return False
    offsets = [0] * n

    def place(i):
        if i == n:
            return True
        for o in range(height - sizes[i] + 1):
            offsets[i] = o
            if not conflicts(offsets[: i + 1], sizes[: i + 1], first[: i + 1], last[: i + 1]):
                if place(i + 1):
                    return True
        return False

    return place(0)


def brute_optimum(sizes, first, last):
    height = ref_lower_bound(sizes, first, last)
    while not fits_in(height, sizes, first, last):
        height += 1
    return height


# --- instance generators ------------------------------------------------------------------------

SIZES = st.one_of(
    st.integers(0, 10**6),
    st.sampled_from([0, 1, 2, 3, 7, 63, 64, 65, 4095, 4096, 4097, 65521, 999_983]),
)


@st.composite
def instances(draw, max_n=60, max_step=50):
    n = draw(st.integers(0, max_n))
    sizes = draw(st.lists(SIZES, min_size=n, max_size=n))
    first = draw(st.lists(st.integers(0, max_step), min_size=n, max_size=n))
    last = [f + draw(st.integers(0, max_step - f)) for f in first]
    return sizes, first, last


def small_instance(rng):
    # Few steps and short lifetimes keep most pairs overlapping; small sizes make exact fits
    # (where best-fit and first-fit differ) common.
    n = rng.randint(3, 7)
    sizes = [rng.choice([rng.randint(1, 12), rng.randint(1, 1000)]) for _ in range(n)]
    first = [rng.randint(0, 5) for _ in range(n)]
    last = [f + rng.randint(0, 3) for f in first]
    return sizes, first, last


def cnn_like(rng):
    """A ResNet-like inference graph, one op per step: each conv's output is read by the next
    op, its im2col-style scratch lives for its own step only, and a residual block's input
    stays alive until the add at the block's end. Stages halve the spatial size and double
    the channels, with a projection on the shortcut of each stage's first block."""
    sizes, first, last = [], [], []

    def tensor(nbytes, step):
        sizes.append(nbytes)
        first.append(step)
        last.append(step)  # extended by read()
        return len(sizes) - 1

    def read(t, step):
        last[t] = max(last[t], step)

    batch, hw, ch = rng.choice([1, 2, 4]), rng.choice([28, 32, 56, 64]), rng.choice([8, 16, 32])
    step = 0
    x = tensor(batch * ch * hw * hw * 4, step)
    for stage in range(rng.randint(2, 4)):
        for block in range(rng.randint(1, 3)):
            shortcut = x
            if stage > 0 and block == 0:
                hw, ch = max(1, hw // 2), ch * 2
                step += 1
                read(x, step)
                shortcut = tensor(batch * ch * hw * hw * 4, step)
            for _conv in range(rng.choice([2, 3])):
                step += 1
                read(x, step)
                tensor(batch * ch * hw * hw * 4 * rng.randint(1, 9) // rng.choice([1, 2, 4]), step)
                x = tensor(batch * ch * hw * hw * 4, step)
            step += 1
            read(x, step)
            read(shortcut, step)
            x = tensor(batch * ch * hw * hw * 4, step)
    read(x, step + 1)  # the graph output is read by the caller
    return sizes, first, last


# --- the references themselves ------------------------------------------------------------------


def test_fixed_instance_whose_optimum_exceeds_the_lower_bound():
    # Steps 0 and 4 pin tensors 3 and 0 to the ends of a 5-byte arena; step 1 then leaves tensor
    # 1 only at 0 or 4, and either choice makes tensors 4 and 5 collide at step 2 (worked out by
    # hand, confirmed by fits_in). A reference that returned the lower bound would fail here.
    sizes, first, last = [3, 1, 2, 2, 1, 2, 3], [3, 1, 4, 0, 2, 1, 0], [4, 3, 4, 1, 3, 2, 0]
    assert ref_lower_bound(sizes, first, last) == 5
    assert not fits_in(5, sizes, first, last)
    assert fits_in(6, sizes, first, last)
    arena, offsets = exact_optimum(sizes, first, last)
    assert arena == 6 and conflicts(offsets, sizes, first, last) == []

    plan = frugalnn.plan_memory(sizes, first, last, alignment=1)
    check_plan(plan, sizes, first, last, 1)
    # A valid plan cannot go below 6 (check_plan found no conflict), so what is tested is that
    # the planner finds the optimum here, though the lower bound (5) is out of reach.
    assert plan.lower_bound == 5 and plan.arena_bytes == arena


def test_exact_optimum_agrees_with_brute_force():
    rng = random.Random(20240611)
    for _ in range(150):
        n = rng.randint(1, 5)
        sizes = [rng.randint(0, 4) for _ in range(n)]
        first = [rng.randint(0, 4) for _ in range(n)]
        last = [f + rng.randint(0, 3) for f in first]
        arena, offsets = exact_optimum(sizes, first, last)
        assert conflicts(offsets, sizes, first, last) == []
        assert max((o + s for o, s in zip(offsets, sizes)), default=0) == arena
        assert arena == brute_optimum(sizes, first, last), (sizes, first, last)


def test_checker_catches_overlaps_and_only_real_ones():
    first, last = [0, 2, 4], [2, 4, 5]
    # Tensors 0 and 1 share step 2 and bytes [8, 12): a conflict.
    assert conflicts([0, 8, 0], [12, 4, 4], first, last) == [(0, 1)]
    # Tensors 0 and 2 share bytes but never a step; tensor 1 is empty.
    assert conflicts([0, 8, 0], [12, 0, 4], first, last) == []
    assert ref_lower_bound([12, 4, 4], first, last) == 16


# --- validity on random instances ---------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(instances(), st.sampled_from(ALIGNMENTS))
def test_random_plans_are_valid(instance, alignment):
    sizes, first, last = instance
    check_plan(frugalnn.plan_memory(sizes, first, last, alignment), sizes, first, last, alignment)


@settings(max_examples=60, deadline=None)
@given(instances(max_n=40, max_step=3), st.sampled_from(ALIGNMENTS))
def test_crowded_random_plans_are_valid(instance, alignment):
    # Few steps: almost every pair overlaps, so placement must thread through many neighbours.
    sizes, first, last = instance
    check_plan(frugalnn.plan_memory(sizes, first, last, alignment), sizes, first, last, alignment)


# --- chains: the lower bound is always reachable ------------------------------------------------


def chain_witness(aligned):
    """Even tensors at the bottom, odd ones flush with the top of an arena of the lower bound:
    neighbours i, i+1 never meet since their sizes add up to at most that bound."""
    height = max((a + b for a, b in zip(aligned, aligned[1:])), default=max(aligned, default=0))
    return height, [0 if i % 2 == 0 else height - s for i, s in enumerate(aligned)]


@settings(max_examples=200, deadline=None)
@given(st.lists(SIZES, max_size=60), st.sampled_from(ALIGNMENTS))
# Chains the planner misses (hypothesis shrinks to the first). Every greedy order puts both
# end tensors at offset 0 and the first middle one on top of its neighbour, so the second
# middle one, alive next to both, goes on top of everything: [10, 9, 9, 10] gets 28 bytes
# where 19 do (10 and 9 at the bottom, 9 and 10 flush with the top).
@example(sizes=[2, 1, 1, 2], alignment=1)
@example(sizes=[10, 9, 9, 10], alignment=1)
@example(sizes=[640, 576, 576, 640], alignment=64)
def test_chain_reaches_the_lower_bound(sizes, alignment):
    n = len(sizes)
    first, last = list(range(n)), list(range(1, n + 1))
    aligned = [align_up(s, alignment) for s in sizes]
    height, offsets = chain_witness(aligned)
    assert conflicts(offsets, aligned, first, last) == []
    assert height == ref_lower_bound(aligned, first, last)

    plan = frugalnn.plan_memory(sizes, first, last, alignment)
    check_plan(plan, sizes, first, last, alignment)
    assert plan.arena_bytes == height


# --- quality against the exact optimum and on CNN-like graphs ---------------------------------


def test_small_instances_against_the_exact_optimum(record_property):
    # Measured on this seed: mean 1.00003, max 1.007, 99.5% of instances at the optimum (other
    # seeds: means up to 1.001, maxima up to 1.08); the optimum was the lower bound every time.
    rng = random.Random(7)
    ratios = []
    for _ in range(200):
        sizes, first, last = small_instance(rng)
        optimum, offsets = exact_optimum(sizes, first, last)
        assert conflicts(offsets, sizes, first, last) == []
        plan = frugalnn.plan_memory(sizes, first, last, alignment=1)
        check_plan(plan, sizes, first, last, 1)
        assert plan.arena_bytes >= optimum >= plan.lower_bound, (sizes, first, last)
        ratios.append(plan.arena_bytes / optimum)
    at_optimum = sum(r == 1.0 for r in ratios) / len(ratios)
    record_property("ratio_mean", statistics.mean(ratios))
    record_property("ratio_max", max(ratios))
    record_property("share_at_optimum", at_optimum)
    assert statistics.mean(ratios) <= 1.01
    assert at_optimum >= 0.9


def test_cnn_like_graphs_stay_near_the_lower_bound(record_property):
    # Measured on this seed: mean 1.003, max 1.083, 96% at the lower bound. An MILP solve
    # (not run here) found the optimum equal to the lower bound on such graphs, so the
    # remaining gap is the planner's.
    rng = random.Random(11)
    ratios = []
    for _ in range(100):
        sizes, first, last = cnn_like(rng)
        plan = frugalnn.plan_memory(sizes, first, last)
        check_plan(plan, sizes, first, last, 64)
        aligned = [align_up(s, 64) for s in sizes]
        ratios.append(plan.arena_bytes / ref_lower_bound(aligned, first, last))
    record_property("ratio_mean", statistics.mean(ratios))
    record_property("ratio_max", max(ratios))
    assert statistics.mean(ratios) <= 1.05


# --- edge cases --------------------------------------------------------------------------------


def test_no_tensors():
    plan = frugalnn.plan_memory([], [], [])
    check_plan(plan, [], [], [], 64)
    assert (plan.arena_bytes, plan.lower_bound, plan.naive_bytes) == (0, 0, 0)
    assert plan.ratio == 1.0 and plan.savings == 1.0


def test_all_sizes_zero_need_no_arena():
    sizes, first, last = [0] * 5, [0, 0, 1, 2, 2], [3, 1, 1, 2, 9]
    plan = frugalnn.plan_memory(sizes, first, last)
    check_plan(plan, sizes, first, last, 64)
    assert plan.arena_bytes == 0


@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_single_tensor_sits_at_zero(alignment):
    plan = frugalnn.plan_memory([100], [3], [7], alignment)
    check_plan(plan, [100], [3], [7], alignment)
    assert plan.offsets.tolist() == [0]
    assert plan.arena_bytes == align_up(100, alignment)


@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_identical_lifetimes_need_the_sum(alignment):
    sizes = [1, 100, 4096, 5000, 0, 77]
    plan = frugalnn.plan_memory(sizes, [2] * 6, [5] * 6, alignment)
    check_plan(plan, sizes, [2] * 6, [5] * 6, alignment)
    assert plan.arena_bytes == sum(align_up(s, alignment) for s in sizes)
    assert plan.savings == 1.0


@pytest.mark.parametrize("alignment", ALIGNMENTS)
def test_disjoint_lifetimes_need_the_largest(alignment):
    sizes = [300, 5000, 1, 4097, 64]
    first = [0, 1, 5, 6, 10]
    last = [0, 4, 5, 9, 10]
    plan = frugalnn.plan_memory(sizes, first, last, alignment)
    check_plan(plan, sizes, first, last, alignment)
    assert plan.arena_bytes == align_up(5000, alignment)
    assert plan.offsets.tolist() == [0] * 5


def test_touching_lifetimes_overlap_because_last_is_inclusive():
    plan = frugalnn.plan_memory([64, 64], [0, 3], [3, 5])
    check_plan(plan, [64, 64], [0, 3], [3, 5], 64)
    assert plan.arena_bytes == 128


def test_huge_step_numbers():
    base = 10**12
    sizes = [640, 128, 512, 64]
    first = [base, base + 1, base + 2, 2**62 - 2]
    last = [base + 1, base + 2, 2**62 - 1, 2**62 - 1]
    plan = frugalnn.plan_memory(sizes, first, last)
    check_plan(plan, sizes, first, last, 64)
    assert plan.lower_bound == 768 and plan.arena_bytes == 768


def test_sizes_near_the_overflow_limit_still_plan():
    sizes = [2**60, 2**60, 2**59]
    first, last = [0, 0, 1], [0, 1, 1]
    plan = frugalnn.plan_memory(sizes, first, last)
    check_plan(plan, sizes, first, last, 64)
    assert plan.arena_bytes == 2**61


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16, np.uint64])
def test_numpy_integer_arrays_are_accepted(dtype):
    rng = random.Random(3)
    sizes = [rng.randint(0, 60_000) for _ in range(40)]
    first = [rng.randint(0, 30) for _ in range(40)]
    last = [f + rng.randint(0, 10) for f in first]
    arrays = [np.array(v, dtype=dtype) for v in (sizes, first, last)]
    plan = frugalnn.plan_memory(*arrays, alignment=np.int64(64))
    check_plan(plan, sizes, first, last, 64)
    assert plan.offsets.tolist() == frugalnn.plan_memory(sizes, first, last).offsets.tolist()


def test_numpy_scalars_and_generators_are_accepted():
    sizes = [np.int64(100), np.uint8(200), 300]
    plan = frugalnn.plan_memory(iter(sizes), (f for f in [0, 1, 2]), range(1, 4))
    check_plan(plan, [100, 200, 300], [0, 1, 2], [1, 2, 3], 64)


def test_planning_is_deterministic():
    sizes, first, last = cnn_like(random.Random(5))
    a = frugalnn.plan_memory(sizes, first, last)
    b = frugalnn.plan_memory(sizes, first, last)
    assert a.offsets.tolist() == b.offsets.tolist() and a.strategy == b.strategy


# --- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sizes, first, last, alignment, match",
    [
        ([8, -1], [0, 0], [1, 1], 64, r"sizes\[1\] must be non-negative"),
        ([8, 8], [0, -2], [1, 1], 64, r"first\[1\] must be non-negative"),
        ([8, 8], [0, 3], [1, 2], 64, r"last\[1\] = 2 is before first\[1\] = 3"),
        ([8, 8], [0], [1, 1], 64, r"same length"),
        ([8], [0], [1, 1], 64, r"same length"),
        ([8], [0], [2**62], 64, r"last\[0\] = .* too large"),
        ([2**62], [0], [1], 1, r"sizes\[0\] = .* too large"),
        ([2**61, 2**61], [0, 5], [1, 6], 64, r"2\*\*62"),
        ([2**62 - 64], [0], [1], 64, r"2\*\*62"),
        ([8], [0], [1], 0, r"alignment must be positive"),
        ([8], [0], [1], -64, r"alignment must be positive"),
        ([8], [0], [1], 3, r"power of two"),
        ([8], [0], [1], 96, r"power of two"),
        ([8], [0], [1], 2**31, r"power of two up to 2\*\*30"),
    ],
)
def test_bad_values_raise_value_error(sizes, first, last, alignment, match):
    with pytest.raises(ValueError, match=match):
        frugalnn.plan_memory(sizes, first, last, alignment)


@pytest.mark.parametrize(
    "sizes, alignment, match",
    [
        ([8, 1.0], 64, r"sizes\[1\] must be an int, got float"),
        ([True, 8], 64, r"sizes\[0\] must be an int, got bool"),
        ([None, 8], 64, r"sizes\[0\] must be an int, got NoneType"),
        (np.array([8.0, 1.0]), 64, r"sizes must hold integers, got dtype float64"),
        (np.array([True, False]), 64, r"sizes must hold integers, got dtype bool"),
        ([8, 8], 64.0, r"alignment must be an int, got float"),
        ([8, 8], True, r"alignment must be an int, got bool"),
    ],
)
def test_non_integers_raise_type_error(sizes, alignment, match):
    with pytest.raises(TypeError, match=match):
        frugalnn.plan_memory(sizes, [0, 0], [1, 1], alignment)


def test_two_dimensional_arrays_are_rejected():
    with pytest.raises(ValueError, match=r"sizes must be one-dimensional, got shape \(2, 2\)"):
        frugalnn.plan_memory(np.ones((2, 2), np.int64), [0, 0, 0, 0], [1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"last must be one-dimensional"):
        frugalnn.plan_memory([8, 8], [0, 0], np.ones((2, 1), np.int64))


@pytest.mark.parametrize(
    "sizes, first, last, alignment, match",
    [
        ([8, 8], [0], [1, 1], 64, "same length"),
        ([8], [-1], [1], 64, "negative"),
        ([8], [2], [1], 64, "before first"),
        ([8], [0], [2**63 - 1], 64, "too large"),
        ([8], [0], [1], 48, "power of two"),
        ([2**62, 8], [0, 0], [1, 1], 64, "2\\^62"),
    ],
)
def test_native_planner_checks_its_own_arguments(sizes, first, last, alignment, match):
    # The Python wrapper catches all of these first; the native entry point must not trust it.
    with pytest.raises(ValueError, match=match):
        _core.plan_memory(sizes, first, last, alignment)
