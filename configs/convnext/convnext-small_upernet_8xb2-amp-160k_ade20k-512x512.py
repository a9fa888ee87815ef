_base_ = './convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py'
checkpoint_file = 'https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-small_3rdparty_32xb128-noema_in1k_20220301-303e75e3.pth'  # noqa
# ConvNeXt-S: 27 blocks in stage 3, so 12 decay layers
model = dict(backbone=dict(arch='small', drop_path_rate=0.3, init_cfg=dict(checkpoint=checkpoint_file)))
optim_wrapper = dict(paramwise_cfg={'num_layers': 12})
