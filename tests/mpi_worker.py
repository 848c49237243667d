"""The program tests/test_distributed.py runs under ``mpiexec -n K`` (and alone): one training
scenario per call, named on the command line, its results written by rank 0 to a folder.

    python tests/mpi_worker.py SCENARIO OUT_DIR
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np

import deltagrad as dg
from deltagrad import distributed, nn
from deltagrad.train import Callback, ModelCheckpoint, Trainer
from deltagrad.train.sample_random import use_trainer_dropout


def table(seed: int = 0, n: int = 360):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] ** 2 - X[:, 2] > 0.5).astype(np.int64)
         + (X[:, 3] > 1).astype(np.int64))
    return X, y


def text(n: int = 3000) -> str:
    rng = np.random.default_rng(0)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "cat"]
    out = []
    while sum(map(len, out)) < n:
        out.append(" ".join(rng.choice(words, 6)) + ".\n")
    return "".join(out)


def weights(module) -> np.ndarray:
    return np.concatenate([p.data.ravel() for p in module.parameters()])


def tabular(deterministic: bool, epochs: int = 3, seed: int = 0, callbacks=(), out_dir=None,
            resume=False, dropout: float = 0.2):
    X, y = table(seed)
    model = nn.MLP(6, [32, 32], 3, dropout=dropout, rng=np.random.default_rng(1))
    use_trainer_dropout(model)  # masks per sample from the trainer, as the commands draw them
    trainer = Trainer(model, "cross_entropy", lr=0.01, metrics=["accuracy"], seed=3,
                      progress="none", deterministic=deterministic, callbacks=callbacks)
    history = trainer.fit(X[:300], y[:300], epochs=epochs, batch_size=24,
                          validation_data=(X[300:], y[300:]), out_dir=out_dir, resume=resume)
    return model, history


def language_model(deterministic: bool):
    from deltagrad.text import train_lm

    lm = train_lm(text(), level="char", context=4, embed_dim=8, hidden=[48], dropout=0.1,
                  context_dropout=0.1, epochs=2, batch_size=64, lr=0.01, seed=0,
                  deterministic=deterministic)
    return lm.module


class Die(Callback):
    """Rank ``rank`` dies (``how``: "kill" = SIGKILL, else raises) at batch 3 of epoch 2."""

    def __init__(self, rank: int, how: str):
        self.rank, self.how, self.epoch = rank, how, 0

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_begin(self, batch: int) -> None:
        if distributed.rank() == self.rank and self.epoch == 2 and batch == 3:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("the training data of this rank went missing")


def forbid_writes() -> None:
    """On ranks other than 0: any attempt to write a checkpoint or model folder fails."""
    if distributed.rank() == 0:
        return
    from deltagrad.train import callbacks, state

    def refuse(*args, **kwargs):
        raise AssertionError(f"rank {distributed.rank()} wrote a file")

    state.save_checkpoint = state.write_final = callbacks.save = refuse


def main(scenario: str, out: Path) -> None:
    root = distributed.rank() == 0
    results = {}
    if scenario == "modes":  # deterministic and fast, tabular and the char LM
        for name, det in (("det", True), ("fast", False)):
            model, history = tabular(det)
            results[f"tab_{name}"] = weights(model)
            results[f"tab_{name}_acc"] = np.array(history["val_accuracy"])
        results["tab_fast_1"] = weights(tabular(False, epochs=1)[0])
        results["tab_det_plain"] = weights(tabular(True, dropout=0.0)[0])  # no dropout
        results["lm_det"] = weights(language_model(True))
        results["lm_fast"] = weights(language_model(False))
    elif scenario == "raise":
        tabular(False, callbacks=[Die(1, "raise")])
    elif scenario == "mismatch":  # rank 1 draws other data
        tabular(False, seed=distributed.rank())
    elif scenario in ("kill", "resume"):
        forbid_writes()
        keep = ModelCheckpoint(str(out / "best"), monitor="val_loss")
        die = Die(1 if scenario == "kill" else -1, "kill")  # the resumed run lives
        model, _ = tabular(False, epochs=4, callbacks=[keep, die], out_dir=out / "run",
                           resume=scenario == "resume")
        results["resumed"] = weights(model)
        dg.manual_seed(0)
        model, _ = tabular(False, epochs=4, callbacks=[ModelCheckpoint(str(out / "best2"))],
                           out_dir=out / "straight")
        results["straight"] = weights(model)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    if root:
        np.savez(out / f"{scenario}_{distributed.world_size()}.npz", **results)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
