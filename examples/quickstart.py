"""Train a 2-16-1 network on XOR with nothing but Tensors and backward().

Run: python examples/quickstart.py
"""

import numpy as np

import deltagrad as dg

rng = np.random.default_rng(0)
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y = np.array([[0], [1], [1], [0]], dtype=np.float32)

W1 = dg.tensor(rng.normal(0, 1, (2, 16)).astype(np.float32), requires_grad=True)
b1 = dg.tensor(np.zeros(16, np.float32), requires_grad=True)
W2 = dg.tensor(rng.normal(0, 0.5, (16, 1)).astype(np.float32), requires_grad=True)
b2 = dg.tensor(np.zeros(1, np.float32), requires_grad=True)
params = [W1, b1, W2, b2]

for step in range(501):
    hidden = (X @ W1 + b1).tanh()
    p = (hidden @ W2 + b2).sigmoid()
    loss = -(y * p.log() + (1 - y) * (1 - p).log()).mean()  # binary cross-entropy
    for w in params:
        w.grad = None
    loss.backward()
    for w in params:
        w.data -= 0.5 * w.grad  # plain gradient descent
    if step % 100 == 0:
        print(f"step {step:3d}  loss {loss.item():.4f}")

with dg.no_grad():
    p = ((X @ W1 + b1).tanh() @ W2 + b2).sigmoid()
print("predictions:", np.round(p.data.ravel(), 3), " targets:", y.ravel())
print("accuracy:", float(((p.data > 0.5) == y).mean()))
