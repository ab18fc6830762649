"""artforge-glitch: an example artforge plugin.

- ``pixel-sort`` and ``kaleidoscope``: backend-free steps (numpy only);
- ``cppn``: a generator for the PyTorch backend (a compositional pattern-producing network
  that draws abstract art from pixel coordinates), and ``cppn-art``, a step that draws with it;
- ``glitch-transfer``: a style optimiser for the ``stylize`` step (the style's palette,
  with red and blue shifted apart), numpy only, for any backend;
- ``artforge glitch``: a command that applies an effect to one image file;
- ``recipes/glitch.yaml``: a recipe mixing these steps with built-in ones.

:mod:`artforge_glitch.plugin` is the entry point; it imports neither torch nor the effects.
"""

__version__ = "0.1.0"
