"""What a training run saves, and how it comes back: the checkpoint state.

A checkpoint holds the model's weights, the optimiser (buffers, step counts, learning
rates), every callback's state, every random generator (the trainer's shuffling, dropout
and augmentation generators, the modules' own, the global one), the history, the epoch,
the step count, the time spent, the fit settings the run must be resumed with (batch size,
shuffling, a fingerprint of the data) and the caller's run info. ``checkpoint.py`` is the
file format; this module decides the contents, and is the one place a run writes files
(:func:`write_checkpoint`, :func:`write_final`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _config
from ..io import ModelFileError, atomic_write_text, save
from ..io.jsonio import dumps
from .callbacks import BestWeights
from .checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from .history import History
from .sample_random import SampleRandom

# The entries of a checkpoint's state that are read before it goes back into a trainer,
# and whether each may be null; each is a JSON object where present.
_OBJECTS = {("fit",): False, ("fit", "data"): False, ("run",): True,
            ("run", "settings"): False, ("run", "data"): True}


def open_run(out_dir, resume, settings: dict) -> dict | None:
    """The saved state to resume from, or None for a new run (whose folder is made).

    Refuses: ``resume`` without an ``out_dir`` or without a checkpoint there; a new run in a
    folder that holds one (a finished run is never overwritten by accident); a resume with
    other ``settings`` than the run was made with, naming the first that differs."""
    if resume not in (False, True, "auto"):
        raise ValueError(f"fit: resume must be False, True or 'auto', got {resume!r}")
    if out_dir is None:
        if resume:
            raise ValueError("fit: resume needs the out_dir of the run to continue")
        return None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"fit: out_dir {out} exists and is not a folder")
    path = out / CHECKPOINT
    if not path.exists():
        if resume is True:
            raise ValueError(f"fit: nothing to resume: {path} does not exist")
        out.mkdir(parents=True, exist_ok=True)
        return None
    if not resume:
        raise ValueError(f"fit: {out} already holds a training run ({CHECKPOINT}); pass "
                         f"resume=True to continue it, or choose another out_dir")
    state = read_state(path)
    check_same_settings(state.get("fit", {}), settings, f"fit: the run in {out}")
    return state


def read_state(path) -> dict:
    """The state of the checkpoint at ``path``, refused (``ModelFileError``) where an entry
    read before the state goes back into a trainer is not the JSON object this module writes
    (the fuzzer's find: ``"fit": 5`` was an ``AttributeError`` on resume)."""
    state = load_checkpoint(path)
    for keys, nullable in _OBJECTS.items():
        value = state
        for key in keys:
            value = value.get(key, {}) if isinstance(value, dict) else {}
        if not (isinstance(value, dict) or (nullable and value is None)):
            raise ModelFileError(f"{path}: damaged checkpoint: {'.'.join(keys)!r} must be a "
                                 f"JSON object, got {type(value).__name__}")
    return state


def check_same_settings(saved: dict, given: dict, what: str) -> None:
    """Refuse to go on with ``given`` settings where they differ from ``saved`` ones (keys
    only one side has are not compared: an older checkpoint may lack a newer setting)."""
    for name in saved.keys() & given.keys():
        if saved[name] == given[name]:
            continue
        if name == "data":
            differ = [k for k in given[name] if saved[name].get(k) != given[name][k]]
            raise ValueError(f"{what} was trained on other data (the {' and '.join(differ)} "
                             f"data differ); resume it with the same data")
        raise ValueError(f"{what} used {name}={saved[name]!r}, not {given[name]!r}; resume it "
                         f"with the same settings")


def saved_run_info(out_dir) -> dict | None:
    """The run info of the checkpoint in ``out_dir`` (None if there is none)."""
    path = Path(out_dir) / CHECKPOINT
    return read_state(path).get("run") if path.exists() else None


def capture(trainer, callbacks, settings: dict, run_info, finished: bool) -> dict:
    """The state of ``trainer``'s run, as a checkpoint holds it."""
    return {
        "epoch": trainer.epoch, "step": trainer.step, "finished": finished,
        "elapsed": trainer.budget.elapsed(), "fit": settings,
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()}
                      for cb in callbacks],
        "rng": rng_states(trainer),
        "history": trainer.history.to_dict(),
        "run": run_info,
    }


def fingerprint(trainer, data, val, settings: dict, epochs: int) -> dict:
    """What every rank of a data-parallel run must agree on (``DataParallel.start`` compares
    it): the data, the model's shapes, the seed, the settings, the resumed epoch."""
    group = {k: v for k, v in trainer.optimizer.param_groups[0].items() if k != "params"}
    parallel = trainer.parallel
    return {"data": data.fingerprint(),
            "validation data": val.fingerprint() if val else None,
            "model": [(name, p.shape, p.dtype.str)
                      for name, p in trainer.model.named_parameters()],
            "seed": trainer.rng.seed,
            "settings": repr((settings["batch_size"], settings["shuffle"], epochs,
                              parallel.deterministic, parallel.micro_batch_size,
                              type(trainer.optimizer).__name__, group, trainer.objective.name,
                              trainer.clip_norm, trainer.clip_value)),
            "checkpoint": (trainer.epoch, trainer.step)}


