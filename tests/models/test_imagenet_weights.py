"""keras.applications' ImageNet weight files: the same origins and hashes as keras.applications,
downloaded once into the cache with the hash checked, and one line when they cannot be. No
network: the origins are patched to local files."""

import hashlib
import inspect

import pytest
from keras.src.applications import resnet, vgg16, vgg19

from deepnets.models import WeightsDownloadError, imagenet_weights_file
from deepnets.models import imagenet_weights as weights_module
from deepnets.models.imagenet_weights import IMAGENET_WEIGHTS, WeightsFile

KEY = ("resnet50", False)


def test_the_table_holds_keras_applications_origins_and_hashes():
    sources = {"vgg16": inspect.getsource(vgg16), "vgg19": inspect.getsource(vgg19)}
    for (name, top), entry in IMAGENET_WEIGHTS.items():
        if name.startswith("resnet"):
            assert entry.origin == resnet.BASE_WEIGHTS_PATH + entry.file_name
            assert entry.file_hash == resnet.WEIGHTS_HASHES[name][0 if top else 1]
        else:
            module = vgg16 if name == "vgg16" else vgg19
            assert entry.origin == (module.WEIGHTS_PATH if top else module.WEIGHTS_PATH_NO_TOP)
            assert f'file_hash="{entry.file_hash}"' in sources[name]
        assert entry.origin.endswith("/" + entry.file_name)


@pytest.fixture
def local_origin(tmp_path, monkeypatch):
    """resnet50's file served from a local file, into a cache of the test's own."""
    served = tmp_path / "served.h5"
    served.write_bytes(b"weights of a test" * 100)
    entry = IMAGENET_WEIGHTS[KEY]
    file_hash = hashlib.md5(served.read_bytes()).hexdigest()
    good = WeightsFile(entry.file_name, served.as_uri(), file_hash)
    monkeypatch.setitem(IMAGENET_WEIGHTS, KEY, good)
    monkeypatch.setattr(weights_module, "CACHE_DIR", str(tmp_path / "cache"))
    return served, good


def test_the_file_is_downloaded_into_the_cache_once(local_origin, tmp_path):
    served, entry = local_origin
    path = imagenet_weights_file("resnet50")
    assert path == str(tmp_path / "cache" / "models" / entry.file_name)
    with open(path, "rb") as f:
        assert f.read() == served.read_bytes()
    served.unlink()  # no network: the cached file is used
    assert imagenet_weights_file("resnet50") == path


def test_a_hash_mismatch_or_no_network_is_one_line_naming_the_file(local_origin, monkeypatch):
    served, entry = local_origin
    monkeypatch.setitem(IMAGENET_WEIGHTS, KEY, WeightsFile(entry.file_name, entry.origin, "0" * 32))
    with pytest.raises(WeightsDownloadError, match="md5 hash is not keras.applications' 0000"):
        imagenet_weights_file("resnet50")
    missing = served.with_name("missing.h5").as_uri()
    monkeypatch.setitem(IMAGENET_WEIGHTS, KEY, WeightsFile(entry.file_name, missing, "0" * 32))
    with pytest.raises(WeightsDownloadError) as info:
        imagenet_weights_file("resnet50")
    message = str(info.value)
    assert len(message.splitlines()) == 1 and isinstance(info.value, OSError)
    assert f"could not download {entry.file_name} from {missing} (" in message
    assert "pass its path instead of 'imagenet' (e.g. --init_weights=PATH)" in message
    with pytest.raises(ValueError, match="choose from vgg16, vgg19, resnet50"):
        imagenet_weights_file("resnet18")
