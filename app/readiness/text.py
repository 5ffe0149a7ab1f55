"""What Baton tells both teams when a service changes hands, or may (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

EVENT = "readiness"


class Kind:
    HANDOVER_REQUESTED = "handover_requested"
    HANDOVER_ACCEPTED = "handover_accepted"
    HANDOVER_DECLINED = "handover_declined"
    HANDBACK_PROPOSED = "handback_proposed"
    HANDBACK_ACCEPTED = "handback_accepted"
    HANDBACK_DECLINED = "handback_declined"


@dataclass(frozen=True, slots=True)
class Notice:
    """One post to both teams; ``buttons``: the request or proposal it can be answered with."""

    kind: str
    service_id: int
    service: str
    dev_team: str
    ops_team: str
    headline: str
    lines: tuple[str, ...] = ()
    # ("handover", request id) or ("handback", proposal id): Accept / Decline buttons.
    answer: tuple[str, int] | None = None
    score: int | None = None
    band: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/services/{self.service_id}/readiness"

    def subject(self) -> str:
        return f"[Baton] {self.service}: {self.headline}"

    def body(self, public_url: str = "") -> str:
        text = [self.headline, ""]
        text += [f"- {line}" for line in self.lines]
        if self.answer is not None:
            what = "hand-over request" if self.answer[0] == "handover" else "handback proposal"
            text += [
                "",
                f"Ops ({self.ops_team}) can accept or decline the {what} on the page below.",
            ]
        if public_url:
            text += ["", f"{public_url.rstrip('/')}{self.path}"]
        return "\n".join(text).strip() + "\n"

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "service_id": self.service_id,
            "service": self.service,
            "dev_team": self.dev_team,
            "ops_team": self.ops_team,
            "headline": self.headline,
            "lines": list(self.lines),
            "answer": list(self.answer) if self.answer else None,
            "score": self.score,
            "band": self.band,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Notice:
        answer = data.get("answer")
        lines = data.get("lines") or ()
        score = data.get("score")
        return cls(
            kind=str(data["kind"]),
            service_id=int(str(data["service_id"])),
            service=str(data["service"]),
            dev_team=str(data["dev_team"]),
            ops_team=str(data["ops_team"]),
            headline=str(data["headline"]),
            lines=tuple(str(line) for line in lines) if isinstance(lines, list | tuple) else (),
            answer=(str(answer[0]), int(answer[1]))
            if isinstance(answer, list | tuple) and len(answer) == 2
            else None,
            score=int(str(score)) if score is not None else None,
            band=str(data["band"]) if data.get("band") is not None else None,
        )


def evidence_lines(
    results: Sequence[Mapping[str, object]], *, only_failing: bool
) -> tuple[str, ...]:
    """One line per checklist result (``only_failing``: the items not met)."""
    lines = []
    for result in results:
        if only_failing and result.get("met"):
            continue
        mark = "met" if result.get("met") else "NOT met"
        required = "required" if result.get("required") else "optional"
        lines.append(f"{result.get('title')} ({required}, {mark}): {result.get('evidence')}")
    return tuple(lines)


def breach_lines(breaches: Sequence[Mapping[str, object]]) -> tuple[str, ...]:
    return tuple(f"{b.get('title')}: {b.get('evidence')}" for b in breaches)
