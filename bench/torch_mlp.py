"""PyTorch side of `npm run bench`'s side-by-side MLP training (bench/run.ts, part vsTorch).

Reads one JSON object from argv[1]:
  {"input": 784, "hidden": [1024, 1024], "classes": 10, "batch": 128, "samples": 20000,
   "threads": 1, "seed": 1, "warmupSteps": 3}
and trains the MLP input-hidden...-classes (ReLU, bias, PyTorch's default init) with
cross-entropy and Adam (lr 1e-3) for one pass over `samples` shuffled random MNIST-sized
images (float32), timing the pass after `warmupSteps` untimed steps. Prints one JSON line:
  {"samplesPerSecond": ..., "seconds": ..., "steps": ..., "threads": ..., "torch": "1.13.0", "blasCore": "Haswell"}
blasCore: openblas_get_corename() of the OpenBLAS that torch loaded (the bench sets OPENBLAS_CORETYPE
to the core ours runs, so both run the same kernels; this says which ran), or null.
Exit 3 with a message when torch cannot be imported.
"""
import ctypes
import json
import sys
import time

try:
    import torch
except ImportError as e:  # the caller reports this and skips only the PyTorch part
    print(f"torch is not importable: {e}", file=sys.stderr)
    sys.exit(3)


def blas_core():
    """The core of the OpenBLAS already loaded by torch (dlopen returns the loaded copy), or None."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def main() -> None:
    c = json.loads(sys.argv[1])
    torch.set_num_threads(int(c["threads"]))
    torch.manual_seed(int(c["seed"]))
    widths = [c["input"], *c["hidden"], c["classes"]]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, batch = int(c["samples"]), int(c["batch"])
    x = torch.randn(n, c["input"])
    y = torch.randint(0, c["classes"], (n,))

    def step(idx: torch.Tensor) -> None:
        optimizer.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()

    order = torch.randperm(n)
    for s in range(int(c["warmupSteps"])):
        step(order[s * batch:(s + 1) * batch])
    order = torch.randperm(n)
    steps = 0
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        step(order[start:start + batch])
        steps += 1
    seconds = time.perf_counter() - t0
    print(json.dumps({"samplesPerSecond": n / seconds, "seconds": seconds, "steps": steps,
                      "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "blasCore": blas_core()}))


if __name__ == "__main__":
    main()
