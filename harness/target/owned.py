"""A user's target that the harness starts itself and keeps for the whole run.

Glass-box mode with ``--start``: only a process the harness starts can be handed the model
stub's ``OPENAI_BASE_URL``, so the harness runs the user's start command once for the session.
The cold-start check restarts it (a true cold start) and the restarted process serves the rest
of the run, so there is never a second copy fighting over the port.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.target.launch import Launched, LaunchError, start_command


class OwnedTarget:
    def __init__(self, command: str, url: str, env: Mapping[str, str]) -> None:
        self.command = command
        self.url = url
        self.env = dict(env)
        self.launched: Launched | None = None
        self._log: list[str] = []  # output of processes already stopped (a cold-start restart)

    def start(self) -> Launched:
        """Start the command and wait for the URL's port (raises LaunchError)."""
        self.launched = start_command(self.command, self.url, env=self.env)
        return self.launched

    def restart(self) -> Launched:
        """Stop the running process and start a fresh one in its place."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        if self.launched is not None:
            self.launched.stop()
            self._log.extend(self.launched.output)
            self.launched = None

    def check_alive(self) -> None:
        """Raise LaunchError with the backend's last lines when it has exited mid-run."""
        if self.launched is None:
            return
        code = self.launched.died()
        if code is not None:
            raise LaunchError(
                f"the backend started with --start exited with code {code} during the run"
                f"{self.launched.tail()}"
            )

    def write_log(self, folder: Path) -> Path:
        """Everything the backend printed (across restarts) as ``backend.log``."""
        lines = self._log + (self.launched.output if self.launched is not None else [])
        path = folder / "backend.log"
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        return path
