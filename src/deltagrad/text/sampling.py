"""Drawing text from a language model one token at a time: temperature, top-k, a seed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .._checks import check_float, check_int, check_seed


def check_sampling(temperature, top_k, where: str) -> tuple[float, int | None]:
    """Validated ``(temperature, top_k)``: temperature >= 0 (0 means always the most likely
    token), top_k None or an int >= 1."""
    temperature = check_float(temperature, "temperature", where, allow_minimum=True)
    return temperature, None if top_k is None else check_int(top_k, "top_k", where)


def sample_next(logits, rng: np.random.Generator, *, temperature: float = 1.0,
                top_k: int | None = None, banned: Sequence[int] = ()) -> int:
    """One id drawn from softmax(logits / temperature), restricted to the ``top_k`` largest
    logits when given, never one of ``banned`` (e.g. the padding id). ``temperature`` 0
    picks the largest logit (ties: the lowest id).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sample_next(np.array([0.0, 5.0, 1.0]), rng, temperature=0)
    1
    >>> sample_next(np.array([0.0, 5.0, 1.0]), rng, top_k=1)
    1
    """
    temperature, top_k = check_sampling(temperature, top_k, "sample_next")
    z = np.array(logits, dtype=np.float64).reshape(-1)
    if banned:
        z[list(banned)] = -np.inf
    if not np.isfinite(z).any():
        raise ValueError("sample_next: every id is banned or has probability 0")
    if temperature == 0:
        return int(np.argmax(z))
    if top_k is not None and top_k < z.size:
        # Keep exactly the k largest (argpartition breaks ties arbitrarily, still k ids).
        keep = np.argpartition(-z, top_k - 1)[:top_k]
        masked = np.full_like(z, -np.inf)
        masked[keep] = z[keep]
        z = masked
    z = z / temperature
    z -= z[np.isfinite(z)].max()
    p = np.exp(z)
    p /= p.sum()
    return int(rng.choice(z.size, p=p))


def generate(next_logits: Callable[[np.ndarray], np.ndarray], prompt: Sequence[int],
             length: int, *, context: int, pad_id: int, temperature: float = 1.0,
             top_k: int | None = None, seed: int | None = None,
             banned: Sequence[int] = ()) -> list[int]:
    """``length`` new ids after ``prompt``: each drawn with :func:`sample_next` from
    ``next_logits(ctx)``, where ``ctx`` holds the last ``context`` ids so far (``pad_id``
    before the start; shape (1, context)) and the result is (vocab,) logits or
    log-probabilities. The same ``seed`` gives the same ids.

    >>> import numpy as np
    >>> always_after = lambda ctx: np.eye(4)[(ctx[0, -1] + 1) % 4] * 10
    >>> generate(always_after, [1], 5, context=2, pad_id=0, temperature=0)
    [2, 3, 0, 1, 2]
    """
    check_sampling(temperature, top_k, "generate")
    length = check_int(length, "length", "generate", minimum=0)
    rng = np.random.default_rng(check_seed(seed, "seed", "generate"))
    history = [pad_id] * context + [int(i) for i in prompt]
    out: list[int] = []
    for _ in range(int(length)):
        ctx = np.asarray(history[len(history) - context:], dtype=np.int64).reshape(1, -1)
        nxt = sample_next(next_logits(ctx), rng, temperature=temperature, top_k=top_k,
                          banned=banned)
        history.append(nxt)
        out.append(nxt)
    return out
