#!/usr/bin/python3
"""bench/pinn/pinn_torch.py -- the PI-HQNN examples (a)-(d) of
examples/pi-hqnn written in PyTorch, the peer of bench/pinn/run.sh.

The same architecture and loss as the .qlx files (docs/pinn.md): a
statevector circuit (angle encoding of TIME, Euler or strongly entangling
layers, <Z0>) as small complex matrices, plus a tanh MLP, summed through
linear(q) = a q + b; the central amount is V times it; the loss is the
data MSE + the mean squared ODE residual at the collocation points + the
initial condition, the residuals in concentration units (the factor 1/V
Qlynix applies); the depot of the oral examples is the closed form sum of
doses; ke and ka are softplus-constrained.  dC/dt comes from autograd
(create_graph=True), as a PyTorch PINN computes it.

Two variants: "vec" runs every point through the circuit in one batched
call; "loop" runs the circuit point by point in a Python loop, as the
prototype the project replaces did.  Prints one line of JSON per run:
the median seconds per epoch over the timed epochs and the final loss.

usage: pinn_torch.py EXAMPLE VARIANT EPOCHS DATA.csv
"""
import json
import math
import sys
import time

import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

EXAMPLES = {
    "a": dict(qubits=1, ansatz="euler", layers=2, mlp=[1, 16, 1], oral=False, over=24, ncol=60),
    "b": dict(qubits=1, ansatz="euler", layers=4, mlp=[1, 16, 1], oral=True, over=24, ncol=60),
    "c": dict(qubits=1, ansatz="euler", layers=6, mlp=[1, 16, 16, 16, 1], oral=True, over=36,
              ncol=145),
    "d": dict(qubits=4, ansatz="strong", layers=4, mlp=[1, 16, 1], oral=True, over=24, ncol=60),
}
V = 10.0
SCALE = 0.1


def read_data(path):
    obs_t, obs_y, doses = [], [], []
    with open(path) as f:
        next(f)
        for line in f:
            _id, t, dv, amt, evid, cmt = line.strip().split(",")
            if evid == "1":
                doses.append((float(t), float(amt)))
            else:
                obs_t.append(float(t))
                obs_y.append(float(dv))
    return torch.tensor(obs_t), torch.tensor(obs_y), doses


def rx(a):
    c, s = torch.cos(a / 2), torch.sin(a / 2)
    return torch.stack([torch.stack([c + 0j, -1j * s], -1), torch.stack([-1j * s, c + 0j], -1)], -2)


def ry(a):
    c, s = torch.cos(a / 2), torch.sin(a / 2)
    return torch.stack([torch.stack([c + 0j, -s + 0j], -1), torch.stack([s + 0j, c + 0j], -1)], -2)


def rz(a):
    e = torch.exp(-0.5j * a)
    z = torch.zeros_like(e)
    return torch.stack([torch.stack([e, z], -1), torch.stack([z, e.conj()], -1)], -2)


def apply1(state, u, wire, n):
    """u: (2, 2) or (batch, 2, 2) applied to wire of state (batch, 2^n)."""
    b = state.shape[0]
    s = state.reshape(b, 2 ** wire, 2, 2 ** (n - wire - 1))
    if u.dim() == 2:
        s = torch.einsum("ij,bajc->baic", u, s)
    else:
        s = torch.einsum("bij,bajc->baic", u, s)
    return s.reshape(b, 2 ** n)


def cnot(state, c, t, n):
    b = state.shape[0]
    s = state.reshape([b] + [2] * n).clone()
    idx = [slice(None)] * (n + 1)
    idx[1 + c] = 1
    sub = s[tuple(idx)]
    tt = t if t < c else t - 1
    sub = sub.flip(1 + tt)
    s[tuple(idx)] = sub
    return s.reshape(b, 2 ** n)


