# Monocular depth on NYU-v2 with VPD's depth head on a ResNet-18 (v1c) instead of VPD's Stable Diffusion
# UNet (not available in seglab, see docs/depth.md). MMSeg's VPD recipe otherwise: SiLog loss, AdamW 25k,
# DepthMetric with the NYU crop, sliding-window + flip inference. Photometric augmentation uses
# PhotoMetricDistortion instead of MMSeg's Albu step, so no optional extra is needed.
_base_ = [
    '../_base_/datasets/nyu.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_25k.py'
]
crop_size = (480, 480)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=0,
    size=crop_size)
model = dict(
    type='DepthEstimator',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='VPDDepthHead',
        in_channels=[64, 128, 256, 512],
        embed_dim=64,
        feature_dim=512,
        max_depth=10,
        loss_decode=dict(type='SiLogLoss')),
    test_cfg=dict(mode='slide_flip', crop_size=crop_size, stride=(160, 160)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomDepthMix', prob=0.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PhotoMetricDistortion'),
    dict(
        type='PackSegInputs',
        meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
                   'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                   'category_id')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

default_hooks = dict(
    checkpoint=dict(save_best='rmse', rule='less', max_keep_ckpts=1))
