"""The Keras GAN training core: the GAN as a ``keras.Model`` with ``compile``/``train_step``,
``fit`` with callbacks (curves, divergence guard, learning-rate decay, sample grids,
checkpoints) and full-state checkpoints in Keras' ``.weights.h5`` format (see
:mod:`.trainer` and :mod:`.checkpoint`). Importing it imports keras."""
