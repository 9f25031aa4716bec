"""Typed run config (pydantic): unknown keys are errors that name the file, the key and the fix."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from arena.bench.config import BenchConfig
from arena.errors import ConfigError
from arena.limits import MAX_BOOTSTRAP  # also bounds `arena rate --bootstrap` (arena.rating.options)
from arena.redaction import MASK, is_secret_name, redact_data, register_secret, register_secret_env
from arena.strict import Strict
from arena.yamlfile import read_yaml_mapping, yaml_line

MT_BENCH_TEMPERATURE: dict[str, float] = {
    "writing": 0.7,
    "roleplay": 0.7,
    "extraction": 0.0,
    "math": 0.0,
    "coding": 0.0,
    "reasoning": 0.0,
    "stem": 0.1,
    "humanities": 0.1,
}

OPENAI_URL = "https://api.openai.com/v1"  # where a judge or candidate without base_url is sent


def _check_base_url(url: str) -> str:
    """An endpoint URL must be http(s) with a host and a valid port (checked when the config loads, not when the
    first request fails); credentials in it are masked in the message."""
    from urllib.parse import urlsplit

    from arena.redaction import redact

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a port out of range or not a number)
    except ValueError as exc:
        raise ValueError(f"{redact(url)!r} is not a valid URL ({exc}); e.g. http://localhost:8000/v1") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{redact(url)!r} must be an http:// or https:// URL with a host, "
                         "e.g. http://localhost:8000/v1")
    return url


BaseUrl = Annotated[str, AfterValidator(_check_base_url)]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QuestionsConfig(Strict):
    """Where the questions come from."""

    path: Path = Path("data/questions.jsonl")
    format: Literal["auto", "arena", "mt-bench", "arena-hard", "alpaca-eval"] = "auto"
    references: Path | None = None
    categories: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)


class GenerationConfig(Strict):
    """Generation parameters; temperature null means the per-category table."""

    misplaced: ClassVar[dict[str, str]] = {
        key: f"'{key}' is set per candidate (candidates[].{key}), not in the run's generation: section"
        for key in ("revision", "reasoning")}

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    category_temperature: dict[str, float] = Field(default_factory=lambda: dict(MT_BENCH_TEMPERATURE))
    default_temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    stream: bool = True
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)  # no connection within this: the host is unreachable
    idle_timeout_s: float = Field(default=60.0, gt=0)  # a streamed reply silent this long: the endpoint stalled
    max_retries: int = Field(default=5, ge=0)
    system_prompt: str | None = None

    @model_validator(mode="after")
    def _lower_categories(self) -> "GenerationConfig":
        self.category_temperature = {k.lower(): v for k, v in self.category_temperature.items()}
        return self

    def temperature_for(self, category: str | None) -> float:
        """The temperature a question of this category is answered with."""
        if self.temperature is not None:
            return self.temperature
        return self.category_temperature.get((category or "").lower(), self.default_temperature)


class GenerationOverride(Strict):
    """Per-candidate overrides of the run's generation parameters."""

    misplaced: ClassVar[dict[str, str]] = {
        key: f"'{key}' is a key of the candidate itself: move it out of 'generation:', up among the candidate's keys"
        for key in ("revision", "reasoning", "name", "backend", "model", "base_url", "api_key_env")}

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    stream: bool | None = None
    system_prompt: str | None = None


class _CandidateBase(Strict):
    name: str = Field(min_length=1)
    revision: str | None = None  # bump it when the model behind the same name changes: answers are redone
    generation: GenerationOverride = Field(default_factory=GenerationOverride)
    # a leading thought block (<think>...</think> and the like, arena/reasoning.py) is not part of the answer
    # judges, style features and the next turn see: auto = taken off where unmistakable; strip = the model
    # always thinks (no closing tag: all thought); keep = the whole text as the model wrote it
    reasoning: Literal["auto", "strip", "keep"] = "auto"

    @model_validator(mode="after")
    def _safe_name(self) -> "_CandidateBase":
        if "/" in self.name or self.name.startswith(".") or "\\" in self.name:
            raise ValueError(f"candidate name '{self.name}' must not contain '/' or start with '.'")
        return self


