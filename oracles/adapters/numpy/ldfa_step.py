#!/usr/bin/env python3
"""Recompute an ldfa golden fixture independently with NumPy and write a candidate dump.

    python3 oracles/adapters/numpy/ldfa_step.py oracles/fixtures/mlp_ldfa-oja.bin /tmp/cand.bin
    npx ldfa verify --fixture oracles/fixtures/mlp_ldfa-oja.bin --candidate /tmp/cand.bin

It reads only the fixture's inputs (input/*, init/*) and its header (architecture, rule,
learning rates), re-derives every step from the formulas in docs/fixture-format.md, and writes
what it computed (stepK/*) in the same tensor-bundle format. It shares no code with the
TypeScript reference. Handles the linear2 and mlp cases (linear layers, tanh/relu) under every
rule: BP, FA, DFA and LDFA fixed / normative / oja / factorised, every Oja normalisation, learn q,
the signal clamp and SVD re-factorisation (not --direct, not the v4 gradient clamps), and the family
rules uSF, brSF, frSF, Kolen-Pollack, weight mirrors and PFA (docs/fixture-format.md section 12).
"""
import json
import struct
import sys

import numpy as np

MAGIC = b"LDFABNDL"
BUNDLE_VERSION = 1
FIXTURE_VERSIONS = (1, 2, 3)
SIGN_RULES = ("usf", "brsf", "frsf")


def read_bundle(path):
    """(meta, {name: float64 array}) from a tensor bundle."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 16 or b[:8] != MAGIC:
        sys.exit(f"{path}: not a tensor bundle (bad magic)")
    version, header_len = struct.unpack("<II", b[8:16])
    if version != BUNDLE_VERSION:
        sys.exit(f"{path}: bundle version {version}, this adapter reads {BUNDLE_VERSION}")
    header = json.loads(b[16:16 + header_len])
    data = np.frombuffer(b, "<f8", offset=(16 + header_len + 7) // 8 * 8)
    tensors = {}
    for t in header["tensors"]:
        size = int(np.prod(t["shape"]))
        tensors[t["name"]] = data[t["offset"]:t["offset"] + size].reshape(t["shape"]).copy()
    return header["meta"], tensors


def write_bundle(path, meta, tensors):
    """The inverse of read_bundle: magic, version, header length, JSON header, pad to 8, float64 data."""
    index, blobs, offset = [], [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype="<f8")
        index.append({"name": name, "shape": list(a.shape), "offset": offset})
        blobs.append(a.tobytes())
        offset += a.size
    header = json.dumps({"meta": meta, "tensors": index}).encode("utf-8")
    pad = b"\0" * ((-(16 + len(header))) % 8)
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<II", BUNDLE_VERSION, len(header)) + header + pad + b"".join(blobs))


def act(kind, a):
    return {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0), "identity": lambda v: v}[kind](a)


def act_grad(kind, a):
    """f'(a)"""
    if kind == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if kind == "relu":
        return (a > 0).astype(np.float64)
    return np.ones_like(a)


def balanced_factors(W, r, omega, niter):
    """P̂ = U S^½, Q̂ = S^½ Vᵀ of W's rank-r (randomized, when Ω is given) SVD; each U column's largest-|entry| positive."""
    if omega is None:
        U, S, Vt = np.linalg.svd(W, full_matrices=False)
    else:                                               # Y = orth(W·Ω), niter × Y ← orth(W·orth(Wᵀ·Y)); SVD of Yᵀ·W
        Y = np.linalg.qr(W @ omega)[0]
        for _ in range(niter):
            Y = np.linalg.qr(W @ np.linalg.qr(W.T @ Y)[0])[0]
        Ub, S, Vt = np.linalg.svd(Y.T @ W, full_matrices=False)
        U = Y @ Ub
    U, S, V = U[:, :r], S[:r], Vt[:r].T
    flip = np.where(U[np.abs(U).argmax(axis=0), np.arange(r)] < 0, -1.0, 1.0)
    U, V = U * flip, V * flip
    return U * np.sqrt(S), np.sqrt(S)[:, None] * V.T


