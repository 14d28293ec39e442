"""The kernel check of one model's convolutions: once per machine, cached, and a wrong shape
keeps oneDNN off."""

import json

import pytest

import deepnets
from deepnets.cpu_kernels import FAKE_FLAGS_VARIABLE, KernelDecision
from deepnets.training import TrainConfig, train
from deepnets.training.errors import CpuKernelError
from deepnets.training.run import api
from deepnets.training.runtime import kernel_verdicts
from deepnets.training.runtime.kernel_check import Case, check_size, convolution_cases
from deepnets.training.runtime.kernel_verdicts import (
    CACHE_VARIABLE,
    cache_path,
    check_in_subprocess,
    kernel_problem,
    read_verdicts,
    require_right_kernels,
    verdicts_for,
    wrong_convolution,
)

SHORTCUT = Case(1, 2, 4, 8, 32)  # the shape whose weight gradient was wrong on an AVX2 EPYC
TURNED_ON = KernelDecision(True, "deepnets", "turned on by deepnets: AVX2 without ...")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def model():
    return deepnets.build_model(
        "resnet18", num_classes=10, stem="cifar", width=4, input_shape=(32, 32, 3)
    )


class CountingCheck:
    """A kernel check that answers `verdict` for `wrong` and "ok" for the rest, and counts."""

    def __init__(self, wrong=None):
        self.wrong = wrong
        self.checked = []

    def __call__(self, cases):
        self.checked.append([str(case) for case in cases])
        return {str(c): "WRONG" if c == self.wrong else "ok" for c in cases}


def test_a_case_reads_back_from_its_text():
    assert Case.parse(str(SHORTCUT)) == SHORTCUT == Case.parse("1x1 stride 2, 4->8, 32x32")
    with pytest.raises(ValueError, match="case='1x1': expected e.g."):
        Case.parse("1x1")


def test_the_models_convolutions_are_its_distinct_shapes(model):
    cases = convolution_cases(model)
    assert len(cases) == len(set(cases)) and SHORTCUT in cases  # the shortcuts of stage 2
    assert Case(3, 1, 3, 4, 32) in cases  # the CIFAR stem
    assert {case.kernel for case in cases} == {1, 3}


def test_narrow_convolutions_are_checked_at_32x32_and_wide_ones_at_8x8():
    assert check_size(4, 8) == check_size(64, 64) == 32  # as where the wrong one was measured
    assert check_size(64, 128) == check_size(512, 512) == 8  # seconds for a whole ResNet


def test_the_verdicts_are_checked_once_then_read_from_the_cache(cache):
    check = CountingCheck()
    cases = [SHORTCUT, Case(3, 1, 4, 4, 32)]
    assert verdicts_for(cases, check) == {str(c): "ok" for c in cases}
    assert verdicts_for(cases, check) == {str(c): "ok" for c in cases}
    assert len(check.checked) == 1  # the second time, from the cache
    verdicts_for([*cases, Case(3, 2, 4, 8, 32)], check)
    assert check.checked[1] == ["3x3 stride 2, 4->8, 32x32"]  # only the shape not checked yet
    written = json.loads(open(cache_path()).read())
    assert written["verdicts"] == read_verdicts() and len(written["verdicts"]) == 3


def test_the_cache_is_per_cpu_flags_and_outside_the_home_in_tests(cache, monkeypatch):
    path = cache_path()
    assert path.startswith(str(cache)) and "/onednn-" in path
    monkeypatch.setenv(FAKE_FLAGS_VARIABLE, "sse2 avx2")
    assert cache_path() != path  # another CPU: its own verdicts


