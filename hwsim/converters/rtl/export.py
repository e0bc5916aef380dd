r"""Write an exported converter to files: :func:`export_rtl`.

``language``:

- ``"verilog"``: ``FILE`` (``.v``, the module), ``<stem>_tb.v`` (self-checking testbench, top module
  ``<name>_tb``), ``<stem>_vectors.memh`` (golden vectors) and, for a flash design with a threshold
  DAC, ``<stem>_dac_rom.v`` (module ``<name>_dac_rom``);
- ``"vhdl"``: ``FILE`` (``.vhd`` or ``.vhdl``), ``<stem>_tb.vhd``, ``<stem>_vectors.memh`` (the same
  vector file, read with ``std.textio``) and ``<stem>_dac_rom.vhd`` likewise;
- ``"sv-package"``: ``FILE`` (``.sv``), the SystemVerilog package ``<name>_pkg``
  (:mod:`~hwsim.converters.rtl.sv_package`; without ``name``, a file ``adc_pkg.sv`` names the converter
  ``adc``, so its package is ``adc_pkg``).

Run a testbench from the folder the files are in (it names its vector file without a folder), e.g.
``iverilog -g2005 -o tb.vvp FILE.v FILE_tb.v && vvp -n tb.vvp`` or
``ghdl -a --std=08 FILE.vhd FILE_tb.vhd && ghdl -r --std=08 NAME_tb``.

Every text is built before any file is touched; then each goes to a temporary file in the target
folder and, once all are written, all are renamed into place, so a refused export writes
nothing. Verilator's lint rule DECLFILENAME wants a module in a file of its name: with
``name=None`` the module is named after ``FILE``'s stem when that stem is a valid name
(:func:`~hwsim.converters.rtl.rtl_design.check_name`), else ``hwsim_adc``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .rtl_design import RTLDesign, check_name, design
from .sv_package import package_text
from .testbench import check_file_name, verilog_testbench, vhdl_testbench
from .vectors import golden_vectors, memh_text

#: Languages of :func:`export_rtl` and the suffixes their main file may have.
LANGUAGES = {"verilog": (".v",), "vhdl": (".vhd", ".vhdl"), "sv-package": (".sv",)}


def _default_name(path: Path, language: str = "verilog") -> str:
    """The module name a file name implies (a package file ``adc_pkg.sv`` names the converter ``adc``)."""
    stem = path.stem
    if language == "sv-package" and stem.endswith("_pkg") and len(stem) > 4:
        stem = stem[:-4]
    try:
        return check_name(stem)
    except ValueError:
        return "hwsim_adc"


def write_all(files: dict) -> None:
    """Write ``{path: text}`` all or nothing: every text to a temporary file beside its target, then renames."""
    staged = []
    try:
        for path, text in files.items():
            path = Path(path)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode())
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in staged:
            if path.is_symlink():
                raise ValueError(f"{path} is a symbolic link; hwsim writes its own files only, never through a link")
            if path.exists() and not path.is_file():
                raise ValueError(f"{path} exists and is not a file; nothing was written")
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def rtl_files(d: RTLDesign, path, language: str = "verilog", *, n_random: int = 64, seed: int = 0) -> dict:
    """The files :func:`export_rtl` writes for design ``d``: ``{role: (path, text)}`` (nothing written)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    path = Path(path)
    if path.suffix.lower() not in LANGUAGES[language]:
        raise ValueError(f"path {str(path)!r} must end in {' or '.join(LANGUAGES[language])} for language "
                         f"{language!r}")
    if not path.parent.is_dir():
        raise ValueError(f"path {str(path)!r}: folder {str(path.parent)!r} does not exist")
    stem = path.stem
    folder = path.parent
    if language == "sv-package":
        return {"package": (path, package_text(d))}
    vec_name = check_file_name(f"{stem}_vectors.memh", "the file name (its stem names the vector file)")
    vectors = golden_vectors(d, n_random=n_random, seed=seed)
    out = {"vectors": (folder / vec_name, memh_text(d, vectors))}
    if language == "verilog":
        out["module"] = (path, d.verilog)
        out["testbench"] = (folder / f"{stem}_tb.v", verilog_testbench([(d, vectors, vec_name)], f"{d.name}_tb"))
        if d.dac_rom_verilog is not None:
            out["dac_rom"] = (folder / f"{stem}_dac_rom.v", d.dac_rom_verilog)
    else:
        out["module"] = (path, d.vhdl)
        out["testbench"] = (folder / f"{stem}_tb.vhd", vhdl_testbench(d, vectors, vec_name))
        if d.dac_rom_vhdl is not None:
            out["dac_rom"] = (folder / f"{stem}_dac_rom.vhd", d.dac_rom_vhdl)
    paths = [p for p, _ in out.values()]
    if len(set(paths)) != len(paths):
        raise ValueError(f"path {str(path)!r}: its name collides with a generated file name; choose another name")
    return out


def export_rtl(adc_or_design, path, language: str = "verilog", *, n_random: int = 64, seed: int = 0,
               **design_args) -> dict:
    """Write the RTL of a decision table (module text of :mod:`~hwsim.converters.rtl.export`).

    Parameters
    ----------
    adc_or_design : ThresholdADC or RTLDesign
        A table (then ``design_args`` go to :func:`~hwsim.converters.rtl.rtl_design.design`) or a ready design.
    path : str or Path
        The main file (``.v``, ``.vhd``/``.vhdl`` or ``.sv``); the others go beside it.
    language : str
        ``"verilog"``, ``"vhdl"`` or ``"sv-package"``.
    n_random : int
        Random vectors (seeded by ``seed``) on top of the threshold, rail and bubble vectors.
    seed : int
        Seed of the random vectors.
    **design_args
        ``form``, ``output_code``, ``name`` (default: the file's stem if it is a valid name, else
        ``hwsim_adc``), ``pipeline``, ``input_format``, ``level_format``, ``dac``, ``full_scale``,
        ``units``, ``provenance``.

    Returns
    -------
    dict
        ``{role: Path}`` of the files written (``module``, ``testbench``, ``vectors``, ``dac_rom`` or
        ``package``) and ``design``: the :class:`~hwsim.converters.rtl.rtl_design.RTLDesign`.
    """
    path = Path(path)
    if isinstance(adc_or_design, RTLDesign):
        if design_args:
            raise ValueError(f"export_rtl got a ready RTLDesign and design arguments {sorted(design_args)}; give one "
                             "or the other")
        d = adc_or_design
    else:
        if design_args.get("name") is None:
            design_args["name"] = _default_name(path, language)
        d = design(adc_or_design, **design_args)
    files = rtl_files(d, path, language, n_random=n_random, seed=seed)
    write_all({p: text for p, text in files.values()})
    result = {role: p for role, (p, _) in files.items()}
    result["design"] = d
    return result


__all__ = ["LANGUAGES", "export_rtl", "rtl_files", "write_all"]
