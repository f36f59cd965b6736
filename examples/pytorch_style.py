"""Digits (8x8 images, 10 classes) the way a PyTorch user writes it: a Dataset subclass, a
DataLoader, an nn.Module subclass with BatchNorm1d and Dropout, AdamW, OneCycleLR,
clip_grad_norm_, and the state dict saved with dg.save and loaded back with dg.load.
Rename `dg` to `torch` (and deltagrad.data to torch.utils.data) and it is a torch script.

    python examples/pytorch_style.py

Needs scikit-learn, which ships the data: pip install "deltagrad[examples]".
"""

import os
import tempfile

import numpy as np

import deltagrad as dg
from deltagrad import functional as F
from deltagrad import nn
from deltagrad.data import DataLoader, Dataset
from deltagrad.model_selection import train_test_split

SEED = 0
EPOCHS = 30
BATCH_SIZE = 64


class Digits(Dataset):
    """One (image, label) pair per index, as float32 pixels in [0, 1] and an int64 label."""

    def __init__(self, X, y):
        self.X = dg.tensor(X.astype(np.float32) / 16.0)
        self.y = dg.tensor(y.astype(np.int64))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        return self.X[idx], self.y[idx]


class Net(nn.Module):
    def __init__(self, n_in=64, n_hidden=256, n_classes=10, p_drop=0.1):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.bn1 = nn.BatchNorm1d(n_hidden)
        self.dropout = nn.Dropout(p_drop)
        self.fc2 = nn.Linear(n_hidden, n_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.fc1(x)))
        x = self.dropout(x)
        return self.fc2(x)


def evaluate(model, loader):
    model.eval()
    correct, total = 0, 0
    with dg.no_grad():
        for xb, yb in loader:
            pred = model(xb).numpy().argmax(axis=1)
            correct += int((pred == yb.numpy()).sum())
            total += len(yb)
    return correct / total


def main():
    dg.manual_seed(SEED)
    X, y = dg.datasets.load_digits()  # (1797, 64) pixels 0..16, labels 0..9
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=SEED)
    train_loader = DataLoader(
        Digits(X_train, y_train),
        batch_size=BATCH_SIZE,
        shuffle=True,
        generator=np.random.default_rng(SEED),
    )
    test_loader = DataLoader(Digits(X_test, y_test), batch_size=256)

    model = Net()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = dg.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    scheduler = dg.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1e-2, epochs=EPOCHS, steps_per_epoch=len(train_loader)
    )

    for epoch in range(EPOCHS):
        model.train()
        running = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            scheduler.step()
            running += loss.item() * len(yb)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  train loss {running / len(train_loader.dataset):.4f}")

    accuracy = evaluate(model, test_loader)
    print(f"test accuracy {accuracy:.4f}")

    # save the state dict (safetensors) and load it into a fresh model
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.safetensors")
        dg.save(model.state_dict(), path)
        restored = Net()
        restored.load_state_dict(dg.load(path))
    reloaded = evaluate(restored, test_loader)
    print(f"reloaded model test accuracy {reloaded:.4f}")
    return accuracy, reloaded


if __name__ == "__main__":
    main()
