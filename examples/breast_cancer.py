"""Classify breast tumours as malignant or benign with a small MLP (Wisconsin data set).

    python examples/breast_cancer.py          # or: deltagrad train

Positive class = malignant (label 1; dg.datasets flips scikit-learn's coding, where
malignant is 0). Needs scikit-learn, which ships the data: pip install "deltagrad[examples]".
"""

import numpy as np

import deltagrad as dg
from deltagrad import metrics, nn, optim
from deltagrad.model_selection import train_val_test_split

dg.manual_seed(1)
X, y = dg.datasets.load_breast_cancer()  # (569, 30), y = 1 for malignant
X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
    X, y, val_size=0.2, test_size=0.2, stratify=y, seed=1
)

# standardize with the training set's statistics only
mean, std = X_train.mean(axis=0), X_train.std(axis=0)
X_train, X_val, X_test = ((a - mean) / std for a in (X_train, X_val, X_test))
X_train, X_val, X_test = (a.astype(np.float32) for a in (X_train, X_val, X_test))
t_train, t_val = (t.astype(np.float32)[:, None] for t in (y_train, y_val))  # (N, 1) targets

model = nn.MLP([30, 64, 32, 1], activation="relu")  # one logit per sample
loss_fn = nn.BCEWithLogitsLoss()
optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3)

history = dg.train.fit(
    model,
    loss_fn,
    optimizer,
    X_train,
    t_train,
    epochs=30,
    batch_size=32,
    validation_data=(X_val, t_val),
    seed=1,
)
print(f"final loss: train {history['loss'][-1]:.4f}, validation {history['val_loss'][-1]:.4f}")

model.eval()
with dg.no_grad():
    logits = model(dg.tensor(X_test)).numpy()[:, 0]
predicted = (logits > 0).astype(int)  # sigmoid(z) > 0.5
print(
    f"test accuracy {metrics.accuracy(predicted, y_test):.4f}, "
    f"ROC AUC {metrics.roc_auc(logits, y_test):.4f}"
)
print("confusion matrix [[TN, FP], [FN, TP]]:")
print(metrics.confusion_matrix(predicted, y_test))