class OpenAICandidate(_CandidateBase):
    """Any OpenAI-compatible endpoint: OpenAI, DashScope (Qwen), a vLLM server already up, ..."""

    backend: Literal["openai"]
    model: str
    base_url: BaseUrl | None = None
    api_key_env: str | None = None
    concurrency: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    connect_timeout_s: float | None = Field(default=None, gt=0)
    idle_timeout_s: float | None = Field(default=None, gt=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _env_name(self) -> "OpenAICandidate":
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            raise ValueError(
                "api_key_env must be the NAME of an environment variable (like OPENAI_API_KEY), "
                "not the key itself"
            )
        return self


# Flags of `vllm serve` that Arena sets itself (and what to use instead): in extra_args they would override
# Arena's (the port Arena polls, the model name it requests, the key it sends) and fail late and obscurely.
VLLM_ARENA_FLAGS = {
    "--port": "set the candidate's 'port' instead (Arena waits for /health on that port)",
    "--host": "Arena connects to 127.0.0.1: only a host that includes it may be given (0.0.0.0, ::, 127.0.0.1, "
              "localhost)",
    "--served-model-name": "the candidate's 'name' is the served model name (Arena requests it by that name)",
    "--tensor-parallel-size": "set the candidate's 'tensor_parallel_size' instead",
    "-tp": "set the candidate's 'tensor_parallel_size' instead",
    "--api-key": "set 'api_key_env' to the NAME of the variable holding the key instead (Arena gives the "
                 "server the key as VLLM_API_KEY and sends it; a key in the config is stored and shown)",
}


_LOOPBACK_OR_ANY = ("0.0.0.0", "::", "127.0.0.1", "localhost")  # each also answers on 127.0.0.1 (not ::1)


class VLLMCandidate(_CandidateBase):
    """Arena launches `vllm serve MODEL` for this candidate and stops it afterwards."""

    backend: Literal["vllm"]
    model: str
    command: list[str] = Field(default_factory=lambda: ["vllm", "serve"])
    model_flag: str | None = None  # e.g. "--model" for `python -m vllm.entrypoints.openai.api_server`
    port: int | None = Field(default=None, ge=1, le=65535)
    gpus: list[int] | None = None
    tensor_parallel_size: int = Field(default=1, ge=1)
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)  # values are never written to run.json
    api_key_env: str | None = None  # the server requires this variable's key (given as its VLLM_API_KEY)
    health_timeout_s: float = Field(default=900.0, gt=0)
    concurrency: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    connect_timeout_s: float | None = Field(default=None, gt=0)
    idle_timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpu_ids(cls, value: Any) -> Any:
        """Strict GPU ids: YAML's "0", 1.0 or true would otherwise become 0 or 1 without a word."""
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"gpus must be a list of GPU ids, e.g. [0, 1]; got {value!r}")
        if not value:
            raise ValueError("gpus: [] lists no GPU; leave gpus unset to give the server every GPU it sees "
                             "(or none, for a CPU build)")
        bad = [g for g in value if not isinstance(g, int) or isinstance(g, bool)]
        if bad:
            raise ValueError(f"GPU ids must be whole numbers, unquoted (e.g. [0, 1]); got {bad[0]!r}")
        if any(g < 0 for g in value):
            raise ValueError(f"GPU ids must be non-negative (0, 1, ...); got {value}")
        twice = sorted({g for g in value if value.count(g) > 1})
        if twice:
            raise ValueError(f"GPU id {twice[0]} is listed more than once in {value}")
        return value

    @field_validator("command")
    @classmethod
    def _launcher(cls, value: list[str]) -> list[str]:
        if not value or not value[0].strip():
            raise ValueError("command must start with the launcher, e.g. [vllm, serve] or "
                             "[python, -m, vllm.entrypoints.openai.api_server] (with model_flag: --model)")
        return value

    @field_validator("extra_args")
    @classmethod
    def _no_arena_flags(cls, value: list[str], info: Any) -> list[str]:
        """Refuse the flags Arena sets itself, also as --flag=value and with underscores (vLLM takes both);
        the message names the flag, never its value (which may be a key)."""
        for i, arg in enumerate(value):
            if not arg.startswith("-"):
                continue
            flag = arg.split("=", 1)[0]
            dashes = len(flag) - len(flag.lstrip("-"))
            flag = flag[:dashes] + flag[dashes:].replace("_", "-").lower()
            if flag == "--host":  # listening on every address (or on loopback) still answers Arena on 127.0.0.1
                host = arg.split("=", 1)[1] if "=" in arg else (value[i + 1] if i + 1 < len(value) else "")
                if host.strip("[]") in _LOOPBACK_OR_ANY:
                    continue
            if flag in VLLM_ARENA_FLAGS:
                who = f"candidate '{info.data['name']}': " if info.data.get("name") else ""
                raise ValueError(f"{who}{flag} is set by Arena itself: remove it from extra_args; "
                                 f"{VLLM_ARENA_FLAGS[flag]}")
        return value

    @field_validator("env")
    @classmethod
    def _no_key_in_env(cls, value: dict[str, str]) -> dict[str, str]:
        if "VLLM_API_KEY" in value:
            raise ValueError("VLLM_API_KEY: keys are never written in the config; name the variable that "
                             "holds the key with api_key_env (Arena gives it to the server as VLLM_API_KEY "
                             "and sends it)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "VLLMCandidate":
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            raise ValueError("api_key_env must be the NAME of an environment variable (like VLLM_API_KEY), "
                             "not the key itself")
        if self.gpus is not None and self.tensor_parallel_size > len(self.gpus):
            raise ValueError(f"tensor_parallel_size={self.tensor_parallel_size} needs at least "
                             f"{self.tensor_parallel_size} GPUs in gpus, got {self.gpus}; list more GPU ids "
                             "or lower tensor_parallel_size")
        return self


class AnswersCandidate(_CandidateBase):
    """Replays answers that already exist (Arena, FastChat MT-bench or arena-hard-auto answer files)."""

    backend: Literal["answers"]
    path: Path
    model_id: str | None = None


class DemoCandidate(_CandidateBase):
    """Offline demo backend: canned, plainly labelled text; no model involved."""

    backend: Literal["demo"]
    quality: float = Field(default=0.5, ge=0.0, le=1.0)
    verbosity: float = Field(default=0.5, ge=0.0, le=1.0)
    latency_s: float = Field(default=0.0, ge=0.0)
    seed: int = 0


class TransformersCandidate(_CandidateBase):
    """An in-process transformers causal LM (extra `rm`), for log-likelihood and perplexity bench tasks."""

    backend: Literal["transformers"]
    path: Path
    device: str = "cpu"
    max_length: int | None = Field(default=None, ge=2)  # default: the model config's context length


Candidate = Annotated[
    Union[OpenAICandidate, VLLMCandidate, AnswersCandidate, DemoCandidate, TransformersCandidate],
    Field(discriminator="backend"),
]


class PriceConfig(Strict):
    """Judge prices in USD per million tokens."""

    input_per_mtok: float = Field(default=0.0, ge=0.0)
    output_per_mtok: float = Field(default=0.0, ge=0.0)


class RewardConfig(Strict):
    """A reward model as the judge: in-process (transformers) or a vLLM pooling endpoint."""

    source: Literal["local", "vllm"] = "local"
    path: Path | None = None
    base_url: BaseUrl | None = None
    model: str | None = None
    api_key_env: str | None = None
    tie_band: float = Field(default=0.0, ge=0.0, lt=0.5)
    scale: float = Field(default=1.0, gt=0.0)
    batch_size: int = Field(default=8, ge=1)
    device: str = "cpu"
    max_length: int | None = Field(default=None, ge=2)  # local: tokens read (default 4096, capped at the model's)
    # vllm: read the server's chat template (/tokenize, /detokenize) to break up its plain-text turn markers;
    # false for a gateway that answers those routes with 5xx (control tokens are still broken up)
    read_template: bool = True

    @model_validator(mode="after")
    def _where(self) -> "RewardConfig":
        if self.source == "local" and self.path is None:
            raise ValueError("a local reward model needs 'path' (a folder with the model and tokenizer)")
        if self.source == "vllm" and not self.base_url:
            raise ValueError("a vLLM reward endpoint needs 'base_url'")
        return self


class AdaptiveConfig(Strict):
    """`judge.pairs: adaptive`: judge the least certain (pair, question) cells first, in batches, and stop early."""

    max_calls: int | None = Field(default=None, ge=1)  # judge calls this run may make (cached ones are free)
    batch_calls: int = Field(default=200, ge=1)  # calls between two refits of the ratings
    level: float = Field(default=0.99, gt=0.5, lt=1.0)  # adjacent models separated: P(order) >= level
    bootstrap: int = Field(default=200, ge=20, le=MAX_BOOTSTRAP)  # rounds behind each refit's intervals
    warmup: int = Field(default=2, ge=1)  # questions per pair judged before the ratings steer
    futility: float = Field(default=0.05, ge=0.0, lt=1.0)  # leave a pair all open cells would settle less often
    # one-first: judge one order of a cell (which model is shown first alternates within a pair), the swapped
    # order only once the pair's cells all have one; both: both orders of a cell at once
    orders: Literal["both", "one-first"] = "both"
    min_gap: float = Field(default=0.0, ge=0.0)  # rating points: neighbours whose gap's interval is inside +-min_gap tie
    seed: int = 0


class JudgeConfig(Strict):
    """The judge: mode, who judges (LLM endpoint or reward model), verdict format, bias control, budget."""

    mode: Literal["single", "baseline", "pairwise"] = "pairwise"
    baseline: str | None = None
    kind: Literal["llm", "reward-model", "dry-run"] = "llm"
    name: str | None = None
    model: str = "gpt-4o"
    base_url: BaseUrl | None = None
    api_key_env: str | None = None
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=2048, ge=16)
    verdict: Literal["3way", "5way"] = "5way"
    template: Literal["default", "self-answer"] = "default"  # self-answer: judge answers first (pairwise)
    strong_weight: float = Field(default=3.0, gt=0.0)
    order: Literal["both", "random"] = "both"
    inconsistent: Literal["tie", "separate"] = "tie"
    pairs: Literal["all", "sampled", "adaptive"] = "all"
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    opponents_per_question: int = Field(default=2, ge=1)
    reference_categories: list[str] = Field(default_factory=lambda: ["math", "reasoning", "coding"])
    json_output: bool = False
    reasoning: Literal["auto", "strip", "keep"] = "auto"  # the judge's own thought: never read for its verdict
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=180.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    idle_timeout_s: float = Field(default=60.0, gt=0)
    stream: bool = True  # streamed judge replies let idle_timeout_s catch a stalled judge early
    max_retries: int = Field(default=5, ge=0)
    price: PriceConfig = Field(default_factory=PriceConfig)
    max_cost_usd: float | None = Field(default=None, gt=0.0)
    max_total_cost_usd: float | None = Field(default=None, gt=0.0)  # per judge, over all runs of the workspace
    expected_output_tokens: int = Field(default=400, ge=1)
    reward: RewardConfig | None = None
    seed: int = 0
    panel: list[dict[str, Any]] = Field(default_factory=list)
    aggregate: Literal["majority", "mean"] = "majority"

    @model_validator(mode="after")
    def _consistent(self) -> "JudgeConfig":
        if self.mode == "baseline" and not self.baseline:
            raise ValueError("mode 'baseline' needs 'baseline: <candidate name>'")
        if self.template == "self-answer" and self.mode == "single":
            raise ValueError("template 'self-answer' compares two answers: use it with mode pairwise or "
                             "baseline, or set template: default")
        if self.pairs == "adaptive" and (self.mode != "pairwise" or self.panel):
            raise ValueError("pairs 'adaptive' schedules pairwise games of one judge: use it with mode pairwise "
                             "and without a panel, or set pairs: all / sampled")
        if "adaptive" in self.model_fields_set and self.pairs != "adaptive":
            raise ValueError(f"the 'adaptive' section is read only with pairs: adaptive (pairs is '{self.pairs}')")
        if self.kind == "reward-model" and self.reward is None:
            raise ValueError("kind 'reward-model' needs a 'reward:' section (source, path or base_url)")
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            raise ValueError("api_key_env must be the NAME of an environment variable, not the key itself")
        if self.name is not None and ("/" in self.name or self.name.startswith(".")):
            raise ValueError("judge name must not contain '/' or start with '.'")
        members = self.members()
        names = [m.label for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"panel judges need distinct names (set 'name' on each); got {names}")
        return self

    def members(self) -> list["JudgeConfig"]:
        """The panel's judges: this section's settings with each member's keys on top (seed offset per member).

        A member with its own base_url and no api_key_env does not inherit the section's key variable: it gets
        the key of a known host (OpenAI, DashScope) or none, never a key meant for another server.
        """
        out = []
        base = self.model_dump(exclude={"panel", "aggregate", "name", "adaptive"})  # a panel is never adaptive
        for i, member in enumerate(self.panel):
            bad = {"mode", "baseline", "panel", "aggregate"} & set(member)
            if bad:
                raise ValueError(f"panel[{i}]: '{sorted(bad)[0]}' is set for the whole panel, not per judge")
            merged = {**base, "seed": self.seed + i, **member}
            # a key variable goes only to the URL it was named for ("base_url": null is the OpenAI API, not unset)
            if "api_key_env" not in member and "base_url" in member and \
                    _endpoint(member["base_url"]) != _endpoint(self.base_url):
                merged["api_key_env"] = None
            try:
                out.append(JudgeConfig.model_validate(merged))
            except ValidationError as err:
                first = err.errors()[0]
                where = "".join(f".{p}" for p in first["loc"])
                raise ValueError(f"panel[{i}]{where}: {first['msg'].removeprefix('Value error, ')}") from None
        return out

    @property
    def label(self) -> str:
        """The judge's name in files: `name`, else the model (or the reward model's folder name)."""
        if self.name:
            return self.name
        if self.kind == "reward-model" and self.reward is not None:
            ref = self.reward.model or (self.reward.path.name if self.reward.path else "reward")
            return f"rm-{ref}".replace("/", "_")
        return self.model.replace("/", "_")


