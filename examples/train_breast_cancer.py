"""Train a classifier with the Trainer: validation, early stopping, a learning-rate schedule,
checkpoints after every epoch, then save, reload and check the model.

Run: python examples/train_breast_cancer.py [OUT_DIR]
(the same as `deltagrad train --data breast_cancer --out OUT_DIR`, in Python)
"""

import sys
import tempfile

import numpy as np

import deltagrad as dg
from deltagrad import nn
from deltagrad.data import StandardScaler, load_dataset, train_val_test_split
from deltagrad.optim import lr_scheduler
from deltagrad.train import EarlyStopping, LearningRateScheduler, Trainer, accuracy

out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="breast_cancer_")

ds = load_dataset("breast_cancer")
split = train_val_test_split(ds.X, ds.y, val_fraction=0.1, test_fraction=0.2, seed=0)
scaler = StandardScaler().fit(split.X_train)  # statistics of the training rows only
X_train, X_val, X_test = (scaler.transform(X) for X in (split.X_train, split.X_val,
                                                          split.X_test))

model = nn.MLP(ds.n_features, [32, 32], ds.n_classes, dropout=0.1,
               rng=np.random.default_rng(0))
trainer = Trainer(
    model, loss="cross_entropy", optimizer="adam", lr=1e-3, metrics=["accuracy", "f1"],
    seed=0, clip_norm=5.0,
    callbacks=[EarlyStopping(monitor="val_loss", patience=8),
               LearningRateScheduler(lambda opt: lr_scheduler.CosineAnnealingLR(opt, 60))])
history = trainer.fit(X_train, split.y_train, epochs=60, batch_size=32,
                      validation_data=(X_val, split.y_val), out_dir=out_dir,
                      metadata={"scaler": scaler.to_dict(), "class_names": ds.class_names})

best_epoch, best = history.best("val_loss")
print(f"stopped: {history.stop_reason} after {len(history)} epochs; best val_loss {best:.4f} "
      f"at epoch {best_epoch}")
print("test:", {k: round(v, 4) for k, v in trainer.evaluate(X_test, split.y_test).items()})

# The folder holds model.safetensors and config.json: reload it without this script's code.
loaded = dg.load(out_dir)
scaler = StandardScaler.from_dict(dg.load_metadata(out_dir)["scaler"])
with dg.no_grad():
    pred = loaded(scaler.transform(split.X_test)).numpy().argmax(axis=1)
print(f"reloaded model: test accuracy {accuracy(split.y_test, pred):.4f} (model in {out_dir})")
