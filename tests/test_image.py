"""The image, without a container engine: the Dockerfile's build stage replayed on a copy of
exactly the files it COPYs (its RUN steps run as written, the image's paths moved into a
temporary folder), then the result checked as the image would run it: the command works,
the SQL is inside, no embedded PostgreSQL, and the final stage runs as a non-root user."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import Distribution, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@dataclass
class Stage:
    base: str
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, dest)
    copies_from: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    workdir: str = "/"
    user: str | None = None
    expose: list[str] = field(default_factory=list)
    cmd: str = ""


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages, read instruction by instruction (continuations joined)."""
    found: list[Stage] = []
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            found.append(Stage(base=rest.split()[0]))
            continue
        stage = found[-1]
        if instruction == "COPY":
            words = shlex.split(rest)
            if any(w.startswith("--from") for w in words):
                stage.copies_from.append(rest)
            else:
                stage.copies.append((words[:-1], words[-1]))
        elif instruction == "RUN":
            stage.runs.append(rest)
        elif instruction == "WORKDIR":
            stage.workdir = rest
        elif instruction == "USER":
            stage.user = rest
        elif instruction == "EXPOSE":
            stage.expose.extend(rest.split())
        elif instruction == "CMD":
            stage.cmd = rest
    return found


@dataclass(frozen=True)
class Replayed:
    context: Path
    venv: Path


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """The build stage's COPY and RUN steps, on a copy of exactly what it copies. The wheel
    is built as written (hatchling from the index); the venv's `pip install` runs with
    --no-index on the runtime dependencies this test's venv has, copied in first (so an
    install that asked for pgserver, which is not copied, would fail)."""
    build = stages(DOCKERFILE.read_text())[0]
    top = tmp_path_factory.mktemp("image")
    image_paths = {"/wheels": top / "wheels", "/opt/thidua": top / "venv"}
    context = top / build.workdir.strip("/")
    context.mkdir(parents=True)
    for sources, dest in build.copies:
        for source in sources:
            target = context / dest / Path(source).name if dest.endswith("/") else context / dest
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / source, target)
    python = top / "bin"
    python.mkdir()
    (python / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{python}:{env['PATH']}"
    venv_pip = f"{image_paths['/opt/thidua']}/bin/pip install"
    for step in (step for run in build.runs for step in run.split(" && ")):
        for image_path, here in image_paths.items():
            step = step.replace(image_path, str(here))
        if step.startswith(venv_pip):
            seed(top / "venv")
            step = step.replace(venv_pip, f"{venv_pip} --no-index", 1)
        done = subprocess.run(
            ["bash", "-ec", step], cwd=context, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (step, done.stderr[-3000:])
    return Replayed(context, top / "venv")


def runtime_dependencies(name: str = "thidua") -> list[Distribution]:
    """The installed distributions `name` needs without any of its extras, recursively."""
    found: dict[str, Distribution] = {}
    todo: list[tuple[str, frozenset[str]]] = [(name, frozenset())]
    while todo:
        wanted, extras = todo.pop()
        dist = distribution(wanted)
        key = f"{canonicalize_name(wanted)}{sorted(extras)}"
        if key in found:
            continue
        found[key] = dist
        for requirement in map(Requirement, dist.requires or []):
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in {"", *extras}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    unique = {canonicalize_name(d.metadata["Name"]): d for d in found.values()}
    unique.pop(canonicalize_name(name))
    return list(unique.values())


def seed(venv: Path) -> None:
    """Copy the runtime dependencies' files into the new venv's site-packages."""
    (site,) = venv.glob("lib/python*/site-packages")
    for dist in runtime_dependencies():
        for file in dist.files or []:
            if file.parts[0] == "..":  # scripts: the image's own install makes thidua's
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(str(dist.locate_file(file))), target)


def run(replayed: Replayed, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A program of the installed venv, outside the source tree, with only the given
    settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("THIDUA_", "DATABASE_"))}
    base["THIDUA_DATA_DIR"] = str(replayed.venv.parent / "data")
    return subprocess.run(
        [str(replayed.venv / "bin" / args[0]), *args[1:]],
        cwd=replayed.venv.parent,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_build_stage_copies_what_the_wheel_includes() -> None:
    """pyproject's force-included folders are all copied (the bug this test was made for)."""
    copied = {
        Path(s).name for sources, _ in stages(DOCKERFILE.read_text())[0].copies for s in sources
    }
    pyproject = (ROOT / "pyproject.toml").read_text()
    forced = re.search(r"force-include\]\n((?:.+\n)+)", pyproject)
    assert forced is not None
    included = set(re.findall(r'^"([^"]+)"\s*=', forced.group(1), re.MULTILINE))
    assert included == {"migrations", "projections"}
    assert included <= copied, included - copied
    assert {"pyproject.toml", "README.md", "src"} <= copied


def test_the_final_stage_runs_as_a_user_and_carries_no_source() -> None:
    build, final = stages(DOCKERFILE.read_text())
    assert final.user not in (None, "root", "0"), final.user
    assert final.copies == [], "the final stage copies only the build stage's venv"
    assert final.copies_from == ["--from=build /opt/thidua /opt/thidua"]
    # The wheel alone, no extra (the embedded server is the `embedded` extra).
    assert not any("[" in step or "pgserver" in step for step in build.runs), build.runs
    port = re.search(r'"--port", "(\d+)"', final.cmd)
    assert port is not None
    assert final.expose == [port.group(1)]


def test_the_installed_command_answers_its_version(replayed: Replayed) -> None:
    result = run(replayed, "thidua", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "thidua 0.1.0"


def test_the_image_has_no_embedded_postgresql(replayed: Replayed) -> None:
    listed = run(replayed, "pip", "list", "--format=freeze")
    assert listed.returncode == 0, listed.stderr
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert {"asyncpg", "thidua"} <= names
    assert "pgserver" not in names
    imported = run(replayed, "python", "-c", "import pgserver")
    assert "No module named 'pgserver'" in imported.stderr
    # Without DATABASE_URL: one line, what to do (the image's production settings say so too).
    development = run(replayed, "thidua", "db", "status", THIDUA_ENV="development")
    assert development.returncode == 2
    assert development.stderr.count("\n") == 1, development.stderr
    assert "DATABASE_URL" in development.stderr
    assert "thidua[embedded]" in development.stderr
    production = run(replayed, "thidua", "db", "status", THIDUA_ENV="production")
    assert production.returncode == 2
    assert "[BAD_CONFIGURATION]" in production.stderr
    assert "DATABASE_URL" in production.stderr


async def test_the_installed_wheel_migrates_a_database(
    replayed: Replayed, new_database: Callable[[], Awaitable[str]]
) -> None:
    """The SQL inside the wheel (not the source tree) is what migrates and reports."""
    url = await new_database()
    migrated = run(replayed, "thidua", "db", "migrate", DATABASE_URL=url)
    assert migrated.returncode == 0, migrated.stderr
    count = len(list((ROOT / "migrations").glob("*.sql")))
    assert f"{count} migration(s) applied" in migrated.stdout
    status = run(replayed, "thidua", "db", "status", DATABASE_URL=url)
    assert status.returncode == 0, status.stderr
    assert f"migration: {count} đã áp dụng, 0 chờ áp dụng" in status.stdout
