"""Development secrets kept in the data folder: made once, whole, however many processes
start at the same moment (instances side by side, `serve --workers`)."""

import subprocess
import sys
from pathlib import Path

READ = (
    "import sys; from thidua.config import Settings; "
    "s = Settings(database_url=None, data_dir=__import__('pathlib').Path(sys.argv[1])); "
    "print(s.log_key()); print(s.token_secret())"
)


def test_processes_starting_together_read_one_whole_key(tmp_path: Path) -> None:
    started = [
        subprocess.Popen(
            [sys.executable, "-c", READ, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    answers = {process.communicate(timeout=60)[0] for process in started}
    assert all(process.returncode == 0 for process in started)
    assert len(answers) == 1  # every process read the same key and secret
    key, secret = answers.pop().split()
    assert key.startswith("PRIVATE+KEY+")
    assert len(secret) >= 32
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["dev-token-secret", "log-signing-key"]  # no temporary file left behind
    assert (tmp_path / "log-signing-key").stat().st_mode & 0o777 == 0o600
