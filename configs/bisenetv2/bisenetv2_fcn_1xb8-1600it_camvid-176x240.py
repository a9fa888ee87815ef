# BiSeNetV2 from scratch on CamVid at half resolution: the CPU recipe of the CamVid record in
# benchmarks/results/camvid/ (2 CPU cores: ~1.2 s per iteration on a quiet machine, ~35 min in all). BiSeNetV2 is designed to train without ImageNet
# pre-training, which matters here: no pretrained weights are reachable offline.
_base_ = [
    '../_base_/models/bisenetv2.py',
    '../_base_/datasets/camvid.py',
    '../_base_/default_runtime.py',
]
crop_size = (176, 240)
num_classes = 11
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=[
        dict(type='FCNHead', in_channels=c_in, channels=c, num_convs=2, num_classes=num_classes,
             in_index=i, norm_cfg=dict(type='BN', requires_grad=True), concat_input=False,
             align_corners=False, loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
        for i, (c_in, c) in enumerate([(16, 16), (32, 64), (64, 256), (128, 1024)], start=1)
    ])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # half of CamVid's 480x360, then 0.5-2x scale jitter around it
    dict(type='RandomResize', scale=(240, 180), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(240, 180), keep_ratio=True),
    # annotations are loaded after Resize: the metric compares at the original 360x480
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

randomness = dict(seed=1131700820)  # the seed of the recorded run (benchmarks/results/camvid/)
max_iters = 1600
optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.1, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=100, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=400)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=400, max_keep_ckpts=2,
                    save_best='mIoU'))
