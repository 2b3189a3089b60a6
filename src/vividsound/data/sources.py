"""Pluggable sound sources: Debian packages, a zip or Qt ``.rcc`` inside one, or a plain folder.

A source knows how to *fetch* itself into a cache folder (idempotent, with a stamp file) and how to
*list* its clips as :class:`RawClip` records. A clip's ``loc`` is a small picklable tuple that a worker
process turns into bytes (``("file", path)``, ``("zip", zip_path, member)``, ``("rcc", rcc_path,
entry)``), so extraction can run in parallel. Tests plug in :class:`FolderSource` on fixture files.

Sources reserved for independent evaluation (see SOURCES.md) are refused by name.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vividsound.data.labels import Event, label_for
from vividsound.data.rcc import RccReader
from vividsound.errors import VividsoundError

__all__ = ["SourceError", "RawClip", "Source", "DebSource", "FolderSource", "DEFAULT_SOURCES",
           "read_clip_bytes", "speech_attrs"]

AUDIO_SUFFIXES = (".ogg", ".wav", ".flac", ".mp3", ".oga")
# Reserved for independent evaluation; the builder refuses them (their names are hashed so that no
# code path can fetch them by accident through this table).
_RESERVED_SHA1 = {"fc278532295e0de5688fefcdb4bfbb8f078a30a0", "6d68e183f826498b6153b634f5ac7eb4dc6d26db",
                  "6c9520d9572f33c8d48b3dc7de1ba0bbef1be625"}


class SourceError(VividsoundError):
    """A source cannot be fetched or read."""


@dataclass(frozen=True)
class RawClip:
    """One audio file (or one entry inside a bundle) of a source, with its label."""

    source: str  # source name, e.g. "0ad-data"
    key: str  # path inside the source; unique per source
    loc: tuple[str, ...]  # how a worker reads it: ("file", p) | ("zip", z, m) | ("rcc", r, e) | ("render", json)
    event: str  # event name from the label table
    family: str  # the event's family
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)  # speech text/language, render spec


@dataclass(frozen=True)
class Source:
    """Base class: a named, licensed collection of clips."""

    name: str  # short unique name; also the folder name under clips/
    licence: str  # SPDX-like licence id of the audio
    attribution: str  # the credit line the licence requires

    def fetch(self, cache: Path) -> None:  # pragma: no cover - overridden
        """Download and unpack into ``cache`` (idempotent)."""

    def clips(self, cache: Path) -> tuple[list[RawClip], list[tuple[str, str]]]:  # pragma: no cover
        """(labelled clips, [(key, reason)] of files skipped for having no label)."""
        raise NotImplementedError

    def licence_files(self, cache: Path) -> list[Path]:
        """Files holding the full licence and copyright statement (copied into the corpus)."""
        return []


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        res = subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True)
    except FileNotFoundError:
        raise SourceError(f"command not found: {cmd[0]}") from None
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise SourceError(f"{' '.join(cmd)} failed: {msg[-1] if msg else res.returncode}")


def _check_allowed(name: str) -> None:
    if hashlib.sha1(name.encode()).hexdigest() in _RESERVED_SHA1:
        raise SourceError(f"source {name!r} is reserved for independent evaluation and may not be used")


@dataclass(frozen=True)
class DebSource(Source):
    """A Debian package fetched with ``apt-get download`` and unpacked with ``dpkg-deb``.

    ``members`` are tar globs to unpack (all when empty); ``container`` is "", "zip" (read the zip
    named by ``container_glob`` without unpacking it) or "rcc" (read every ``.rcc`` bundle).
    """

    package: str = ""  # Debian package name
    roots: tuple[str, ...] = ()  # folders (relative to the unpacked tree) that hold the audio
    members: tuple[str, ...] = ()  # tar wildcards to unpack; empty = everything
    container: str = ""  # "" | "zip" | "rcc"
    container_glob: str = ""  # glob for the zip inside the unpacked tree
    zip_prefix: str = ""  # only zip members under this prefix

    def _dir(self, cache: Path) -> Path:
        return cache / "pkgs" / self.package

    def fetch(self, cache: Path) -> None:
        _check_allowed(self.package)
        out = self._dir(cache)
        if (out / ".extracted").exists():
            return
        debs = cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        found = sorted(debs.glob(f"{self.package}_*.deb"))
        if not found:
            _run(["apt-get", "download", self.package], debs)
            found = sorted(debs.glob(f"{self.package}_*.deb"))
            if not found:
                raise SourceError(f"apt-get download {self.package} wrote no .deb into {debs}")
        out.mkdir(parents=True, exist_ok=True)
        if self.members:
            cmd = (f"dpkg-deb --fsys-tarfile '{found[-1]}' | tar -x -C '{out}' --wildcards "
                   + " ".join(f"'{m}'" for m in self.members))
            res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
            if res.returncode != 0:
                raise SourceError(f"unpacking {found[-1].name} failed: {res.stderr.strip()[-200:]}")
        else:
            _run(["dpkg-deb", "-x", str(found[-1]), str(out)], cache)
        (out / ".extracted").write_text(found[-1].name + "\n")

    def licence_files(self, cache: Path) -> list[Path]:
        return sorted(self._dir(cache).glob("usr/share/doc/*/copyright"))

    def clips(self, cache: Path) -> tuple[list[RawClip], list[tuple[str, str]]]:
        base = self._dir(cache)
        raw: list[tuple[str, tuple[str, ...]]] = []
        if self.container == "zip":
            for z in sorted(base.glob(self.container_glob)):
                with zipfile.ZipFile(z) as zf:
                    for info in zf.infolist():
                        n = info.filename
                        if n.startswith(self.zip_prefix) and n.lower().endswith(AUDIO_SUFFIXES):
                            raw.append((n, ("zip", str(z), n)))
        elif self.container == "rcc":
            for r in sorted(base.rglob("*.rcc")):
                try:
                    entries = list(RccReader(r).entries())
                except VividsoundError:
                    raw.append((f"{r.name}:<bundle>", ("rcc", str(r), "")))  # reported as corrupt later
                    continue
                for e in entries:
                    if e.path.lower().endswith(AUDIO_SUFFIXES):
                        raw.append((f"{r.stem}/{e.path}", ("rcc", str(r), e.path)))
        else:
            for root in self.roots:
                for p in sorted((base / root).rglob("*")):
                    if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES:
                        raw.append((str(p.relative_to(base / root)), ("file", str(p))))
        return _label(self.name, raw, base)


@dataclass(frozen=True)
class FolderSource(Source):
    """Audio files under a local folder, labelled by the same table (tests, user collections)."""

    folder: str = ""  # the folder to scan recursively

    def fetch(self, cache: Path) -> None:
        _check_allowed(self.name)
        if not Path(self.folder).is_dir():
            raise SourceError(f"source {self.name!r}: folder not found: {self.folder}")

    def clips(self, cache: Path) -> tuple[list[RawClip], list[tuple[str, str]]]:
        base = Path(self.folder)
        raw = [(str(p.relative_to(base)), ("file", str(p))) for p in sorted(base.rglob("*"))
               if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
        return _label(self.name, raw, base)


def _label(source: str, raw: list[tuple[str, tuple[str, ...]]], base: Path
           ) -> tuple[list[RawClip], list[tuple[str, str]]]:
    clips, skipped = [], []
    for key, loc in sorted(raw):
        ev: Event | None = label_for(source, key)
        if ev is None:
            skipped.append((key, "no label in the label table"))
            continue
        attrs = speech_attrs(source, key, base) if ev.family == "speech" else {}
        clips.append(RawClip(source, key, loc, ev.name, ev.family, attrs))
    return clips, skipped


LANGS = {"af": "Afrikaans", "ar": "Arabic", "be": "Belarusian", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech",
         "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "eu": "Basque",
         "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "he": "Hebrew", "hr": "Croatian",
         "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian",
         "nb": "Norwegian", "nl": "Dutch", "nn": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
         "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish",
         "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese"}
_ANCIENT = {"greek": "ancient Greek", "latin": "Latin", "celtic": "a Celtic language", "iberian": "Iberian",
            "persian": "old Persian", "carthaginian": "Punic", "hellenic": "ancient Greek", "gaelic": "Gaelic",
            "egyptian": "ancient Egyptian", "mauryan": "Sanskrit", "han": "old Chinese", "german": "old German",
            "briton": "a Celtic language", "gaul": "Gaulish", "roman": "Latin", "ptolemies": "ancient Greek",
            "kush": "Meroitic", "spartan": "ancient Greek", "athenian": "ancient Greek"}


def _tux_text(base: Path, key: str, lang: str) -> str:
    """The description text of a Tux Paint stamp in ``lang`` from its ``.txt`` (empty when absent)."""
    stem = re.sub(r"(_desc)?(_[a-z]{2}(_[a-zA-Z]+)?)?\.ogg$", "", key)
    txt = base / (stem + ".txt")
    try:
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    if lang == "en":
        return lines[0].strip() if lines else ""
    for line in lines:
        if line.startswith(f"{lang}.utf8="):
            return line.split("=", 1)[1].strip()
    return ""


def speech_attrs(source: str, key: str, base: Path) -> dict[str, Any]:
    """Speaker, language and words of a speech clip, as far as its source tells (never guessed)."""
    k = key.lower()
    stem = re.sub(r"\.[a-z0-9]+$", "", k.rsplit("/", 1)[-1])
    if source == "asterisk-core-sounds-en-wav":
        return {"speaker": "woman", "language": "English", "text": re.sub(r"[-_]+", " ", stem).strip(),
                "style": "telephone"}
    if source == "hedgewars-data":
        pack = key.split("voices/")[-1].split("/")[0] if "voices/" in key else ""
        return {"speaker": "cartoon", "language": "English", "text": re.sub(r"\d+$", "", stem), "style": pack}
    if source == "tuxpaint-stamps-default":
        m = re.search(r"_([a-z]{2})(_[a-z]+)?\.ogg$", k)
        code = m.group(1) if m and m.group(1) in LANGS else "en"
        return {"speaker": "person", "language": LANGS[code], "text": _tux_text(base, key, code) if code == "en" else ""}
    if source == "0ad-data":
        parts = k.split("/")
        lang = _ANCIENT.get(parts[2] if len(parts) > 2 else "", "an ancient language")
        speaker = "woman" if "female" in k else "man"
        return {"speaker": speaker, "language": lang, "text": "", "style": "shout"}
    speaker = "woman" if re.search(r"woman|female", k) else "man" if re.search(r"(^|[/_])(man|male)", k) else "person"
    return {"speaker": speaker, "language": "", "text": ""}


def read_clip_bytes(loc: tuple[str, ...], _cache: dict[str, Any] = {}) -> bytes:  # noqa: B006 - per-process cache
    """The encoded bytes of a clip (file, zip member or rcc entry); raises SourceError when unreadable."""
    kind = loc[0]
    try:
        if kind == "file":
            return Path(loc[1]).read_bytes()
        if kind == "zip":
            zf = _cache.get(loc[1])
            if zf is None:
                zf = _cache[loc[1]] = zipfile.ZipFile(loc[1])
            return zf.read(loc[2])
        if kind == "rcc":
            rd = _cache.get(loc[1])
            if rd is None:
                if len(_cache) > 8:
                    _cache.clear()
                rd = _cache[loc[1]] = RccReader(loc[1])
            for e in rd.entries():
                if e.path == loc[2]:
                    return rd.read(e)
            raise SourceError(f"{loc[1]} has no entry {loc[2]!r}")
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise SourceError(f"cannot read {loc[1:]}: {e}") from None
    raise SourceError(f"unknown clip location kind {kind!r}")


_GAME = "From the game {}; see the package's debian/copyright for the authors."
DEFAULT_SOURCES: dict[str, Source] = {s.name: s for s in [
    DebSource("0ad-data", "CC-BY-SA-3.0", "0 A.D. by Wildfire Games (play0ad.com), CC BY-SA 3.0.",
              package="0ad-data", members=("*public.zip", "*/copyright"), container="zip",
              container_glob="usr/share/games/0ad/mods/public/public.zip", zip_prefix="audio/"),
    DebSource("tuxpaint-stamps-default", "GPL-2.0", "Tux Paint stamps by New Breed Software and contributors, GPL-2.",
              package="tuxpaint-stamps-default", roots=("usr/share/tuxpaint/stamps",)),
    DebSource("widelands-data", "GPL-2.0-or-later", "Widelands (widelands.org) contributors; " + _GAME.format("Widelands"),
              package="widelands-data", roots=("usr/share/games/widelands/data",)),
    DebSource("hydrogen-drumkits", "CC0/CC-BY/GPL (per kit)", "Hydrogen drumkits; per-kit authors in each drumkit.xml.",
              package="hydrogen-drumkits", roots=("usr/share/hydrogen/data/drumkits",)),
    DebSource("gcompris-qt-data", "GPL-3.0/CC-BY-SA/PD (per file)", "GCompris (gcompris.net) by KDE and contributors.",
              package="gcompris-qt-data", container="rcc"),
    DebSource("hedgewars-data", "GFDL-1.3/CC-BY-SA", "Hedgewars (hedgewars.org) contributors; " + _GAME.format("Hedgewars"),
              package="hedgewars-data", roots=("usr/share/games/hedgewars/Data",)),
    DebSource("wesnoth-1.16-data", "GPL-2.0-or-later", "The Battle for Wesnoth (wesnoth.org) contributors.",
              package="wesnoth-1.16-data", roots=("usr/share/games/wesnoth/1.16/data/core/sounds",)),
    DebSource("sonic-pi-samples", "CC0-1.0 (mostly)", "Sonic Pi samples (sonic-pi.net); sources in its README.",
              package="sonic-pi-samples", roots=("usr/share/sonic-pi/samples",)),
    DebSource("ufoai-sound", "GPL-2.0-or-later/CC-BY-SA (per file)",
              "UFO: Alien Invasion (ufoai.org) contributors; per-file authors and licences in the package's debian/copyright.",
              package="ufoai-sound", members=("*0snd.pk3", "*/copyright"), container="zip",
              container_glob="usr/share/games/ufoai/base/0snd.pk3", zip_prefix="sound/"),
    DebSource("megaglest-data", "CC-BY-SA-3.0/GPL (per file)",
              "MegaGlest (megaglest.org) contributors; per-file authors and licences in the package's debian/copyright.",
              package="megaglest-data", members=("*/sounds/*", "*/water_sounds/*", "*/copyright"),
              roots=("usr/share/games/megaglest",)),
    DebSource("openarena-data", "GPL-2.0-or-later", "OpenArena (openarena.ws) contributors; " + _GAME.format("OpenArena"),
              package="openarena-data", members=("*baseoa/pak0.pk3", "*/copyright"), container="zip",
              container_glob="usr/share/games/openarena/baseoa/pak0.pk3", zip_prefix="sound/"),
    DebSource("warzone2100-data", "GPL-2.0-or-later/CC-BY-SA-3.0 (per file)",
              "Warzone 2100 Project (wz2100.net); " + _GAME.format("Warzone 2100"),
              package="warzone2100-data", members=("*base.wz", "*/copyright"), container="zip",
              container_glob="usr/share/games/warzone2100/base.wz", zip_prefix="audio/sfx/"),
    DebSource("asterisk-core-sounds-en-wav", "CC-BY-SA-3.0", "Asterisk core sounds, Allison Smith voice, by Digium/Sangoma, CC BY-SA 3.0.",
              package="asterisk-core-sounds-en-wav", roots=("usr/share/asterisk/sounds",)),
]}
