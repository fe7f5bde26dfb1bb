# The authors' resnet_rla_v1.py: the main model with tanh instead of ReLU on
# the last hidden state before the classifier (in no table; its docstring
# calls it "the default model").
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(hidden_act='tanh'))
