"""The fuzzer of every command (issue #18, scripts/fuzz.py): its oracle, its harness, and the runs.

The slow test runs 300 seeded mutated cases spread over every command in child processes and
fails with the grouped failure classes (command, check, exception, mutations, a reproducer).
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fuzz.py"


def _load_fuzz():
    spec = importlib.util.spec_from_file_location("geoconflict_fuzz", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["geoconflict_fuzz"] = module
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()


# -- the oracle, on hand-made case folders ---------------------------------------------------------

def _case(tmp_path: Path, *, command: str = "ingest", result: dict, out_files: dict[str, str] | None = None,
          inputs: dict[str, str] | None = None, main_output: str = "out/inc.csv") -> Path:
    case = tmp_path / "case-0000"
    (case / "in").mkdir(parents=True)
    (case / "out").mkdir()
    for name, text in (inputs or {"acled.csv": "a,b\n1,2\n3,4\n"}).items():
        (case / "in" / name).write_text(text)
    for name, text in (out_files or {}).items():
        (case / name).parent.mkdir(parents=True, exist_ok=True)
        (case / name).write_text(text)
    plan = {"command": command, "argv": [], "target": "acled.csv", "mutation": "m",
            "main_output": main_output, "ingest_input": "acled.csv" if command == "ingest" else "",
            "kept_input": "", "preexisting": []}
    (case / "case.json").write_text(json.dumps(plan))
    base = {"exit_code": 0, "stdout": "", "stderr": "", "fd_stderr": "", "exception": "",
            "exception_message": "", "traceback": "", "new_inputs": [], "changed_files": []}
    (case / "result.json").write_text(json.dumps({**base, **result}))
    return case


GOOD_OUT = {
    "out/inc.csv": "incident_id,date,fatalities,longitude,latitude\nA,2020-01-01,0,36.5,35.7\n",
    "out/inc.quarantine.csv": "a,b,reason\n3,4,missing_date\n",
}


def test_judge_passes_a_clean_ingest_whose_rows_add_up(tmp_path):
    assert fuzz.judge(_case(tmp_path, result={}, out_files=GOOD_OUT)) == []


def test_judge_refusal_with_one_error_line_and_no_output_passes(tmp_path):
    case = _case(tmp_path, result={"exit_code": 2, "stderr": "Error: in/acled.csv: no rows\n"})
    assert fuzz.judge(case) == []


def test_judge_flags_rows_lost_by_ingest(tmp_path):
    out = dict(GOOD_OUT, **{"out/inc.quarantine.csv": "a,b,reason\n"})
    fails = fuzz.judge(_case(tmp_path, result={}, out_files=out))
    assert fails == [("ingest accounting", "accepted 1 + quarantined 0 != 2 data rows in the input")]


def test_judge_flags_an_accepted_row_without_a_date(tmp_path):
    out = dict(GOOD_OUT, **{"out/inc.csv": GOOD_OUT["out/inc.csv"].replace("2020-01-01", "")})
    fails = fuzz.judge(_case(tmp_path, result={}, out_files=out))
    assert fails == [("accepted rows invalid", "without a date")]


def test_judge_flags_an_escaped_exception_with_where_it_was_raised(tmp_path):
    tb = ('Traceback (most recent call last):\n  File "/x/geoconflict/zones.py", line 3, in _km2\n'
          '  File "/x/site-packages/shapely/creation.py", line 9, in linearrings\nGEOSException: bad')
    case = _case(tmp_path, result={"exit_code": 1, "exception": "GEOSException",
                                   "exception_message": "bad ring 12", "traceback": tb})
    (check, detail), = fuzz.judge(case)
    assert check == "traceback"
    assert detail == "GEOSException: bad ring N (raised in creation.py:linearrings, from zones.py:_km2)"


@pytest.mark.parametrize("stderr, check", [
    ("/x/site-packages/pyogrio/raw.py:198: RuntimeWarning: driver GeoJSON does not support\n"
     "Error: no rows\n", "library text on stderr"),
    ("Exception ignored in: <generator>\nTraceback (most recent call last):\nError: bad\n",
     "traceback text on stderr"),
])
def test_judge_flags_library_text_on_stderr(tmp_path, stderr, check):
    case = _case(tmp_path, result={"exit_code": 2, "stderr": stderr})
    assert check in [c for c, _ in fuzz.judge(case)]


def test_judge_flags_c_level_stderr(tmp_path):
    case = _case(tmp_path, result={"exit_code": 2, "stderr": "Error: x\n",
                                   "fd_stderr": "ERROR 1: Failed to read GeoJSON data\n"})
    assert [c for c, _ in fuzz.judge(case)] == ["library text on C-level stderr"]


def test_judge_flags_partial_output_and_temporaries_on_exit_2(tmp_path):
    case = _case(tmp_path, result={"exit_code": 2, "stderr": "Error: x\n"},
                 out_files={"out/inc.csv": "x\n", "out/.inc.csv.a8f3k2x9.tmp": ""})
    fails = fuzz.judge(case)
    assert fails == [("partial output on exit 2", "out/.inc.csv.XXXX.tmp, out/inc.csv")]


def test_judge_flags_an_evaluated_template_and_an_odd_exit_code(tmp_path):
    case = _case(tmp_path, command="map", main_output="out/map.html", result={"exit_code": 0},
                 out_files={"out/map.html": f"<h1>{fuzz.EVALUATED}</h1>"})
    (case / fuzz.MARKER).write_text("")
    assert [c for c, _ in fuzz.judge(case)] == ["template evaluated", "template evaluated"]
    case2 = _case(tmp_path / "b", command="map", result={"exit_code": 139}, main_output="out/m.html")
    assert fuzz.judge(case2)[0] == ("exit code", "139")


# -- the mutations -------------------------------------------------------------------------------

def test_every_mutation_changes_every_seed_of_its_kind_deterministically():
    seeds = fuzz.seed_texts()
    for mutation in fuzz.MUTATIONS:
        for name, text in seeds.items():
            if fuzz.kind_of(name) not in mutation.kinds:
                continue
            data = text.encode()
            outs = [mutation.fn(random.Random(7), data, fuzz.kind_of(name)) for _ in range(2)]
            assert outs[0] == outs[1], (mutation.name, name)
            changed = any(mutation.fn(random.Random(k), data, fuzz.kind_of(name)) != data
                          for k in range(5))
            assert changed, (mutation.name, name)


def test_cases_spread_over_every_command_and_are_reproducible(tmp_path):
    commands = fuzz.choose_commands(random.Random(1), 300, fuzz.COMMANDS)
    assert set(commands) == set(fuzz.COMMANDS) and len(commands) == 300
    seeds = fuzz.seed_texts()
    a = fuzz.make_case(random.Random(3), 0, "zones", tmp_path / "a", seeds)
    b = fuzz.make_case(random.Random(3), 0, "zones", tmp_path / "b", seeds)
    plan = json.loads((a / "case.json").read_text())
    assert plan == json.loads((b / "case.json").read_text())
    assert plan["argv"][0] == "zones" and plan["mutation"]
    for f in (a / "in").iterdir():
        assert f.read_bytes() == (b / "in" / f.name).read_bytes()
    assert "repro.sh" in {p.name for p in a.iterdir()}


# -- the harness: a crash and a hang are recorded, and the cases after them still run ---------------

@pytest.mark.slow
def test_harness_records_a_crash_and_a_hang_and_goes_on(tmp_path):
    seeds = fuzz.seed_texts()
    cases = [fuzz.make_case(random.Random(i), i, "corridor", tmp_path, seeds, mutate=False)
             for i in range(4)]
    for case, command in zip(cases, ["_selftest_crash", "corridor", "_selftest_hang", "corridor"], strict=False):
        plan = json.loads((case / "case.json").read_text())
        plan["command"] = command
        (case / "case.json").write_text(json.dumps(plan))
    fuzz._drive(cases, 3.0, lambda s: None)
    verdicts = [fuzz.judge(c) for c in cases]
    assert verdicts[0][0][0] == "crash" and "signal 11" in verdicts[0][0][1]
    assert verdicts[2] == [("hang", "hang: no answer within 3 s")]
    assert verdicts[1] == [] and verdicts[3] == []


# -- the runs ------------------------------------------------------------------------------------

def _run(tmp_path: Path, *args: str, timeout: float) -> dict:
    out = tmp_path / "fuzz"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    summary = json.loads((out / "summary.json").read_text())
    summary["text"] = proc.stdout + proc.stderr
    return summary


def test_smoke_fifteen_mutated_cases(tmp_path):
    s = _run(tmp_path, "--seed", "3", "--cases", "15",
             "--commands", "ingest,geocode,join,zones,corridor,grid,flows,map", timeout=120)
    assert s["cases"] == 15
    assert s["failures"] == {}, s["text"]


@pytest.mark.slow
def test_seeds_pass_every_command(tmp_path):
    """Unmutated, every command succeeds and passes the oracle (accounting included)."""
    s = _run(tmp_path, "--seed", "1", "--cases", "10", "--no-mutation", timeout=300)
    assert set(s["by_command"]) == {"ingest", "geocode", "join", "zones", "corridor", "ceasefire",
                                    "grid", "flows", "map", "run"}
    assert s["exit_codes"] == {"0": 10}, s["text"]
    assert s["failures"] == {}, s["text"]


@pytest.mark.slow
def test_fuzz_every_command_300_cases(tmp_path):
    s = _run(tmp_path, "--seed", "1", "--cases", "300", timeout=900)
    assert s["cases"] == 300
    assert min(s["by_command"].values()) >= 10 and len(s["by_command"]) == 10
    assert s["exit_codes"].get("0", 0) >= 50 and s["exit_codes"].get("2", 0) >= 50, s["exit_codes"]
    assert s["failures"] == {}, s["text"]
