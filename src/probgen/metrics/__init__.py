"""Sample-quality metrics: the fixed MNIST classifier and the FID in its 128-d feature space."""

from .classifier import (
    FEATURE_DIM,
    ClassifierConfig,
    MNISTClassifier,
    accuracy,
    build_classifier,
    check_images,
    load_or_train_classifier,
    predict_proba,
    train_classifier,
)
from .fid import extract_features, fid, frechet_distance, gaussian_stats, image_fid

__all__ = [
    "FEATURE_DIM", "ClassifierConfig", "MNISTClassifier", "accuracy", "build_classifier", "check_images",
    "load_or_train_classifier", "predict_proba", "train_classifier",
    "extract_features", "fid", "frechet_distance", "gaussian_stats", "image_fid",
]