def _endpoint(url: Any) -> str:
    return str(url or OPENAI_URL).strip().rstrip("/").lower()


class RatingConfig(Strict):
    """Rating stage options."""

    bootstrap: int = Field(default=1000, ge=0, le=MAX_BOOTSTRAP)  # more rounds only cost time
    seed: int = Field(default=0, ge=0)
    bootstrap_by: Literal["battle", "question"] = "battle"  # question: whole questions with all their battles
    anchor: str | None = None
    baseline: str | None = None
    style_control: bool = False
    percentiles: tuple[float, float] = (2.5, 97.5)
    lc_difficulty: Path | None = None  # `arena leaderboard` LC: published instruction difficulty (CSV, by text)
    lc_gamed: list[Path] = Field(default_factory=list)  # LC: gamed-baseline annotations (verbose, concise)

    @model_validator(mode="after")
    def _anchor_form(self) -> "RatingConfig":
        if self.anchor is not None and not re.match(r"^.+=-?\d+(\.\d+)?$", self.anchor):
            raise ValueError("anchor must look like MODEL=RATING, e.g. mixtral-8x7b-instruct-v0.1=1114")
        if self.anchor is not None and self.baseline is not None:  # found here, before any paid work
            raise ValueError("anchor and baseline both fix the rating scale: set one of them")
        lo, hi = self.percentiles
        if not 0.0 <= lo < hi <= 100.0:
            raise ValueError(f"percentiles must be [low, high] with 0 <= low < high <= 100, got [{lo}, {hi}]")
        return self


