"""``--target gpu``: compiling needs no GPU.  The artifact keeps the generated CUDA source,
which nvcc compiles on its own; dlight's rules schedule every kernel."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

pytest.importorskip("tvm")

from cli_testing import assert_one_line_error  # noqa: E402

from leptonc.errors import ModelLoadError  # noqa: E402
from leptonc.ir.parser import parse_graph  # noqa: E402
from leptonc.passmgr import run_pipeline  # noqa: E402
from leptonc.targets.tvm.artifact import load_artifact  # noqa: E402
from leptonc.targets.tvm.driver import compile_to_folder  # noqa: E402

CONV_NET = """graph @net(%x: f32[1,3,8,8]) {
  %w = const [0.1, -0.2, 0.3, 0.05, 0.2, -0.1, 0.4, 0.0, -0.3, 0.2, 0.1, 0.1] : f32[4,3,1,1]
  %b = const [0.5, -0.5, 0.25, 0.0] : f32[4]
  %c = nn.conv(%x, %w, %b) : f32[1,4,8,8]
  %r = ew.relu(%c) : f32[1,4,8,8]
  %p = nn.global_avg_pool(%r) : f32[1,4,1,1]
  %s = const [1, 4] : i64[2]
  %f = shape.reshape(%p, %s) : f32[1,4]
  %y = reduce.softmax(%f) : f32[1,4]
  return %y
}"""


@pytest.fixture(scope="module")
def gpu_artifact(tmp_path_factory):
    graph = parse_graph(CONV_NET)
    run_pipeline(graph, "O2")
    out = tmp_path_factory.mktemp("gpu") / "net"
    compile_to_folder(graph, "gpu", out, arch="sm_90", pipeline="O2")
    return out


def _has_gpu() -> bool:
    import tvm

    return tvm.cuda(0).exist


def test_gpu_artifact_layout(gpu_artifact):
    assert (gpu_artifact / "kernels" / "model.cu").is_file() and (gpu_artifact / "model.so").is_file()
    manifest = json.loads((gpu_artifact / "manifest.json").read_text())
    assert manifest["target"] == "gpu" and manifest["arch"] == "sm_90"
    assert '"kind":"cuda"' in manifest["tvm_target"]
    report = (gpu_artifact / "report.md").read_text()
    assert "dlight.gpu." in report and "unscheduled |" not in report.split("## TVM PrimFuncs")[0]
    source = (gpu_artifact / "kernels" / "model.cu").read_text()
    assert "__global__" in source and "fused_" in source


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_emitted_cuda_compiles_with_nvcc(gpu_artifact, tmp_path):
    source = gpu_artifact / "kernels" / "model.cu"
    result = subprocess.run(["nvcc", "-arch=sm_90", "-c", str(source), "-o", str(tmp_path / "model.o")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model.o").stat().st_size > 0


def test_arch_is_checked(leptonc_cli, tmp_path):
    (tmp_path / "m.lir").write_text(CONV_NET)
    assert_one_line_error(leptonc_cli(tmp_path / "m.lir", "--target", "gpu", "--arch", "hopper", "-o",
                                      tmp_path / "o"), "--arch hopper", code=2)
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif("_has_gpu()", reason="this machine has a GPU")
def test_running_without_a_gpu_says_so(gpu_artifact, leptonc_cli, tmp_path):
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        load_artifact(gpu_artifact)
    (tmp_path / "m.lir").write_text(CONV_NET)
    result = leptonc_cli(tmp_path / "m.lir", "--target", "gpu", "-o", tmp_path / "o", "--verify")
    assert_one_line_error(result, "no CUDA GPU")
    assert (tmp_path / "o" / "model.so").is_file()  # the artifact itself was written


def test_f16_precision_emits_half_kernels(tmp_path):
    graph = parse_graph(CONV_NET)
    run_pipeline(graph, "O2")
    compile_to_folder(graph, "gpu", tmp_path / "half", precision="f16")
    assert json.loads((tmp_path / "half" / "manifest.json").read_text())["precision"] == "f16"
    assert "half" in (tmp_path / "half" / "kernels" / "model.cu").read_text()
