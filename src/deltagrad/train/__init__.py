"""Training: metrics now; the fit loop, callbacks and history build on them."""

from .metrics import (accuracy, classification_report, confusion_matrix, f1, log_loss, mae, mse,
                      precision, precision_recall_f1_support, r2, recall, regression_report, rmse)

__all__ = [
    "accuracy", "classification_report", "confusion_matrix", "f1", "log_loss", "mae", "mse",
    "precision", "precision_recall_f1_support", "r2", "recall", "regression_report", "rmse",
]
