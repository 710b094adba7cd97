"""Trains the small digits CNN that ``frugalnn.models.digits_cnn(pretrained=True)`` loads, and
picks the held-out samples ``frugalnn.models.digit_samples()`` returns.

    python tools/train_digits.py        # needs torch and scikit-learn (the test extra)

Data: scikit-learn's bundled 8x8 digits (no download), upscaled 3x and padded to 28x28, the
first 1,400 for training and the other 397 held out. Writes python/frugalnn/data/digits_cnn.npz
(weights as float16, half the bytes; the model is evaluated after that rounding) and
python/frugalnn/data/digit_samples.npz (32 held-out images as uint8, and their labels).
"""
import pathlib

import numpy as np
import torch
from sklearn.datasets import load_digits

OUT = pathlib.Path(__file__).resolve().parent.parent / "python" / "frugalnn" / "data"
TRAIN = 1400


def digits28():
    d = load_digits()
    x = np.kron(d.images.astype(np.float32) / 16.0, np.ones((3, 3), np.float32))
    return np.ascontiguousarray(np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None]), d.target.astype(np.int64)


def main() -> None:
    torch.manual_seed(0)
    x, y = digits28()
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x[:TRAIN]), torch.from_numpy(y[:TRAIN])
    gen = torch.Generator().manual_seed(0)
    for epoch in range(40):
        for g in opt.param_groups:
            g["lr"] = 3e-3 * 0.5 * (1 + np.cos(np.pi * epoch / 40))  # cosine decay
        for idx in torch.randperm(TRAIN, generator=gen).split(64):
            opt.zero_grad()
            # Shifts of up to 2 pixels: 1,400 images are few, and digits move around.
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
            batch = torch.roll(xt[idx], (dy, dx), dims=(2, 3))
            torch.nn.functional.cross_entropy(net(batch), yt[idx]).backward()
            opt.step()
    names = ["conv1", "conv2", "fc1", "fc2"]
    layers = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    weights = {}
    with torch.no_grad():
        for name, m in zip(names, layers):
            m.weight.copy_(m.weight.half().float())
            m.bias.copy_(m.bias.half().float())
            weights[f"{name}.weight"] = m.weight.numpy().astype(np.float16)
            weights[f"{name}.bias"] = m.bias.numpy().astype(np.float16)
        acc = float((net(torch.from_numpy(x[TRAIN:])).argmax(1).numpy() == y[TRAIN:]).mean())
    np.savez_compressed(OUT / "digits_cnn.npz", held_out_accuracy=np.float32(acc), **weights)
    pick = np.random.default_rng(0).choice(np.arange(TRAIN, len(x)), 32, replace=False)
    np.savez_compressed(OUT / "digit_samples.npz", images=np.rint(x[pick] * 255).astype(np.uint8), labels=y[pick])
    print(f"held-out accuracy {acc:.4f}; wrote {OUT}")


if __name__ == "__main__":
    main()
