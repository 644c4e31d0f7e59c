#!/usr/bin/env python3
"""Recompute an ldfa golden fixture with PyTorch and write a candidate dump.

    python3 oracles/adapters/torch/ldfa_torch.py oracles/fixtures/cnn_ldfa-oja.bin /tmp/cand.bin
    npx ldfa verify --fixture oracles/fixtures/cnn_ldfa-oja.bin --candidate /tmp/cand.bin

More FIXTURE CANDIDATE pairs may follow; they run in the same process.

It loads the fixture's inputs into ordinary torch.nn modules (nn.Linear, nn.Conv2d, nn.LayerNorm,
nn.MaxPool2d, ...) built from the header (model.layers, model.transformer), runs the steps in
float64 with autograd, and injects each rule's feedback with one autograd Function per weighted
layer: the forward is the layer's own, the backward returns the exact weight gradients and sends
the error down through the rule's matrix instead of W. Everything else (activations, pooling,
LayerNorm, attention, residuals, the loss) is plain autograd. It shares no code with the
TypeScript reference; the formulas are those of docs/fixture-format.md §4. Handles every
architecture of the fixtures and of `ldfa fixtures --custom` (linear, mlp, cnn, transformer)
under BP, FA, DFA and LDFA fixed / normative / oja / factorised (every Oja normalisation, learn q,
SVD re-factorisation from the fixture's Ω), the authors' presets' cases (docs/fixture-format.md
§5): the signal clamp, the label-driven output layer of Oja's rule, the v4 gradient clamps, the
v1 CNN's exact classifier (not --direct), and the family rules (§12): uSF, brSF, frSF,
Kolen–Pollack, weight mirrors and PFA, with the coupled weight decay of KP's B and PFA's R.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "numpy"))
from ldfa_step import FIXTURE_VERSIONS, read_bundle, write_bundle  # noqa: E402  (the bundle format, one reader)

torch.set_default_dtype(torch.float64)

SIGN_RULES = ("usf", "brsf", "frsf")


def grad_name(name):
    """fc1.W -> fc1.dW, pos -> dpos"""
    dot = name.rfind(".")
    return f"{name[:dot + 1]}d{name[dot + 1:]}"


class Feedback:
    """The rule: what each weighted layer sends down (docs §4), and the feedback gradients."""

    def __init__(self, meta, init):
        self.rule = meta["rule"]
        self.kind = self.rule["rule"]
        self.tensors = {k[len("init/"):]: torch.tensor(v) for k, v in init.items()
                        if k.startswith("init/") and k.rsplit(".", 1)[-1] in ("B", "D", "P", "Q", "M", "Bp", "R")}
        self.drawn = {k[len("input/"):]: torch.tensor(v) for k, v in init.items() if k.startswith("input/step")}   # brSF's M, the mirror noise
        self.step = 0
        self.sign_B = {}       # site -> the B_t of this step (sign rules)
        self.output = next(s["name"] for s in meta["model"]["sites"] if s["isOutput"])
        self.e = None          # the output error of this step (DFA)
        self.labels = None     # this step's labels (Oja's label-driven output layer)
        self.recorded = {}     # site -> (x, dy, dx)
        self.clip = (meta["training"].get("clip") or {}).get("signal")   # v1: the signal sent down clamped to ±clip
        self.omegas = {k: torch.tensor(v) for k, v in init.items() if k.endswith(".Omega")}   # input/stepK/<site>.Omega
        if self.kind == "ldfa" and self.rule["direct"]:
            sys.exit(f"case {meta['case']}: LDFA --direct is outside what this adapter implements")

    def ldfa_site(self, site):
        """Whether `site` sends through P̂Q̂ (under classifier 'bp' a conv net's linear layers send through W)."""
        return self.kind == "ldfa" and f"{site}.P" in self.tensors

    def send(self, site, layer, x, dy):
        """dx that `site` sends down, given its input x, its error dy and its layer (nn.Linear or nn.Conv2d)."""
        if site == self.output:
            self.e = dy
        conv = isinstance(layer, nn.Conv2d)
        if self.kind == "dfa":                                    # dx = e·D, reshaped to the input
            return (self.e @ self.tensors[f"{site}.D"]).reshape(x.shape)
        if self.kind == "pfa" or self.ldfa_site(site):            # LDFA (dy·P̂)·Q̂, PFA (dy·B_p)·R: never multiplied out
            P, Q = (self.tensors[f"{site}.P"], self.tensors[f"{site}.Q"]) if self.kind == "ldfa" else (self.tensors[f"{site}.Bp"], self.tensors[f"{site}.R"])
            if conv:                                              # z at the output resolution; stride on the Q̂ step
                z = torch.nn.grad.conv2d_input((dy.shape[0], P.shape[1], *dy.shape[2:]), P, dy)
                return torch.nn.grad.conv2d_input(x.shape, Q, z, stride=layer.stride, padding=layer.padding)
            return (dy @ P) @ Q
        if self.kind in ("bp", "ldfa"):                           # BP, and LDFA's exact classifier
            M = layer.weight.detach()
        elif self.kind in SIGN_RULES:                             # B_t = S_t * sign(W_t), from W before the update
            S = {"usf": lambda: self.rule["c"][site], "brsf": lambda: self.drawn[f"step{self.step}/{site}.M"],
                 "frsf": lambda: self.tensors[f"{site}.M"]}[self.kind]()
            M = self.sign_B[site] = S * torch.sign(layer.weight.detach())
        else:                                                     # FA, KP, weight mirrors: B of W's shape
            M = self.tensors[f"{site}.B"]
        if conv:
            return torch.nn.grad.conv2d_input(x.shape, M, dy, stride=layer.stride, padding=layer.padding)
        return dy @ M

    def send_clamped(self, site, layer, x, dy):
        dx = self.send(site, layer, x, dy)
        return dx if self.clip is None else dx.clamp(-self.clip, self.clip)

    def clamp_gradients(self, layers, fgrads):
        """The v4 clamps, after every gradient is computed: dW, db, dP̂, dQ̂ of linear layers, dP̂, dQ̂ of conv layers (LDFA layers only)."""
        linear, conv = self.rule.get("clipLinearGrad"), self.rule.get("clipConvFeedbackGrad")
        for site, layer in layers.items():
            c = conv if isinstance(layer, nn.Conv2d) else linear
            if c is None or not self.ldfa_site(site):
                continue
            if not isinstance(layer, nn.Conv2d):
                for p in (layer.weight, layer.bias):
                    if p is not None:
                        p.grad.clamp_(-c, c)
            for name in (f"{site}.P", f"{site}.Q"):
                if name in fgrads:
                    fgrads[name] = fgrads[name].clamp(-c, c)

    def gradients(self, layers, learned_feedback):
        """dP, dQ of every learned feedback tensor, from this step's signals and the weights before the update."""
        mode, grads = self.rule.get("mode"), {}
        if self.kind in ("kp", "pfa"):
            for name in learned_feedback:
                site = name.rsplit(".", 1)[0]
                dW = layers[site].weight.grad
                if self.kind == "kp":                             # B receives W's own gradient
                    grads[name] = dW.clone()
                else:                                             # R's local gradient through the fixed B_p
                    Bp, R = self.tensors[f"{site}.Bp"], self.tensors[name]
                    grads[name] = (Bp.reshape(Bp.shape[0], -1).T @ dW.reshape(dW.shape[0], -1)).reshape(R.shape)
            return grads
        for site in sorted({n.rsplit(".", 1)[0] for n in learned_feedback}):
            layer, (x, dy, _) = layers[site], self.recorded[site]
            P, Q = self.tensors[f"{site}.P"], self.tensors[f"{site}.Q"]
            P2, Q2 = P.reshape(P.shape[0], -1), Q.reshape(Q.shape[0], -1)
            W2 = layer.weight.detach().reshape(layer.weight.shape[0], -1)
            if mode == "normative":                               # descend ½‖W − P̂Q̂‖²
                E = P2 @ Q2 - W2
                dP, dQ = E @ Q2.T, P2.T @ E
            elif mode == "factorised":                            # the loss gradient if W were P̂Q̂
                dW = layer.weight.grad.reshape(W2.shape)
                dP, dQ = dW @ Q2.T, P2.T @ dW
            elif mode == "oja":                                   # Oja's subspace rule; Kolen–Pollack-like Q̂
                rows = dy.movedim(1, -1).reshape(-1, dy.shape[1]) if dy.dim() == 4 else dy.reshape(-1, dy.shape[-1])
                if site == self.output and self.rule.get("ojaOutput") == "labels":   # v1 MLP: P̂ from the one-hot labels, Q̂ still from dy
                    rows = F.one_hot(self.labels, rows.shape[1]).to(rows.dtype)
                eps = self.rule.get("ojaEpsConv", 1e-6) if isinstance(layer, nn.Conv2d) else self.rule["ojaEps"]   # v1: 1e-6 conv, 1e-8 linear
                how = self.rule["ojaNormalisation"]
                if how == "max-std":                              # centred, one scalar: the largest unbiased std
                    d = (rows - rows.mean(dim=0)) / (rows.std(dim=0, unbiased=True).max() + eps)
                elif how == "max-second-moment":                  # not centred: C = rowsᵀrows / (max_j mean(rows_j²) + ε)
                    d = rows / ((rows ** 2).mean(dim=0).max() + eps).sqrt()
                else:
                    d = rows
                CP = d.T @ (d @ P2)
                dP = -(CP - P2 @ (P2.T @ CP))
                if isinstance(layer, nn.Conv2d):                  # the filter gradient of Q̂ mapping x to z
                    z = torch.nn.grad.conv2d_input((dy.shape[0], P.shape[1], *dy.shape[2:]), P, dy)
                    dQ = torch.nn.grad.conv2d_weight(x, Q.shape, z, stride=layer.stride, padding=layer.padding)
                else:
                    dQ = (dy.reshape(-1, dy.shape[-1]) @ P2).T @ x.reshape(-1, x.shape[-1])
            else:
                sys.exit(f"unknown LDFA mode {mode}")
            grads[f"{site}.P"], grads[f"{site}.Q"] = dP.reshape(P.shape), dQ.reshape(Q.shape)
        return grads

    def mirror(self, layers, sends, out, at):
        """Weight mirrors after the update: Ŵ = yᵀx/(N·σ²) from the step's noise and the new W, B ← (1 − ρ)B + ρŴ."""
        sigma, rate = self.rule["sigma"], self.rule["rate"]
        for site, layer in layers.items():
            if not sends[site]:
                continue
            x, W = self.drawn[f"{at}/{site}.noise"], layer.weight.detach()
            if isinstance(layer, nn.Conv2d):                      # the filter gradient of (x, y), over every output position
                y = F.conv2d(x, W, stride=layer.stride, padding=layer.padding)
                W_hat = torch.nn.grad.conv2d_weight(x, W.shape, y, stride=layer.stride, padding=layer.padding) / (x.shape[0] * y.shape[2] * y.shape[3] * sigma ** 2)
            else:
                W_hat = (x @ W.T).T @ x / (x.shape[0] * sigma ** 2)
            B = self.tensors[f"{site}.B"] = (1 - rate) * self.tensors[f"{site}.B"] + rate * W_hat
            out[f"{at}/{site}.What"], out[f"{at}/{site}.B"] = W_hat, B


    def refactorise(self, layers, step):
        """normative with svdEvery: after the step's updates P̂, Q̂ ← the balanced rank-r factors of W's (randomized) SVD."""
        r = self.rule
        if r.get("mode") != "normative" or r["svdEvery"] <= 0 or step % r["svdEvery"] != 0:
            return
        for site, layer in layers.items():
            if not self.ldfa_site(site):
                continue
            P, Q = self.tensors[f"{site}.P"], self.tensors[f"{site}.Q"]
            W = layer.weight.detach().reshape(layer.weight.shape[0], -1)
            rank = P.shape[1]
            omega = self.omegas.get(f"input/step{step}/{site}.Omega")
            if omega is None:                                     # the exact SVD
                U, S, Vh = torch.linalg.svd(W, full_matrices=False)
            else:                                                 # Y = orth(W·Ω), then niter × Y ← orth(W·orth(Wᵀ·Y))
                conv = isinstance(layer, nn.Conv2d)
                niter = r["svdPowerIterations"] if not conv or r.get("svdPowerIterationsConv") is None else r["svdPowerIterationsConv"]
                Y = torch.linalg.qr(W @ omega).Q
                for _ in range(niter):
                    Y = torch.linalg.qr(W @ torch.linalg.qr(W.T @ Y).Q).Q
                Ub, S, Vh = torch.linalg.svd(Y.T @ W, full_matrices=False)
                U = Y @ Ub
            U, S, V = U[:, :rank], S[:rank], Vh[:rank].T
            flip = torch.where(U.gather(0, U.abs().argmax(dim=0, keepdim=True)) < 0, -1.0, 1.0)   # largest-|entry| of each U column positive
            U, V = U * flip, V * flip
            self.tensors[f"{site}.P"] = (U * S.sqrt()).reshape(P.shape)
            self.tensors[f"{site}.Q"] = (S.sqrt()[:, None] * V.T).reshape(Q.shape)


class FeedbackLayer(torch.autograd.Function):
    """y = layer(x); backward: the exact dW, db, and dx = feedback.send(...) instead of dy·W."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer, site, feedback, sends):
        ctx.save_for_backward(x)
        ctx.layer, ctx.site, ctx.feedback, ctx.sends = layer, site, feedback, sends
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, weight, bias, stride=layer.stride, padding=layer.padding)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, dy):
        x, = ctx.saved_tensors
        layer = ctx.layer
        if isinstance(layer, nn.Conv2d):
            dW = torch.nn.grad.conv2d_weight(x, layer.weight.shape, dy, stride=layer.stride, padding=layer.padding)
            db = dy.sum(dim=(0, 2, 3))
        else:
            rows_dy, rows_x = dy.reshape(-1, dy.shape[-1]), x.reshape(-1, x.shape[-1])
            dW, db = rows_dy.T @ rows_x, rows_dy.sum(dim=0)
        dx = ctx.feedback.send_clamped(ctx.site, layer, x, dy) if ctx.sends else None
        ctx.feedback.recorded[ctx.site] = (x, dy, dx)
        return dx, dW, (db if layer.bias is not None else None), None, None, None, None


class Net(nn.Module):
    """The fixture's model as torch.nn modules; weighted layers run through FeedbackLayer."""

    def __init__(self, meta, init, feedback):
        super().__init__()
        model = meta["model"]
        self.feedback, self.sends = feedback, {s["name"]: s["sendsSignal"] for s in model["sites"]}
        self.transformer = model.get("transformer")
        self.layers = nn.ModuleDict()                              # every module with a fixture name
        self.order = []                                            # the forward sequence (sequential nets)
        self.params = {}                                           # fixture parameter name -> nn.Parameter
        if self.transformer is None:
            for spec in model["layers"]:
                self.order.append(spec)
                if spec["type"] in ("linear", "conv2d"):
                    self.add_weighted(spec)
        else:
            for spec in self.transformer["layers"]:
                if spec["type"] == "linear":
                    self.add_weighted(spec)
                elif spec["type"] == "layernorm":
                    ln = nn.LayerNorm(spec["features"], eps=self.transformer["layerNormEps"])
                    self.layers[key(spec["name"])] = ln
                    self.params[f"{spec['name']}.gamma"], self.params[f"{spec['name']}.beta"] = ln.weight, ln.bias
            self.pos = nn.Parameter(torch.zeros(self.transformer["tokens"], self.transformer["dim"]))
            self.params["pos"] = self.pos
        for name, p in self.params.items():
            with torch.no_grad():
                p.copy_(torch.tensor(init[f"init/{name}"]))
        missing = set(meta["training"]["learned"]) - set(self.params)
        if missing:
            sys.exit(f"case {meta['case']}: the header's layers do not account for {sorted(missing)}")

    def add_weighted(self, spec):
        name = spec["name"]
        if spec["type"] == "conv2d":
            m = nn.Conv2d(spec["in"], spec["out"], spec["kernel"], stride=spec["stride"], padding=spec["padding"], bias=spec["bias"])
        else:
            m = nn.Linear(spec["in"], spec["out"], bias=spec["bias"])
        self.layers[key(name)] = m
        self.params[f"{name}.W"] = m.weight
        if m.bias is not None:
            self.params[f"{name}.b"] = m.bias

    def weighted(self, name, x):
        m = self.layers[key(name)]
        return FeedbackLayer.apply(x, m.weight, m.bias, m, name, self.feedback, self.sends[name])

    def forward(self, x):
        return self.forward_sequential(x) if self.transformer is None else self.forward_transformer(x)

    def forward_sequential(self, h):
        for spec in self.order:
            t = spec["type"]
            if t == "linear":
                h = self.weighted(spec["name"], h.reshape(h.shape[0], -1))
            elif t == "conv2d":
                h = self.weighted(spec["name"], h)
            elif t in ("tanh", "relu", "identity"):
                h = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda v: v}[t](h)
            elif t == "maxpool2d":
                h = F.max_pool2d(h, spec["kernel"], spec["stride"])
            elif t == "flatten":
                h = h.reshape(h.shape[0], -1)
            else:
                sys.exit(f"layer type {t} is outside what this adapter implements")
        return h

    def forward_transformer(self, x):
        t = self.transformer
        N, C, p, (gh, gw) = x.shape[0], t["channels"], t["patch"], t["grid"]
        # patches row-major over the grid, features in (C, p, p) order
        patches = x.reshape(N, C, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(N, gh * gw, C * p * p)
        h = self.weighted("embed", patches) + self.pos
        A, heads = t["attnDim"], t["heads"]
        for b in range(t["depth"]):
            a = self.layers[key(f"block{b}.ln1")](h)
            if t["qkv"]["layout"] == "fused":
                q, k, v = self.weighted(f"block{b}.qkv", a).split(A, dim=-1)
            else:
                q, k, v = (self.weighted(f"block{b}.{n}", a) for n in "qkv")
            split = lambda u: u.reshape(N, -1, heads, A // heads).transpose(1, 2)      # (N, heads, T, A/heads)
            att = torch.softmax(split(q) @ split(k).transpose(-1, -2) / (A // heads) ** 0.5, dim=-1) @ split(v)
            h = h + self.weighted(f"block{b}.proj", att.transpose(1, 2).reshape(N, -1, A))
            m = F.gelu(self.weighted(f"block{b}.fc1", self.layers[key(f"block{b}.ln2")](h)), approximate="tanh")
            h = h + self.weighted(f"block{b}.fc2", m)
        return self.weighted("head", self.layers[key("ln_f")](h).mean(dim=1))


def key(name):
    """ModuleDict keys cannot hold dots."""
    return name.replace(".", "__")


def run(meta, init):
    if meta.get("kind") != "ldfa-fixture" or meta.get("fixtureVersion") not in FIXTURE_VERSIONS:
        sys.exit(f"not an ldfa fixture of version {' or '.join(map(str, FIXTURE_VERSIONS))}")
    if meta["model"].get("transformer") is None and not isinstance(meta["model"]["layers"], list):
        sys.exit(f"case {meta['case']}: a version-1 transformer header; regenerate the fixture (version 2 describes the layers)")
    training = meta["training"]
    feedback = Feedback(meta, init)
    net = Net(meta, init, feedback)
    x, y = torch.tensor(init["input/x"]), torch.tensor(init["input/y"]).long()
    sends = net.sends
    wd, decayed = training.get("weightDecay", 0), set(training.get("decayed", []))   # KP, PFA: coupled L2 decay
    if feedback.kind == "wm" and (feedback.rule["warmup"] != 0 or feedback.rule["growthControl"]):
        sys.exit(f"case {meta['case']}: weight mirrors with warm-up or growth control are outside what this adapter implements")
    out = {}
    for step in range(1, training["steps"] + 1):
        at = f"step{step}"
        net.zero_grad(set_to_none=True)
        feedback.recorded, feedback.labels, feedback.step, feedback.sign_B = {}, y, step, {}
        logits = net(x)
        loss = F.cross_entropy(logits, y)                                     # batch mean
        loss.backward()
        out[f"{at}/logits"], out[f"{at}/loss"] = logits.detach(), loss.detach()
        for site, (_, dy, dx) in feedback.recorded.items():
            out[f"{at}/{site}.delta"] = dy
            if sends[site]:
                out[f"{at}/{site}.signal"] = dx
        for site, B in feedback.sign_B.items():
            out[f"{at}/{site}.B"] = B
        layers = {n: net.layers[key(n)] for n in sends}
        fgrads = feedback.gradients(layers, training["learnedFeedback"])
        feedback.clamp_gradients(layers, fgrads)
        for name in training["learned"]:
            out[f"{at}/{grad_name(name)}"] = net.params[name].grad.detach().clone()
        for name in training["learnedFeedback"]:
            out[f"{at}/{grad_name(name)}"] = fgrads[name]
        decay = lambda name, value: wd * value if name in decayed else 0.0   # noqa: E731
        with torch.no_grad():                                                 # SGD (coupled decay of training.decayed)
            for name in training["learned"]:
                net.params[name] -= training["lr"] * (net.params[name].grad + decay(name, net.params[name]))
            for name in training["learnedFeedback"]:
                feedback.tensors[name] = feedback.tensors[name] - training["feedbackLr"] * (fgrads[name] + decay(name, feedback.tensors[name]))
            if feedback.kind == "wm":
                feedback.mirror(layers, sends, out, at)
        feedback.refactorise(layers, step)
    last = training["steps"]
    for name in training["learned"]:
        out[f"step{last}/{name}"] = net.params[name].detach()
    for name in training["learnedFeedback"]:
        out[f"step{last}/{name}"] = feedback.tensors[name]
    return {k: v.detach().numpy() for k, v in out.items()}


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        sys.exit("usage: ldfa_torch.py FIXTURE CANDIDATE_OUT [FIXTURE CANDIDATE_OUT ...]")
    for fixture, candidate in zip(argv[1::2], argv[2::2]):   # one process for many: importing torch takes seconds
        meta, given = read_bundle(fixture)
        computed = run(meta, given)
        write_bundle(candidate, {"case": meta["case"], "implementation": "oracles/adapters/torch/ldfa_torch.py", "torch": torch.__version__}, computed)
        print(f"{meta['case']}: wrote {len(computed)} tensors to {candidate}")


if __name__ == "__main__":
    main(sys.argv)
