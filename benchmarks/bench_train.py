"""Training: the seed document's CNN (and the MLP) trained by frugalnn on its own kernels
against torch eager on the CPU, same weights, same batches, same thread count.

* bench_train_step: one training step (forward, cross-entropy, backward, Adam update) at
  batch 128; extra_info.samples_per_s. Compare by ratio: ``python benchmarks/report.py
  train.json --baseline torch``.
* bench_train_peak_rss: one epoch over digits-28 (1,400 images, batch 128) in a fresh
  process; extra_info.rss_growth_bytes = peak RSS growth over the interpreter with its
  imports (frugalnn's planned arena, parameters, optimizer state vs torch's allocations).
* bench_train_accuracy: the document's CNN and the MLP trained on the digits-28 split from
  their He-initialized weights; extra_info: test accuracy, seconds, epochs.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import frugalnn
from frugalnn.models import mlp, mnist_cnn
from frugalnn.train import Adam, Trainer, fit

QUICK = bool(os.environ.get("FRUGALNN_BENCH_QUICK"))
BATCH = 16 if QUICK else 128


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def torch_model(g):
    """The document's CNN (or the MLP) as a torch module with the graph's weights."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    mods = []
    for node in g.nodes:
        L = node.layer
        if L.op == "conv2d":
            m = nn.Conv2d(L.weight.shape[1], L.weight.shape[0], L.weight.shape[2:], padding=L.pads(1, 1)[0])
        elif L.op == "dense":
            m = nn.Linear(L.weight.shape[1], L.weight.shape[0])
        elif L.op == "relu":
            mods.append(nn.ReLU())
            continue
        elif L.op == "maxpool2d":
            mods.append(nn.MaxPool2d(L.kernel))
            continue
        elif L.op == "flatten":
            mods.append(nn.Flatten())
            continue
        else:  # the trailing Softmax: cross_entropy takes the logits
            continue
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(L.weight))
            m.bias.copy_(torch.from_numpy(L.bias))
        mods.append(m)
        if getattr(L, "activation", None) == "relu":
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def _runner(impl, model):
    g = {"mnist_cnn": mnist_cnn, "mlp": mlp}[model]()
    x, y = _batch(BATCH)
    if impl == "frugalnn":
        t = Trainer(g, optimizer=Adam(), max_batch=BATCH)
        return lambda: t.train_step(x, y)
    torch = pytest.importorskip("torch")
    torch.set_num_threads(frugalnn.get_num_threads())
    net = torch_model(g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
    return step


@pytest.mark.parametrize("model", ["mnist_cnn", "mlp"])
@pytest.mark.parametrize("impl", ["frugalnn", "torch"])
def bench_train_step(benchmark, impl, model):
    benchmark.group = f"train step {model} batch={BATCH} threads={frugalnn.get_num_threads()}"
    fn = _runner(impl, model)
    for _ in range(2):
        fn()
    time.sleep(0.2)
    benchmark.extra_info.update(impl=impl, batch=BATCH)
    benchmark(fn)
    if benchmark.stats is not None:
        benchmark.extra_info["samples_per_s"] = BATCH / benchmark.stats.stats.median


_RSS_SCRIPT = r"""
import json, sys
impl, model, here, quick = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
sys.path.insert(0, here)
import numpy as np
import frugalnn, torch
from frugalnn.data import load_digits28
import bench_train as B
torch.set_num_threads(frugalnn.get_num_threads())

def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":"))

(x, y), _ = load_digits28()
if quick:
    x, y = x[:64], y[:64]
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
before = status("VmRSS")
g = {"mnist_cnn": B.mnist_cnn, "mlp": B.mlp}[model]()
bs = 16 if quick else 128
if impl == "frugalnn":
    from frugalnn.train import fit
    fit(g, (x, y), epochs=1, batch_size=bs, seed=0, progress=False)
else:
    net = B.torch_model(g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for s in range(0, len(x), bs):
        idx = perm[s:s + bs]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
        opt.step()
print(json.dumps({"growth_kib": status("VmHWM") - before}))
"""


@pytest.mark.parametrize("model", ["mnist_cnn", "mlp"])
@pytest.mark.parametrize("impl", ["frugalnn", "torch"])
def bench_train_peak_rss(benchmark, impl, model):
    pytest.importorskip("torch")
    benchmark.group = f"training peak RSS growth, {model} (one epoch of digits-28)"
    here = os.path.dirname(os.path.abspath(__file__))

    def measure():
        r = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, impl, model, here, "1" if QUICK else "0"],
                           capture_output=True, text=True, check=True, timeout=600)
        return json.loads(r.stdout.strip().splitlines()[-1])["growth_kib"]

    growth = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(impl=impl, rss_growth_bytes=growth * 1024)