@pytest.mark.parametrize("variable", ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"])
def test_the_cache_is_per_onednn_isa_cap(cache, monkeypatch, variable):
    # Capped at AVX2, oneDNN runs other kernels (on an AMX Xeon, the AVX2 EPYC's wrong one).
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    uncapped = cache_path()
    monkeypatch.setenv(variable, "AVX2")
    capped = cache_path()
    assert capped != uncapped
    monkeypatch.setenv(variable, "avx2")
    assert cache_path() == capped
    monkeypatch.setenv(variable, "AVX512_CORE")
    assert cache_path() not in (capped, uncapped)


def test_a_wrong_shape_of_the_model_is_found_when_deepnets_turned_onednn_on(
    cache, model, monkeypatch
):
    monkeypatch.setattr(kernel_verdicts, "kernel_decision", lambda: TURNED_ON)
    monkeypatch.setattr(kernel_verdicts, "onednn_enabled", lambda: True)
    assert wrong_convolution(model, CountingCheck(wrong=SHORTCUT)) == SHORTCUT
    assert wrong_convolution(model, CountingCheck()) == SHORTCUT  # cached: not checked again
    assert kernel_verdicts.kept_off(kernel_verdicts.problem_of(SHORTCUT)) == KernelDecision(
        False,
        "deepnets",
        "kept off: the kernel check found the convolution 1x1 stride 2, 4->8, 32x32 wrong on "
        "this CPU",
    )


class Recipe:
    """A model recipe that counts its builds."""

    def __init__(self, model):
        self.model, self.builds = model, 0

    def build(self):
        self.builds += 1
        return self.model


def test_a_program_of_its_own_is_refused_with_how_to_start_instead(cache, model, monkeypatch):
    monkeypatch.setattr(kernel_verdicts, "kernel_decision", lambda: TURNED_ON)
    monkeypatch.setattr(kernel_verdicts, "onednn_enabled", lambda: True)
    monkeypatch.setattr(kernel_verdicts, "_problems", {})
    monkeypatch.setattr(kernel_verdicts, "check_in_subprocess", CountingCheck(wrong=SHORTCUT))
    recipe = Recipe(model)
    with pytest.raises(CpuKernelError) as caught:
        require_right_kernels(recipe)
    assert str(caught.value) == (
        f"the kernel check found the convolution {SHORTCUT} wrong on this CPU; oneDNN is on "
        "because DEEPNETS_FAST_CPU_KERNELS=1 turned it on: start Python with "
        "TF_ENABLE_ONEDNN_OPTS=0 to train right (slower), or TF_ENABLE_ONEDNN_OPTS=1 to force it"
    )
    assert kernel_problem(recipe) and recipe.builds == 1  # answered once per recipe


def test_a_failed_check_is_a_problem_too(cache, model, monkeypatch):
    def crashed(cases):
        raise RuntimeError("the oneDNN kernel check failed: Segmentation fault")

    monkeypatch.setattr(kernel_verdicts, "kernel_decision", lambda: TURNED_ON)
    monkeypatch.setattr(kernel_verdicts, "onednn_enabled", lambda: True)
    monkeypatch.setattr(kernel_verdicts, "_problems", {})
    monkeypatch.setattr(kernel_verdicts, "check_in_subprocess", crashed)
    problem = "the oneDNN kernel check failed: Segmentation fault"
    assert kernel_problem(Recipe(model)) == problem


def test_train_checks_the_kernels_before_anything_is_written(tmp_path, monkeypatch):
    def refuse(recipe):
        raise CpuKernelError(f"refused {recipe.name}")

    monkeypatch.setattr(api, "require_right_kernels", refuse)
    cfg = TrainConfig(model="resnet18", dataset="shapes10", model_dir=str(tmp_path / "run"))
    with pytest.raises(CpuKernelError, match="refused resnet18"):
        train(cfg)
    assert not (tmp_path / "run" / "run.json").exists()


@pytest.mark.parametrize(
    "decision",
    [
        KernelDecision(True, "user", "set by the user: TF_ENABLE_ONEDNN_OPTS=1"),
        KernelDecision(True, "tensorflow", "TensorFlow's default on this CPU (AMX)"),
        KernelDecision(False, "deepnets", "kept off: ..."),
    ],
)
def test_nothing_is_checked_where_deepnets_did_not_turn_onednn_on(
    cache, model, monkeypatch, decision
):
    monkeypatch.setattr(kernel_verdicts, "kernel_decision", lambda: decision)
    check = CountingCheck(wrong=SHORTCUT)
    assert wrong_convolution(model, check) is None and check.checked == []


def test_the_check_runs_in_a_process_with_onednn_on():
    assert check_in_subprocess([SHORTCUT, Case(3, 1, 64, 128, 8)]) == {
        "1x1 stride 2, 4->8, 32x32": "ok",  # right on this machine (AMX)
        "3x3 stride 1, 64->128, 8x8": "ok",
    }
