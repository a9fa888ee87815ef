# cross-entropy (weight 1) plus Dice loss (weight 3) on the decode head
_base_ = './unet-s5-d16_deeplabv3_4xb4-40k_stare-128x128.py'
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0),
        dict(type='DiceLoss', loss_name='loss_dice', loss_weight=3.0)
    ]))
