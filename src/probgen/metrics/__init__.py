"""Sample-quality metrics: the fixed MNIST classifier and the FID in its 128-d feature space."""

from .classifier import (
    FEATURE_DIM,
    FID_CLASSIFIER_SHA256,
    FID_CONFIG,
    ClassifierConfig,
    FIDWeightsError,
    MNISTClassifier,
    accuracy,
    build_classifier,
    check_images,
    load_fid_classifier,
    load_or_train_classifier,
    predict_proba,
    train_classifier,
)
from .fid import (
    bootstrap_fids,
    extract_features,
    feature_fid,
    fid,
    fid_from_stats,
    fid_reference,
    fid_stats,
    frechet_distance,
    gaussian_stats,
)

__all__ = [
    "FEATURE_DIM", "FID_CLASSIFIER_SHA256", "FID_CONFIG", "ClassifierConfig", "FIDWeightsError", "MNISTClassifier",
    "accuracy", "build_classifier", "check_images", "load_fid_classifier", "load_or_train_classifier",
    "predict_proba", "train_classifier",
    "bootstrap_fids", "extract_features", "feature_fid", "fid", "fid_from_stats", "fid_reference", "fid_stats", "frechet_distance",
    "gaussian_stats",
]
