"""preprocess stops before training when a class has no decodable training image."""

import pytest

from stages.preprocess import require_train_images


def test_a_class_without_decodable_training_images_stops_the_stage_naming_it():
    require_train_images({"ants": 3, "bees": 1}, "reports/data.json")
    with pytest.raises(ValueError) as stopped:
        require_train_images({"ants": 3, "bees": 0, "wasps": 0}, "reports/data.json")
    assert str(stopped.value).startswith(
        "class(es) 'bees', 'wasps' have no decodable image in the train split (every file was skipped; the reasons "
        "are in reports/data.json)"
    )
