_base_ = 'knet-s3_r50-d8_fcn_8xb2-adamw-80k_ade20k-512x512.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
# model settings: a PSP head generates the initial kernels
model = dict(
    decode_head=dict(
        kernel_generate_head=dict(
            _delete_=True,
            type='PSPHead',
            in_channels=2048,
            in_index=3,
            channels=512,
            pool_scales=(1, 2, 3, 6),
            dropout_ratio=0.1,
            num_classes=150,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
