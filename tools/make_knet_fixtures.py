"""Record MMSeg reference outputs of K-Net (r50-d8 + FCN and UPerNet kernel generate heads) for
tests/models/test_knet.py (a dev script, never imported by seglab).

Run by hand inside the MMSegmentation reference env (see ../shared/tools/mmseg-reference-env.sh):

    /work/mmseg-ref/bin/python tools/make_knet_fixtures.py [--out tests/data/knet]

Same recipe and file format as tools/make_realtime_variant_fixtures.py (parity fill weights, eval-mode
``mode='tensor'`` logits subsampled every ``step``-th row/column).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_realtime_variant_fixtures import main  # noqa: E402

# config path inside MMSeg's configs/ -> input shape (64 px: the d8 maps are 8x8, UPerNet's top level 2x2)
VARIANTS = {
    "knet/knet-s3_r50-d8_fcn_8xb2-adamw-80k_ade20k-512x512.py": (1, 3, 64, 64),
    "knet/knet-s3_r50-d8_upernet_8xb2-adamw-80k_ade20k-512x512.py": (1, 3, 64, 64),
}

if __name__ == "__main__":
    main(VARIANTS, out="tests/data/knet")
