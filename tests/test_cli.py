"""The ``leptonc`` command line: happy paths, every user mistake, and all-or-nothing output.

Commands run in-process through ``leptonc.cli.main`` (fast); one test runs the installed
console script in a subprocess.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import example_model  # tools/, importable through tests/conftest.py
import numpy as np
import onnx
import pytest
from cli_testing import assert_one_line_error, snapshot
from onnx import TensorProto, helper

import leptonc
from leptonc import artifact_io, cli
from leptonc.cli import info as cli_info
from leptonc.cli import run as cli_run
from leptonc.ir import serialize

REPO = Path(__file__).resolve().parents[1]


# ----- helpers -------------------------------------------------------------------------------




@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "example.onnx"
    onnx.save(example_model.build_example_model(), str(path))
    return path


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "image.npy"
    np.save(path, np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32))
    return path


def _save_model(nodes, inputs, outputs, path: Path) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


# ----- emit ir ---------------------------------------------------------------------------------
def test_emit_ir_writes_text_and_weights(leptonc_cli, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "ir" / "example.lir"  # a missing folder is created
    result = leptonc_cli(model, "--emit", "ir", "-o", out)
    assert result.code == 0, result.err
    assert result.out == f"wrote {out}, {out}.bin\n"
    text = out.read_text()
    assert text.startswith("graph @example_cnn(%image: f32[1,3,32,32]) {")
    assert "%conv1.weight = const external : f32[8,3,3,3]" in text
    assert "nn.conv(%image, %conv1.weight, %conv1.bias)" in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["example.lir", "example.lir.bin"]
    reloaded = serialize.load(out)
    assert leptonc.print_graph(reloaded) == text


def test_emit_ir_without_o_prints_and_writes_nothing(leptonc_cli, model: Path,
                                                     tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    for args in ([model], [model, "--emit", "ir", "-o", "-"], ["compile", model]):
        result = leptonc_cli(*args)
        assert result.code == 0, result.err
        assert result.out.startswith("graph @example_cnn(")
        assert "const external" in result.out
        assert "no weights file was written" in result.err
    assert snapshot(tmp_path) == before


def test_emit_ir_replaces_a_stale_weights_file(leptonc_cli, tmp_path: Path) -> None:
    small = _save_model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                        tmp_path / "small.onnx")
    out = tmp_path / "m.lir"
    out.with_name("m.lir.bin").write_bytes(b"weights of an older graph")
    assert leptonc_cli(small, "-o", out).code == 0
    assert not out.with_name("m.lir.bin").exists()
    assert "ew.relu(%x)" in out.read_text()


def test_lir_runs_like_the_onnx_model(leptonc_cli, model: Path, image: Path,
                                      tmp_path: Path) -> None:
    lir = tmp_path / "example.lir"
    assert leptonc_cli(model, "--emit", "ir", "-o", lir).code == 0
    assert leptonc_cli("run", model, "--input", f"image={image}", "-o", tmp_path / "a").code == 0
    result = leptonc_cli("run", lir, "--input", f"image={image}", "-o", tmp_path / "b")
    assert result.code == 0, result.err
    assert result.out == f"logits: float32[1, 10] -> {tmp_path / 'b' / 'logits.npy'}\n"
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "logits.npy"),
                                  np.load(tmp_path / "b" / "logits.npy"))


# ----- info ------------------------------------------------------------------------------------
# The example CNN, counted by hand: conv1 8x3x3x3+8, conv2 16x8x3x3+16, fc 16x10+10 parameters;
# MACs 8*16*16*27 + 16*8*8*72 + 10*16; peak = the image (12 KiB) and conv1's output (8 KiB).
EXAMPLE_PARAMS = 216 + 8 + 1152 + 16 + 160 + 10
EXAMPLE_MACS = 55_296 + 73_728 + 160
EXAMPLE_PEAK = 4 * (3 * 32 * 32 + 8 * 16 * 16)


def test_info_text(leptonc_cli, model: Path) -> None:
    result = leptonc_cli("info", model)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["model", str(model)]
    assert "opset 17" in lines[1]
    assert ["image", "f32[1,3,32,32]"] in [line.split() for line in lines]
    assert ["logits", "f32[1,10]"] in [line.split() for line in lines]
    assert ["nn.conv", "2"] in [line.split() for line in lines]
    assert ["linalg.matmul", "1"] in [line.split() for line in lines]
    assert f"{EXAMPLE_PARAMS:,}" in result.out and f"{EXAMPLE_PARAMS * 4 / 1024:.1f} KiB" in result.out
    assert ["MACs", f"{EXAMPLE_MACS:,}", "(129.2", "K)"] in [line.split() for line in lines]
    assert lines[-1].split() == ["peak", "activations", f"{EXAMPLE_PEAK / 1024:.1f}", "KiB"]


def test_info_json(leptonc_cli, model: Path) -> None:
    result = leptonc_cli("info", model, "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert info["inputs"] == [{"name": "image", "dtype": "f32", "shape": [1, 3, 32, 32],
                               "type": "f32[1,3,32,32]"}]
    assert info["outputs"] == [{"name": "logits", "dtype": "f32", "shape": [1, 10],
                                "type": "f32[1,10]"}]
    assert info["ops"] == {"nn.conv": 2, "ew.relu": 2, "reduce.sum": 1, "linalg.matmul": 1,
                           "ew.add": 1}
    assert info["nodes"] == 7
    assert (info["params"], info["param_bytes"]) == (EXAMPLE_PARAMS, 4 * EXAMPLE_PARAMS)
    assert (info["macs"], info["macs_complete"]) == (EXAMPLE_MACS, True)
    assert info["peak_activation_bytes"] == EXAMPLE_PEAK


def test_info_with_symbolic_batch_says_what_is_unknown(leptonc_cli, tmp_path: Path) -> None:
    dynamic = _save_model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
                          tmp_path / "dyn.onnx")
    result = leptonc_cli("info", dynamic)
    assert result.code == 0, result.err
    assert "(ops with dynamic shapes are not counted)" in result.out
    assert "unknown (dynamic shapes)" in result.out
    info = json.loads(leptonc_cli("info", dynamic, "--json").out)
    assert info["inputs"][0]["shape"] == ["N", 4]
    assert info["peak_activation_bytes"] is None and info["macs_complete"] is False


# ----- run -------------------------------------------------------------------------------------
def test_run_npz_in_npz_out_matches_onnxruntime(leptonc_cli, model: Path, image: Path,
                                               tmp_path: Path) -> None:
    import onnxruntime

    np.savez(tmp_path / "in.npz", image=np.load(image))
    out = tmp_path / "results.npz"
    result = leptonc_cli("run", model, "--inputs", tmp_path / "in.npz", "-o", out,
                         "--compare-ort")
    assert result.code == 0, result.err
    assert "compared with onnxruntime (rtol 1e-4 / atol 1e-5):" in result.out
    assert "logits: max abs" in result.out and " ok\n" in result.out
    with np.load(out) as saved:
        assert saved.files == ["logits"]
        logits = saved["logits"]
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"image": np.load(image)})
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_run_without_o_prints_a_summary_only(leptonc_cli, model: Path, image: Path,
                                             tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    result = leptonc_cli("run", model, "--input", f"image={image}")
    assert (result.code, result.out) == (0, "logits: float32[1, 10]\n")
    assert snapshot(tmp_path) == before


def test_run_into_an_existing_folder_keeps_other_files(leptonc_cli, model: Path, image: Path,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "logits.npy").write_bytes(b"stale")
    assert leptonc_cli("run", model, "--input", f"image={image}", "-o", out).code == 0
    assert sorted(p.name for p in out.iterdir()) == ["logits.npy", "notes.txt"]
    assert np.load(out / "logits.npy").shape == (1, 10)


def test_output_names_never_escape_the_output_folder(leptonc_cli, tmp_path: Path) -> None:
    names = ["../../escape", "/abs/path", "sub/dir:0", ".hidden", "Same", "same"]
    nodes = [helper.make_node("Relu", ["x"], [f"r{i}"], name=f"relu{i}")
             for i in range(len(names))]
    nodes += [helper.make_node("Identity", [f"r{i}"], [n], name=f"id{i}")
              for i, n in enumerate(names)]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in names]
    path = _save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                       outputs, tmp_path / "names.onnx")
    np.save(tmp_path / "x.npy", np.array([-1.0, 2.0], dtype=np.float32))
    out = tmp_path / "out"
    result = leptonc_cli("run", path, "--input", f"x={tmp_path / 'x.npy'}", "-o", out)
    assert result.code == 0, result.err
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(["_.._escape.npy", "_abs_path.npy", "sub_dir_0.npy", "hidden.npy",
                              "Same.npy", "same_2.npy"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["names.onnx", "out", "x.npy"]
    for name in written:
        np.testing.assert_array_equal(np.load(out / name), [0.0, 2.0])


def test_safe_file_stems() -> None:
    stems = artifact_io.safe_file_stems(["a/b", "a_b", "..", "x" * 300, "LOGITS", "logits"])
    assert stems == {"a/b": "a_b", "a_b": "a_b_2", "..": "output", "x" * 300: "x" * 100,
                     "LOGITS": "LOGITS", "logits": "logits_2"}


# ----- all or nothing ----------------------------------------------------------------------------
def _no_staging_left(folder: Path) -> bool:
    return not any(p.name.startswith(".leptonc-") for p in folder.rglob("*"))


def test_failed_weights_write_leaves_nothing(leptonc_cli, model: Path, tmp_path: Path,
                                             monkeypatch) -> None:
    def disk_full(arrays, path):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialize, "write_weights", disk_full)
    before = snapshot(tmp_path)
    result = leptonc_cli(model, "-o", tmp_path / "example.lir")
    assert_one_line_error(result, "example.lir", "No space left on device")
    assert snapshot(tmp_path) == before and _no_staging_left(tmp_path)


@pytest.mark.parametrize("out_name", ["out", "results.npz"])
def test_failed_output_write_leaves_nothing(leptonc_cli, model: Path, image: Path,
                                            tmp_path: Path, monkeypatch, out_name: str) -> None:
    def fail_after_some_bytes(f, array, allow_pickle):
        f.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", fail_after_some_bytes)
    before = snapshot(tmp_path)
    result = leptonc_cli("run", model, "--input", f"image={image}", "-o", tmp_path / out_name)
    assert_one_line_error(result, out_name, "No space left on device")
    assert snapshot(tmp_path) == before and _no_staging_left(tmp_path)


def test_interrupt_exits_130_without_traceback(leptonc_cli, model: Path, image: Path,
                                               tmp_path: Path, monkeypatch) -> None:
    def interrupted(graph, feeds):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_run, "interpret", interrupted)
    before = snapshot(tmp_path)
    result = leptonc_cli("run", model, "--input", f"image={image}", "-o", tmp_path / "out")
    assert (result.code, result.err) == (130, "leptonc: interrupted\n")
    assert snapshot(tmp_path) == before


def test_compare_ort_mismatch_fails_and_writes_nothing(leptonc_cli, model: Path, image: Path,
                                                      tmp_path: Path, monkeypatch) -> None:
    real = cli_run.interpret
    monkeypatch.setattr(cli_run, "interpret",
                        lambda g, feeds: {k: v + 1e-2 for k, v in real(g, feeds).items()})
    before = snapshot(tmp_path)
    result = leptonc_cli("run", model, "--input", f"image={image}", "--compare-ort",
                         "-o", tmp_path / "out")
    assert_one_line_error(result, "differ from onnxruntime", "rtol 1e-4 / atol 1e-5", "logits")
    assert "logits: max abs 0.01" in result.out and "MISMATCH" in result.out
    assert snapshot(tmp_path) == before


def test_closed_stdout_exits_quietly(model: Path, monkeypatch, capsys) -> None:
    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main([str(model)]) == cli.EXIT_BROKEN_PIPE
    assert "Traceback" not in capsys.readouterr().err


# ----- errors and exit codes ---------------------------------------------------------------------
def test_internal_error_exits_70_and_debug_shows_traceback(leptonc_cli, model: Path,
                                                           monkeypatch) -> None:
    def bug(path):
        raise RuntimeError("invariant broken\nsecond line")

    monkeypatch.setattr(cli_info, "load_model", bug)
    result = leptonc_cli("info", model)
    assert_one_line_error(result, "internal error", "RuntimeError", "--debug", code=70)
    debug = leptonc_cli("--debug", "info", model)
    assert debug.code == 70
    assert "Traceback (most recent call last)" in debug.err
    assert debug.err.splitlines()[-1].startswith("leptonc: error: internal error")


def test_debug_shows_traceback_of_user_error(leptonc_cli, tmp_path: Path) -> None:
    result = leptonc_cli("info", tmp_path / "missing.onnx", "--debug")
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.err
    assert result.err.splitlines()[-1] == f"leptonc: error: {tmp_path / 'missing.onnx'}: no such file"


@pytest.mark.parametrize("args", [["--help"], ["compile", "--help"], ["info", "--help"],
                                  ["run", "--help"]])
def test_help_teaches_by_example(leptonc_cli, args: list[str]) -> None:
    result = leptonc_cli(*args)
    assert result.code == 0
    assert "usage: leptonc" in result.out
    assert "examples:" in result.out or args == ["--help"]


@pytest.mark.parametrize("command", ["compile", "info", "run"])
def test_every_command_takes_a_pipeline_and_instruments(leptonc_cli, command: str) -> None:
    result = leptonc_cli(command, "--help")
    assert result.code == 0
    for option in ("--passes PIPELINE", "-O N", "--time-passes", "--print-ir-after",
                   "--dump-ir DIR", "--verify-each", "--validate-each", "--debug-rules"):
        assert option in result.out, option


def test_list_passes_needs_no_model(leptonc_cli) -> None:
    assert cli.with_default_command(["--list-passes"]) == ["--list-passes"]
    for args in (["--list-passes"], ["--debug", "--list-passes"]):
        result = leptonc_cli(*args)
        assert result.code == 0, result.err
        assert "\n  dce\n" in result.out and "Named pipelines" in result.out


def test_info_labels_never_run_into_values(leptonc_cli, tmp_path: Path) -> None:
    # With only short op names the label column is at its narrowest.
    relu = _save_model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                       tmp_path / "relu.onnx")
    result = leptonc_cli("info", relu)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == "peak activations  16 B"


def test_version(leptonc_cli) -> None:
    result = leptonc_cli("--version")
    assert (result.code, result.out) == (0, f"leptonc {leptonc.__version__}\n")


def _write_npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


BAD_USAGE = {
    # name: (arguments after the model, words the error must contain, exit code)
    "unknown --emit": (["--emit", "llvm"], ["--emit", "invalid choice: 'llvm'"], 2),
    "unknown option": (["--frobnicate"], ["unrecognized arguments: --frobnicate"], 2),
    "-o is a folder": (["-o", "{tmp}"], ["-o", "is a folder"], 2),
}


@pytest.mark.parametrize("case", list(BAD_USAGE))
def test_bad_compile_options(leptonc_cli, model: Path, tmp_path: Path, case: str) -> None:
    args, mentions, code = BAD_USAGE[case]
    before = snapshot(tmp_path)
    result = leptonc_cli(model, *(a.format(tmp=tmp_path) for a in args))
    assert_one_line_error(result, *mentions, code=code)
    assert snapshot(tmp_path) == before


def test_no_model_given(leptonc_cli) -> None:
    assert_one_line_error(leptonc_cli(), "no model given", code=2)
    assert_one_line_error(leptonc_cli("info"), "required: MODEL", "leptonc info --help", code=2)


def test_unknown_model_format(leptonc_cli, tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"\x80\x02")
    assert_one_line_error(leptonc_cli("info", tmp_path / "model.pt"), "model.pt",
                          "unknown model format '.pt'", code=2)


def test_bad_lir_files(leptonc_cli, model: Path, tmp_path: Path) -> None:
    lir = tmp_path / "m.lir"
    assert leptonc_cli(model, "-o", lir).code == 0
    lir.with_name("m.lir.bin").unlink()
    assert_one_line_error(leptonc_cli("info", lir), "m.lir", "m.lir.bin is missing")
    bad_op = tmp_path / "bad_op.lir"
    bad_op.write_text("graph @g(%x: f32[2]) {\n  %y = ew.no_such_op(%x) : f32[2]\n  return %y\n}\n")
    assert_one_line_error(leptonc_cli("info", bad_op), "bad_op.lir", "ew.no_such_op")
    syntax = tmp_path / "syntax.lir"
    syntax.write_text("graph @g(%x: f32[2]) {\n  %y = ew.relu(%x : f32[2]\n")
    assert_one_line_error(leptonc_cli("info", syntax), "syntax.lir:2")


def _run_case(tmp: Path, image: Path) -> dict[str, tuple[list[str], list[str], int]]:
    x64 = _write_npy(tmp / "x64.npy", np.zeros((1, 3, 32, 32)))
    short = _write_npy(tmp / "short.npy", np.zeros((1, 3, 32, 31), np.float32))
    garbage = tmp / "garbage.npy"
    garbage.write_bytes(b"not numpy at all")
    archive = tmp / "in.npz"
    np.savez(archive, image=np.load(image))
    return {
        "missing input": ([], ["missing input(s) 'image'", "--input NAME=FILE.npy"], 1),
        "unknown input": ([f"--input=image={image}", f"--input=label={image}"],
                          ["unknown input(s) 'label'", "'image'"], 1),
        "wrong dtype": ([f"--input=image={x64}"], ["x64.npy", "'image'", "float64", "f32"], 1),
        "wrong shape": ([f"--input=image={short}"], ["short.npy", "[1, 3, 32, 31]",
                                                     "[1,3,32,32]"], 1),
        "spec without =": (["--input", str(image)], ["--input", "expected NAME=FILE.npy"], 2),
        "missing npy": (["--input", "image=nope.npy"], ["--input image=nope.npy",
                                                        "no such file"], 1),
        "npy is a folder": ([f"--input=image={tmp}"], ["is a directory"], 1),
        "garbage npy": ([f"--input=image={garbage}"], ["garbage.npy", "not a numpy file"], 1),
        "npz given as npy": ([f"--input=image={archive}"], ["in.npz", "--inputs"], 1),
        "npy given as npz": (["--inputs", str(image)], ["image.npy", "--input NAME=FILE"], 1),
        "input given twice": (["--inputs", str(archive), f"--input=image={image}"],
                              ["'image' is given twice"], 2),
        "output over a file": ([f"--input=image={image}", "-o", str(image)],
                               ["-o", "image.npy", "not a folder"], 2),
    }


@pytest.mark.parametrize("case", ["missing input", "unknown input", "wrong dtype", "wrong shape",
                                  "spec without =", "missing npy", "npy is a folder",
                                  "garbage npy", "npz given as npy", "npy given as npz",
                                  "input given twice", "output over a file"])
def test_bad_run_inputs(leptonc_cli, model: Path, image: Path, tmp_path: Path,
                        case: str) -> None:
    args, mentions, code = _run_case(tmp_path, image)[case]
    before = snapshot(tmp_path)
    out = [] if "-o" in args else ["-o", tmp_path / "out"]
    result = leptonc_cli("run", model, *args, *out)
    assert_one_line_error(result, *mentions, code=code)
    assert snapshot(tmp_path) == before


def test_compare_ort_needs_an_onnx_model(leptonc_cli, model: Path, image: Path,
                                        tmp_path: Path) -> None:
    lir = tmp_path / "m.lir"
    assert leptonc_cli(model, "-o", lir).code == 0
    result = leptonc_cli("run", lir, "--input", f"image={image}", "--compare-ort")
    assert_one_line_error(result, "--compare-ort", "m.lir", code=2)


# ----- the installed script, the example tool, README and CI ----------------------------------
def _installed_script() -> str:
    beside_python = Path(sys.executable).with_name("leptonc")
    found = str(beside_python) if beside_python.exists() else shutil.which("leptonc")
    assert found, "the leptonc console script is not installed (pip install -e .)"
    return found


def test_installed_console_script(tmp_path: Path) -> None:
    model = tmp_path / "example.onnx"
    assert example_model.main([str(model)]) == 0
    script = _installed_script()
    ok = subprocess.run([script, "info", str(model), "--json"], capture_output=True, text=True,
                        timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["macs"] == EXAMPLE_MACS
    bad = subprocess.run([script, str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "m.lir")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1
    assert bad.stderr == f"leptonc: error: {tmp_path / 'missing.onnx'}: no such file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["example.onnx"]


def _readme_commands() -> list[str]:
    """The README's set-up commands: the lines of its first two ```bash blocks."""
    text = (REPO / "README.md").read_text()
    blocks = text.split("```bash\n")[1:3]
    return [block.split("```")[0].strip() for block in blocks]


def test_ci_runs_the_readme_test_command() -> None:
    install_and_try, install_and_test = _readme_commands()
    assert "tools/example_model.py" in install_and_try and "leptonc info" in install_and_try
    assert install_and_test.startswith("pip install torch==2.13.0 && ")
    assert "pytest" in install_and_test
    ci = (REPO / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    assert install_and_test in ci.splitlines()
    assert os.access(REPO / ".ci" / "run", os.X_OK)


def test_readme_try_command_uses_existing_options() -> None:
    install_and_try, _ = _readme_commands()
    for command in install_and_try.split("&&"):
        words = shlex.split(command)
        if words[0] == "leptonc":
            # Parsing checks every option; the model file itself need not exist here.
            cli.build_parser().parse_args(cli.with_default_command(words[1:]))
