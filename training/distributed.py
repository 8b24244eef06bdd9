"""Data-parallel training under `accelerate launch`: N processes, one adapter.

`kyzel-tui --train --processes N` (or `--accelerate-config FILE`) checks the data and builds
what the model needs in its own process, then `launch` starts N copies of the run under
`accelerate launch` (torchrun's launcher: one process per GPU over NCCL, or N processes on the CPU
over gloo) and waits. The run's options reach them as JSON in `KYZEL_TRAIN_ARGS` (`worker_args`);
each process sees only its own GPU, as device 0, where the model loaders put a model.

Every process loads the same model and the same LoRA (same seed) and walks the same shuffled
order of rows; each optimizer step's rows are split between the processes (`Group.shard`), each
accumulates the gradients of its part, and `Group.sync` sums them weighted by each part's share of
the step (rows, or trainable tokens for SFT, whose loss is a mean over tokens), so the step's
gradient is the single-process one and the weights stay identical everywhere. Process 0 alone
evaluates (`Group.from_main` hands its figure to the others, so all stop early together), writes
the datasets, saves and registers the adapter and prints; the others only train (`follow`), their
output in `<home>/logs/train-process-<rank>.log`. Simplifications: KTO's reference point is the
mean over each process's part of a step, not the whole step; DPO's reference log-probabilities
are scored by every process. Without a launch, `current()` is a group of one that changes nothing.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.settings import TrainError

ARGS_ENV = "KYZEL_TRAIN_ARGS"
TIMEOUT_HOURS = 6
"""How long a process may wait for the others (process 0 evaluates while they wait)."""


@dataclass
class Group:
    """This process's place among the processes of a launch (rank 0 of 1 without one)."""

    rank: int = 0
    size: int = 1
    device: Any = field(default=None, repr=False)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list[Any]) -> list[Any]:
        """This process's part of a step's rows (every `size`-th, from `rank`)."""
        return items[self.rank :: self.size]

    def sync(self, params: list[Any], mine: list[Any], step: list[Any], loss: float, tokens: int):
        """Make every process's gradients the step's gradient: each part's gradient (a mean over
        its rows or tokens) weighted by its share of the step, summed over the processes.
        Returns the step's (loss, tokens)."""
        if self.size == 1:
            return loss, tokens
        import torch
        import torch.distributed as dist

        share = weight(mine) / (weight(step) or 1)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        scalars = torch.tensor([loss, float(tokens)], device=params[0].device)
        flat = torch.cat([g.reshape(-1).float() for g in grads] + [scalars])
        flat[:-1] *= share  # the gradients and the loss; tokens are counted, not weighed
        dist.all_reduce(flat)
        offset = 0
        for param, grad in zip(params, grads, strict=True):
            size = grad.numel()
            param.grad = flat[offset : offset + size].view_as(grad).to(grad.dtype).clone()
            offset += size
        return float(flat[-2]), int(round(float(flat[-1])))

    def from_main(self, compute: Any) -> float:
        """`compute()` on process 0, its value on every process."""
        if self.size == 1:
            return compute()
        import torch
        import torch.distributed as dist

        value = torch.tensor([float(compute()) if self.main else 0.0], device=self.device)
        dist.broadcast(value, src=0)
        return float(value.item())


def weight(items: list[Any]) -> float:
    """What a step's loss is a mean over: trainable tokens for SFT rows (`training.stages.sft_step`
    divides by them), rows for the preference stages."""
    if items and isinstance(items[0], dict) and "mask" in items[0]:
        return float(sum(sum(item["mask"][1:]) for item in items))
    return float(len(items))


_GROUP: Group | None = None


def launched() -> bool:
    """Whether this process was started by a launcher with others beside it."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and ARGS_ENV in os.environ


def current() -> Group:
    """This process's group; joins the launch's process group the first time it is asked."""
    global _GROUP
    if _GROUP is None:
        _GROUP = _join() if launched() else Group()
    return _GROUP


def _join() -> Group:
    """Join the launch's process group (torchrun's environment names the rendezvous)."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from training.trainer import cuda_available

    cuda = cuda_available()
    if not dist.is_initialized():
        timeout = timedelta(hours=TIMEOUT_HOURS)
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
        # Left to the interpreter's exit, gloo's threads can outlive their group and abort the
        # process ("terminate called without an active exception"): close the group first
        # (`finish` does it at a normal end, after the others).
        atexit.register(_leave)
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    return Group(dist.get_rank(), dist.get_world_size(), device)