def restore(trainer, state: dict, callbacks) -> None:
    """Put ``trainer`` (and its callbacks) back in the saved ``state``."""
    try:
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        saved = [entry["class"] for entry in state["callbacks"]]
        have = [type(cb).__name__ for cb in callbacks]
        if saved != have:
            raise ValueError(f"the run was made with callbacks {saved}, this one has {have}")
        for cb, entry in zip(callbacks, state["callbacks"]):
            cb.load_state_dict(entry["state"])
        set_rng_states(trainer, state["rng"])
        trainer.history = History.from_dict(state["history"])
        for cb in callbacks:  # every epoch logged what these watch
            if isinstance(cb, BestWeights) and trainer.history.epoch \
                    and cb.monitor not in trainer.history.keys():
                raise ValueError(f"its history lacks {cb.monitor!r}, which "
                                 f"{type(cb).__name__} watches")
        trainer.epoch = int(state["epoch"])
        trainer.step = int(state.get("step", 0))
        trainer.budget.spent = float(state.get("elapsed", 0.0))
    except (KeyError, TypeError, IndexError) as exc:  # IndexError: an empty generator state
        raise ValueError(f"fit: the checkpoint lacks or garbles {exc}") from None
    except OverflowError as exc:  # a random generator's state out of its range
        raise ValueError(f"fit: the checkpoint holds a number out of range ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"fit: can not resume from the checkpoint: {exc}") from None


class Generators:
    """A trainer's random generators, all from its one seed and made when first needed (a
    few generators cost more than a short ``partial_fit`` epoch): the validation split's
    seed, then one generator each for shuffling, dropout and augmentation. Dropout and
    augmentation draw per sample (``SampleRandom``: keyed by the epoch and the sample's
    place in it, so any rank or micro-batch draws a sample's numbers alike)."""

    def __init__(self, seed: int):
        self.seed = seed
        self._made: tuple | None = None

    def _all(self) -> tuple:
        if self._made is None:
            sequence = np.random.SeedSequence(self.seed)
            shuffle, dropout, augment = sequence.spawn(3)
            self._made = (int(sequence.generate_state(1)[0]), np.random.default_rng(shuffle),
                          *(SampleRandom(int(s.generate_state(1)[0]))
                            for s in (dropout, augment)))
        return self._made

    def at(self, epoch: int, start: int, stop: int) -> None:
        """The next dropout masks and augmentations are for rows ``start:stop`` of epoch
        ``epoch``'s order."""
        made = self._all()
        made[2].at(epoch, start, stop)
        made[3].at(epoch, start, stop)

    @property
    def split_seed(self) -> int:
        return self._all()[0]

    @property
    def shuffle(self) -> np.random.Generator:
        return self._all()[1]

    @property
    def dropout(self) -> np.random.Generator:
        return self._all()[2]

    @property
    def augment(self) -> np.random.Generator:
        return self._all()[3]


def rng_states(trainer) -> dict:
    rng = trainer.rng
    own = {name: m.rng.bit_generator.state for name, m in trainer.model.named_modules()
           if isinstance(getattr(m, "rng", None), np.random.Generator)
           and m.rng is not rng.dropout}
    return {"shuffle": rng.shuffle.bit_generator.state,
            "dropout": rng.dropout.bit_generator.state,
            "augment": rng.augment.bit_generator.state,
            "global": _config.default_rng().bit_generator.state, "modules": own}


def set_rng_states(trainer, states: dict) -> None:
    rng = trainer.rng
    rng.shuffle.bit_generator.state = states["shuffle"]
    for name in ("dropout", "augment"):
        # Checkpoints from before per-sample dropout (or augmentation) hold another kind
        # of generator: the masks of a resumed run are then drawn per sample from here on.
        if states.get(name, {}).get("bit_generator") == "Philox":
            getattr(rng, name).bit_generator.state = states[name]
    _config.default_rng().bit_generator.state = states["global"]
    modules = dict(trainer.model.named_modules())
    for name, state in states["modules"].items():
        module = modules.get(name)
        if module is None or not isinstance(getattr(module, "rng", None), np.random.Generator):
            raise ValueError(f"the checkpoint holds a random generator for module {name!r}, "
                             f"which this model lacks")
        module.rng.bit_generator.state = state


def write_checkpoint(out_dir, state: dict) -> Path:
    """Write the checkpoint of ``out_dir`` atomically (a crash keeps the previous one)."""
    return save_checkpoint(Path(out_dir) / CHECKPOINT, state)


def write_final(out_dir, trainer, metadata: dict | None) -> None:
    """The model folder (``dg.save``, with ``metadata`` and the history) and
    ``history.json``, at the end of a run."""
    history = trainer.history.to_dict()
    save(trainer.model, out_dir, {**(metadata or {}), "history": history})
    atomic_write_text(Path(out_dir) / "history.json", dumps(history, "history") + "\n")
