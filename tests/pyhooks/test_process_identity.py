"""The role and parallel ranks of a vLLM process, from the title vLLM gives it."""

from __future__ import annotations

import sys

import pytest
from conftest import BUILD


@pytest.mark.parametrize(
    ("title", "role", "ranks"),
    [
        ("VLLM::EngineCore_DP1", "EngineCore_DP1", (1, -1, -1, -1)),
        ("VLLM::Worker_DP1_PP2_TP3_DCP0_EP7", "Worker_DP1_PP2_TP3_DCP0_EP7", (1, 3, 2, 7)),
        ("VLLM::Worker_PCP1_TP0", "Worker_PCP1_TP0", (-1, 0, -1, -1)),  # PCP is not PP
        ("VLLM::APIServer_0", "APIServer_0", (-1, -1, -1, -1)),
        ("myprefix::DPCoordinator", "DPCoordinator", (-1, -1, -1, -1)),
    ],
)
def test_ranks_are_read_from_vllms_process_title(title, role, ranks) -> None:
    sys.path.insert(0, str(BUILD / "pyhooks"))
    from profilemate import process_identity

    assert process_identity.from_title(title) == (role, ranks)


FAKE_SETPROCTITLE = """
_title = "python"
def setproctitle(title):
    global _title
    _title = title
def getproctitle():
    return _title
"""


def test_the_title_vllm_sets_puts_role_and_ranks_in_the_log(run_workload, tmp_path) -> None:
    fake = tmp_path / "fake_setproctitle"
    fake.mkdir()
    (fake / "setproctitle.py").write_text(FAKE_SETPROCTITLE, encoding="utf-8")
    run = run_workload(
        """
from vllm.v1.core.sched.scheduler import Scheduler
Scheduler().schedule()
import setproctitle
setproctitle.setproctitle("VLLM::Worker")                 # before the parallel groups exist
setproctitle.setproctitle("VLLM::Worker_DP1_TP0_EP3")     # after
assert setproctitle.getproctitle() == "VLLM::Worker_DP1_TP0_EP3"
""",
        extra_paths=(fake,),
    )
    (process,) = run.metadata()["processes"]
    assert process["process_role"] == "Worker_DP1_TP0_EP3"
    assert process["ranks"] == {"dp": 1, "tp": 0, "ep": 3}, process
    assert process["host"], "the host is in every log header"
