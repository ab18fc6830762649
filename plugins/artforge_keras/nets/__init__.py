"""Networks and losses of the Keras backend, layer for layer the twins of
``artforge_torch.nets`` (same parameter counts; with weights copied by
:func:`convert.load_torch_state`, the same outputs), in NHWC.

Submodules: ``pix2pix`` (U-Net, PatchGAN), ``dcgan``, ``cyclegan`` (ResNet generator),
``sr`` (ESPCN, SRResNet, SRGAN discriminator), ``features`` (VGG19 and random multi-scale
feature networks), ``transformer`` (Johnson et al.'s style network), ``losses``, ``layers``
(the building blocks and ``init_weights``), ``convert`` (PyTorch-layout weights in).
Importing any of them imports keras (on TensorFlow, see ``artforge_keras.backend``).
"""
