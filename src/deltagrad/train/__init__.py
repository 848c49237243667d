"""Training: ``Trainer`` (the fit loop), ``History``, callbacks, checkpoints, and metrics.

>>> from deltagrad.train import Trainer, EarlyStopping, accuracy
"""

from .callbacks import (Callback, EarlyStopping, LambdaCallback, LearningRateScheduler,
                        ModelCheckpoint)
from .checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from .history import History
from .metrics import (accuracy, classification_report, confusion_matrix, f1, log_loss, mae, mse,
                      precision, precision_recall_f1_support, r2, recall, regression_report, rmse)
from .trainer import NonFiniteError, Trainer

__all__ = [
    "CHECKPOINT", "Callback", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "NonFiniteError", "Trainer", "accuracy",
    "classification_report", "confusion_matrix", "f1", "load_checkpoint", "log_loss", "mae",
    "mse", "precision", "precision_recall_f1_support", "r2", "recall", "regression_report",
    "rmse", "save_checkpoint",
]
