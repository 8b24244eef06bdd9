"""The settings of a kernel runner, and the error it raises when no kernel can be had.

`KernelConfig` says which kernel to start or attach to, where it runs, and the limits the runner
holds it to (timeout, interrupt grace, output caps); `KernelError` is a kernel that cannot be
started or reached, with a message that says what to do. Both are read by
`core.kernel.runner.KernelRunner`; the app and the command line build the config.
"""

from __future__ import annotations

from dataclasses import dataclass


class KernelError(RuntimeError):
    """The kernel cannot be started or reached; the message says what to do."""


@dataclass
class KernelConfig:
    kernel_name: str | None = None
    """An installed kernel spec; None: an ipykernel of this Python (a spec the runner writes)."""
    existing: str | None = None
    """The connection file of a kernel that is already running (maybe on another machine)."""
    cwd: str | None = None
    timeout: float = 120.0
    """Seconds one execution may take before it is interrupted."""
    interrupt_grace: float = 5.0
    """Seconds an interrupt gets to take before the kernel is restarted."""
    output_cap: int = 20_000
    """Characters of output kept from the start of an execution."""
    tail_cap: int = 5_000
    """Characters kept from the end of what was cut."""
    hard_cap: int = 2_000_000
    """Printing more than this interrupts the code."""
    startup_timeout: float = 60.0
    cap_in_kernel: bool = True
    """Install the caps inside IPython kernels (off: only this side caps, after the transfer)."""
    spec_dir: str | None = None
    """Where the runner writes its own kernel spec (default: a temporary folder)."""
    log_file: str | None = None
    """Where the kernel's own stdout and stderr go (default: nowhere)."""
    background_cap: int = 2000
    """Characters of background output kept per kernel event."""
