"""SPICE (Anderson et al., ECCV 2016) through the reference Java implementation, when it can run.

SPICE parses captions into scene graphs with Stanford CoreNLP, so it needs three things:

* a ``java`` executable (Debian: ``default-jre-headless``);
* ``spice-1.0.jar`` and its ``lib/`` folder, shipped by the ``pycocoevalcap`` wheel (PyPI);
* the Stanford CoreNLP 3.6.0 jars (``stanford-corenlp-3.6.0.jar`` and ``-models.jar``) in that ``lib/``,
  which pycocoevalcap downloads on first use from nlp.stanford.edu: offline they are usually missing.

:func:`spice_availability` checks all three without running anything and without downloading;
:func:`spice` runs the jar directly (not pycocoevalcap's wrapper, whose constructor starts a download)
and raises :class:`SpiceUnavailable` with the reason when something is missing. We never substitute
another number for SPICE.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from vividsound.errors import InputError, VividsoundError

__all__ = ["SpiceUnavailable", "SpiceAvailability", "spice_availability", "spice"]

CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


class SpiceUnavailable(VividsoundError):
    """SPICE cannot run here (no Java, no SPICE jar or no CoreNLP jars); the message says which."""


@dataclass(frozen=True)
class SpiceAvailability:
    """Whether SPICE can run, the reason when it cannot, and where its jar is."""

    available: bool
    reason: str  # "" when available
    jar: Path | None = None
    java: str | None = None


def _default_spice_dir() -> Path | None:
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "spice"


def spice_availability(spice_dir: str | os.PathLike | None = None) -> SpiceAvailability:
    """Check for Java, ``spice-1.0.jar`` and the CoreNLP jars, without running or downloading anything.

    Args:
        spice_dir: folder holding ``spice-1.0.jar`` and ``lib/``; default: the installed
            pycocoevalcap's ``spice`` folder, or ``$VIVIDSOUND_SPICE_DIR`` when set.
    """
    java = shutil.which("java")
    if java is None:
        return SpiceAvailability(False, "no 'java' executable on PATH (install default-jre-headless)")
    if spice_dir is None and os.environ.get("VIVIDSOUND_SPICE_DIR"):
        spice_dir = os.environ["VIVIDSOUND_SPICE_DIR"]
    d = Path(spice_dir) if spice_dir is not None else _default_spice_dir()
    if d is None:
        return SpiceAvailability(False, "pycocoevalcap is not installed (it ships spice-1.0.jar)", java=java)
    jar = d / "spice-1.0.jar"
    if not jar.is_file():
        return SpiceAvailability(False, f"spice-1.0.jar not found in {d}", java=java)
    missing = [j for j in CORENLP_JARS if not (d / "lib" / j).is_file()]
    if missing:
        return SpiceAvailability(
            False, f"Stanford CoreNLP jars missing from {d / 'lib'}: {', '.join(missing)}", jar=jar, java=java
        )
    return SpiceAvailability(True, "", jar=jar, java=java)


def spice(candidates: Sequence[str], references: Sequence[Sequence[str]], *,
          spice_dir: str | os.PathLike | None = None, timeout_s: float = 1800.0,
          java_heap: str = "8G") -> tuple[float, list[float]]:
    """SPICE F-scores of candidate captions against reference captions.

    Args:
        candidates: one caption per item (length N).
        references: for each item, one or more reference captions.
        spice_dir: see :func:`spice_availability`.
        timeout_s: how long the Java process may run.
        java_heap: the JVM's ``-Xmx`` value.

    Returns:
        (corpus mean, per-item F-scores in input order); items SPICE could not parse count as NaN in the
        list and are left out of the mean.

    Raises:
        SpiceUnavailable: when Java, the SPICE jar or the CoreNLP jars are missing, or the jar fails.
    """
    if len(candidates) != len(references):
        raise InputError(f"got {len(candidates)} candidates for {len(references)} reference sets")
    avail = spice_availability(spice_dir)
    if not avail.available:
        raise SpiceUnavailable(avail.reason)
    assert avail.jar is not None and avail.java is not None
    data = [{"image_id": i, "test": c, "refs": list(r)} for i, (c, r) in enumerate(zip(candidates, references))]
    with tempfile.TemporaryDirectory(prefix="vividsound-spice-") as tmp:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps(data), encoding="utf-8")
        cmd = [avail.java, "-jar", f"-Xmx{java_heap}", str(avail.jar), str(inp), "-out", str(out), "-subset",
               "-silent"]
        try:
            proc = subprocess.run(cmd, cwd=str(avail.jar.parent), capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise SpiceUnavailable(f"SPICE did not finish within {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not out.is_file():
            last = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise SpiceUnavailable(f"SPICE jar failed (exit {proc.returncode}): {last[0][:200]}")
        results = json.loads(out.read_text(encoding="utf-8"))
    by_id = {int(r["image_id"]): r for r in results}
    per_item: list[float] = []
    for i in range(len(candidates)):
        try:
            per_item.append(float(by_id[i]["scores"]["All"]["f"]))
        except (KeyError, TypeError, ValueError):
            per_item.append(float("nan"))
    valid = [x for x in per_item if not math.isnan(x)]
    if not valid:
        raise SpiceUnavailable("SPICE returned no scores")
    return sum(valid) / len(valid), per_item
