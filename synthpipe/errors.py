"""Errors with a meaning for the caller: each carries the process exit code it maps to.

0 success, 1 anything unexpected (or a stop by SIGTERM), 2 bad input or config, 3 the quality gate failed,
130 a stop by SIGINT (Ctrl-C).
"""

import signal


class SynthpipeError(Exception):
    """Base class; an unexpected failure (exit code 1)."""

    exit_code = 1


class InputError(SynthpipeError):
    """Bad input data: the message names the file, column or key at fault (exit code 2)."""

    exit_code = 2


class ConfigError(InputError):
    """A bad value in params.yaml or on the command line (exit code 2)."""


class LockHeld(SynthpipeError):
    """Another process is already refreshing this project (exit code 1)."""


class GateFailed(SynthpipeError):
    """Synthetic data failed the quality gate; nothing may be merged (exit code 3)."""

    exit_code = 3

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__("quality gate failed:\n  - " + "\n  - ".join(self.reasons))


class Diverged(SynthpipeError):
    """Training kept producing NaN or infinite values, or a model would sample them (exit code 1)."""


class Interrupted(SynthpipeError):
    """SIGTERM or SIGINT asked the run to stop; the last checkpoint is kept (exit code 1, 130 for SIGINT)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 130 if signum == signal.SIGINT else 1
        super().__init__(f"stopped by {signal.Signals(signum).name}; the next run resumes from the last checkpoint")


# What a generator refitted on a small subset may fail with, and the scarcity curve go on without it (its data
# is too small, or training diverged). A stop signal (Interrupted) is not among them: it stops the stage.
REFIT_FAILURES = (InputError, Diverged)
