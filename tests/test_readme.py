"""The README is tested: every command of its ```console blocks runs, in order, and must print what
the README shows below it.

Conventions of README.md
------------------------
- A ```console block holds commands (lines starting with ``$ ``), each followed by its output. Every
  console block runs, from the first (``materializer init fraud && cd fraud``) to the last, as one
  session in a fresh temporary folder on a fresh database (the ``cli_env`` fixture). A command goes on
  while a quote is open or its line ends with ``\\``; a here-document (``<<'EOF'``) takes its lines up
  to its delimiter. Commands run in bash, with ``materializer`` being this checkout; a ``cd`` carries
  over to the next command.
- Blocks that are never run: ```sh (commands for the reader: installing, the 30 s demo, commands
  that run until Ctrl-C), ```yaml, ```python, ```sql, and plain ``` blocks (output that cannot be
  replayed here: the live demo's random stream, errors of a file edited by hand). A ``$ `` prompt
  outside a console block is an error, so a command cannot silently stop being run.
- ``materializer serve`` starts in the background on a free port (the README shows 8000) and the
  following ``curl -s [-X M] [-H H] [-d D] URL`` commands are sent to it by Python (urllib), as curl
  would send them; the body of the answer is the output. The server stops after the last block.
- A command whose shown output has a line starting with ``error:`` must exit non-zero; the others
  must exit 0.

Time is pinned, not normalized
------------------------------
``init`` dates its sample data relative to now, so the test sets ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention, which ``init`` honours) to 2026-12-01T15:30:00Z, and pins the
database clock there too (``options=-c materializer.as_of=...`` in ``MATERIALIZER_DSN``: the setting
``--as-of`` uses).
Every time, age, count and metric in the output is then a function of the seeded data alone and is
compared exactly: no event can cross a window edge while the test runs, and a changed number is
real drift. The README says so to its reader, whose own run shows their own times.

What is normalized (all of it)
------------------------------
Before comparing, the real output is turned into what a reader sees:

1. the test database's ``host:port/dbname`` becomes the embedded default's,
   ``<project folder>/.materializer/pgdata:5432/postgres``;
2. the temporary folder becomes ``/home/you``;
3. the server's free port becomes the README's (8000);
4. trailing spaces are dropped (rich pads table cells), and so are trailing empty lines;
5. a JSON line longer than 100 characters is wrapped after a comma outside strings, the continuation
   lines indented by one space (long documents stay readable on GitHub).

Then lines are compared exactly, except:

- uvicorn's ``Started server process [PID]``: any pid;
- a line ``...`` in the README stands for any number of lines (elided output);
- the README's ``starting the embedded PostgreSQL in <project>/.materializer/pgdata (...)`` line is
  skipped (the test runs on ``MATERIALIZER_DSN``, so the embedded server is never started); its
  folder must still be the project's.

``pytest tests/test_readme.py --update-readme`` rewrites the outputs in README.md from a real run, like
``--update-golden``: an output that already matches is left as it is (so pids and elisions stay put);
one that differs is replaced by the real one, keeping the README's ``...`` elisions (as many lines
before, between and after them as it had) and its ``starting the embedded PostgreSQL`` line. Prose,
commands and other blocks are never touched. Review the diff as a reader would.

The other tests here check what the README points to: every link and file mention, the layout of the
package, and that every command of the CLI is documented.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import typer
from psycopg import conninfo

from materializer.cli import app
from materializer.db.connection import describe_dsn

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: init's data ends here and the database clock is pinned here (2026-12-01T15:30:00Z)
EPOCH = 1796139000
CLOCK = datetime.fromtimestamp(EPOCH, timezone.utc).isoformat()
#: the reader's folder in the README, in place of the test's temporary folder
HOME = "/home/you"
README_PORT = 8000
WIDTH = 100
ELLIPSIS = "..."

STARTING = re.compile(r"starting the embedded PostgreSQL in (\S+) \(set MATERIALIZER_DSN to use another server\)")
PID = re.compile(r"(Started server process \[)\d+(\])")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


# ---------------------------------------------------------------- reading the README


@dataclass
class Command:
    """One ``$ `` command of a console block and the output shown below it (README lines [start, end))."""

    text: str
    line: int  # 1-based, for messages
    start: int
    end: int
    expected: list[str]


@dataclass
class Block:
    lang: str
    start: int  # index of the first line inside the fence
    end: int  # index of the closing fence
    lines: list[str]


def blocks(lines: list[str]) -> list[Block]:
    """The fenced code blocks of a Markdown file (fences at the start of a line)."""
    out: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            lang = lines[i][3:].strip()
            j = i + 1
            while j < len(lines) and lines[j].rstrip() != "```":
                j += 1
            assert j < len(lines), f"README.md:{i + 1}: the code block is never closed"
            out.append(Block(lang, i + 1, j, lines[i + 1:j]))
            i = j + 1
        else:
            i += 1
    return out


def _open_quote(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def commands(block: Block) -> list[Command]:
    """The commands of a console block, each with the output lines shown below it."""
    lines, out, i = block.lines, [], 0
    assert lines and lines[0].startswith("$ "), (
        f"README.md:{block.start + 1}: a console block starts with a `$ ` command")
    while i < len(lines):
        text, j = lines[i][2:], i + 1
        while j < len(lines) and (text.endswith("\\") or _open_quote(text)):
            text, j = text + "\n" + lines[j], j + 1
        heredoc = HEREDOC.search(text.split("\n", 1)[0])
        if heredoc:
            while j < len(lines) and lines[j - 1] != heredoc.group(2):
                text, j = text + "\n" + lines[j], j + 1
            assert lines[j - 1] == heredoc.group(2), f"README.md:{block.start + i + 1}: here-document never ends"
        start = j
        while j < len(lines) and not lines[j].startswith("$ "):
            j += 1
        out.append(Command(text, block.start + i + 1, block.start + start, block.start + j, lines[start:j]))
        i = j
    return out


def readme_commands(lines: list[str]) -> list[Command]:
    out: list[Command] = []
    for block in blocks(lines):
        if block.lang == "console":
            out.extend(commands(block))
    return out


# ---------------------------------------------------------------- comparing


def canon(line: str) -> str:
    """A line as compared: without trailing spaces, and with any pid."""
    return PID.sub(r"\1N\2", line.rstrip())


def wrap_json(line: str) -> list[str]:
    """A long JSON line cut after commas outside strings; continuation lines start with one space."""
    pieces: list[tuple[str, str]] = []  # (text up to and including a comma, the space after it)
    start, in_string, escaped = 0, False, False
    for i, ch in enumerate(line):
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch == ",":
            space = " " if line[i + 1:i + 2] == " " else ""
            pieces.append((line[start:i + 1], space))
            start = i + 1 + len(space)
    pieces.append((line[start:], ""))
    rows, current, sep = [], "", ""
    for text, space in pieces:
        if current and len(current) + len(sep) + len(text) > WIDTH:
            rows.append(current)
            current = " " + text
        else:
            current += sep + text
        sep = space
    return [*rows, current]


def wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if len(line) > WIDTH and line[:1] in "{[":
            try:
                json.loads(line)
            except ValueError:
                out.append(line)
            else:
                out.extend(wrap_json(line))
        else:
            out.append(line)
    return out


def segments(expected: list[str]) -> list[list[str]]:
    """Expected lines split at the ``...`` lines."""
    out: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == ELLIPSIS:
            out.append([])
        else:
            out[-1].append(canon(line))
    return out


def _find(actual: list[str], seg: list[str], pos: int, end: int) -> int | None:
    for k in range(pos, end - len(seg) + 1):
        if actual[k:k + len(seg)] == seg:
            return k
    return None


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the real output is the shown one, ``...`` lines standing for any number of lines."""
    act = [canon(line) for line in actual]
    head, *middle = segments(expected)
    if not middle:
        return act == head
    *middle, tail = middle
    end = len(act) - len(tail)
    if act[:len(head)] != head or end < len(head) or act[end:] != tail:
        return False
    pos = len(head)
    for seg in middle:
        found = _find(act, seg, pos, end)
        if found is None:
            return False
        pos = found + len(seg)
    return True


