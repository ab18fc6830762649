"""The ``stylize`` step, once for every backend (numpy only; no torch or tensorflow here).

- :mod:`.step`: the step type (schema, outputs, version), image loading and sizing, the method
  dispatch, metrics, records and curves;
- :mod:`.runtime`: the small object a backend supplies (tensor code only) and what it declares;
- :mod:`.features`: the choice of loss network (VGG19 weights or offline random features);
- :mod:`.gatys`: the coarse-to-fine driver of optimisation-based transfer (Gatys et al. 2016);
- :mod:`.training`: crops and loss bookkeeping of feed-forward training (Johnson et al. 2016).
"""
