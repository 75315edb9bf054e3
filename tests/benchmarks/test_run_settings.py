"""benchmarks.run: --set overrides reach the FitConfig; bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.run import fit_config, parse_args


def test_set_overrides_nested_fit_settings() -> None:
    cfg = parse_args(["--device", "cpu", "--set", "env_height=64", "--set", "priors.metallic_sparsity=0",
                      "--set", "albedo_init=mean", "--mesh-dir", "somewhere"])
    config = fit_config(cfg)
    assert config.env_height == 64
    assert config.priors.metallic_sparsity == 0
    assert config.albedo_init == "mean"
    assert config.priors.white_balance == 0.1  # untouched defaults stay
    assert cfg.mesh_dir == Path("somewhere")


def test_unknown_setting_is_an_error() -> None:
    from models.errors import RelitError

    with pytest.raises(RelitError, match="nonsense"):
        fit_config(parse_args(["--device", "cpu", "--set", "priors.nonsense=1"]))
    with pytest.raises(SystemExit):
        fit_config(parse_args(["--device", "cpu", "--set", "no-equals-sign"]))
