"""What the command's arguments must be, checked by argparse; an error is one line."""

import argparse
from typing import NoReturn

from thidua.errors import ThiduaError


class BadArgument(ThiduaError):
    code = "BAD_ARGUMENT"


class Parser(argparse.ArgumentParser):
    """Argument errors are one line and exit 2, like every expected failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"thidua: [{BadArgument.code}] {message} (xem {self.prog} --help)\n")


def _number(text: str, low: int, high: int, what: str) -> int:
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise argparse.ArgumentTypeError(f"{what}, không phải {text!r}")
    return int(text)


def positive(text: str) -> int:
    return _number(text, 1, 10**9, "cần một số nguyên dương")


def position(text: str) -> int:
    return _number(text, 0, 2**62, "vị trí là một số nguyên không âm")


def port(text: str) -> int:
    return _number(text, 0, 65535, "cổng là một số từ 0 đến 65535")


def year(text: str) -> int:
    return _number(text, 2000, 2100, "năm thi đua phải là một năm từ 2000 đến 2100")
