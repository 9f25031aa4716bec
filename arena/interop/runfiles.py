"""Read a run folder (native or imported): run.json, questions, answers via answers_index, judgments, battles, scores."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.answers import AnswerStore
from arena.errors import ArenaError, DataError
from arena.interop.writer import answers_root_for
from arena.records import read_records, safe_filename


@dataclass
class RunFiles:
    """Lazy access to one run folder's files."""

    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path | str) -> RunFiles:
        """Open a run folder; it must hold run.json."""
        path = Path(path)
        if not (path / "run.json").is_file():
            raise ArenaError(f"{path}: not a run folder (no run.json)", hint="pass a folder under WORKSPACE/runs/")
        try:
            info = json.loads((path / "run.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path / 'run.json'}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        return cls(path, info)

    @property
    def tool(self) -> str | None:
        """The tool an imported run came from (None for native runs)."""
        src = self.info.get("source")
        return src.get("tool") if isinstance(src, dict) else None

    @property
    def mode(self) -> str | None:
        """The judge mode recorded in run.json."""
        judge = (self.info.get("config") or {}).get("judge") or {}
        return judge.get("mode")

    @property
    def baseline(self) -> str | None:
        """The baseline model recorded in run.json, if any."""
        judge = (self.info.get("config") or {}).get("judge") or {}
        return judge.get("baseline")

    @property
    def baselines(self) -> dict[str, str]:
        """Baselines per category (arena-hard v2.0 imports whose categories have different baselines), else {}."""
        judge = (self.info.get("config") or {}).get("judge") or {}
        value = judge.get("baselines")
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def records(self, name: str) -> list[dict[str, Any]]:
        """Records of a JSONL file in the run ([] when absent)."""
        if name not in self._cache:
            p = self.path / name
            self._cache[name] = [r for _, r in read_records(p)] if p.is_file() else []
        return self._cache[name]

    def has(self, name: str) -> bool:
        """True when the run holds a non-empty file of that name."""
        p = self.path / name
        return p.is_file() and p.stat().st_size > 0

    def questions(self) -> dict[str, dict[str, Any]]:
        """Questions of the run by id string."""
        return {str(q["question_id"]): q for q in self.records("questions.jsonl")}

    def answers(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{model: {question id: answer record}} of the answers this run used."""
        if "answers" in self._cache:
            return self._cache["answers"]
        index_path = self.path / "answers_index.json"
        out: dict[str, dict[str, dict[str, Any]]] = {}
        if index_path.is_file():
            index = json.loads(index_path.read_text(encoding="utf-8"))
            roots = [self.path / "answers", answers_root_for(self.path)]
            for model, by_q in index.items():
                name = f"{safe_filename(model)}.jsonl"
                file = next((r / name for r in roots if (r / name).is_file()), None)
                if file is None:
                    continue
                by_key = AnswerStore(file.parent).load(model)  # a key resolves to its first ok record
                out[model] = {qid: by_key[key] for qid, key in by_q.items() if key in by_key}
        self._cache["answers"] = out
        return out

    def _answer(self, model: str, qid: Any, turn: int) -> dict[str, Any] | None:
        """The answer record the run used for (model, question), if it has that turn."""
        rec = self.answers().get(model, {}).get(str(qid))
        return rec if rec and 1 <= turn <= len(rec.get("turns") or []) else None

    def answer_text(self, model: str, qid: Any, turn: int = 1) -> str | None:
        """One answer turn's text as the model wrote it, if the run's answers are available."""
        rec = self._answer(model, qid, turn)
        return None if rec is None else rec["turns"][turn - 1]

    def split_answer(self, model: str, rec: dict[str, Any]) -> list[Any]:
        """Each turn of answer record `rec` of `model` as the run's judges read it and the thought they did not
        read (arena.reasoning.Split: a thought block taken off as the candidate's `reasoning` said, or the one
        a server's reasoning parser returned apart)."""
        from arena.reasoning import reasoning_mode, split_record

        return split_record(rec, reasoning_mode(self.info.get("config"), model))

    def judged_text(self, model: str, qid: Any, turn: int = 1) -> str | None:
        """One answer turn as the run's judges read it (without the thought); None when it is not available."""
        rec = self._answer(model, qid, turn)
        return None if rec is None else self.split_answer(model, rec)[turn - 1].answer
