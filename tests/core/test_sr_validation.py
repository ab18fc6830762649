"""super-resolve's methods are checked against what the step's backend registers when the
recipe loads: an unsupported one is a file:line error, not a failure after training."""

from __future__ import annotations

import pytest

from artforge.errors import RecipeError
from artforge.recipe import load_recipe

RECIPE = """name: t
backend: {backend}
steps:
  - id: photos
    uses: images
    with: {{skimage: [astronaut], size: 32}}
  - id: up
    uses: super-resolve
    with:
      images: ${{photos.images}}
      method: {method}
"""


@pytest.fixture
def installed():
    from artforge.plugins import PluginHost

    host = PluginHost()
    if not {"torch", "keras"} <= set(host.registry.backends):
        pytest.skip("needs both backend plugins installed")
    return host


def test_srgan_on_keras_is_refused_at_load_time_with_its_line(write_recipe, installed):
    path = write_recipe(RECIPE.format(backend="keras", method="srgan"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, installed)
    msg = str(info.value)
    assert msg.startswith(f"{path}:11:"), msg
    assert "method srgan is not available on backend keras" in msg
    assert "available on: torch" in msg and "espcn" in msg


@pytest.mark.parametrize(
    "backend, method", [("torch", "srgan"), ("keras", "srresnet"), ("keras", "espcn")]
)
def test_registered_methods_load(write_recipe, installed, backend, method):
    rec = load_recipe(write_recipe(RECIPE.format(backend=backend, method=method)), installed)
    assert rec.steps[1].params.method == method
    assert rec.steps[1].type.version == "3"  # one version (artforge.sr_step.VERSION)


def test_one_step_version_on_both_backends(installed):
    torch_st = installed.registry.find_step("super-resolve", "torch")
    keras_st = installed.registry.find_step("super-resolve", "keras")
    assert torch_st.version == keras_st.version
    assert torch_st.outputs == keras_st.outputs and torch_st.params is keras_st.params
