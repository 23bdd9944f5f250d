"""Command line: ``python -m transformation_runner convert FILE.xml [FILE.xml ...]``.

Translates camt.053 files into MT950 (or, with ``--format mt940``, MT940) and camt.052 files into
MT942 FIN messages with the same code the runner uses
(:func:`transformation_runner.translate.translate`). Without ``--out`` the messages go to standard
output, concatenated, byte-exact (CRLF inside block 4). Exit 0 when every file translated; exit 2 when
any file is bad input, with one line ``error: FILE: reason`` per bad file on standard error and no
traceback. Translation findings (truncations, replacements, dropped values) go to standard error,
or as JSON to ``--report``.

The report lists every input file, in the order given: a translated file with ``"status":
"translated"``, its statement count and findings; a file that failed with ``"status": "failed"``,
``"error"`` (the machine-readable reason: ``no-bic``, ``unbalanced``, ..., or ``unreadable``) and
``"reason"`` (the sentence also printed on standard error), so one report answers for the whole batch.

Run it with the project's virtual environment (``.venv/bin/python -m transformation_runner`` or
``make convert FILE=...``); another interpreter without lxml gets one line saying so, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

try:
    from transformation_runner.translate import BALANCE_MODES, FORMATS, TranslationOptions, translate
    from transformation_runner.translate.errors import TranslationError
except ImportError as missing:  # run with an interpreter that lacks the project's dependencies
    sys.exit(
        f"error: {missing.name or missing} is not installed for {sys.executable}; run `make setup`, then "
        "`.venv/bin/python -m transformation_runner convert ...` or `make convert FILE=...`"
    )

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m transformation_runner")
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser(
        "convert", help="translate camt.053 into MT950 or MT940, camt.052 into MT942 messages"
    )
    convert.add_argument("files", nargs="+", type=Path, metavar="FILE.xml")
    convert.add_argument("--out", type=Path, help="write one .fin file per message into this folder")
    convert.add_argument("--report", type=Path, help="write the translation report as JSON here")
    convert.add_argument("--sender", default="", help="sender BIC if neither AppHdr nor Acct/Svcr has one")
    convert.add_argument(
        "--receiver", default="", help="receiver BIC if neither AppHdr nor Acct/Ownr has one"
    )
    convert.add_argument(
        "--balance-mode",
        choices=BALANCE_MODES,
        default=os.environ.get("TRANSLATION_BALANCE_MODE", "strict"),
        help="strict: reject statements that do not add up; as-sent: keep the CLBD, report the difference",
    )
    convert.add_argument(
        "--format",
        choices=[name.lower() for name in FORMATS],
        default="",
        help="target message (default from the document: camt.053 -> mt950, camt.052 -> mt942)",
    )
    return parser


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _warning(source: Path, finding: dict[str, object]) -> str:
    return _one_line(
        f"warning: {source}: message {finding.get('message')}: field {finding.get('field')} "
        f"{finding.get('action')} at {finding.get('path')}: "
        f"{finding.get('original')!r} -> {finding.get('value')!r}"
    )


def _failed(source: Path, code: str, reason: str, stderr: TextIO) -> dict[str, object]:
    """Print ``error: FILE: reason [code]`` and return the file's report entry."""
    reason = _one_line(reason)
    print(f"error: {source}: {reason} [{code}]", file=stderr)
    return {"file": str(source), "status": "failed", "error": code, "reason": reason}


def convert(args: argparse.Namespace, stdout: BinaryIO, stderr: TextIO) -> int:
    """Translate every file; return the exit code."""
    options = TranslationOptions(
        sender_bic=args.sender,
        receiver_bic=args.receiver,
        balance_mode=args.balance_mode,
        format=args.format.upper(),
    )
    status = EXIT_OK
    reports: list[dict[str, object]] = []
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    for source in args.files:
        try:
            body = source.read_bytes()
        except OSError as error:
            reports.append(_failed(source, "unreadable", f"cannot read: {error.strerror or error}", stderr))
            status = EXIT_BAD_INPUT
            continue
        try:
            result = translate(body, options)
        except TranslationError as error:
            reports.append(_failed(source, error.reason, str(error), stderr))
            status = EXIT_BAD_INPUT
            continue
        for number, message in enumerate(result.messages, start=1):
            if args.out:
                (args.out / f"{source.stem}.{number:03d}.fin").write_bytes(message.encode("ascii"))
            else:
                stdout.write(message.encode("ascii"))
        done = {"file": str(source), "status": "translated", "statements": result.statements}
        reports.append({**done, "formats": list(result.formats), "report": result.report})
        if not args.report:
            for finding in result.report:
                if finding.get("kind") == "finding":
                    print(_warning(source, finding), file=stderr)
    stdout.flush()
    if args.report:
        args.report.write_text(json.dumps({"files": reports}, indent=2, default=str) + "\n")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m transformation_runner``."""
    args = _parser().parse_args(argv)
    return convert(args, sys.stdout.buffer, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
