"""``python -m transformation_runner convert``: output, exit codes, one-line errors, report file."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.translate.fin import GOLDEN, SAMPLES, TESTS
from transformation_runner.__main__ import main

HANDBOOK = GOLDEN / "handbook_mt950_a_b.xml"
POSTFINANCE = GOLDEN / "as_sent_postfinance.xml"
NO_BIC = GOLDEN / "genkgo_v2_multi_statement.xml"  # no AppHdr, no Svcr/Ownr BIC


def run(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()

    class Stdout:
        buffer = out

    monkeypatch.setattr(sys, "stdout", Stdout)
    monkeypatch.setattr(sys, "stderr", err)
    code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_messages_go_to_stdout_byte_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(["convert", str(HANDBOOK)], monkeypatch)
    assert code == 0
    assert out == (GOLDEN / "handbook_mt950_a_b.mt950").read_bytes()
    assert out.startswith(b"{1:F01INGBROBUAXXX0000000000}{2:I950ABNANL2AXXXXN}{4:\r\n:20:123456\r\n")
    assert out.endswith(b"\r\n-}")
    assert "truncated at Stmt[1]/Ntry[6]/AcctSvcrRef" in err


def test_several_files_concatenate(monkeypatch: pytest.MonkeyPatch) -> None:
    second = GOLDEN / "cbpr_c105_1_1.xml"
    code, out, _ = run(["convert", str(HANDBOOK), str(second)], monkeypatch)
    assert code == 0
    assert (
        out
        == (GOLDEN / "handbook_mt950_a_b.mt950").read_bytes() + (GOLDEN / "cbpr_c105_1_1.mt950").read_bytes()
    )


def test_out_folder_and_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code, out, err = run(
        ["convert", str(HANDBOOK), "--out", str(tmp_path / "out"), "--report", str(report)], monkeypatch
    )
    assert (code, out, err) == (0, b"", "")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["handbook_mt950_a_b.001.fin"]
    data = json.loads(report.read_text())
    [entry] = data["files"]
    assert entry["status"] == "translated"
    assert entry["statements"] == 1
    assert [e["action"] for e in entry["report"] if e["kind"] == "finding"] == ["truncated"]


def test_bad_input_exits_2_with_one_line_per_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    code, out, err = run(
        [
            "convert",
            str(POSTFINANCE),
            str(missing),
            str(HANDBOOK),
            "--sender",
            "BANKDEFFXXX",
            "--receiver",
            "CUSTDEFFXXX",
        ],
        monkeypatch,
    )
    assert code == 2
    assert out == (GOLDEN / "handbook_mt950_a_b.mt950").read_bytes()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {POSTFINANCE}: Stmt[1] (statement '20201124375204229003973'): opening plus booked entries "
        "is 216649.21, CLBD is 215112.21, difference -1537.00 CHF; the as-sent balance policy would keep "
        "the CLBD and report the difference [unbalanced]",
        f"error: {missing}: cannot read: No such file or directory [unreadable]",
    ]


def test_balance_mode_and_default_bics(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(
        [
            "convert",
            str(POSTFINANCE),
            "--balance-mode",
            "as-sent",
            "--sender",
            "BANKDEFFXXX",
            "--receiver",
            "CUSTDEFFXXX",
        ],
        monkeypatch,
    )
    assert code == 0
    assert out == (GOLDEN / "as_sent_postfinance.mt950").read_bytes()


def test_no_traceback_from_a_real_process() -> None:
    hostile = SAMPLES.parent / "golden" / "cbpr_c105_1_1.xml"
    process = subprocess.run(
        [sys.executable, "-m", "transformation_runner", "convert", "/dev/null", str(hostile)],
        capture_output=True,
        cwd=TESTS.parent,
        check=False,
    )
    assert process.returncode == 2
    assert process.stderr.decode() == "error: /dev/null: body is not XML (starts with b'') [invalid-xml]\n"
    assert process.stdout == (GOLDEN / "cbpr_c105_1_1.mt950").read_bytes()


def test_the_report_lists_every_input_with_the_code_and_reason_of_each_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing, not_xml, report = tmp_path / "missing.xml", tmp_path / "empty.xml", tmp_path / "report.json"
    not_xml.write_bytes(b"")
    inputs = [POSTFINANCE, missing, HANDBOOK, not_xml]
    options = ["--sender", "BANKDEFFXXX", "--receiver", "CUSTDEFFXXX", "--out", str(tmp_path / "out")]
    code, _, err = run(["convert", *map(str, inputs), *options, "--report", str(report)], monkeypatch)
    assert code == 2
    files = json.loads(report.read_text())["files"]
    assert [entry["file"] for entry in files] == [str(path) for path in inputs]
    assert [entry["status"] for entry in files] == ["failed", "failed", "translated", "failed"]
    assert [entry.get("error") for entry in files] == ["unbalanced", "unreadable", None, "invalid-xml"]
    assert files[2]["statements"] == 1
    assert files[0]["reason"] == (
        "Stmt[1] (statement '20201124375204229003973'): opening plus booked entries is 216649.21, "
        "CLBD is 215112.21, difference -1537.00 CHF; the as-sent balance policy would keep the CLBD and "
        "report the difference"
    )
    assert files[1]["reason"] == "cannot read: No such file or directory"
    assert files[3]["reason"] == "body is not XML (starts with b'')"
    for entry in files:  # the same sentence on standard error, one line per failed file
        if entry["status"] == "failed":
            assert f"error: {entry['file']}: {entry['reason']} [{entry['error']}]" in err.splitlines()


def test_a_single_bad_file_is_in_the_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code, out, _ = run(["convert", str(NO_BIC), "--report", str(report)], monkeypatch)
    assert (code, out) == (2, b"")
    [entry] = json.loads(report.read_text())["files"]
    assert (entry["status"], entry["error"]) == ("failed", "no-bic")


def test_the_no_bic_error_names_the_options_that_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(["convert", str(NO_BIC)], monkeypatch)
    assert code == 2
    assert "no sender BIC in AppHdr or Acct/Svcr" in err
    assert "--sender BIC" in err and "DEFAULT_SENDER_BIC" in err
    code, _, err = run(["convert", str(NO_BIC), "--sender", "BANKDEFFXXX"], monkeypatch)
    assert code == 2
    assert "no receiver BIC in AppHdr or Acct/Ownr" in err
    assert "--receiver BIC" in err and "DEFAULT_RECEIVER_BIC" in err


def test_an_interpreter_without_the_dependencies_gets_one_line_not_a_traceback() -> None:
    # lxml made unimportable in a real interpreter, as in a Python outside the project's venv.
    script = (
        "import runpy, sys; sys.modules['lxml'] = None; "
        "sys.argv = ['transformation_runner', 'convert', 'x.xml']; "
        "runpy.run_module('transformation_runner', run_name='__main__')"
    )
    process = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, cwd=TESTS.parent, check=False, text=True
    )
    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    assert process.stderr.startswith(f"error: lxml is not installed for {sys.executable}; run `make setup`")
    assert "make convert FILE=" in process.stderr


REPORT = GOLDEN / "camt052_genkgo_v2.xml"


def test_format_defaults_by_document_and_can_be_chosen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out, _ = run(
        ["convert", str(REPORT), "--sender", "BANKDEFFXXX", "--receiver", "CUSTDEFFXXX"], monkeypatch
    )
    assert (code, out) == (0, (GOLDEN / "camt052_genkgo_v2.mt942").read_bytes())
    report = tmp_path / "report.json"
    code, out, err = run(
        ["convert", str(HANDBOOK), "--format", "mt940", "--report", str(report)], monkeypatch
    )
    assert (code, out, err) == (0, (GOLDEN / "handbook_mt950_a_b.mt940").read_bytes(), "")
    [entry] = json.loads(report.read_text())["files"]
    assert entry["formats"] == ["MT940"]
    assert {e["format"] for e in entry["report"] if e["kind"] == "message"} == {"MT940"}


def test_a_format_the_file_cannot_become_is_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    bics = ["--sender", "BANKDEFFXXX", "--receiver", "CUSTDEFFXXX"]
    code, out, err = run(["convert", str(REPORT), str(HANDBOOK), "--format", "mt942", *bics], monkeypatch)
    assert code == 2
    assert out == (GOLDEN / "camt052_genkgo_v2.mt942").read_bytes()  # the other file still translates
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {HANDBOOK}: Stmt[1]: MT942 is made from camt.052, and this document is camt.053 "
        "[format-mismatch]"
    ]


def test_an_unknown_format_is_refused_by_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["convert", str(HANDBOOK), "--format", "mt103"], monkeypatch)
    assert exited.value.code == 2