class RunConfig(Strict):
    """A whole run: questions, candidates, generation, judge, rating, workspace."""

    misplaced: ClassVar[dict[str, str]] = {
        "reasoning": "'reasoning' is set per candidate (candidates[].reasoning) or for the judge (judge.reasoning), "
                     "not at the top level",
        "revision": "'revision' is set per candidate (candidates[].revision), not at the top level"}

    workspace: Path = Path("arena-workspace")
    run_name: str | None = None
    questions: QuestionsConfig = Field(default_factory=QuestionsConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    candidates: list[Candidate] = Field(min_length=1)
    judge: JudgeConfig | None = None
    rating: RatingConfig = Field(default_factory=RatingConfig)
    bench: BenchConfig | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> "RunConfig":
        names = [c.name for c in self.candidates]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"candidate names must be unique; repeated: {', '.join(dupes)}")
        if self.run_name is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", self.run_name):
            raise ValueError("run_name may use letters, digits, '.', '_' and '-' only (it names a folder)")
        j = self.judge
        if j and j.baseline and j.baseline not in names:
            raise ValueError(f"judge.baseline '{j.baseline}' is not one of the candidates: {names}")
        if j and j.mode == "pairwise" and len(names) < 2:
            raise ValueError("pairwise mode needs at least two candidates")
        if j and j.mode == "baseline" and len(names) < 2:
            raise ValueError("baseline mode needs at least one candidate besides the baseline")
        for what, model in (("rating.baseline", self.rating.baseline),
                            ("rating.anchor", self.rating.anchor.rsplit("=", 1)[0] if self.rating.anchor else None)):
            if model is not None and model not in names:
                raise ValueError(f"{what} '{model}' is not one of the candidates: {names}")
        return self


