"""A small CNN on the 8x8 digits, written as a PyTorch user would: an nn.Module with Conv2d,
BatchNorm2d and max pooling, a DataLoader, Adam and F.cross_entropy. Rename `dg` to `torch`
(deltagrad.data to torch.utils.data) and it is a torch script. The split is the one of
`deltagrad train --dataset digits --model cnn` (60/20/20, stratified, seed 1), which trains
the same network with the full report; both reach >= 0.985 test accuracy.

    python examples/cnn_digits.py

Needs scikit-learn, which ships the data: pip install "deltagrad[examples]".
"""

import time

import numpy as np

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import nn
from deltagrad.data import DataLoader, TensorDataset
from deltagrad.model_selection import train_val_test_split

SEED = 1
EPOCHS = 30
BATCH_SIZE = 32


class Net(nn.Module):
    """conv3x3-bn-relu, conv3x3-bn-relu, maxpool, conv3x3-bn-relu, maxpool, linear."""

    def __init__(self, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64 * 2 * 2, n_classes)

    def forward(self, x):  # x: (N, 1, 8, 8)
        x = F.relu(self.bn1(self.conv1(x)))  # (N, 16, 8, 8)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # (N, 32, 4, 4)
        x = F.max_pool2d(F.relu(self.bn3(self.conv3(x))), 2)  # (N, 64, 2, 2)
        return self.fc(x.flatten(1))


def images(X):
    """(N, 64) pixels 0..16 -> (N, 1, 8, 8) float32 in [0, 1]."""
    return dg.tensor((X / 16.0).reshape(-1, 1, 8, 8).astype(np.float32))


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
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
        X, y, val_size=0.2, test_size=0.2, stratify=y, seed=SEED
    )
    train_loader = DataLoader(
        TensorDataset(images(X_train), dg.tensor(y_train)),
        batch_size=BATCH_SIZE,
        shuffle=True,
        generator=np.random.default_rng(SEED),
    )
    val_loader = DataLoader(TensorDataset(images(X_val), dg.tensor(y_val)), batch_size=512)
    test_loader = DataLoader(TensorDataset(images(X_test), dg.tensor(y_test)), batch_size=512)

    model = Net()
    optimizer = dg.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3)

    start = time.perf_counter()
    for epoch in range(EPOCHS):
        model.train()
        running = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(yb)
        if (epoch + 1) % 5 == 0:
            print(
                f"epoch {epoch + 1:3d}  train loss {running / len(train_loader.dataset):.4f}  "
                f"val accuracy {evaluate(model, val_loader):.4f}"
            )
    seconds = time.perf_counter() - start

    accuracy = evaluate(model, test_loader)
    print(f"trained {EPOCHS} epochs on {len(y_train)} images in {seconds:.1f} s")
    print(f"test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
