"""Recognize 8x8 handwritten digits (10 classes) with an MLP and softmax cross-entropy.

    python examples/digits.py          # or: deltagrad train --dataset digits

Needs scikit-learn, which ships the data: pip install "deltagrad[examples]".
"""

import numpy as np

import deltagrad as dg
from deltagrad import metrics, nn, optim
from deltagrad.model_selection import train_val_test_split

dg.manual_seed(0)
X, y = dg.datasets.load_digits()  # (1797, 64) pixels 0..16, labels 0..9
X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
    X, y, val_size=0.2, test_size=0.2, stratify=y, seed=0
)

X_train, X_val, X_test = (a.astype(np.float32) / 16.0 for a in (X_train, X_val, X_test))

model = nn.MLP([64, 128, 10], activation="relu")  # 10 logits; softmax lives in the loss
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
history = dg.train.fit(
    model,
    nn.CrossEntropyLoss(),
    optimizer,
    X_train,
    y_train,
    epochs=20,
    batch_size=64,
    validation_data=(X_val, y_val),
    seed=0,
)
print(f"final loss: train {history['loss'][-1]:.4f}, validation {history['val_loss'][-1]:.4f}")

model.eval()
with dg.no_grad():
    predicted = model(dg.tensor(X_test)).numpy().argmax(axis=1)
print(f"test accuracy {metrics.accuracy(predicted, y_test):.4f}")
print("confusion matrix (rows: true digit, columns: predicted):")
print(metrics.confusion_matrix(predicted, y_test, n_classes=10))
