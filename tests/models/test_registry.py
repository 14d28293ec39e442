"""The registry: names, overrides, errors, and pinned parameter counts of the real architectures."""

import inspect

import numpy as np
import pytest
import tensorflow as tf
from model_cases import small_model

import deepnets
from deepnets.checks import ArgumentError
from deepnets.models import VGG, AlexNet, ResNet

# Full-size ImageNet configurations (1000 classes, 224x224x3). The VGG16/19 and ResNet50/101/152
# figures are keras.applications' own counts: the architectures are the reference's.
PINNED_PARAMS = {
    "alexnet": 62_378_344,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_874_344,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_059_624,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_374_440,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_689_256,
    "resnet18": 11_703_912,
    "resnet34": 21_823_208,
    "resnet50": 25_636_712,
    "resnet101": 44_707_176,
    "resnet152": 60_419_944,
    # The plain twins drop the projection shortcuts (1x1 conv + BN in conv3/4/5_block1: 176,512
    # weights), so they have ResNet(shortcut="A")'s count.
    "plain18": 11_527_400,
    "plain34": 21_646_696,
}
# The CIFAR family (10 classes, 32x32x3): (every weight, as Keras counts them, with the BN
# moving statistics; the trainable ones, which the paper's Table 6 counts). A plain twin has its
# ResNet's counts: option A shortcuts have no parameters.
CIFAR_PINNED_PARAMS = {
    "resnet20": (271_098, 269_722),
    "resnet32": (466_426, 464_154),
    "resnet44": (661_754, 658_586),
    "resnet56": (857_082, 853_018),
    "resnet110": (1_736_058, 1_727_962),
}
CIFAR_PINNED_PARAMS.update(
    {name.replace("resnet", "plain"): counts for name, counts in CIFAR_PINNED_PARAMS.items()}
)
# FastVGG (airbench's network: "2.0M parameters"), and its half-width registration.
FAST_PINNED_PARAMS = {"vgg_fast": 1_980_394, "vgg_fast_half": 497_146}
TABLE_6_MILLIONS = {"20": "0.27", "32": "0.46", "44": "0.66", "56": "0.85", "110": "1.7"}
KERAS_APPLICATIONS_PARAMS = {
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "resnet50": 25_636_712,
    "resnet101": 44_707_176,
    "resnet152": 60_419_944,
}


def test_list_models_names_every_variant():
    names = deepnets.list_models()
    assert names == sorted(names)
    everything = set(PINNED_PARAMS) | set(CIFAR_PINNED_PARAMS) | set(FAST_PINNED_PARAMS)
    assert everything | {"alexnet_cifar"} == set(names)


@pytest.mark.parametrize("name", sorted(FAST_PINNED_PARAMS))
def test_pinned_fast_vgg_parameter_count(name):
    model = deepnets.build_model(name, input_shape=(32, 32, 3))
    assert model.count_params() == FAST_PINNED_PARAMS[name]
    assert model.compute_output_shape((None, 32, 32, 3)) == (None, 10)
    assert [layer.name for layer in model.layers[1:]] == [
        "stem",
        "block1",
        "block2",
        "block3",
        "classifier",
    ]
    assert all(block.activation == "gelu" and block.batch_norm for block in model.blocks)


@pytest.mark.parametrize("name", sorted(PINNED_PARAMS))
def test_pinned_parameter_count_without_forward_pass(name):
    model = deepnets.build_model(name)
    model.build((None, 224, 224, 3))
    assert model.count_params() == PINNED_PARAMS[name]
    assert model.compute_output_shape((None, 224, 224, 3)) == (None, 1000)


@pytest.mark.parametrize("name", sorted(CIFAR_PINNED_PARAMS))
def test_pinned_cifar_parameter_count_without_forward_pass(name):
    model = deepnets.build_model(name)  # 10 classes by default: CIFAR-10, as in the paper
    model.build((None, 32, 32, 3))
    total, trainable = CIFAR_PINNED_PARAMS[name]
    assert model.count_params() == total
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    assert model.compute_output_shape((None, 32, 32, 3)) == (None, 10)


@pytest.mark.parametrize("depth", sorted(TABLE_6_MILLIONS, key=int))
def test_cifar_counts_round_to_the_papers_table_6(depth):
    _, trainable = CIFAR_PINNED_PARAMS[f"resnet{depth}"]
    digits = len(TABLE_6_MILLIONS[depth].split(".")[1])
    assert f"{trainable / 1e6:.{digits}f}" == TABLE_6_MILLIONS[depth]


