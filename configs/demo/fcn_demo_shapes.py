# The built-in demo: a small FCN (ResNetV1c-18 at quarter width, output stride 8) on the synthetic
# shapes dataset on 2 CPU cores (README states the measured time).
_base_ = [
    '../_base_/models/fcn_r50-d8.py', '../_base_/datasets/demo_shapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_20k.py'
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=128, channels=64, num_classes=5, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=64, channels=32, num_classes=5, norm_cfg=norm_cfg))
work_dir = 'work_dirs/demo'
randomness = dict(seed=0)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.003, weight_decay=0.01, _delete_=True))
max_iters = 2000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=500)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=1, save_best='mIoU'))
env_cfg = dict(cudnn_benchmark=False)
# NHWC convolutions (oneDNN on CPU): ~8% less CPU time per training iteration here, same fp32 maths.
channels_last = True
