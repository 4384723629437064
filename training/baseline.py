"""The TF-IDF + linear SVM baseline, trained and scored on the same split as the transformer."""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from ticket_classifier.training.data import LabeledTexts
from ticket_classifier.training.metrics import classification_summary, per_class_metrics


def tfidf_svm_baseline(train: LabeledTexts, test: LabeledTexts, labels: list[str], *, seed: int) -> dict:
    """Word 1-2-gram TF-IDF + LinearSVC (balanced class weights): metrics on ``test``."""
    index = {label: position for position, label in enumerate(labels)}
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True),
        LinearSVC(C=0.5, class_weight="balanced", random_state=seed),
    )
    model.fit(train.texts, [index[label] for label in train.labels])
    predictions = model.predict(test.texts)
    targets = np.array([index[label] for label in test.labels])
    return {
        "name": "TF-IDF (1-2 grams) + linear SVM",
        **classification_summary(targets, predictions),
        "per_class": per_class_metrics(targets, predictions, labels),
    }