def refreshed(expected: list[str], actual: list[str]) -> list[str]:
    """The output to write for --update-readme: the shown one if it matches, else the real one with
    the shown elisions (as many lines before, between and after each ``...``)."""
    kept = [line for line in expected if STARTING.fullmatch(line)]
    shown = [line for line in expected if not STARTING.fullmatch(line)]
    if matches(shown, actual):
        return expected
    head, *rest = segments(shown)
    new = actual
    if rest:
        *middle, tail = rest
        end = len(actual) - len(tail)
        if len(head) < end:
            new, pos = actual[:len(head)], len(head)
            act = [canon(line) for line in actual]
            for seg in middle:
                found = next((k for k in range(pos, end - len(seg) + 1) if seg and act[k] == seg[0]), None)
                if found is not None:
                    new += [ELLIPSIS, *actual[found:found + len(seg)]]
                    pos = found + len(seg)
            new += [ELLIPSIS, *actual[end:]] if end > pos else actual[pos:]
    old = {canon(line): line for line in shown}
    return kept + [old.get(canon(line), line) for line in new]


# ---------------------------------------------------------------- running


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Session:
    """The reader's shell: a folder, an environment and perhaps a running server."""

    home: Path
    env: dict[str, str] = field(repr=False)
    cwd: Path
    dsn: str = field(repr=False)
    server: subprocess.Popen | None = None
    server_log: Path | None = None
    server_shown: int = 0
    port: int = 0
    problems: list[str] = field(default_factory=list)

    def display(self, text: str) -> list[str]:
        """Real output as a reader sees it (normalizations 1 to 5 of the module's docstring)."""
        text = text.replace(describe_dsn(self.dsn), f"{self.cwd}/.materializer/pgdata:5432/postgres")
        for root in {str(self.home.resolve()), str(self.home)}:
            text = text.replace(root, HOME)
        if self.port:
            text = re.sub(rf"\b(127\.0\.0\.1|localhost):{self.port}\b", rf"\g<1>:{README_PORT}", text)
        lines = [line.rstrip() for line in text.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        return wrap(lines)

    def shown_path(self, path: Path) -> str:
        text = str(path)
        for root in {str(self.home.resolve()), str(self.home)}:
            text = text.replace(root, HOME)
        return text

    def run(self, command: Command) -> tuple[int | None, str]:
        """Run one command; its exit code (None for a server left running) and output."""
        text = command.text.split("\n", 1)[0] if HEREDOC.search(command.text.split("\n", 1)[0]) else command.text
        argv = shlex.split(text.replace("\\\n", ""), comments=True)
        if argv[:2] == ["materializer", "serve"]:
            return None, self.serve(argv)
        if argv[:1] == ["curl"]:
            return 0, self.curl(argv)
        where = self.home / ".readme-cwd"
        script = f"{command.text}\n__status=$?\npwd > {shlex.quote(str(where))}\nexit $__status\n"
        done = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=self.cwd, env=self.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=120, check=False)
        self.cwd = Path(where.read_text(encoding="utf-8").strip())
        return done.returncode, done.stdout.decode("utf-8", errors="replace")

    def serve(self, argv: list[str]) -> str:
        assert self.server is None, "the README starts `materializer serve` twice"
        if "--port" in argv:
            i = argv.index("--port")
            del argv[i:i + 2]
        self.port = free_port()
        self.server_log = self.home / ".readme-serve.log"
        with self.server_log.open("wb") as log:
            self.server = subprocess.Popen([*argv, "--port", str(self.port)], cwd=self.cwd, env=self.env,
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    break
            except OSError:
                if self.server.poll() is not None or time.monotonic() > deadline:
                    log = self.server_log.read_text(encoding="utf-8", errors="replace")
                    self.problems.append(f"`materializer serve` did not start:\n{log}")
                    self.server_shown = self.server_log.stat().st_size
                    self.stop()
                    return log
                time.sleep(0.1)
        size = -1
        while size != self.server_log.stat().st_size:  # the start-up lines, once they stop coming
            size = self.server_log.stat().st_size
            time.sleep(0.3)
        self.server_shown = size
        return self.server_log.read_bytes()[:size].decode("utf-8", errors="replace")

    def curl(self, argv: list[str]) -> str:
        """What ``curl -s`` prints: the body of the answer, whatever its status."""
        method, headers, data, url = None, {}, None, None
        args = iter(argv[1:])
        for arg in args:
            if arg in ("-s", "--silent"):
                continue
            if arg in ("-H", "--header"):
                name, _, value = next(args).partition(":")
                headers[name.strip()] = value.strip()
            elif arg in ("-d", "--data", "--data-raw"):
                data = next(args)
            elif arg in ("-X", "--request"):
                method = next(args)
            elif arg.startswith("-"):
                raise AssertionError(f"curl {arg} is not emulated; use -s, -X, -H, -d (tests/test_readme.py)")
            else:
                url = arg
        assert url, "curl without a URL"
        parts = urlsplit(url if "://" in url else "http://" + url)
        if self.server is None or parts.port != README_PORT or parts.hostname not in ("localhost", "127.0.0.1"):
            return f"(not sent: no `materializer serve` of the README is running on port {README_PORT})"
        target = urlunsplit((parts.scheme, f"127.0.0.1:{self.port}", parts.path, parts.query, ""))
        if data is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/x-www-form-urlencoded"  # curl's default for -d
        request = urllib.request.Request(target, data=None if data is None else data.encode(), headers=headers,
                                         method=method or ("POST" if data is not None else "GET"))
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.read().decode("utf-8")
        except urllib.error.HTTPError as answer:
            return answer.read().decode("utf-8")

    def stop(self) -> None:
        """Stop the server; its log after start-up must hold no error."""
        if self.server is None:
            return
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
        try:
            self.server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        assert self.server_log is not None
        later = self.server_log.read_bytes()[self.server_shown:].decode("utf-8", errors="replace")
        if "Traceback" in later or "ERROR" in later:
            self.problems.append(f"`materializer serve` logged an error while answering the README:\n{later}")
        self.server = None


def shim(folder: Path) -> Path:
    """A `materializer` command that runs this checkout with the test's Python."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "materializer"
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m materializer.cli "$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return folder


def pinned(dsn: str) -> str:
    """The DSN with the database clock pinned at EPOCH for every connection (``materializer.as_of``, the
    setting ``--as-of`` uses); a command's own ``--as-of`` still overrides it."""
    params = conninfo.conninfo_to_dict(dsn)
    params["options"] = f"{params.get('options') or ''} -c materializer.as_of={CLOCK}".strip()
    return conninfo.make_conninfo(**params)


@pytest.fixture
def session(cli_env: Path, pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "MATERIALIZER_PROJECT",
                        "MATERIALIZER_API_TOKEN", "CLICOLOR_FORCE", "PGOPTIONS",
                        "PROMETHEUS_MULTIPROC_DIR")}
    bin_dir = shim(tmp_path_factory.mktemp("readme-bin"))
    env.update({
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "MATERIALIZER_DSN": pinned(pg_dsn),
        "SOURCE_DATE_EPOCH": str(EPOCH),
        "COLUMNS": "100", "LINES": "50", "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "PYTHONUTF8": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    })
    s = Session(home=cli_env, env=env, cwd=cli_env, dsn=pg_dsn)
    try:
        yield s
    finally:
        if s.server is not None:
            s.server.kill()
            s.server.wait()


# ---------------------------------------------------------------- the tests


def test_readme_commands_print_what_the_readme_shows(session: Session, request: pytest.FixtureRequest) -> None:
    update = request.config.getoption("--update-readme")
    lines = README.read_text(encoding="utf-8").splitlines()
    cmds = readme_commands(lines)
    assert cmds and cmds[0].text.startswith("materializer init "), "the README's first command is `materializer init`"
    assert f"SOURCE_DATE_EPOCH={EPOCH}" in "\n".join(lines), "the README tells its reader when its outputs were recorded"
    failures: list[str] = []
    replacements: list[tuple[Command, list[str]]] = []
    for cmd in cmds:
        shown = []
        for line in cmd.expected:
            m = STARTING.fullmatch(line)
            if m is None:
                shown.append(line)
            elif m.group(1) != f"{session.shown_path(session.cwd)}/.materializer/pgdata":
                failures.append(f"README.md:{cmd.line}: `{line}` does not name the project's folder "
                                f"({session.shown_path(session.cwd)})")
        code, output = session.run(cmd)
        actual = session.display(output)
        if update:
            replacements.append((cmd, refreshed(cmd.expected, actual)))
            shown = [line for line in replacements[-1][1] if not STARTING.fullmatch(line)]
        elif not matches(shown, actual):
            diff = difflib.unified_diff(shown, actual, "README.md", "the real output (normalized)", lineterm="")
            failures.append(f"README.md:{cmd.line}: $ {cmd.text}\n" + "\n".join(diff))
        wants_error = any(line.startswith("error:") for line in shown)
        if code is not None and (code != 0) != wants_error:
            failures.append(f"README.md:{cmd.line}: $ {cmd.text}\nexit code {code}, but the README shows "
                            f"{'an error' if wants_error else 'no error'}:\n{output}")
    session.stop()
    failures.extend(session.problems)
    if update:
        for cmd, new in reversed(replacements):
            lines[cmd.start:cmd.end] = new
        README.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if failures:
            pytest.fail("\n\n".join(failures), pytrace=False)
        return
    if failures:
        pytest.fail("\n\n".join(failures) + "\n\nIf the product changed on purpose: pytest tests/test_readme.py "
                    "--update-readme, then read the diff of README.md", pytrace=False)


def test_prompts_only_in_console_blocks() -> None:
    """A `$ ` command outside a console block would never run: the convention is enforced."""
    lines = README.read_text(encoding="utf-8").splitlines()
    for block in blocks(lines):
        if block.lang != "console":
            prompts = [block.start + i + 1 for i, line in enumerate(block.lines) if line.startswith("$ ")]
            assert not prompts, (f"README.md:{prompts[0]}: a `$ ` prompt in a ```{block.lang} block is never run; "
                                 "use a ```console block (run and checked) or drop the prompt")


# Mentions of files in the README: links, backticked paths under the repository's folders, and
# documents (NAME.md, or `NAME §N` for a section of NAME.md).
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\s]+)`")
DOC = re.compile(r"\b([A-Z][A-Z_]+\.md)\b")
SECTION = re.compile(r"\b([A-Z][A-Z_]+) §\s?\d")
TOP = ("materializer/", "sql_macros/", "dbt_project/", "tests/", "bench/")


def prose(lines: list[str]) -> str:
    """The README without its code blocks' contents (their paths are the reader's, not ours)."""
    inside = {i for b in blocks(lines) for i in range(b.start, b.end)}
    return "\n".join(line for i, line in enumerate(lines) if i not in inside)


def test_every_file_the_readme_mentions_exists() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    text = prose(lines)
    missing = []
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:|#", target) and not (ROOT / target.split("#")[0]).exists():
            missing.append(f"link {target}")
    for path in CODE.findall(text):
        path = path.split("::")[0]
        if path.startswith(TOP) and not list(ROOT.glob(path.rstrip("/"))):
            missing.append(f"`{path}`")
    for doc in DOC.findall(text):
        if not (ROOT / doc).exists():
            missing.append(doc)
    for name in SECTION.findall(text):
        if not (ROOT / f"{name}.md").exists():
            missing.append(f"{name} § (a section of {name}.md)")
    assert not missing, f"README.md mentions files that are not in the repository: {missing}"


def test_layout_lists_every_package() -> None:
    """The Layout block names the top-level folders and the package's subpackages, all real."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Layout")
    block = next(b for b in blocks(lines) if b.start > start)
    top = {m.group(1) for line in block.lines if (m := re.match(r"(\S+)/\s", line))}
    inner = {m.group(1) for line in block.lines if (m := re.match(r"  (\S+)/\s", line))}
    assert all((ROOT / name).is_dir() for name in top), top
    packages = {p.parent.name for p in (ROOT / "materializer").glob("*/__init__.py")}
    assert inner == packages, f"Layout lists {sorted(inner)}; materializer/ holds {sorted(packages)}"


def test_every_command_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    undocumented = [n for n in names if f"materializer {n}" not in text]
    assert not undocumented, f"commands missing from README.md: {undocumented}"


# ---------------------------------------------------------------- the machinery itself


def test_console_blocks_parse_continuations_and_here_documents() -> None:
    text = ["```console", "$ curl -s localhost:8000/x \\", "    -d '{\"a\": 1,", "  \"b\": 2}'", "{}",
            "$ cat >> f.yml <<'EOF'", "a: 1", "", "EOF", "$ true", "```"]
    (block,) = blocks(text)
    cmds = commands(block)
    assert [c.text.split("\n")[0] for c in cmds] == ["curl -s localhost:8000/x \\", "cat >> f.yml <<'EOF'", "true"]
    assert cmds[0].expected == ["{}"] and cmds[1].expected == [] and cmds[1].text.endswith("\nEOF")
    assert [(c.start, c.end) for c in cmds] == [(4, 5), (9, 9), (10, 10)]


