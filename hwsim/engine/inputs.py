"""A sweep's input files: read once, hashed into the sweep's identity, sent to its workers by content.

A component parameter can name a file: a decision table (``adc.path``), a quantizer
(``adc.quantizer``), a trained model and its JSON sidecar (``receiver.model``). A component
declares such parameters in its ``FILES`` (:class:`hwsim.components.FileParam`). A sweep
resolves every file its points name once, in its own process, against the folder of the config
file (a relative path means the same file whatever folder a worker runs in), reads it whole
(bounded by :data:`MAX_INPUT_BYTES`) and hashes it: the hash is part of the sweep's identity
(:meth:`hwsim.engine.config.SweepConfig.numbers`) and of its manifest, so a resume after a file
changed is refused, naming the file.

Workers never open the user's files. Each point carries the contents, and every process (the
sweep's own one included) writes them to a private content-addressed folder of its own
(:func:`localize`) and builds its components from those copies: a Dask worker whose working
directory holds another file of the same name computes with the sweep's file, and a file
replaced while a sweep runs changes nothing of it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Largest input file (a table, a quantizer, a model with its sidecar) a sweep reads.
MAX_INPUT_BYTES = 256 * 2**20


@dataclass(frozen=True)
class InputFile:
    """One file a sweep reads: as the config writes it, where it was found, its hash and its contents
    (the file's under ``""``, each companion's, such as a model's sidecar, under its suffix)."""

    key: str
    written: str
    path: str
    sha256: str
    contents: tuple

    def describe(self) -> dict:
        """What the manifest records: where the file was found and its hash."""
        return {"key": self.key, "path": self.path, "sha256": self.sha256}


def _read(key: str, path: Path, what: str) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {what} {path}: {exc.strerror or exc}") from None
    if size > MAX_INPUT_BYTES:
        raise ValueError(f"{key}: {what} {path} holds {size} bytes, more than the limit of {MAX_INPUT_BYTES} "
                         "(hwsim.engine.inputs.MAX_INPUT_BYTES)")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"{key}: {what} {path} grew past {MAX_INPUT_BYTES} bytes while it was read")
    return data


def read_input(key: str, written: str, companions: tuple, base: Path) -> InputFile:
    """Resolve ``written`` (the value of parameter ``key``) against ``base`` and read it with its companions
    (files named ``written + suffix``, read where they exist); a clear error naming the key otherwise."""
    path = Path(written).expanduser()
    if not path.is_absolute():
        path = base / path
    path = Path(os.path.abspath(path))  # links kept: a model's sidecar is read beside the name given
    if not path.is_file():
        where = "" if Path(written).is_absolute() else f" (relative to {base})"
        raise ValueError(f"{key} = {written!r}: no such file {path}{where}")
    contents = [("", _read(key, path, "the file"))]
    for suffix in companions:
        side = Path(f"{path}{suffix}")
        if side.is_file():
            contents.append((suffix, _read(key, side, f"the {suffix} file beside it,")))
    digest = hashlib.sha256()
    for suffix, data in contents:
        digest.update(f"{suffix}:{len(data)}:".encode())
        digest.update(data)
    return InputFile(key, written, str(path), digest.hexdigest(), tuple(contents))


_LOCAL: dict = {"dir": None}


def _local_dir() -> Path:
    """This process's private folder of input copies (mode 0700, removed at exit)."""
    if _LOCAL["dir"] is None:
        folder = tempfile.mkdtemp(prefix="hwsim-inputs-")
        atexit.register(shutil.rmtree, folder, True)
        _LOCAL["dir"] = Path(folder)
    return _LOCAL["dir"]


def materialize(item: InputFile) -> str:
    """The path of this process's copy of ``item`` (its companions beside it), written on first use."""
    folder = _local_dir() / item.sha256[:32]
    target = folder / (Path(item.path).name or "input")
    if not target.is_file():
        folder.mkdir(exist_ok=True)
        for suffix, data in item.contents:  # companions first: the file itself last marks the copy complete
            path = Path(f"{target}{suffix}")
            tmp = folder / f".{path.name}.tmp{os.getpid()}"
            tmp.write_bytes(data)
            os.replace(tmp, path)
    return str(target)


def localize(system: dict, params: dict, files: dict | None, *, copies: bool = True) -> tuple[dict, dict]:
    """``system`` and the point ``params`` with every file value (``files`` maps ``("kind.param", value as
    written)`` to its :class:`InputFile`) replaced by this process's copy of that file, or with ``copies``
    False by the file's resolved path (checking a config where it was read). The arguments are not changed."""
    if not files:
        return system, params
    system = {k: (dict(v) if isinstance(v, dict) else v) for k, v in system.items()}
    params = dict(params)
    for (key, written), item in files.items():
        kind, _, param = key.partition(".")
        local = materialize(item) if copies else item.path
        if params.get(key) == written:
            params[key] = local
        table = system.get(kind)
        if isinstance(table, dict) and table.get(param) == written:
            table[param] = local
    return system, params
