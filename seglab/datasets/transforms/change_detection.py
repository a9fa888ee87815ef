"""ConcatCDInput: stack the two images of a change-detection pair into one (H, W, 2C) input."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seglab.registry import TRANSFORMS

__all__ = ["ConcatCDInput"]


@TRANSFORMS.register_module()
class ConcatCDInput:
    """Pop ``input_keys`` (e.g. ``img`` (H, W, C) and ``img2`` (H, W, C)) and set ``img`` to their
    channel concatenation (H, W, 2C). Put it before geometric transforms only if those should see
    one image; seglab's Resize/Crop/Flip move ``img`` and the masks, not ``img2``.
    """

    def __init__(self, input_keys: Sequence[str] = ("img", "img2")) -> None:
        if isinstance(input_keys, str) or len(input_keys) < 2:
            raise ValueError(f"ConcatCDInput: input_keys must name at least two images, got {input_keys!r}")
        self.input_keys = tuple(input_keys)

    def __call__(self, results: dict) -> dict:
        missing = [k for k in self.input_keys if results.get(k) is None]
        if missing:
            raise KeyError(
                f"ConcatCDInput: {missing} not in results; load the pair with LoadMultipleRSImageFromFile first"
            )
        imgs = [results.pop(k) for k in self.input_keys]
        imgs = [x[..., None] if x.ndim == 2 else x for x in imgs]
        shapes = {x.shape[:2] for x in imgs}
        if len(shapes) != 1:
            raise ValueError(f"ConcatCDInput: images {self.input_keys} have different sizes {sorted(shapes)}")
        results["img"] = np.concatenate(imgs, axis=2)
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_keys={self.input_keys})"