@pytest.mark.parametrize("depth", [18, 34])
def test_plain_twin_has_the_count_of_option_a(depth):
    option_a = ResNet(depth=depth, shortcut="A")
    assert option_a.count_params() == PINNED_PARAMS[f"plain{depth}"]
    assert PINNED_PARAMS[f"resnet{depth}"] - PINNED_PARAMS[f"plain{depth}"] == sum(
        b.shortcut_conv.count_params() + b.shortcut_bn.count_params()
        for b in deepnets.build_model(f"resnet{depth}").blocks
        if b.shortcut_conv is not None
    )


def test_keras_applications_counts_match_pins():
    for name, count in KERAS_APPLICATIONS_PARAMS.items():
        assert PINNED_PARAMS[name] == count


def test_cifar_resnet50_parameter_count_and_shape():
    model = deepnets.build_model("resnet50", num_classes=100, stem="cifar")
    model.build((None, 32, 32, 3))
    # Same weights as ImageNet's but a 3x3 stem conv and 100 classes.
    assert model.count_params() == 25_636_712 - (7 * 7 - 3 * 3) * 3 * 64 - 900 * 2049
    assert model.compute_output_shape((None, 32, 32, 3)) == (None, 100)


def test_build_model_passes_overrides_and_uses_registry_name():
    model = deepnets.build_model("resnet18", num_classes=7, stem="cifar", width=8)
    assert isinstance(model, ResNet)
    assert (model.depth, model.num_classes, model.stem, model.width) == (18, 7, "cifar", 8)
    assert model.name == "resnet18"
    vgg = deepnets.models.vgg16_bn(num_classes=3)
    assert isinstance(vgg, VGG) and vgg.batch_norm and vgg.depth == 16 and vgg.num_classes == 3


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown model name 'resent50'.*resnet50.*Valid names:"):
        deepnets.build_model("resent50")


def test_unknown_override_names_it():
    with pytest.raises(TypeError, match=r"unexpected override `num_clases`"):
        deepnets.build_model("vgg16", num_clases=10)


def test_override_fixed_by_name_is_refused():
    with pytest.raises(TypeError, match=r"does not accept `depth`"):
        deepnets.build_model("resnet50", depth=18)


def test_register_model_adds_a_variant_and_rejects_duplicates():
    deepnets.models.register_model("resnet26_test", ResNet, {"depth": 18}, {"width": 16})
    model = deepnets.build_model("resnet26_test", num_classes=2)
    assert model.width == 16 and model.depth == 18
    with pytest.raises(ValueError, match="already registered"):
        deepnets.models.register_model("resnet50", ResNet, {"depth": 50})
    deepnets.models.registry._REGISTRY.pop("resnet26_test")