def test_ellipsis_lines_stand_for_any_lines_and_nothing_else_varies() -> None:
    actual = ["a", "b", "c", "d", "e"]
    assert matches(["a", "...", "e"], actual)
    assert matches(["a", "...", "c", "...", "e"], actual)
    assert matches(["a", "b", "c", "d", "e", "..."], actual)
    assert matches(["a", "b", "...", "c", "d", "e"], actual)
    assert not matches(["a", "...", "x", "...", "e"], actual)
    assert not matches(["a", "...", "d"], actual)
    assert not matches(["a", "b", "c", "d", "E"], actual)
    assert matches(["INFO:     Started server process [1]  "], ["INFO:     Started server process [4242]"])
    assert not matches(["pushed 2000 rows"], ["pushed 2001 rows"])


def test_refresh_keeps_a_matching_output_and_the_shape_of_elisions() -> None:
    shown = ["head", "...", "mid", "...", "tail", "INFO:     Started server process [1]"]
    same = ["head", "x", "mid", "y", "tail", "INFO:     Started server process [2]"]
    assert refreshed(shown, same) == shown
    changed = ["head", "x", "mid", "y", "z", "tail2", "INFO:     Started server process [2]"]
    assert refreshed(shown, changed) == ["head", "...", "mid", "...", "tail2", "INFO:     Started server process [1]"]
    start = "starting the embedded PostgreSQL in /home/you/fraud/.materializer/pgdata (set MATERIALIZER_DSN to use " \
            "another server)"
    assert refreshed([start, "old"], ["new"]) == [start, "new"]


def test_long_json_lines_wrap_after_commas_outside_strings() -> None:
    doc = {"a, b": "x," * 30, "n": list(range(40)), "s": "tail"}
    for separators in ((", ", ": "), (",", ":")):
        line = json.dumps(doc, separators=separators)
        rows = wrap([line])
        assert len(rows) > 1 and all(r.startswith(" ") for r in rows[1:])
        assert "".join(r[1:] if i else r for i, r in enumerate(rows)).replace(" ", "") == line.replace(" ", "")
        assert all(len(r) <= WIDTH for r in rows if '"x,' not in r)
    assert wrap(["not json, " * 20]) == ["not json, " * 20]
