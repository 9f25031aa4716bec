"""Reading a run config that has a top-level `bench:` section (works whether or not RunConfig knows `bench`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from arena.bench.config import BenchConfig
from arena.config import RunConfig, _format_errors, _resolve_paths, register_secrets
from arena.errors import ConfigError
from arena.yamlfile import read_yaml_mapping


def _validate(model: type, data: Any, path: Path, text: str, prefix: tuple[str, ...] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        if not prefix:
            raise ConfigError(_format_errors(path, text, err)) from None
        errs = [{**e, "loc": prefix + tuple(e["loc"])} for e in err.errors()]
        wrapped = ValidationError.from_exception_data(err.title, errs)  # type: ignore[arg-type]
        raise ConfigError(_format_errors(path, text, wrapped)) from None


def load_bench_config(path: Path | str) -> tuple[RunConfig, BenchConfig]:
    """The run config and its `bench:` section; errors name the file, the key, the line and the fix."""
    path = Path(path)
    text, data = read_yaml_mapping(path, example="configs/cfg_bench.yaml")
    raw_bench = data.pop("bench", None)
    if raw_bench is None:
        raise ConfigError(f"{path}: no 'bench:' section", hint="add bench: {tasks: [{name: gsm8k, path: "
                          "data/gsm8k.jsonl}]} (see configs/cfg_bench.yaml)")
    bench = _validate(BenchConfig, raw_bench, path, text, ("bench",))
    cfg = _validate(RunConfig, data, path, text)
    base = path.resolve().parent
    _resolve_paths(cfg, base)
    register_secrets(cfg)
    bench.resolve_paths(base, config_file=path)
    if "bench" in RunConfig.model_fields:  # once RunConfig has `bench: BenchConfig | None`
        cfg.bench = bench  # type: ignore[attr-defined]
    return cfg, bench
