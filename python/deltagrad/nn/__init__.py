"""deltagrad.nn: Module and the layers, containers and losses built on it, as torch.nn.

    import deltagrad as dg
    import deltagrad.nn as nn

    model = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y)
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)

Where things are:

- module.py (Module, hooks, state_dict), parameter.py (Parameter), init.py (dg.nn.init)
- container.py (Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict)
- linear.py (Identity, Linear, MLP), activation.py, dropout.py (Dropout, Dropout1d/2d/3d),
  flatten.py (Flatten, Unflatten), sparse.py (Embedding), distance.py (PairwiseDistance,
  CosineSimilarity), loss.py
- normalization.py (BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm1d/2d/3d)
- conv.py (Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d), pooling.py (Max / Avg /
  AdaptiveAvg / AdaptiveMax / LP pools, 1d and 2d), conv3d.py (Conv3d, ConvTranspose3d and
  the 3-D pools), unpooling.py (MaxUnpool1d, MaxUnpool2d, MaxUnpool3d), fractional_pool.py
  (FractionalMaxPool2d, FractionalMaxPool3d), fold.py (Fold, Unfold)
- padding.py (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad 1d/2d/3d),
  pixelshuffle.py (PixelShuffle, PixelUnshuffle), upsampling.py (Upsample,
  UpsamplingNearest2d, UpsamplingBilinear2d)
- extra.py (RMSNorm, BatchNorm3d, Bilinear, LocalResponseNorm, ChannelShuffle,
  AlphaDropout, FeatureAlphaDropout, MultiLabelMarginLoss, TripletMarginWithDistanceLoss)
- rnn.py (RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell)
- attention.py (MultiheadAttention, TransformerEncoderLayer), transformer.py
  (TransformerEncoder, TransformerDecoderLayer, TransformerDecoder, Transformer)
- utils/ (dg.nn.utils: gradient clipping, parameters_to_vector / vector_to_parameters),
  utils/weight_norm.py and utils/spectral_norm.py (the hook-based weight_norm /
  spectral_norm), utils/rnn.py (dg.nn.utils.rnn: PackedSequence, pack_padded_sequence,
  pad_packed_sequence, pad_sequence, ...), utils/parametrize.py (register_parametrization,
  cached, ...), utils/parametrizations.py (weight_norm, spectral_norm, orthogonal),
  utils/stateless.py (functional_call)
- parallel/ (dg.nn.parallel: DistributedDataParallel over MPI), functional.py
  (dg.nn.functional, the same module as deltagrad.functional, where the arithmetic lives)
"""

from __future__ import annotations

from . import init, parallel, utils
from .activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Swish,
    Tanh,
    Tanhshrink,
    Threshold,
)
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .conv3d import (
    AdaptiveAvgPool3d,
    AdaptiveMaxPool3d,
    AvgPool3d,
    Conv3d,
    ConvTranspose3d,
    LPPool3d,
    MaxPool3d,
)
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import MLP, Identity, Linear
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SumOfSquaresLoss,
)
from .module import Module, RemovableHandle, load, save
from .normalization import BatchNorm1d, LayerNorm
from .parameter import Parameter
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    LPPool1d,
    LPPool2d,
    MaxPool1d,
    MaxPool2d,
)
from .sparse import Embedding
from .unpooling import MaxUnpool1d, MaxUnpool2d, MaxUnpool3d

__all__ = [
    "Module",
    "Parameter",
    "RemovableHandle",
    "Linear",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "SiLU",
    "Swish",
    "ELU",
    "SELU",
    "CELU",
    "ReLU6",
    "Hardsigmoid",
    "Hardswish",
    "Mish",
    "LogSigmoid",
    "Softsign",
    "Hardtanh",
    "Threshold",
    "GLU",
    "PReLU",
    "RReLU",
    "Softmin",
    "Softmax2d",
    "Tanhshrink",
    "Softshrink",
    "Hardshrink",
    "Dropout",
    "Flatten",
    "Unflatten",
    "BatchNorm1d",
    "LayerNorm",
    "Embedding",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "ParameterDict",
    "MLP",
    "MSELoss",
    "SumOfSquaresLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "init",
    "utils",
    "save",
    "load",
    "parallel",
    "functional",
    "Conv1d",
    "Conv2d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "MaxPool1d",
    "AvgPool1d",
    "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "LPPool1d",
    "LPPool2d",
    "Conv3d",
    "MaxPool3d",
    "AvgPool3d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
    "ConvTranspose3d",
    "LPPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
]

from . import functional  # noqa: E402 - deltagrad.nn.functional is deltagrad.functional
from .normalization import BatchNorm2d  # noqa: E402

__all__ += ["BatchNorm2d"]

from .distance import CosineSimilarity, PairwiseDistance  # noqa: E402
from .loss import (  # noqa: E402
    CosineEmbeddingLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    KLDivLoss,
    MarginRankingLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    PoissonNLLLoss,
    SoftMarginLoss,
    TripletMarginLoss,
)

__all__ += [
    "KLDivLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
    "CosineEmbeddingLoss",
    "MarginRankingLoss",
    "HingeEmbeddingLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
    "CosineSimilarity",
    "PairwiseDistance",
]

from .dropout import Dropout1d, Dropout2d, Dropout3d  # noqa: E402
from .normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d  # noqa: E402
from .padding import (  # noqa: E402
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from .pixelshuffle import PixelShuffle, PixelUnshuffle  # noqa: E402
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: E402

__all__ += [
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "PixelShuffle",
    "PixelUnshuffle",
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
]

from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: E402

__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

from .attention import MultiheadAttention, TransformerEncoderLayer  # noqa: E402

__all__ += ["MultiheadAttention", "TransformerEncoderLayer"]

from .transformer import (  # noqa: E402
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
)

__all__ += ["TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder", "Transformer"]

from .fractional_pool import FractionalMaxPool2d, FractionalMaxPool3d  # noqa: E402

__all__ += ["FractionalMaxPool2d", "FractionalMaxPool3d"]

from .fold import Fold, Unfold  # noqa: E402

__all__ += ["Fold", "Unfold"]

from .extra import (  # noqa: E402
    AlphaDropout,
    BatchNorm3d,
    Bilinear,
    ChannelShuffle,
    FeatureAlphaDropout,
    LocalResponseNorm,
    MultiLabelMarginLoss,
    RMSNorm,
    TripletMarginWithDistanceLoss,
)

__all__ += [
    "RMSNorm",
    "BatchNorm3d",
    "Bilinear",
    "LocalResponseNorm",
    "ChannelShuffle",
    "AlphaDropout",
    "FeatureAlphaDropout",
    "MultiLabelMarginLoss",
    "TripletMarginWithDistanceLoss",
]

from .extra import (  # noqa: E402
    Buffer,
    CTCLoss,
    EmbeddingBag,
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
    LazyLinear,
    LazyModuleMixin,
    UninitializedBuffer,
    UninitializedParameter,
)

__all__ += [
    "EmbeddingBag",
    "CTCLoss",
    "Buffer",
    "UninitializedParameter",
    "UninitializedBuffer",
    "LazyModuleMixin",
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]
