"""Optimisers, learning-rate schedules, gradient clipping and L2 and L1 penalties.

>>> import numpy as np, deltagrad as dg
>>> from deltagrad import optim
>>> w = dg.tensor(np.zeros(3), requires_grad=True)
>>> target = np.array([1.0, -2.0, 3.0])
>>> opt = optim.Adam([w], lr=0.1)
>>> sched = optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
>>> for _ in range(300):
...     opt.zero_grad()
...     loss = ((w - target) ** 2).sum()
...     loss.backward()
...     opt.step()
...     sched.step()
>>> np.allclose(w.data, target, atol=1e-3)
True
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .regularization import l1_penalty, l2_penalty
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "clip_grad_norm_",
    "clip_grad_value_", "l1_penalty", "l2_penalty", "lr_scheduler",
]
