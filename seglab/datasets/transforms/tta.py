"""TestTimeAug: run every combination of test-time transforms on one sample (MMCV semantics)."""
from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence

from seglab.registry import TRANSFORMS

from .compose import Compose

__all__ = ["TestTimeAug"]


@TRANSFORMS.register_module()
class TestTimeAug:
    """One view per element of the cartesian product of ``transforms`` (a list of lists of transforms).

    ``transforms=[[Resize(0.5), Resize(1.0)], [Flip(0), Flip(1)], [PackSegInputs]]`` gives 4 views. The
    output is a dict of lists, one entry per view: ``dict(inputs=[(C, H, W), ...], data_samples=[...])``.
    Each packed data sample gets ``tta_view`` (its index) in metainfo so ``SegTTAModel`` can group views.
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, transforms: Sequence[Sequence[dict | Callable]]) -> None:
        if not isinstance(transforms, Sequence) or not transforms:
            raise ValueError("TestTimeAug: transforms must be a non-empty list of lists of transforms")
        for i, group in enumerate(transforms):
            if isinstance(group, (dict, str)) or not isinstance(group, Sequence) or not group:
                raise ValueError(
                    f"TestTimeAug: transforms[{i}] must be a non-empty list of transforms (the alternatives for "
                    f"that step), got {group!r}; wrap a single transform in a list"
                )
        self.transforms = [list(group) for group in transforms]
        self.subroutines = [Compose(list(combo)) for combo in itertools.product(*self.transforms)]

    def __call__(self, results: dict) -> dict:
        views = []
        for i, subroutine in enumerate(self.subroutines):
            out = subroutine(copy.deepcopy(results))
            if out is None:
                raise RuntimeError(f"TestTimeAug: view {i} ({subroutine!r}) returned None; test transforms must not drop samples")
            sample = out.get("data_samples")
            if hasattr(sample, "set_metainfo"):
                sample.set_metainfo(dict(tta_view=i))
            views.append(out)
        keys = list(views[0])
        return {key: [view[key] for view in views] for key in keys}

    def __len__(self) -> int:
        return len(self.subroutines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(transforms={self.transforms!r}, views={len(self.subroutines)})"
