"""deltagrad.nn.functional: the same module object as deltagrad.functional, so that

    import deltagrad.nn.functional as F

works as ``import torch.nn.functional as F`` does. Nothing is defined here: importing this
module puts deltagrad.functional in its place (``deltagrad.nn.functional is
deltagrad.functional``), so a function added there (F.conv2d, F.max_pool2d, ...) is here too.
"""

from __future__ import annotations

import sys

from .. import functional as _functional

sys.modules[__name__] = _functional
