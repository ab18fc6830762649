"""The unpaired training data of cyclegan (and registered ``unpaired`` trainers) on every
backend: a folder with trainA/ and trainB/ (:func:`artforge.images.unpaired_from_folder`)."""

from __future__ import annotations

import numpy as np
import pytest

from artforge.errors import StepError
from artforge.images import save_png, unpaired_from_folder


def test_unpaired_folder_trainA_trainB(tmp_path):
    for i in range(3):
        save_png(tmp_path / "ds" / "trainA" / f"a{i}.png", np.full((8, 8, 3), 10 * i, np.uint8))
    for i in range(2):
        save_png(
            tmp_path / "ds" / "trainB" / f"other{i}.png", np.full((8, 8, 3), 200 + i, np.uint8)
        )
    a, b = unpaired_from_folder(tmp_path / "ds")
    assert len(a) == 3 and len(b) == 2 and a[2][0, 0, 0] == 20 and b[1][0, 0, 0] == 201
    a, b = unpaired_from_folder(tmp_path / "ds", "BtoA")
    assert len(a) == 2 and b[1][0, 0, 0] == 10 and b[2][0, 0, 0] == 20


@pytest.mark.parametrize("present, missing", [("trainA", "trainB"), ("trainB", "trainA")])
def test_unpaired_folder_names_the_missing_domain(tmp_path, present, missing):
    (tmp_path / "half" / present).mkdir(parents=True)
    with pytest.raises(StepError, match=missing):
        unpaired_from_folder(tmp_path / "half")
