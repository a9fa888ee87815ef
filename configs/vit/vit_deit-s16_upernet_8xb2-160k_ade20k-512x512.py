# MMSegmentation's 160k variant of this config inherits the 80k schedule; kept identical to it
_base_ = './vit_vit-b16_mln_upernet_8xb2-80k_ade20k-512x512.py'
# DeiT-S/16 weights, UPerHead directly on the four single-scale ViT maps (no neck)
model = dict(
    pretrained='pretrain/deit_small_patch16_224-cd65a155.pth',
    backbone=dict(num_heads=6, embed_dims=384, drop_path_rate=0.1),
    decode_head=dict(num_classes=150, in_channels=[384, 384, 384, 384]),
    neck=None,
    auxiliary_head=dict(num_classes=150, in_channels=384))