def circuit(t, w, cfg):
    """<Z0> at times t (batch,), weights w."""
    n = cfg["qubits"]
    b = t.shape[0]
    state = torch.zeros(b, 2 ** n, dtype=torch.complex128)
    state[:, 0] = 1
    enc = ry(SCALE * t)
    for q in range(n):
        state = apply1(state, enc, q, n)
    for layer in range(cfg["layers"]):
        for q in range(n):
            if cfg["ansatz"] == "euler":
                state = apply1(state, rz(w[layer, q, 0]), q, n)
                state = apply1(state, rx(w[layer, q, 1]), q, n)
                state = apply1(state, rz(w[layer, q, 2]), q, n)
            else:   # Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
                state = apply1(state, rz(w[layer, q, 0]), q, n)
                state = apply1(state, ry(w[layer, q, 1]), q, n)
                state = apply1(state, rz(w[layer, q, 2]), q, n)
        if n > 1:
            r = (layer % (n - 1)) + 1 if cfg["ansatz"] == "strong" else 1
            for q in range(n):
                state = cnot(state, q, (q + r) % n, n)
    p = (state.abs() ** 2).reshape(b, 2, -1).sum(-1)
    return p[:, 0] - p[:, 1]


class Model(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        torch.manual_seed(2025)
        n = cfg["qubits"]
        self.cfg = cfg
        self.w = torch.nn.Parameter(2 * math.pi * torch.rand(cfg["layers"], n, 3))
        layers = []
        widths = cfg["mlp"]
        for i in range(len(widths) - 1):
            lin = torch.nn.Linear(widths[i], widths[i + 1])
            torch.nn.init.xavier_uniform_(lin.weight)
            torch.nn.init.zeros_(lin.bias)
            layers.append(lin)
            if i < len(widths) - 2:
                layers.append(torch.nn.Tanh())
        self.mlp = torch.nn.Sequential(*layers)
        self.a = torch.nn.Parameter(torch.tensor(1.0))
        self.b = torch.nn.Parameter(torch.tensor(0.0))
        inv = lambda x: math.log(math.expm1(x))
        self.uke = torch.nn.Parameter(torch.tensor(inv(0.5)))
        self.uka = torch.nn.Parameter(torch.tensor(inv(0.5)))

    def conc(self, t, loop):
        if loop:
            q = torch.stack([circuit(t[i:i + 1], self.w, self.cfg)[0] for i in range(t.shape[0])])
        else:
            q = circuit(t, self.w, self.cfg)
        c = self.mlp(t[:, None])[:, 0]
        return self.a * q + self.b + c


def depot(t, ka, doses):
    x = torch.zeros_like(t)
    for td, amt in doses:
        s = t - td
        x = x + torch.where(s >= 0, amt * torch.exp(-ka * s.clamp(min=0)), torch.zeros_like(t))
    return x


def loss_fn(m, obs_t, obs_y, tcol, doses, loop):
    ke = torch.nn.functional.softplus(m.uke)
    ka = torch.nn.functional.softplus(m.uka)
    data = ((m.conc(obs_t, loop) - obs_y) ** 2).mean()
    t = tcol.clone().requires_grad_(True)
    C = m.conc(t, loop)
    dC = torch.autograd.grad(C.sum(), t, create_graph=True)[0]
    if m.cfg["oral"]:
        res = dC - (ka * depot(t, ka, doses) / V - ke * C)
        c0 = 0.0
    else:
        res = dC + ke * C
        c0 = sum(a for td, a in doses if td <= 0) / V
    phys = (res ** 2).mean()
    ic = (m.conc(torch.zeros(1), loop)[0] - c0) ** 2
    return data + phys + ic


def main():
    ex, variant, epochs, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cfg = EXAMPLES[ex]
    obs_t, obs_y, doses = read_data(path)
    tcol = torch.linspace(0, cfg["over"], cfg["ncol"])
    m = Model(cfg)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    loop = variant == "loop"
    times = []
    for e in range(epochs):
        t0 = time.perf_counter()
        opt.zero_grad()
        L = loss_fn(m, obs_t, obs_y, tcol, doses, loop)
        L.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = sorted(times[min(5, epochs - 1):])
    print(json.dumps({"example": ex, "variant": variant, "epochs": epochs,
                      "sec_per_epoch": times[len(times) // 2], "final_loss": float(L),
                      "ke": float(torch.nn.functional.softplus(m.uke)),
                      "ka": float(torch.nn.functional.softplus(m.uka))}))


if __name__ == "__main__":
    main()
