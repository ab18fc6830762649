"""``python -m artforge``: the ``artforge`` command, also what torchrun starts in each process.

Data-parallel training (see README, "Scale-out")::

    torchrun --nproc_per_node=N -m artforge run RECIPE [--set K=V] [--out DIR] ...
    artforge run RECIPE --nproc N ...     # the same, launched for you
"""


from artforge.cli import entry

entry()
