"""deltagrad.metrics against scikit-learn (reference) and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from deltagrad import metrics

sk_metrics = pytest.importorskip("sklearn.metrics")


def test_rms_error_is_sqrt_mean_square():
    y, t = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])
    assert metrics.rms_error(y, t) == pytest.approx(np.sqrt((0 + 4 + 9) / 3))
    assert metrics.mse(y, t) == pytest.approx(13 / 3)
    # (N,) and (N, 1) are the same thing
    assert metrics.rms_error(y[:, None], t) == pytest.approx(metrics.rms_error(y, t))


@pytest.mark.parametrize("n", [1, 2, 7, 101])
def test_roc_auc_equals_sklearn_on_random_data(rng, n):
    for _trial in range(5):
        t = rng.integers(0, 2, n + 2)
        t[:2] = [0, 1]  # both classes present
        s = rng.standard_normal(n + 2)
        assert metrics.roc_auc(s, t) == pytest.approx(sk_metrics.roc_auc_score(t, s), abs=1e-12)


def test_roc_auc_with_ties_uses_average_ranks(rng):
    t = rng.integers(0, 2, 300)
    s = rng.integers(0, 5, 300).astype(float)  # heavy ties, also across classes
    assert metrics.roc_auc(s, t) == pytest.approx(sk_metrics.roc_auc_score(t, s), abs=1e-12)
    assert metrics.roc_auc(np.ones(4), [0, 1, 0, 1]) == 0.5
    assert metrics.roc_auc([0.1, 0.9], [False, True]) == 1.0
    assert metrics.roc_auc([0.9, 0.1], [0, 1]) == 0.0


def test_roc_auc_label_coding_and_proba_columns(rng):
    t = rng.integers(0, 2, 50)
    s = rng.random(50)
    # any two labels, the larger is positive
    assert metrics.roc_auc(s, np.where(t == 1, 7, -3)) == pytest.approx(metrics.roc_auc(s, t))
    proba = np.stack([1 - s, s], axis=1)
    assert metrics.roc_auc(proba, t) == pytest.approx(metrics.roc_auc(s, t))


def test_roc_auc_bad_input():
    with pytest.raises(ValueError, match="two classes"):
        metrics.roc_auc([0.1, 0.2, 0.3], [0, 1, 2])
    with pytest.warns(UserWarning, match="one class"):  # undefined: nan, as sklearn
        assert np.isnan(metrics.roc_auc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match="shape"):
        metrics.roc_auc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc([np.nan, 0.2], [0, 1])
    with pytest.raises(TypeError, match="scores"):
        metrics.roc_auc(["a", "b"], [0, 1])


def test_r2_equals_sklearn(rng):
    t = rng.standard_normal(31)
    y = t + 0.3 * rng.standard_normal(31)
    assert metrics.r2(y, t) == pytest.approx(sk_metrics.r2_score(t, y), rel=1e-12)
    T = rng.standard_normal((20, 3))
    Y = T + rng.standard_normal((20, 3))
    assert metrics.r2(Y, T) == pytest.approx(sk_metrics.r2_score(T, Y), rel=1e-12)
    # constant target: 1 for a perfect fit, else 0 (sklearn's force_finite convention)
    assert metrics.r2([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert metrics.r2([1.0, 3.0], [2.0, 2.0]) == 0.0


def test_accuracy_and_confusion_matrix_equal_sklearn(rng):
    t = rng.integers(0, 4, 97)
    y = np.where(rng.random(97) < 0.7, t, rng.integers(0, 4, 97))
    assert metrics.accuracy(y, t) == pytest.approx(sk_metrics.accuracy_score(t, y))
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y, t), sk_metrics.confusion_matrix(t, y, labels=[0, 1, 2, 3])
    )
    # class scores (N, K) are read through argmax
    scores = np.eye(4)[y] + 0.01
    assert metrics.accuracy(scores, t) == pytest.approx(metrics.accuracy(y, t))
    cm = metrics.confusion_matrix([1, 1, 0, 1], [1, 0, 0, 1])
    np.testing.assert_array_equal(cm, [[1, 1], [0, 2]])  # [[TN, FP], [FN, TP]]
    assert metrics.confusion_matrix([0], [0], n_classes=3).shape == (3, 3)


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        metrics.confusion_matrix([-1, 0], [0, 0])
    with pytest.raises(ValueError, match="integer"):
        metrics.confusion_matrix([0.5, 0], [0, 0])
    with pytest.raises(ValueError, match="n_classes"):
        metrics.confusion_matrix([0, 3], [0, 0], n_classes=2)
    with pytest.raises(ValueError, match="empty"):
        metrics.rms_error([], [])


def test_accuracy_threshold_reads_single_scores(rng):
    t = rng.integers(0, 2, 53)
    logits = np.where(t == 1, 1.0, -1.0) * rng.uniform(0.1, 3.0, 53)
    logits[:5] *= -1  # five wrong
    expect = 48 / 53
    assert metrics.accuracy(logits[:, None], t, threshold=0.0) == pytest.approx(expect)
    assert metrics.accuracy(logits, t[:, None].astype(np.float32), threshold=0) == pytest.approx(
        expect
    )
    proba = 1.0 / (1.0 + np.exp(-logits))
    assert metrics.accuracy(proba[:, None], t.astype(bool), threshold=0.5) == pytest.approx(expect)
    pred = (logits > 0).astype(int)
    np.testing.assert_array_equal(
        metrics.confusion_matrix(logits[:, None], t, threshold=0.0),
        sk_metrics.confusion_matrix(t, pred, labels=[0, 1]),
    )
    # one-hot targets of the scores' shape are read through argmax too
    scores = rng.standard_normal((29, 4))
    labels = rng.integers(0, 4, 29)
    assert metrics.accuracy(scores, np.eye(4)[labels]) == metrics.accuracy(scores, labels)


def test_accuracy_threshold_bad_input():
    with pytest.raises(TypeError, match="accuracy: threshold must be a number"):
        metrics.accuracy([0.2, 0.7], [0, 1], threshold="0.5")
    with pytest.raises(TypeError, match="accuracy: threshold must be a number"):
        metrics.accuracy([0.2, 0.7], [0, 1], threshold=True)
    with pytest.raises(TypeError, match="accuracy: threshold needs numeric"):
        metrics.accuracy(["a", "b"], [0, 1], threshold=0.5)
    with pytest.raises(ValueError, match="accuracy: .*empty"):
        metrics.accuracy(np.empty((0, 1)), np.empty(0), threshold=0.0)
    with pytest.raises(ValueError, match="accuracy: .*empty"):
        metrics.accuracy([], [])


def test_roc_auc_column_scores_and_two_logits(rng):
    t = rng.integers(0, 2, 41)
    t[:2] = [0, 1]
    s = rng.standard_normal(41)
    ref = sk_metrics.roc_auc_score(t, s)
    assert metrics.roc_auc(s[:, None], t[:, None]) == pytest.approx(ref, abs=1e-12)
    assert metrics.roc_auc(s[:, None], t.astype(bool)) == pytest.approx(ref, abs=1e-12)
    # two logits: the order of z1 - z0, not of z1
    z0 = rng.standard_normal(41) * 3
    z = np.stack([z0, z0 + s], axis=1)
    assert metrics.roc_auc(z, t) == pytest.approx(ref, abs=1e-12)
    with pytest.raises(ValueError, match="roc_auc: scores of shape .* 3 classes"):
        metrics.roc_auc(rng.standard_normal((41, 3)), t)
    with pytest.raises(ValueError, match="roc_auc: .*empty"):
        metrics.roc_auc(np.empty((0, 1)), np.empty((0, 1)))


def test_accuracy_of_scores_without_threshold_is_an_error(rng):
    """Comparing logits with labels used to give a silent near-zero accuracy."""
    with pytest.raises(ValueError, match="accuracy: y holds scores .* threshold="):
        metrics.accuracy(rng.standard_normal((9, 1)), rng.integers(0, 2, 9))
    # float labels (whole numbers) are still labels
    assert metrics.accuracy(np.array([0.0, 1.0, 2.0]), [0, 1, 1]) == pytest.approx(2 / 3)
