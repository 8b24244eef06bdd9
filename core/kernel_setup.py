"""Code the runner installs in an IPython kernel when it starts: caps and refusals at the source.

Run once, silently, in a Python kernel (ours, or any IPython kernel): it caps what one execution
may print before the text ever leaves the kernel (a 100 MB string never crosses the wire), keeps
the last part of what was cut, and interrupts code that goes on printing far beyond the cap.
The cap counts text as a terminal shows it: a progress bar that redraws its line with a carriage
return does not lengthen the output, so it stays live however long the loop runs.
(`input()` is refused by the runner itself: it sends every request with `allow_stdin=False`.)
The text below is sent to the kernel as source; it must stay self-contained.
"""

from __future__ import annotations

SETUP_TEMPLATE = r"""
def _kyzel_setup(cap, tail_cap, hard_cap):
    import _thread
    import collections
    import sys

    from IPython import get_ipython

    state = {"written": 0, "raw": 0, "cut": 0, "tail": collections.deque(), "tail_len": 0,
             "interrupted": False, "col": 0, "width": 0}

    def growth(text):
        # How much `text` lengthens the output as shown: a carriage return overwrites its line.
        if "\r" not in text:
            newline = text.rfind("\n")
            if newline >= 0:
                state["col"] = state["width"] = len(text) - newline - 1
                return len(text)
            state["col"] += len(text)
            grown = max(0, state["col"] - state["width"])
            state["width"] = max(state["width"], state["col"])
            return grown
        grown = 0
        for index, line in enumerate(text.split("\n")):
            if index:
                grown += 1
                state["col"] = state["width"] = 0
            for step, run in enumerate(line.split("\r")):
                if step:
                    state["col"] = 0
                state["col"] += len(run)
                if state["col"] > state["width"]:
                    grown += state["col"] - state["width"]
                    state["width"] = state["col"]
        return grown

    def keep_tail(text):
        state["tail"].append(text)
        state["tail_len"] += len(text)
        while state["tail_len"] - len(state["tail"][0]) >= tail_cap:
            state["tail_len"] -= len(state["tail"].popleft())

    def capped(passthrough):
        # IPython tees each stream by setting `write` on the instance, so the cap wraps that.
        def write(text):
            if not isinstance(text, str):
                return passthrough(text)
            before = state["written"]
            state["written"] = before + growth(text)
            state["raw"] += len(text)
            if state["written"] <= cap and state["raw"] <= hard_cap:
                return passthrough(text)
            shown = max(0, cap - before)
            if shown:
                passthrough(text[:shown])
            rest = text[shown:]
            if len(rest) > tail_cap:
                state["cut"] += len(rest) - tail_cap
                rest = rest[-tail_cap:]
            state["cut"] += len(rest)
            keep_tail(rest)
            if state["raw"] > hard_cap and not state["interrupted"]:
                state["interrupted"] = True
                _thread.interrupt_main()
            return len(text)

        write.kyzel_passthrough = passthrough
        return write

    def wrap(stream):
        if stream is not None and not hasattr(stream.write, "kyzel_passthrough"):
            stream.write = capped(stream.write)

    def pre_execute():
        state.update(written=0, raw=0, cut=0, tail=collections.deque(), tail_len=0,
                     interrupted=False, col=0, width=0)
        wrap(sys.stdout)
        wrap(sys.stderr)

    def post_execute():
        if not state["cut"]:
            return
        tail = "".join(state["tail"])[-tail_cap:]
        cut = state["cut"] - len(tail)
        note = f"\n[... {cut} characters of output cut ...]\n"
        if state["interrupted"]:
            note += f"[the code was interrupted: it printed more than {hard_cap} characters]\n"
        getattr(sys.stdout.write, "kyzel_passthrough", sys.stdout.write)(note + tail)

    shell = get_ipython()
    shell.events.register("pre_execute", pre_execute)
    shell.events.register("post_execute", post_execute)


_kyzel_setup({cap}, {tail_cap}, {hard_cap})
del _kyzel_setup
"""


def setup_code(cap: int, tail_cap: int, hard_cap: int) -> str:
    """The setup source for the given caps (characters per execution)."""
    return (
        SETUP_TEMPLATE.replace("{cap}", str(int(cap)))
        .replace("{tail_cap}", str(int(tail_cap)))
        .replace("{hard_cap}", str(int(hard_cap)))
    )
