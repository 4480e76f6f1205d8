"""The deployment example (deploy/, docs/scale.md): every systemd unit parses (``systemd-analyze verify`` when
it is installed, a structural read otherwise) and starts a socialcredit command that exists with options it
has; the HAProxy configuration routes checks to the nodes with a /readyz health check, timeouts, keep-alive
and body limits. A unit naming a command not in the CLI yet (check nodes, the audit sink: issue 20) is
checked for the command only once the CLI has it.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from socialcredit.cli import app

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
BIN = "/opt/socialcredit/.venv/bin/socialcredit"
PENDING = {("node", "serve"), ("audit", "sink")}  # issue 20, being built: asserted once they exist


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def _command(words: list[str]) -> tuple[Any, list[str], list[str]]:
    """The CLI command the words name (None if absent), the names and the options given. (Typer carries its
    own copy of click: groups are told by their ``commands``.)"""
    cmd: Any = typer.main.get_command(app)
    names: list[str] = []
    rest = list(words)
    while rest and not rest[0].startswith("-") and hasattr(cmd, "commands"):
        sub = cmd.commands.get(rest[0])
        if sub is None:
            return None, [*names, rest[0]], []
        names.append(rest.pop(0))
        cmd = sub
    return cmd, names, [w.split("=")[0] for w in rest if w.startswith("--")]


def test_there_are_units_for_each_part_of_a_deployment() -> None:
    names = {p.name for p in UNITS}
    assert {
        "socialcredit-registry.service",
        "socialcredit-dispatch@.service",
        "socialcredit-node@.service",
        "socialcredit-audit-sink.service",
        "socialcredit-snapshot.service",
        "socialcredit-snapshot.timer",
    } <= names


@pytest.mark.parametrize("path", [p for p in UNITS if p.suffix == ".service"], ids=lambda p: p.name)
def test_each_service_starts_a_command_the_cli_has(path: Path) -> None:
    unit = _unit(path)
    assert unit.has_section("Unit") and unit.has_section("Service")
    service = unit["Service"]
    assert service.get("EnvironmentFile") == "/etc/socialcredit/socialcredit.env"
    words = shlex.split(service["ExecStart"])
    assert words[0] == BIN
    cmd, names, options = _command(words[1:])
    if cmd is None and tuple(words[1:3]) in PENDING:
        pytest.skip(f"socialcredit {' '.join(words[1:3])} is not in the CLI yet")
    assert cmd is not None, f"{path.name}: socialcredit {' '.join(names)} is not a command"
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    assert set(options) <= known, f"{path.name}: {sorted(set(options) - known)} not options of {names}"
    if service.get("Type") != "oneshot":
        assert service.get("Restart") == "always" and unit.has_section("Install")


def test_the_node_unit_names_the_issue_s_command() -> None:
    words = shlex.split(_unit(DEPLOY / "systemd" / "socialcredit-node@.service")["Service"]["ExecStart"])
    assert words[1:3] == ["node", "serve"]
    assert {"--snapshot", "--nats", "--host", "--port"} <= set(words)
    assert words[words.index("--port") + 1] == "%i"  # the instance is the port


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    """As installed: the program path is this environment's, templates get an instance."""
    real = str(Path(sys.executable).parent / "socialcredit")
    names = []
    for path in UNITS:
        name = path.name.replace("@.", "@1.") if "@." in path.name else path.name
        (tmp_path / name).write_text(path.read_text(encoding="utf-8").replace(BIN, real), encoding="utf-8")
        names.append(f"./{name}")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stderr


def _haproxy() -> dict[str, list[str]]:
    """Section header -> its directives (comments and blank lines dropped)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            current = line.strip()
            assert current.split()[0] in {"global", "defaults", "frontend", "backend", "listen"}, current
            sections[current] = []
        else:
            assert current, f"a directive outside a section: {line!r}"
            sections[current].append(" ".join(line.split()))
    return sections


def test_the_load_balancer_sends_checks_to_ready_nodes() -> None:
    cfg = _haproxy()
    nodes, registry, front = cfg["backend check_nodes"], cfg["backend registry"], cfg["frontend api"]
    assert "use_backend check_nodes if { path /v1/checks } || { path /v1/checks/batch }" in front
    assert "default_backend registry" in front
    assert "http-check send meth GET uri /readyz" in nodes and "http-check expect status 200" in nodes
    assert any(d.startswith("default-server") and " check" in f" {d} " for d in nodes)
    assert sum(d.startswith("server ") for d in nodes) >= 3
    assert "http-check send meth GET uri /healthz" in registry
    timeouts = {d.split()[1] for d in cfg["defaults"] if d.startswith("timeout ")}
    assert {"connect", "client", "server", "http-request", "http-keep-alive"} <= timeouts
    assert "option http-keep-alive" in cfg["defaults"]
    assert any("deny_status 413" in d and "/v1/checks" in d for d in front)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    text = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    pem = tmp_path / "socialcredit.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test", "-days", "1",
         "-keyout", str(pem), "-out", str(pem)],
        check=True, capture_output=True,
    )  # fmt: skip
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text.replace("/etc/haproxy/certs/socialcredit.pem", str(pem)), encoding="utf-8")
    done = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