@pytest.mark.parametrize(
    "name, kwargs, pattern",
    [
        ("resnet50", {"stem": "tiny"}, r"`stem` must be one of 'imagenet', 'cifar'; got 'tiny'\."),
        ("resnet50", {"pooling": "mean"}, r"`pooling` must be one of None, 'avg', 'max'"),
        ("vgg16", {"head": "big"}, r"`head` must be one of 'fc', 'cifar'; got 'big'\."),
        ("vgg16", {"width": 0}, r"`width` must be a positive integer; got 0\."),
        ("resnet18", {"num_classes": -1}, r"`num_classes` must be a positive integer; got -1\."),
        ("resnet18", {"include_top": 1}, r"`include_top` must be True or False; got 1\."),
        ("alexnet", {"stem": "cifar"}, r"does not accept `stem`"),
        ("alexnet", {"variant": "cifar"}, r"unexpected override `variant`"),
        ("resnet18", {"input_shape": (32, 32)}, r"`input_shape` must be a sequence \(height"),
        ("resnet18", {"input_shape": (32, 32, None)}, r"with a known channel count"),
        ("resnet20", {"shortcut": "C"}, r"`shortcut` must be one of 'A', 'B'; got 'C'\."),
        ("resnet20", {"stem": "imagenet"}, r"does not accept `stem`.*fixes stem='cifar'"),
        ("plain20", {"residual": True}, r"does not accept `residual`.*fixes residual=False"),
        ("resnet50", {"shortcut": "A"}, r"`shortcut`: shortcut='A' .* basic blocks.*ResNet-50"),
    ],
)
def test_bad_model_arguments_raise_at_construction(name, kwargs, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        deepnets.build_model(name, **kwargs)


@pytest.mark.parametrize(
    "name, kwargs, argument",
    [
        # True == 1 and 2.0 == 2 in Python: a loose check would take them.
        ("resnet18", {"width": True}, "width"),
        ("vgg11", {"num_classes": 2.0}, "num_classes"),
        ("resnet18", {"depth": True}, "depth"),
        ("alexnet_cifar", {"fc_units": 16.0}, "fc_units"),
        ("resnet18", {"zero_init_residual": 0}, "zero_init_residual"),
        ("resnet18", {"input_shape": (32, 32, True)}, "input_shape"),
        ("resnet20", {"depth": True}, "depth"),
        ("resnet20", {"residual": 0}, "residual"),
        ("resnet18", {"residual": "no"}, "residual"),
    ],
)
def test_bools_and_floats_are_not_taken_for_ints(name, kwargs, argument):
    cls = deepnets.get_model_spec(name).model_class
    with pytest.raises(ArgumentError) as info:
        cls(**kwargs)
    assert info.value.name == argument


def test_alexnet_stem_is_the_word_resnet_uses():
    assert deepnets.build_model("alexnet").stem == "imagenet"
    model = deepnets.build_model("alexnet_cifar")
    assert model.stem == "cifar" and model.get_layer("conv1").kernel_size == (5, 5)
    with pytest.raises(ValueError, match=r"`stem` must be one of 'imagenet', 'cifar'; got 'v1'"):
        AlexNet(stem="v1")


@pytest.mark.parametrize("cls, depth", [(ResNet, 42), (VGG, 12)])
def test_unknown_depth_lists_allowed_depths(cls, depth):
    with pytest.raises(ValueError, match=rf"`depth` must be one of .*; got {depth}"):
        cls(depth=depth)


@pytest.mark.parametrize(
    "name, overrides, expected",
    [
        ("resnet50", {}, (None, None, 3)),
        ("resnet20", {}, (None, None, 3)),
        ("plain18", {}, (None, None, 3)),
        ("resnet50", {"data_format": "channels_first"}, (3, None, None)),
        ("vgg16", {}, (224, 224, 3)),  # the "fc" head flattens a fixed-size map
        ("vgg16", {"include_top": False}, (None, None, 3)),
        ("vgg16", {"head": "cifar"}, (None, None, 3)),
        ("vgg16", {"data_format": "channels_first"}, (3, 224, 224)),
        ("alexnet", {}, (224, 224, 3)),
        ("alexnet_cifar", {}, (32, 32, 3)),
        ("alexnet", {"include_top": False}, (None, None, 3)),
        ("resnet18", {"input_shape": (32, 32, 1)}, (32, 32, 1)),
    ],
)
def test_default_input_shape_fits_the_head(name, overrides, expected):
    model = deepnets.build_model(name, **overrides)
    assert model.get_config()["input_shape"] == expected
    assert tuple(model.input_shape) == (None, *expected)  # Keras' view, batch first


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("vgg16", {"input_shape": (None, None, 3)}),
        ("alexnet", {"input_shape": (None, 64, 3)}),
        ("vgg11", {"input_shape": (3, None, None), "data_format": "channels_first"}),
    ],
)
def test_unknown_size_with_a_flattening_head_names_input_shape(name, overrides):
    with pytest.raises(ValueError, match=r"`input_shape`: .* needs a fixed height and width.*"):
        deepnets.build_model(name, **overrides)


def test_build_checks_the_shape_and_is_harmless_when_it_fits():
    model = deepnets.build_model("resnet18", width=4)
    weights = [w.numpy() for w in model.weights]
    model.build((None, 32, 32, 3))  # what training code calls on any Keras model
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(weights, model.weights, strict=True))
    with pytest.raises(ValueError, match=r"rank-4 image input.*rank 3"):
        model.build((None, 32, 32))
    with pytest.raises(ValueError, match=r"constructed for .*build\(\) got \(None, 32, 32, 1\)"):
        model.build((None, 32, 32, 1))
    gray = deepnets.build_model("resnet18", width=4, input_shape=(32, 32, 1))
    gray.build((None, 32, 32, 1))
    assert gray(np.zeros((1, 32, 32, 1), "float32")).shape == (1, 1000)
    vgg = deepnets.build_model("vgg11", width=4, fc_units=8, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"input_shape=\(64, 64, 3\)"):
        vgg.build((None, 64, 64, 3))


def test_built_model_rejects_a_call_with_other_channels():
    model = deepnets.build_model("vgg11", width=4, head="cifar", num_classes=3)
    model.build((None, 32, 32, 3))
    with pytest.raises(ValueError, match=r"expected shape=\(None, None, None, 3\)"):
        model(tf.zeros((1, 32, 32, 4)))


@pytest.mark.parametrize("name", deepnets.list_models())
def test_config_is_the_constructor_arguments_and_attributes_carry_their_names(name):
    model = small_model(name)
    config = model.get_config()
    params = inspect.signature(type(model).__init__).parameters
    arguments = {p for p in params if p not in ("self", "kwargs")}
    assert set(config) == arguments | {"name", "trainable"}
    for key in arguments - {"input_shape", "dtype", "kernel_initializer", "kernel_regularizer"}:
        assert getattr(model, key) == config[key], key
