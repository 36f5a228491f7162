"""The repository config: the optional `[params]` section."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvc import config
from mlvc.errors import ConfigError


def test_params_section_round_trips_through_the_config(tmp_path: Path) -> None:
    rules = config.ParamsRules(include=("conf/*/parameters*",), exclude=("*_dev.yml",))
    path = tmp_path / "config.toml"
    path.write_text(config.default()._replace(params=rules).render())
    assert config.load(path).params == rules
    assert "[params]" not in config.default().render()


@pytest.mark.parametrize(
    "section",
    ['[params]\ninclude = "x"\n', "[params]\nexclude = ['']\n", "[params]\nfiles = []\n"],
)
def test_a_malformed_params_section_is_a_config_error(tmp_path: Path, section: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config.default().render() + "\n" + section)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert "params" in caught.value.message
