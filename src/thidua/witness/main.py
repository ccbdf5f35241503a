"""thidua-witness init | key | serve: a witness for the cluster logs (c2sp.org/tlog-witness).

  thidua-witness init --name witness.so-noi-vu.example.vn --key witness.key
  thidua-witness serve --key witness.key --state witness.json \\
      --log thidua.example.vn=thidua.example.vn+1a2b3c4d+AX...
"""

import argparse
import logging
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from thidua.ledger.note import COSIGNATURE_V1, NoteError, Signer, generate_key, parse_signer
from thidua.witness.core import LogKey, parse_log_key
from thidua.witness.state import StateError

log = logging.getLogger("thidua.witness")


class SetupError(Exception):
    """A command that cannot run as asked: one line for the operator."""


def read_signer(path: Path) -> Signer:
    try:
        signer = parse_signer(path.read_text())
    except OSError as exc:
        raise SetupError(f"không đọc được tệp khóa {path} (cannot read the key): {exc}") from exc
    if signer.kind != COSIGNATURE_V1:
        raise SetupError(f"{path} không phải khóa nhân chứng (not a witness key, type 0x04)")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by others: chmod 600 it", path)
    return signer


def log_option(text: str) -> LogKey:
    try:
        return parse_log_key(text)
    except NoteError as exc:  # argparse would otherwise print only "invalid value"
        raise argparse.ArgumentTypeError(str(exc)) from exc


def init(args: argparse.Namespace) -> int:
    """A new witness key, in a file only its owner reads; never over an existing one."""
    signer_key, verifier_key = generate_key(args.name, COSIGNATURE_V1)
    try:
        fd = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise SetupError(f"tệp khóa {args.key} đã có; không ghi đè (exists, kept)") from exc
    with os.fdopen(fd, "w") as file:
        file.write(signer_key + "\n")
    print(verifier_key)
    return 0


def key(args: argparse.Namespace) -> int:
    print(read_signer(args.key).verifier().text())
    return 0


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from thidua.witness.app import create_app
    from thidua.witness.core import Witness
    from thidua.witness.state import StateFile

    witness = Witness(read_signer(args.key), args.log, StateFile(args.state))
    log.info("witness %s for %s", witness.signer.verifier().text(), [k.prefix for k in args.log])
    config = uvicorn.Config(create_app(witness), host=args.host, port=args.port, lifespan="off")
    uvicorn.Server(config).run()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="thidua-witness", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)
    init_cmd = commands.add_parser("init", help="create a witness key; print its verifier key")
    init_cmd.add_argument("--name", required=True, help="the witness's name, e.g. a host/path")
    init_cmd.add_argument("--key", required=True, type=Path, help="the new key file (0600)")
    init_cmd.set_defaults(run=init)
    key_cmd = commands.add_parser("key", help="print the witness's verifier key")
    key_cmd.add_argument("--key", required=True, type=Path)
    key_cmd.set_defaults(run=key)
    serve_cmd = commands.add_parser("serve", help="serve POST /add-checkpoint")
    serve_cmd.add_argument("--key", required=True, type=Path)
    serve_cmd.add_argument("--state", required=True, type=Path, help="the JSON state file")
    serve_cmd.add_argument(
        "--log",
        required=True,
        action="append",
        type=log_option,
        metavar="PREFIX=VKEY",
        help="a log's key and the origins it signs: PREFIX and PREFIX/... (repeatable)",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8380)
    serve_cmd.set_defaults(run=serve)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.run(args)
    except (SetupError, StateError) as exc:
        print(f"thidua-witness: {exc}", file=sys.stderr)
        return 2
    except NoteError as exc:
        print(
            f"thidua-witness: khóa hoặc tên không hợp lệ (invalid key or name): {exc}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
