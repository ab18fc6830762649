"""Super-resolution for the Keras backend: the ``super-resolve`` step (:mod:`.step`) and the training of ESPCN/SRResNet (:mod:`.train`)."""
