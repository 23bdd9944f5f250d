"""The fake ``ibmmq`` against the installed PyPI ``ibmmq`` 2.1.2 (requirements.txt): every constant,
structure field and method the fake offers exists in the real package with the same name and value,
so the adapters cannot pass over the fake while calling something the real library lacks. The real
package cannot be imported here (no MQ client libraries), so its files are read as source."""

from __future__ import annotations

import ast
import re
import runpy
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.fakes import fake_ibmmq

REAL = Path(str(distribution("ibmmq").locate_file("ibmmq")))


@pytest.fixture
def fake() -> Iterator[ModuleType]:
    with fake_ibmmq() as module:
        yield module


def _public(module: ModuleType) -> dict[str, object]:
    return {k: v for k, v in vars(module).items() if k.isupper()}


def test_constants_match_the_real_package(fake: ModuleType) -> None:
    real_cmqc = runpy.run_path(str(REAL / "_CMQC_linux_x64.py"))
    real_cmqxc = runpy.run_path(str(REAL / "CMQXC.py"))
    for name, value in _public(fake.CMQC).items():
        assert real_cmqc[name] == value, name
    for name, value in _public(fake.CMQXC).items():
        assert real_cmqxc[name] == value, name


@pytest.mark.parametrize(
    ("cls", "source"),
    [("MD", "mqmd.py"), ("GMO", "mqgmo.py"), ("PMO", "mqpmo.py"), ("CD", "mqcd.py"), ("SCO", "mqsco.py")],
)
def test_structure_fields_exist_in_the_real_structures(fake: ModuleType, cls: str, source: str) -> None:
    real_fields = set(re.findall(r"\['(\w+)',", (REAL / source).read_text()))
    assert set(getattr(fake, cls)._fields) <= real_fields


def _methods(source: str, cls: str) -> set[str]:
    tree = ast.parse((REAL / source).read_text())
    [node] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    return {f.name for f in node.body if isinstance(f, ast.FunctionDef)}


@pytest.mark.parametrize(("cls", "source"), [("QueueManager", "mqqmgr.py"), ("Queue", "mqqueue.py")])
def test_methods_exist_in_the_real_classes(fake: ModuleType, cls: str, source: str) -> None:
    offered = {n for n in vars(getattr(fake, cls)) if not n.startswith("_")}
    assert offered <= _methods(source, cls)


def test_connect_with_options_keywords_and_error_attributes_are_real() -> None:
    qmgr_source = (REAL / "mqqmgr.py").read_text()
    for keyword in ("'cd'", "'sco'", "kwargs.get('user')", "kwargs.get('password')"):
        assert keyword in qmgr_source
    assert "self.comp, self.reason = comp, reason" in (REAL / "mqerrors.py").read_text()


def test_get_without_syncpoint_is_destructive_and_put_under_syncpoint_waits_for_commit(
    fake: ModuleType,
) -> None:
    c = fake.CMQC
    fake.queue_manager("QM").define_queue("Q")
    qmgr = fake.QueueManager(None)
    qmgr.connect_with_options("QM")
    out = fake.Queue(qmgr, "Q", c.MQOO_OUTPUT | c.MQOO_INQUIRE)
    out.put(b"a", fake.MD(), fake.PMO(Options=c.MQPMO_SYNCPOINT))
    assert fake.queue_manager("QM").messages("Q") == []
    assert out.inquire(c.MQIA_CURRENT_Q_DEPTH) == 1  # MQINQ counts an uncommitted put
    qmgr.commit()
    inq = fake.Queue(qmgr, "Q", c.MQOO_INPUT_SHARED)
    assert inq.get(None, fake.MD(), fake.GMO()) == b"a"
    qmgr.backout()
    assert fake.queue_manager("QM").messages("Q") == []
    with pytest.raises(fake.MQMIError) as raised:
        inq.get(None, fake.MD(), fake.GMO())
    assert (raised.value.comp, raised.value.reason) == (c.MQCC_FAILED, c.MQRC_NO_MSG_AVAILABLE)
    with pytest.raises(fake.MQMIError) as raised:
        inq.inquire(c.MQIA_CURRENT_Q_DEPTH)
    assert raised.value.reason == c.MQRC_NOT_OPEN_FOR_INQUIRE


def test_exclusive_input_refuses_other_openers_until_close_disconnect_or_a_broken_connection(
    fake: ModuleType,
) -> None:
    c = fake.CMQC
    qm = fake.queue_manager("QM")
    qm.define_queue("Q")

    def connect() -> Any:  # a fake QueueManager
        qmgr = fake.QueueManager(None)
        qmgr.connect_with_options("QM")
        return qmgr

    def refused(qmgr: object, options: int) -> int:
        with pytest.raises(fake.MQMIError) as raised:
            fake.Queue(qmgr, "Q", options)
        return int(raised.value.reason)

    first, second = connect(), connect()
    held = fake.Queue(first, "Q", c.MQOO_INPUT_EXCLUSIVE)
    assert refused(second, c.MQOO_INPUT_SHARED) == c.MQRC_OBJECT_IN_USE
    assert refused(second, c.MQOO_INPUT_EXCLUSIVE) == c.MQRC_OBJECT_IN_USE
    assert refused(second, c.MQOO_INPUT_AS_Q_DEF) == c.MQRC_OBJECT_IN_USE
    fake.Queue(second, "Q", c.MQOO_INQUIRE | c.MQOO_OUTPUT)  # not an input open: allowed
    held.close()
    shared = fake.Queue(second, "Q", c.MQOO_INPUT_SHARED)
    assert refused(first, c.MQOO_INPUT_EXCLUSIVE) == c.MQRC_OBJECT_IN_USE  # a shared reader blocks it
    fake.Queue(first, "Q", c.MQOO_INPUT_SHARED)  # shared with shared is fine
    shared.close()
    first.disconnect()
    fake.Queue(second, "Q", c.MQOO_INPUT_EXCLUSIVE)
    qm.sever_connections()
    third = connect()
    fake.Queue(third, "Q", c.MQOO_INPUT_EXCLUSIVE)