def check_supported(meta):
    if meta.get("kind") != "ldfa-fixture" or meta.get("fixtureVersion") not in FIXTURE_VERSIONS:
        sys.exit(f"not an ldfa fixture of version {' or '.join(map(str, FIXTURE_VERSIONS))}")
    layers = meta["model"]["layers"]
    if not isinstance(layers, list) or any(l["type"] not in ("linear", "tanh", "relu", "identity", "flatten") for l in layers):
        sys.exit(f"case {meta['case']}: this adapter handles MLPs and linear nets only (linear2_*, mlp_*)")
    rule = meta["rule"]
    if rule["rule"] == "wm" and (rule["warmup"] != 0 or rule["growthControl"]):
        sys.exit(f"case {meta['case']}: weight mirrors with warm-up or growth control are outside what this adapter implements")
    if rule["rule"] == "ldfa" and (rule["direct"] or rule.get("clipLinearGrad") is not None):
        sys.exit(f"case {meta['case']}: LDFA options {rule} are outside what this adapter implements")


def run(meta, given, steps):
    check_supported(meta)
    layers, rule, training = meta["model"]["layers"], meta["rule"], meta["training"]
    sends = {s["name"]: s["sendsSignal"] for s in meta["model"]["sites"]}
    lr, flr = training["lr"], training["feedbackLr"]
    wd, decayed = training.get("weightDecay", 0), set(training.get("decayed", []))             # KP, PFA: coupled L2 decay
    clip = (training.get("clip") or {}).get("signal")                                         # v1: signal sent down clamped to ±clip
    x = given["input/x"].reshape(given["input/x"].shape[0], -1)
    y = given["input/y"].astype(np.int64)
    N, C = x.shape[0], meta["model"]["classes"]
    params = {name: given[f"init/{name}"].copy() for name in training["learned"]}           # fc1.W, fc1.b, ...
    fb = {k[len("init/"):]: v.copy() for k, v in given.items()
          if k.startswith("init/") and k[len("init/"):] not in params}                         # fc2.B, fc2.D, fc2.P, fc2.Q
    mode = rule.get("mode")
    out = {}
    for step in range(1, steps + 1):
        at = f"step{step}"
        # forward: keep each layer's input
        h, inputs = x, []
        for l in layers:
            inputs.append(h)
            if l["type"] == "linear":
                h = h @ params[l["name"] + ".W"].T + (params[l["name"] + ".b"] if l["bias"] else 0.0)
            elif l["type"] != "flatten":
                h = act(l["type"], h)
        logits = h
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(N), y]))
        e = (p - np.eye(C)[y]) / N                                                              # dL/dlogits, batch mean
        out[f"{at}/logits"], out[f"{at}/loss"] = logits, np.array(loss)

        # backward: exact through activations; each linear layer sends down through the rule's matrix
        d, grads, seen = e, {}, {}
        for l, inp in reversed(list(zip(layers, inputs))):
            if l["type"] == "linear":
                n = l["name"]
                out[f"{at}/{n}.delta"] = d
                seen[n] = (d, inp)
                grads[n + ".dW"] = d.T @ inp
                if l["bias"]:
                    grads[n + ".db"] = d.sum(axis=0)
                if not sends[n]:
                    break
                kind = rule["rule"]
                if kind == "bp":
                    d = d @ params[n + ".W"]
                elif kind in ("fa", "kp", "wm"):                   # a B of W's shape: fixed, learned, or mirrored
                    d = d @ fb[n + ".B"]
                elif kind in SIGN_RULES:                           # B_t = S_t * sign(W_t) from the current W
                    S = {"usf": lambda: rule["c"][n], "brsf": lambda: given[f"input/{at}/{n}.M"], "frsf": lambda: fb[n + ".M"]}[kind]()
                    B = S * np.sign(params[n + ".W"])
                    out[f"{at}/{n}.B"] = B
                    d = d @ B
                elif kind == "dfa":
                    d = e @ fb[n + ".D"]
                elif kind == "pfa":                                # through the fixed B_p, then the learned R
                    d = (d @ fb[n + ".Bp"]) @ fb[n + ".R"]
                else:
                    d = (d @ fb[n + ".P"]) @ fb[n + ".Q"]
                if clip is not None:
                    d = np.clip(d, -clip, clip)
                out[f"{at}/{n}.signal"] = d
            elif l["type"] != "flatten":
                d = d * act_grad(l["type"], inp)

        # LDFA feedback learning, from this step's signals and the weights before the update
        fgrads = {}
        for name in training["learnedFeedback"]:
            n = name[:name.rindex(".")]
            if rule["rule"] == "kp":                    # B receives W's own gradient
                fgrads[n + ".dB"] = grads[n + ".dW"]
            elif rule["rule"] == "pfa":                 # R's local gradient through the fixed B_p
                fgrads[n + ".dR"] = fb[n + ".Bp"].T @ grads[n + ".dW"]
        if rule["rule"] == "ldfa" and mode != "fixed":
            for n, (dy, inp) in seen.items():
                if not sends[n]:
                    continue
                P, Q, W, dW = fb[n + ".P"], fb[n + ".Q"], params[n + ".W"], grads[n + ".dW"]
                if mode == "normative":                 # descend ½‖W − PQ‖²
                    E = P @ Q - W
                    dP, dQ = E @ Q.T, P.T @ E
                elif mode == "factorised":              # the loss gradient if W were PQ
                    dP, dQ = dW @ Q.T, P.T @ dW
                elif mode == "oja":                     # Oja subspace rule on the normalised error; Kolen-Pollack-like Q
                    # v1 MLP output layer (ojaOutput 'labels'): P learns from the one-hot labels instead of the error
                    signal = np.eye(C)[y] if n == layers[-1]["name"] and rule.get("ojaOutput") == "labels" else dy
                    how = rule["ojaNormalisation"]
                    if how == "max-std":                # centred, divided by the largest unbiased std (+ ε)
                        dt = (signal - signal.mean(axis=0)) / (signal.std(axis=0, ddof=1).max() + rule["ojaEps"])
                    elif how == "max-second-moment":    # not centred: C = signalᵀsignal / (max_j mean(signal_j²) + ε)
                        dt = signal / np.sqrt((signal ** 2).mean(axis=0).max() + rule["ojaEps"])
                    else:
                        dt = signal
                    CP = dt.T @ (dt @ P)
                    dP = -(CP - P @ (P.T @ CP))
                    dQ = (dy @ P).T @ inp
                else:
                    sys.exit(f"unknown LDFA mode {mode}")
                fgrads[n + ".dP"], fgrads[n + ".dQ"] = dP, dQ
        for k, g in {**grads, **fgrads}.items():
            out[f"{at}/{k}"] = g

        # SGD, with coupled L2 decay of the tensors in training.decayed (KP, PFA)
        def sgd(name, value, g, rate):
            return value - rate * (g + (wd * value if name in decayed else 0.0))
        for name in params:
            dot = name.rindex(".")
            params[name] = sgd(name, params[name], grads[name[:dot + 1] + "d" + name[dot + 1:]], lr)
        for name in training["learnedFeedback"]:
            dot = name.rindex(".")
            fb[name] = sgd(name, fb[name], fgrads[name[:dot + 1] + "d" + name[dot + 1:]], flr)

        # weight mirrors: the layer's linear response to the step's noise, from the updated W
        if rule["rule"] == "wm":
            for n, sends_down in sends.items():
                if not sends_down:
                    continue
                noise = given[f"input/{at}/{n}.noise"]
                response = noise @ params[n + ".W"].T
                W_hat = response.T @ noise / (noise.shape[0] * rule["sigma"] ** 2)
                fb[n + ".B"] = (1 - rule["rate"]) * fb[n + ".B"] + rule["rate"] * W_hat
                out[f"{at}/{n}.What"], out[f"{at}/{n}.B"] = W_hat, fb[n + ".B"]
        if rule["rule"] == "ldfa" and mode == "normative" and rule["svdEvery"] > 0 and step % rule["svdEvery"] == 0:
            for n in seen:
                if sends[n]:
                    fb[n + ".P"], fb[n + ".Q"] = balanced_factors(params[n + ".W"], fb[n + ".P"].shape[1], given.get(f"input/step{step}/{n}.Omega"), rule["svdPowerIterations"])
    for name, v in {**params, **{k: fb[k] for k in training["learnedFeedback"]}}.items():
        out[f"step{steps}/{name}"] = v
    return out


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        sys.exit("usage: ldfa_step.py FIXTURE CANDIDATE_OUT [FIXTURE CANDIDATE_OUT ...]")
    for fixture, candidate in zip(argv[1::2], argv[2::2]):
        meta, given = read_bundle(fixture)
        computed = run(meta, given, meta["training"]["steps"])
        write_bundle(candidate, {"case": meta["case"], "implementation": "oracles/adapters/numpy/ldfa_step.py", "numpy": np.__version__}, computed)
        print(f"{meta['case']}: wrote {len(computed)} tensors to {candidate}")


if __name__ == "__main__":
    main(sys.argv)
