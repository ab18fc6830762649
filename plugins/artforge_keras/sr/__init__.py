"""Super-resolution for the Keras backend: the runtime (:mod:`.runtime`) the core's ``super-resolve`` step trains and infers with, and :class:`.train.SRModel`."""