@pytest.mark.parametrize("model, epochs", [("mnist_cnn", 12), ("mlp", 20)])
def bench_train_accuracy(benchmark, model, epochs):
    from frugalnn.data import load_digits28

    benchmark.group = "training accuracy on digits-28 (test split)"
    (x, y), (xt, yt) = load_digits28()
    if QUICK:
        x, y, epochs = x[:128], y[:128], 1

    def run():
        g = {"mnist_cnn": mnist_cnn, "mlp": mlp}[model]()
        t0 = time.perf_counter()
        hist = fit(g, (x, y), epochs=epochs, seed=0, progress=False)
        seconds = time.perf_counter() - t0
        return hist, seconds

    hist, seconds = benchmark.pedantic(run, rounds=1, iterations=1)
    _, acc = hist.trainer.evaluate(xt, yt)
    benchmark.extra_info.update(model=model, test_accuracy=acc, seconds=seconds, epochs=hist.epochs)
    print(f"\n{model}: test accuracy {acc:.4f} after {hist.epochs} epochs in {seconds:.1f} s")


def _student(seed):
    """A CNN with about 1/8 of the document CNN's parameters (8 and 16 channels, dense 64)."""
    from frugalnn.models import digits_cnn

    return digits_cnn(pretrained=False, seed=seed)


def bench_train_distillation(benchmark):
    """The document CNN as teacher; a student with 1/8 of its parameters trained with
    distillation (T = 4, alpha = 0.7) and without, 3 seeds each: test accuracy mean and
    spread (whichever wins)."""
    from frugalnn.data import load_digits28
    from frugalnn.train import distillation

    benchmark.group = "distillation on digits-28 (test accuracy, 3 seeds)"
    (x, y), (xt, yt) = load_digits28()
    epochs, teacher_epochs, seeds = 4, 12, (0, 1, 2)
    if QUICK:
        x, y, epochs, teacher_epochs, seeds = x[:128], y[:128], 1, 1, (0,)

    def run():
        teacher = mnist_cnn()
        fit(teacher, (x, y), epochs=teacher_epochs, seed=0, progress=False)
        params = lambda g: sum(n.layer.weight.size + n.layer.bias.size  # noqa: E731
                               for n in g.nodes if hasattr(n.layer, "weight"))
        out = {"teacher_params": params(teacher), "student_params": params(_student(0))}
        for name, loss in (("plain", None), ("distilled", distillation(teacher, temperature=4.0, alpha=0.7))):
            accs = []
            for s in seeds:
                g = _student(s)
                h = fit(g, (x, y), epochs=epochs, loss=loss, seed=s, progress=False)
                accs.append(h.trainer.evaluate(xt, yt)[1])
            out[name] = accs
        out["teacher"] = Trainer(teacher).evaluate(xt, yt)[1]
        return out

    out = benchmark.pedantic(run, rounds=1, iterations=1)
    for name in ("plain", "distilled"):
        a = np.array(out[name])
        out[f"{name}_mean"], out[f"{name}_std"] = float(a.mean()), float(a.std())
    benchmark.extra_info.update(out)
    print(f"\nteacher {out['teacher_params']} params: {out['teacher']:.4f}; student {out['student_params']} params: "
          f"plain {out['plain_mean']:.4f} ± {out['plain_std']:.4f}, "
          f"distilled {out['distilled_mean']:.4f} ± {out['distilled_std']:.4f} ({epochs} epochs)")
