"""The rich terminal report: live progress while checks run, then results grouped by area.

Only this module imports rich. Every piece of text that came from a target (messages,
evidence, repro) goes in as :class:`rich.text.Text`, never as markup, so a ``[`` in a server's
reply cannot restyle or hide the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from harness.report.results import CheckResult, Outcome, RunResult
from harness.report.sinks.lines import MARKS
from harness.report.sinks.redacted import redact_result, redact_run
from harness.report.sinks.text import (
    Part,
    failure_blocks,
    skip_reason,
    slow_line,
    verdict_lines,
)

STYLES = {
    Outcome.PASS: "green",
    Outcome.FAIL: "bold red",
    Outcome.ERROR: "bold magenta",
    Outcome.WARN: "yellow",
    Outcome.SKIP: "dim",
    Outcome.BASELINED: "cyan",
    Outcome.BLOCKED: "magenta",
    Outcome.NOT_OFFERED: "dim",
}
PART_STYLES = {
    Part.MESSAGE: "bold",
    Part.EVIDENCE: "dim",
    Part.FIX: "green",
    Part.REPRO: "cyan",
}
DETAILED = (Outcome.FAIL, Outcome.ERROR, Outcome.WARN, Outcome.BASELINED)
EVIDENCE_LINES = 14  # enough for the request line, status, headers and the first events


def plain_console(file: object = None, width: int = 100) -> Console:
    """A colourless, deterministic console (golden tests, logs)."""
    return Console(
        file=file,  # type: ignore[arg-type]
        width=width,
        color_system=None,
        force_terminal=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
        soft_wrap=False,
    )


class RichReporter:
    """A result listener (``on_start`` / ``on_check_start`` / ``on_result``) and renderer."""

    def __init__(
        self,
        console: Console | None = None,
        secrets: Iterable[str] = (),
        *,
        live: bool | None = None,
        timings: bool = True,
    ) -> None:
        self.console = console or Console(emoji=False, highlight=False)
        self.secrets = list(secrets)
        self.live = self.console.is_terminal if live is None else live
        self.timings = timings
        self.counts: Counter[Outcome] = Counter()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    # -- listener ---------------------------------------------------------------------------

    def add_secret(self, secret: str) -> None:
        self.secrets.append(secret)

    def on_start(self, total: int) -> None:
        if not self.live or self._progress is not None:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            # pytest owns stdout/stderr while checks run; the progress writes only to its console.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("starting", total=total)

    def on_check_start(self, check_id: str, title: str = "") -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self._tally()}  {check_id}")

    def on_result(self, result: CheckResult) -> None:
        self.counts[result.outcome] += 1
        if self._progress is None or self._task is None:
            return
        self._progress.update(self._task, advance=1, description=self._tally())
        if result.outcome in (Outcome.FAIL, Outcome.ERROR, Outcome.WARN):
            r = redact_result(result, self.secrets)
            line = Text(f"{MARKS[r.outcome]} ", style=STYLES[r.outcome])
            line.append(r.id, style="bold")
            line.append(f"  {r.title}")
            self._progress.console.print(line)

    def _tally(self) -> str:
        c = self.counts
        parts = [f"{c[Outcome.PASS]} passed", f"{c[Outcome.FAIL] + c[Outcome.ERROR]} failed"]
        if c[Outcome.WARN]:
            parts.append(f"{c[Outcome.WARN]} warned")
        if c[Outcome.SKIP]:
            parts.append(f"{c[Outcome.SKIP]} not tested")
        if c[Outcome.BLOCKED]:
            parts.append(f"{c[Outcome.BLOCKED]} blocked")
        return ", ".join(parts)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def finish(self, run: RunResult) -> None:
        self.stop()
        self.render(run)

    # -- the report -------------------------------------------------------------------------

    def render(self, run: RunResult) -> None:
        run = redact_run(run, self.secrets)
        c = self.console
        c.print(Text(f"chatkit-harness {run.harness_version} · target {run.target}", style="bold"))
        c.print()
        c.print(self._results_table(run.results))
        detailed = [r for r in run.results if r.outcome in DETAILED]
        for r in sorted(detailed, key=lambda r: DETAILED.index(r.outcome)):
            c.print()
            c.print(self._detail(r, run.strict))
            if r.repro:
                c.print(Text("Reproduce with:", style="bold"))
                # Outside any layout and soft-wrapped, so it copies as one line.
                c.print(Text(r.repro, style=PART_STYLES[Part.REPRO]), soft_wrap=True)
        blocked = [r for r in run.results if r.outcome is Outcome.BLOCKED]
        if blocked:
            c.print()
            c.print(Text(f"Blocked ({len(blocked)}, by an earlier failure):", style="bold"))
            for root, ids in _group_blocked(blocked).items():
                row = Text(f"{MARKS[Outcome.BLOCKED]} by {root}: ", style=STYLES[Outcome.BLOCKED])
                row.append(", ".join(ids))
                c.print(row)
        offered = [r for r in run.results if r.outcome is Outcome.NOT_OFFERED]
        if offered:
            c.print()
            c.print(Text(f"Not offered by the deployment ({len(offered)}):", style="bold"))
            for reason, ids in _group_skips(offered).items():
                row = Text(f"{MARKS[Outcome.NOT_OFFERED]} {reason}: ", style="dim")
                row.append(", ".join(ids))
                c.print(row)
        skipped = [r for r in run.results if r.outcome is Outcome.SKIP]
        if skipped:
            c.print()
            c.print(Text(f"Not tested ({len(skipped)}, a precondition is missing):", style="bold"))
            for reason, ids in _group_skips(skipped).items():
                skip = Text(f"{MARKS[Outcome.SKIP]} {reason}: ", style=STYLES[Outcome.SKIP])
                skip.append(", ".join(ids))
                c.print(skip)
        c.print()
        slow = slow_line(run)
        if slow and not run.harness_error:
            c.print(Text(slow, style="dim"))
        lines = verdict_lines(run)
        for i, line in enumerate(lines):
            text = Text(line, style="bold green" if line.startswith("✓") else "bold red")
            if self.timings and i == len(lines) - 1:
                text.append(f"  in {run.duration:.2f}s", style="dim")
            c.print(text)

    def _results_table(self, results: list[CheckResult]) -> RenderableType:
        """One line per check, ids aligned, a heading per area. Built by hand, not with a
        Table: a long title is cut to the width (it is shown whole in the details), and
        the mark, id and time never shrink."""
        id_width = max((len(r.id) for r in results), default=10)
        time_width = 8 if self.timings else 0
        title_width = max(10, self.console.width - id_width - 4 - time_width)
        lines: list[Text] = []
        for i, (area, group) in enumerate(_by_area(results).items()):
            counts = Counter(r.outcome for r in group)
            summary = ", ".join(f"{n} {o.value}" for o, n in sorted(counts.items(), key=_order))
            if i:
                lines.append(Text(""))
            head = Text(f"  {area}", style="bold")
            head.append(f"  {summary}", style="dim")
            lines.append(head)
            for r in group:
                line = Text(MARKS[r.outcome], style=STYLES[r.outcome])
                line.append(" ")
                line.append(f"{r.id:<{id_width}}", style=_id_style(r))
                line.append("  ")
                title = r.title if len(r.title) <= title_width else r.title[: title_width - 1] + "…"
                line.append(f"{title:<{title_width}}" if self.timings else title)
                if self.timings:
                    line.append(f"{r.duration:>7.2f}s", style="dim")
                lines.append(line)
        return Group(*lines)

    def _detail(self, r: CheckResult, strict: bool) -> RenderableType:
        what = {
            Outcome.FAIL: "failed",
            Outcome.ERROR: "harness error",
            Outcome.WARN: "failed (fails the run only with --strict)" if not strict else "failed",
            Outcome.BASELINED: "known failure (baseline)",
        }[r.outcome]
        rule = Rule(
            Text(f"{MARKS[r.outcome]} {r.id} · {r.level} · {what}", style=STYLES[r.outcome]),
            align="left",
            style=STYLES[r.outcome],
        )
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(ratio=1, overflow="fold")
        grid.add_row(Text(""), Text(r.title, style="bold"))
        for block in failure_blocks(r, evidence_lines=EVIDENCE_LINES):
            if block.part is Part.REPRO:
                continue  # printed after the grid, unwrapped
            style = PART_STYLES.get(block.part, "")
            if block.part is Part.EVIDENCE:
                # Raw lines are cut at the edge, not folded: the whole text is in the reports.
                cells = [
                    Text(line, style=style, no_wrap=True, overflow="ellipsis")
                    for line in block.text.splitlines()
                ]
                grid.add_row(Text(block.label), Group(*cells))
            else:
                grid.add_row(Text(block.label), Text(block.text, style=style))
        return Group(rule, grid)


def _id_style(r: CheckResult) -> str:
    return "" if r.outcome is Outcome.PASS else STYLES[r.outcome]


def _group_skips(results: list[CheckResult]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in results:
        groups.setdefault(skip_reason(r), []).append(r.id)
    return groups


def _group_blocked(results: list[CheckResult]) -> dict[str, list[str]]:
    """Blocked checks under their root cause, each with the first reason given."""
    groups: dict[str, list[str]] = {}
    for r in results:
        groups.setdefault(f"{r.blocked_by} ({r.message})", []).append(r.id)
    return groups


def _by_area(results: list[CheckResult]) -> dict[str, list[CheckResult]]:
    groups: dict[str, list[CheckResult]] = {}
    for r in results:
        groups.setdefault(r.area, []).append(r)
    return groups


_OUTCOME_ORDER = list(Outcome)


def _order(item: tuple[Outcome, int]) -> int:
    return _OUTCOME_ORDER.index(item[0])
