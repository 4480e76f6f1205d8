"""Every shell and HTTP example of README.md and docs/*.md runs against a fresh demo registry and its server, with
its documented exit code and the key parts of its documented output (issue 16 section 1: the README's own
public-search example answered 400 and nothing noticed). The annotation syntax is in examples.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from .conftest import Registry
from .examples import Command, Example, doc_files, lint, read_examples

DOC_PORT = "http://127.0.0.1:8000"  # where the docs say the demo serves; rewritten to the test server's port
EXAMPLES = [e for path in doc_files() for e in read_examples(path)]


def _param(example: Example) -> object:
    marks: list[pytest.MarkDecorator] = []
    if example.skip is not None:
        marks.append(pytest.mark.skip(reason=example.skip))
    if example.xfail is not None:
        marks.append(pytest.mark.xfail(reason=example.xfail, strict=True))
    return pytest.param(example, id=example.id, marks=marks)


def test_every_example_is_run_or_marked() -> None:
    # An unlabelled block holding a command, or an annotation that names no command, would go unrun unseen.
    problems = [p for path in doc_files() for p in lint(path)]
    problems += [f"{e.id}: {err}" for e in EXAMPLES for err in e.errors]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("example", [_param(e) for e in EXAMPLES if e.lang != "none"])
def test_example(example: Example, docs_registry: Registry) -> None:
    assert not example.errors, example.errors
    assert example.commands, f"{example.id}: an example block with no command"
    if example.lang == "http":
        _http(example.commands[0], example, docs_registry)
        return
    results = _run_block(example, docs_registry)
    for command, (rc, out) in zip(example.commands, results, strict=True):
        _check(command, rc, out, example)


def _run_block(example: Example, registry: Registry) -> list[tuple[int, str]]:
    # One bash script for the block, so that its commands share variables (TOKEN=...) as in a reader's shell;
    # each command's exit code and output are kept apart.
    outdir = registry.workdir / "out" / re.sub(r"\W", "_", example.id)
    outdir.mkdir(parents=True, exist_ok=True)
    script = [f"cd {_quote(registry.workdir)}"]
    for i, command in enumerate(example.commands):
        text = command.text.replace(DOC_PORT, registry.url)
        script.append(f'{{ {text}\n}} >"{outdir}/{i}.out" 2>&1 </dev/null; echo $? >"{outdir}/{i}.rc"')
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], env=registry.env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"{example.id}: the block did not run through: {done.stderr}"
    results = []
    for i in range(len(example.commands)):
        rc_file = outdir / f"{i}.rc"
        assert rc_file.exists(), f"{example.id}: command {i + 1} did not run: {done.stderr}"
        results.append((int(rc_file.read_text()), (outdir / f"{i}.out").read_text(errors="replace")))
    return results


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def _where(command: Command, example: Example) -> str:
    return f"{example.path}:{command.line}: {command.text!r}"


def _check(command: Command, rc: int, out: str, example: Example) -> None:
    where = _where(command, example)
    assert rc == command.exit, f"{where}: exit {rc}, documented {command.exit}\n{out}"
    assert "Traceback" not in out, f"{where}: a traceback\n{out}"
    for part in command.expect:
        assert part in out, f"{where}: {part!r} not in its output\n{out}"
    for line in command.output:
        assert _line_pattern(line).search(out), f"{where}: documented line {line!r} not in its output\n{out}"
    if re.match(r"\s*(\w+=\$\()?curl ", command.text):
        status = _http_error(out)
        assert status == command.status, (
            f"{where}: HTTP {status or 'success'}, documented {command.status}\n{out}"
        )


def _line_pattern(line: str) -> re.Pattern[str]:
    # "..." stands for anything within the line; runs of spaces (table padding) match any run of spaces.
    parts = [re.sub(r"\\\s+", r"\\s+", re.escape(p.strip())) for p in line.split("...")]
    return re.compile(".*".join(parts))


def _http_error(body: str) -> int | None:
    """The status of an error answer (an RFC 9457 problem, or the server's bare text refusals), else None."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("status"), int) and "title" in data:
        return int(data["status"]) if data["status"] >= 400 else None
    if "Invalid HTTP request" in body:
        return 400
    if "Internal Server Error" in body:
        return 500
    return None


def _http(command: Command, example: Example, registry: Registry) -> None:
    head, _, body = command.text.partition("\n\n")
    request_line, *header_lines = head.splitlines()
    method, target, *_ = request_line.split()
    headers = dict(h.split(":", 1) for h in header_lines if ":" in h)
    headers = {k.strip(): v.strip() for k, v in headers.items() if k.strip().lower() != "host"}
    resp = httpx.request(method, registry.url + target, headers=headers, content=body.encode(), timeout=30)
    where = _where(command, example)
    expected = command.status
    assert (resp.status_code == expected) if expected else resp.status_code < 400, (
        f"{where}: {resp.status_code}"
    )
    for part in command.expect:
        assert part in resp.text, f"{where}: {part!r} not in the answer\n{resp.text}"
