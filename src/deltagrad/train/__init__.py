"""Training: ``Trainer`` (the fit loop), ``History``, callbacks, checkpoints, metrics, and
``predict_batches`` (batched inference, the loop every predictor runs).

>>> from deltagrad.train import Trainer, EarlyStopping, accuracy
"""

from .callbacks import (BestWeights, Callback, EarlyStopping, LambdaCallback,
                        LearningRateScheduler, ModelCheckpoint, ProgressSchedule, half_cosine)
from .checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from .gradient_stats import GradientStats
from .guard import NonFiniteError
from .history import History
from .inference import predict_batches
from .inputs import Samples
from .metrics import (accuracy, classification_report, confusion_matrix, f1, log_loss, mae, mse,
                      precision, precision_recall_f1_support, r2, recall, regression_report, rmse)
from .objective import LossObjective, Objective
from .trainer import Trainer

__all__ = [
    "CHECKPOINT", "BestWeights", "Callback", "EarlyStopping", "GradientStats", "History",
    "LambdaCallback",
    "LearningRateScheduler", "LossObjective", "ModelCheckpoint", "NonFiniteError", "Objective",
    "ProgressSchedule", "Samples", "Trainer", "accuracy", "classification_report",
    "confusion_matrix", "f1", "half_cosine", "load_checkpoint", "log_loss", "mae", "mse",
    "precision", "precision_recall_f1_support", "predict_batches", "r2", "recall",
    "regression_report", "rmse", "save_checkpoint",
]