def finish() -> None:
    """At the normal end of a launched process: wait for the others, then close the group.

    A process that closes its group while another still talks to it can abort ("terminate called
    without an active exception", one run in five on 2 cores), so all meet at a barrier first.
    Only at a normal end: a process that failed must not wait for others that may be waiting for
    it in another collective (the launcher stops them when it exits)."""
    import torch.distributed as dist

    if _GROUP is None or _GROUP.size == 1 or not dist.is_initialized():
        return
    try:
        dist.barrier()
    except Exception:  # another process is gone: nothing left to wait for
        pass
    _leave()


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _own_gpu() -> None:
    """Let each process see only its own GPU, as device 0, where the loaders put the model.
    Must run before anything asks CUDA about its devices."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if not visible:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(local)
    elif local < len(visible):
        os.environ["CUDA_VISIBLE_DEVICES"] = visible[local]


def wanted(args: Any) -> bool:
    """Whether the command line asks for a launch (and this process is not one of its copies)."""
    processes = getattr(args, "train_processes", None)
    config = getattr(args, "train_accelerate_config", None)
    if processes is not None and processes < 1:
        raise TrainError("--processes wants 1 or more")
    return not launched() and (config is not None or (processes or 1) > 1)


def worker_args(args: Any) -> Any:
    """In a launched process: the launcher's options (from `KYZEL_TRAIN_ARGS`), this process in
    its group, and, beside process 0, the output sent to a log file. Else `args` unchanged."""
    if ARGS_ENV not in os.environ:
        return args
    import argparse

    values = json.loads(os.environ[ARGS_ENV])
    if launched():
        _own_gpu()
        group = current()
        if not group.main:
            _quiet(group.rank, Path(values["home"]) if values.get("home") else None)
    return argparse.Namespace(**values)


def _quiet(rank: int, home: Path | None) -> None:
    from core.paths import data_home

    logs = data_home(home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"train-process-{rank}.log", "w", buffering=1)  # noqa: SIM115 - for life
    os.dup2(out.fileno(), 1)
    os.dup2(out.fileno(), 2)


def follow(trainable: Any, built: Any, config: Any) -> int:
    """What a process other than 0 does: the same stages as process 0, in step with it."""
    from training.trainer import add_lora, train_preference, train_sft

    model = add_lora(trainable, config)
    sft = built.rows["sft"]
    train_sft(model, trainable, sft["train"], sft["eval"], config)
    if config.preference:
        train_preference(model, trainable, built.rows, config)
    return 0


def launch(args: Any) -> int:
    """Run `kyzel-tui --train` with `args` in N processes under `accelerate launch`; its exit code.

    Process 0 prints as a single run does; a failure of another process is one line naming its
    log."""
    import logging

    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    processes, config = args.train_processes, args.train_accelerate_config
    argv = _launch_argv(processes, config)
    values = {**vars(args), "train_processes": None, "train_accelerate_config": None}
    env = {ARGS_ENV: json.dumps(values, default=str)}
    from training.trainer import cuda_available

    if not cuda_available():
        if "OMP_NUM_THREADS" not in os.environ:  # the cores shared out, not one thread each
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // (processes or 1)))
    os.environ.update(env)
    # torchrun reports a worker's failure as a multi-line log and traceback; we say it in one.
    for name in ("torch.distributed.elastic", "torch.distributed.run", "accelerate"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    how = f"{processes} processes" if processes else f"the processes that {config} asks for"
    print(f"· training in {how} (accelerate launch)", file=sys.stderr, flush=True)
    try:
        launch_command(launch_command_parser().parse_args(argv))
    except ChildFailedError as error:
        return _failed(error, values)
    except SignalException:  # ctrl+c reaches the launcher as a signal it stops the processes on
        raise KeyboardInterrupt from None
    finally:
        for key in env:
            os.environ.pop(key, None)
    return 0


def _launch_argv(processes: int | None, config: str | None) -> list[str]:
    """`accelerate launch` options: the config file's, or N local processes (torchrun's
    launcher, which also runs N processes on the CPU), then the command."""
    from training.trainer import cuda_available

    argv: list[str] = []
    if config is not None:
        if not Path(config).expanduser().is_file():
            raise TrainError(
                f"no accelerate config file at {config}: `accelerate config` writes one"
            )
        argv += ["--config_file", str(Path(config).expanduser())]
    else:
        argv += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no"]
        argv += ["--dynamo_backend", "no", "--main_process_port", str(_free_port())]
    if processes is not None:
        if cuda_available():
            import torch

            gpus = torch.cuda.device_count()
            if processes > gpus:
                raise TrainError(
                    f"--processes {processes} wants a GPU each; this machine has {gpus}"
                )
        argv += ["--num_processes", str(processes)]
    return [*argv, "-m", "kyzel_tui", "--train"]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _failed(error: Any, values: dict[str, Any]) -> int:
    rank, failure = min(error.failures.items())
    if rank == 0:  # process 0 has said what went wrong itself
        return failure.exitcode or 1
    from core.paths import data_home

    home = data_home(values.get("home"))
    print(
        f"kyzel-tui: training process {rank} failed (exit {failure.exitcode}); no adapter was "
        f"saved. Its output: {home / 'logs' / f'train-process-{rank}.log'}",
        file=sys.stderr,
    )
    return failure.exitcode or 1
