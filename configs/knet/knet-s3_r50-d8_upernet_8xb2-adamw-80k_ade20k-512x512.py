_base_ = 'knet-s3_r50-d8_fcn_8xb2-adamw-80k_ade20k-512x512.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
# model settings: an undilated ResNet-50 (strides 4..32, as MMSeg's config despite the 'd8' in its name)
# and a UPerNet head generating the initial kernels
model = dict(
    backbone=dict(dilations=(1, 1, 1, 1), strides=(1, 2, 2, 2)),
    decode_head=dict(
        kernel_generate_head=dict(
            _delete_=True,
            type='UPerHead',
            in_channels=[256, 512, 1024, 2048],
            in_index=[0, 1, 2, 3],
            pool_scales=(1, 2, 3, 6),
            channels=512,
            dropout_ratio=0.1,
            num_classes=150,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