_TAGS = {"openai", "vllm", "answers", "demo", "transformers"}  # the candidate backends (a union tag)


def _format_errors(path: Path, text: str, err: ValidationError) -> str:
    lines = [f"{path}: invalid config"]
    for e in err.errors():
        loc = tuple(p for i, p in enumerate(e["loc"]) if not (p in _TAGS and i and isinstance(e["loc"][i - 1], int)))
        where = ".".join(str(p) for p in loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        bad_key = re.match(r"unknown key '([^']+)'", msg)
        full_loc = loc + ((bad_key.group(1),) if bad_key else ())
        line = yaml_line(text, full_loc)
        at = f" (line {line})" if line else ""
        if e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  {where}{at}: {msg}")
    return "\n".join(lines)


def load_config(path: Path | str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a YAML run config; ConfigError names the file, key, line and fix."""
    path = Path(path)
    text, data = read_yaml_mapping(path)
    data.update(overrides or {})
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(path, text, err)) from None
    base = path.resolve().parent
    _resolve_paths(cfg, base)
    register_secrets(cfg)
    return cfg


def _resolve_paths(cfg: RunConfig, base: Path) -> None:
    """Resolve relative data paths: first against the current directory, then the config's folder."""

    def fix(p: Path) -> Path:
        if p.is_absolute() or p.exists():
            return p
        alt = base / p
        alt_parent = base.parent / p
        return alt if alt.exists() else (alt_parent if alt_parent.exists() else p)

    cfg.questions.path = fix(cfg.questions.path)
    if cfg.questions.references:
        cfg.questions.references = fix(cfg.questions.references)
    for cand in cfg.candidates:
        if isinstance(cand, (AnswersCandidate, TransformersCandidate)):
            cand.path = fix(cand.path)
    if cfg.rating.lc_difficulty:
        cfg.rating.lc_difficulty = fix(cfg.rating.lc_difficulty)
    cfg.rating.lc_gamed = [fix(p) for p in cfg.rating.lc_gamed]
    if cfg.judge is not None:  # local reward models, of the judge and of its panel members
        if cfg.judge.reward is not None and cfg.judge.reward.path is not None:
            cfg.judge.reward.path = fix(cfg.judge.reward.path.expanduser())
        for member in cfg.judge.panel:
            reward = member.get("reward") if isinstance(member, dict) else None
            if isinstance(reward, dict) and isinstance(reward.get("path"), str):
                reward["path"] = str(fix(Path(reward["path"]).expanduser()))
    if cfg.bench:
        cfg.bench.resolve_paths(base)


def redacted_dump(cfg: RunConfig) -> dict[str, Any]:
    """The resolved config for run.json: vLLM `env` values masked, then every string through `redact_data`."""
    data = cfg.model_dump(mode="json")
    for cand in data.get("candidates", []):
        if cand.get("env"):
            cand["env"] = {k: MASK for k in cand["env"]}
    return redact_data(data)


def register_secrets(cfg: RunConfig) -> None:
    """Tell the redaction layer the key variables (every `api_key_env`) and the secret-named vLLM `env` values."""
    judges = (cfg.judge.members() or [cfg.judge]) if cfg.judge else []
    for section in [*cfg.candidates, *judges, *(j.reward for j in judges if j.reward)]:
        register_secret_env(getattr(section, "api_key_env", None))
        for name, value in (getattr(section, "env", None) or {}).items():
            if is_secret_name(name):  # HF_TOKEN yes; VLLM_HOST_IP=127.0.0.1 would mask every local URL
                register_secret(value)
