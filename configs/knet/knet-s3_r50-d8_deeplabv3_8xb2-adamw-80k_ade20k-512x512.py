_base_ = 'knet-s3_r50-d8_fcn_8xb2-adamw-80k_ade20k-512x512.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
# model settings: an ASPP head (DeepLabV3) generates the initial kernels
model = dict(
    decode_head=dict(
        kernel_generate_head=dict(
            _delete_=True,
            type='ASPPHead',
            in_channels=2048,
            in_index=3,
            channels=512,
            dilations=(1, 12, 24, 36),
            dropout_ratio=0.1,
            num_classes=150,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
